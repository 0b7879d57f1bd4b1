//! Input validation over the real server (issue 7, points 2–4): every refused input is
//! `BAD_USER_INPUT` naming the field by its GraphQL argument path (`input.weight`, `name`,
//! `comment`) and writes nothing; numbers are bounded so stored figures stay finite; the
//! payroll CSV neutralises formulas; e-mails are unique the same way on both databases;
//! concurrent manager changes cannot build a cycle.

use chrono::{TimeZone, Utc};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use super::*;
use crate::on_both;

/// Everything a refused mutation here could have written, as text to compare.
async fn written(app: &TestApp) -> String {
    let db = &app.db;
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{}",
        entity::department::Entity::find().all(db).await.unwrap(),
        entity::employee::Entity::find().all(db).await.unwrap(),
        entity::duty_template::Entity::find().all(db).await.unwrap(),
        entity::assignment::Entity::find().all(db).await.unwrap(),
        entity::assignment_event::Entity::find()
            .all(db)
            .await
            .unwrap(),
        entity::kpi_target::Entity::find().all(db).await.unwrap(),
        entity::kpi_policy::Entity::find().all(db).await.unwrap(),
        entity::article::Entity::find().all(db).await.unwrap(),
        entity::proposal::Entity::find().all(db).await.unwrap(),
        entity::kpi_adjustment::Entity::find()
            .all(db)
            .await
            .unwrap(),
        entity::api_token::Entity::find().count(db).await.unwrap(),
    )
}

/// Posts a mutation that must be refused as bad input on `field`.
async fn refused(app: &TestApp, token: &str, query: &str, variables: Value, field: &str) {
    let (_, body) = app.post(Some(token), query, variables.clone()).await;
    assert_eq!(
        codes(&body),
        ["BAD_USER_INPUT"],
        "{query} {variables}: {body}"
    );
    assert_eq!(
        body["errors"][0]["extensions"]["field"], field,
        "{query} {variables}: {body}"
    );
}

/// The global ids of the demo's people by e-mail, and of its departments by name.
async fn ids(app: &TestApp, admin: &str) -> (impl Fn(&str) -> Value, impl Fn(&str) -> Value) {
    let d = app
        .gql(
            admin,
            "{ employees(first: 100) { edges { node { id email } } } departments { id name } }",
            json!({}),
        )
        .await;
    let people = d["employees"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["node"]["email"].as_str().unwrap().to_owned(),
                e["node"]["id"].clone(),
            )
        })
        .collect::<Vec<_>>();
    let departments = d["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_owned(), e["id"].clone()))
        .collect::<Vec<_>>();
    let person = move |first: &str| {
        people
            .iter()
            .find(|(email, _)| email.starts_with(&format!("{first}.")))
            .unwrap_or_else(|| panic!("{first}"))
            .1
            .clone()
    };
    let department = move |name: &str| {
        departments
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name}"))
            .1
            .clone()
    };
    (person, department)
}

const CREATE_ASSIGNMENT: &str =
    "mutation($i: AssignmentFields!) { createAssignment(input: $i) { id } }";
const CREATE_TEMPLATE: &str =
    "mutation($i: DutyTemplateFields!) { createDutyTemplate(input: $i) { id } }";
const SET_TARGET: &str = "mutation($i: SetKpiTargetInput!) { setKpiTarget(input: $i) { id } }";
const RECORD_ACTUAL: &str =
    "mutation($id: ID!, $a: Float!) { recordKpiActual(id: $id, actual: $a) { id } }";
const UPDATE_POLICY: &str =
    "mutation($i: KpiPolicyInput!) { updateKpiPolicy(input: $i) { version } }";
const CREATE_EMPLOYEE: &str = "mutation($i: EmployeeFields!) { createEmployee(input: $i) { id } }";
const UPDATE_EMPLOYEE: &str =
    "mutation($id: ID!, $i: EmployeeFields!) { updateEmployee(id: $id, input: $i) { id } }";
const DEACTIVATE: &str =
    "mutation($id: ID!, $d: Date!) { deactivateEmployee(id: $id, leftOn: $d) { id } }";
const PUBLISH: &str = "mutation($i: PublishArticleInput!) { publishArticle(input: $i) { id } }";
const PROPOSE: &str = "mutation($i: CreateProposalInput!) { createProposal(input: $i) { id } }";

on_both! {
    async fn numbers_out_of_range_are_refused_and_figures_stay_finite(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        let payroll = app.service_token(domain::auth::Scope::PayrollRead).await;
        let (person, _) = ids(&app, &admin).await;
        let pavel = person("pavel");
        let target = app.gql(&admin, SET_TARGET, json!({ "i": { "employeeId": pavel, "metric": "calls", "target": 5 } })).await["setKpiTarget"]["id"].clone();
        let before = written(&app).await;
        let due = "2026-11-25T12:00:00Z";
        for (query, variables, field) in [
            // The case: weight 1e308 used to give a KPI of 9.2e16.
            (CREATE_ASSIGNMENT, json!({ "i": { "assigneeId": pavel, "title": "x", "dueAt": due, "weight": 1e308 } }), "input.weight"),
            (CREATE_ASSIGNMENT, json!({ "i": { "assigneeId": pavel, "title": "x", "dueAt": due, "weight": 1000.5 } }), "input.weight"),
            (CREATE_ASSIGNMENT, json!({ "i": { "assigneeId": pavel, "title": "x", "dueAt": due, "weight": 0 } }), "input.weight"),
            (CREATE_TEMPLATE, json!({ "i": { "title": "t", "employeeId": pavel, "weight": 1e308 } }), "input.weight"),
            (CREATE_TEMPLATE, json!({ "i": { "title": "t", "employeeId": pavel, "everyNPeriods": 25 } }), "input.everyNPeriods"),
            (SET_TARGET, json!({ "i": { "employeeId": pavel, "metric": "m", "target": 1e308 } }), "input.target"),
            (SET_TARGET, json!({ "i": { "employeeId": pavel, "metric": "m", "target": 1.5e12 } }), "input.target"),
            (SET_TARGET, json!({ "i": { "employeeId": pavel, "metric": "m", "target": 1, "weight": 1e308 } }), "input.weight"),
            (RECORD_ACTUAL, json!({ "id": target, "a": 1e308 }), "actual"),
            (RECORD_ACTUAL, json!({ "id": target, "a": -1 }), "actual"),
            (UPDATE_POLICY, json!({ "i": { "dutyWeight": 1e308 } }), "input.dutyWeight"),
            (UPDATE_POLICY, json!({ "i": { "targetCap": 1e308 } }), "input.targetCap"),
            (UPDATE_POLICY, json!({ "i": { "bonusMinKpi": 1e308 } }), "input.bonusMinKpi"),
            (UPDATE_POLICY, json!({ "i": { "acceptanceSlaHours": 100000 } }), "input.acceptanceSlaHours"),
            (UPDATE_POLICY, json!({ "i": { "averageWindow": 121 } }), "input.averageWindow"),
        ] {
            refused(&app, &admin, query, variables, field).await;
        }
        assert_eq!(written(&app).await, before, "nothing was written");

        // The largest accepted values give finite, stored figures after the close.
        app.gql(&admin, CREATE_ASSIGNMENT, json!({ "i": { "assigneeId": pavel, "title": "heavy", "dueAt": due, "weight": 1000 } })).await;
        app.gql(&admin, SET_TARGET, json!({ "i": { "employeeId": pavel, "metric": "calls", "target": 1e12, "weight": 1000 } })).await;
        app.gql(&admin, RECORD_ACTUAL, json!({ "id": target, "a": 1e12 })).await;
        let current = app.gql(&admin, "{ currentPeriod { id } }", json!({})).await["currentPeriod"]["id"].clone();
        let later = Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap();
        app.clock.set(later);
        domain::tick::tick(&app.db, &domain::auth::Principal::System, &app.company, later).await.unwrap();
        let d = app.gql(&payroll, "query($p: ID!) { bonusResults(periodId: $p, first: 100) { edges { node { employee { id } kpi discipline targetsScore bonusFactor obligations { kind outcome count weight } } } } }", json!({ "p": current })).await;
        let results = d["bonusResults"]["edges"].as_array().unwrap();
        assert!(results.len() >= 20);
        for r in results {
            let r = &r["node"];
            for figure in ["kpi", "discipline", "bonusFactor"] {
                let x = r[figure].as_f64().unwrap_or_else(|| panic!("{figure} of {r}"));
                assert!((0.0..=1000.0).contains(&x), "{figure} {x}");
            }
            for o in r["obligations"].as_array().unwrap() {
                assert!(o["weight"].as_f64().is_some_and(f64::is_finite), "{o}");
            }
        }
        let pavels = results.iter().map(|r| &r["node"]).find(|r| r["employee"]["id"] == pavel).unwrap();
        assert_eq!(pavels["targetsScore"], 100.0, "{pavels}");
        assert!(pavels["obligations"].as_array().unwrap().iter().any(|o| o["weight"].as_f64().unwrap() >= 1000.0), "{pavels}");

        // A result stored before the bounds, whose tally weight overflowed to null, stays
        // readable instead of answering INTERNAL for good.
        use sea_orm::ConnectionTrait;
        app.db
            .execute_unprepared("UPDATE kpi_result SET obligations = '[{\"kind\":\"duty\",\"outcome\":\"on_time\",\"count\":1,\"weight\":null}]'")
            .await
            .unwrap();
        let d = app.gql(&payroll, "query($p: ID!) { bonusResults(periodId: $p, first: 1) { edges { node { obligations { kind count weight } } } } }", json!({ "p": current })).await;
        assert_eq!(d["bonusResults"]["edges"][0]["node"]["obligations"], json!([{ "kind": "duty", "count": 1, "weight": f64::MAX }]));
    }
}

on_both! {
    async fn text_rules_apply_to_every_stored_text(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        let (person, department) = ids(&app, &admin).await;
        let (pavel, dev) = (person("pavel"), department("Development"));
        let assignment = app.gql(&admin, "{ assignments(first: 1) { edges { node { id } } } }", json!({})).await["assignments"]["edges"][0]["node"]["id"].clone();
        let before = written(&app).await;
        let due = "2026-11-25T12:00:00Z";
        let closes = "2026-11-27T00:00:00Z";
        let long = |n: usize| "x".repeat(n);
        for (query, variables, field) in [
            // NUL used to be INTERNAL on PostgreSQL.
            ("mutation($n: String!) { createDepartment(name: $n) { id } }", json!({ "n": "R&D\u{0}" }), "name"),
            ("mutation($n: String!) { createDepartment(name: $n) { id } }", json!({ "n": "\u{200B}\u{200B}" }), "name"),
            ("mutation($n: String!) { createDepartment(name: $n) { id } }", json!({ "n": long(5_000) }), "name"),
            ("mutation($id: ID!, $n: String!) { renameDepartment(id: $id, name: $n) { id } }", json!({ "id": dev, "n": "\u{3164}" }), "name"),
            (CREATE_EMPLOYEE, json!({ "i": { "name": "Evil\u{202E}exe.txt", "email": "e@x.de", "departmentId": dev } }), "input.name"),
            (CREATE_EMPLOYEE, json!({ "i": { "name": "Bell\u{7}", "email": "e@x.de", "departmentId": dev } }), "input.name"),
            (CREATE_EMPLOYEE, json!({ "i": { "name": "Eve", "email": "e\u{0}@x.de", "departmentId": dev } }), "input.email"),
            (UPDATE_EMPLOYEE, json!({ "id": pavel, "i": { "name": "Pavel\nLebedev" } }), "input.name"),
            (CREATE_ASSIGNMENT, json!({ "i": { "assigneeId": pavel, "title": long(201), "dueAt": due } }), "input.title"),
            (CREATE_ASSIGNMENT, json!({ "i": { "assigneeId": pavel, "title": "t", "description": "a\u{0}b", "dueAt": due } }), "input.description"),
            (CREATE_TEMPLATE, json!({ "i": { "title": "\u{2066}t\u{2069}", "employeeId": pavel } }), "input.title"),
            (PUBLISH, json!({ "i": { "title": "t", "link": "javascript:alert(1)" } }), "input.link"),
            (PUBLISH, json!({ "i": { "title": "t", "link": "data:text/html,<script>alert(1)</script>" } }), "input.link"),
            (PUBLISH, json!({ "i": { "title": "t", "body": long(100_000) } }), "input.body"),
            (PUBLISH, json!({ "i": { "title": "\u{0}", "body": "b" } }), "input.title"),
            (PROPOSE, json!({ "i": { "title": "p", "body": "a\u{0}", "closesAt": closes } }), "input.body"),
            (SET_TARGET, json!({ "i": { "employeeId": pavel, "metric": "a\nb", "target": 1 } }), "input.metric"),
            (UPDATE_POLICY, json!({ "i": { "note": "\u{0}" } }), "input.note"),
            ("mutation { createToken(input: { service: \"svc\", scopes: [\"admin\"], name: \"\\u200B\" }) { secret } }", json!({}), "input.name"),
            ("mutation($id: ID!, $c: String!) { returnAssignment(id: $id, comment: $c) { id } }", json!({ "id": assignment, "c": "nul\u{0}" }), "comment"),
            ("mutation($id: ID!, $c: String!) { cancelAssignment(id: $id, reason: $c) { id } }", json!({ "id": assignment, "c": long(2_001) }), "reason"),
        ] {
            refused(&app, &admin, query, variables, field).await;
        }
        assert_eq!(written(&app).await, before, "nothing was written");
        // Within the rules, the same mutations store the text trimmed.
        let d = app.gql(&admin, PUBLISH, json!({ "i": { "title": "  Handbook  ", "link": "https://wiki.example.com/handbook", "body": "line one\r\nline two" } })).await;
        let id = d["publishArticle"]["id"].clone();
        let article = app.gql(&admin, "query($id: ID!) { node(id: $id) { ... on Article { title link body } } }", json!({ "id": id })).await;
        assert_eq!(article["node"], json!({ "title": "Handbook", "link": "https://wiki.example.com/handbook", "body": "line one\nline two" }));
    }
}

on_both! {
    async fn audiences_must_be_departments_that_exist(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        // A department id that decodes but names nothing: created, then removed.
        let gone = app.gql(&admin, "mutation { createDepartment(name: \"Temporary\") { id } }", json!({})).await["createDepartment"]["id"].clone();
        let row = entity::department::Entity::find().all(&app.db).await.unwrap().into_iter().find(|d| d.name == "Temporary").unwrap();
        entity::department::Entity::delete_by_id(row.id).exec(&app.db).await.unwrap();
        let before = written(&app).await;
        refused(&app, &admin, PUBLISH, json!({ "i": { "title": "t", "body": "b", "departmentId": gone } }), "input.departmentId").await;
        refused(&app, &admin, PROPOSE, json!({ "i": { "title": "p", "closesAt": "2026-11-27T00:00:00Z", "departmentId": gone } }), "input.departmentId").await;
        refused(&app, &admin, CREATE_TEMPLATE, json!({ "i": { "title": "t", "departmentId": gone } }), "input.departmentId").await;
        assert_eq!(written(&app).await, before, "nothing was written");
    }
}

on_both! {
    async fn employee_dates_are_in_range_and_in_order(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        let (person, department) = ids(&app, &admin).await;
        let (pavel, maria, dev) = (person("pavel"), person("maria"), department("Development"));
        app.gql(&admin, DEACTIVATE, json!({ "id": maria, "d": "2026-11-10" })).await;
        let before = written(&app).await;
        for (query, variables, field) in [
            (UPDATE_EMPLOYEE, json!({ "id": pavel, "i": { "hiredOn": "0001-01-01" } }), "input.hiredOn"),
            (UPDATE_EMPLOYEE, json!({ "id": pavel, "i": { "hiredOn": "9999-12-31" } }), "input.hiredOn"),
            (CREATE_EMPLOYEE, json!({ "i": { "name": "Old", "email": "old@x.de", "departmentId": dev, "hiredOn": "1899-12-31" } }), "input.hiredOn"),
            // After leaving: what deactivateEmployee already forbids the other way round.
            (UPDATE_EMPLOYEE, json!({ "id": maria, "i": { "hiredOn": "2026-11-11" } }), "input.hiredOn"),
            (DEACTIVATE, json!({ "id": pavel, "d": "9999-12-31" }), "leftOn"),
            (DEACTIVATE, json!({ "id": pavel, "d": "1800-01-01" }), "leftOn"),
            (CREATE_TEMPLATE, json!({ "i": { "title": "t", "employeeId": pavel, "startsOn": "0001-01-01" } }), "input.startsOn"),
            (PUBLISH, json!({ "i": { "title": "t", "body": "b", "publishedAt": "9999-12-31T00:00:00Z" } }), "input.publishedAt"),
            (PROPOSE, json!({ "i": { "title": "p", "closesAt": "9999-12-31T00:00:00Z" } }), "input.closesAt"),
        ] {
            refused(&app, &admin, query, variables, field).await;
        }
        assert_eq!(written(&app).await, before, "nothing was written");
        // Hired on the day of leaving is allowed.
        app.gql(&admin, UPDATE_EMPLOYEE, json!({ "id": maria, "i": { "hiredOn": "2026-11-10" } })).await;
    }
}

on_both! {
    async fn departed_employees_get_no_new_work(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        let manager = app.token_for_email("dmitry.orlov@zeroboard.demo").await;
        let (person, department) = ids(&app, &admin).await;
        let (pavel, maria, sergey, olga, dev) = (person("pavel"), person("maria"), person("sergey"), person("olga"), department("Development"));
        // Today is 2026-11-20. Pavel left yesterday, Sergey leaves today (still here), Olga
        // left before the period began (16 November).
        app.gql(&admin, DEACTIVATE, json!({ "id": pavel, "d": "2026-11-19" })).await;
        app.gql(&admin, DEACTIVATE, json!({ "id": sergey, "d": "2026-11-20" })).await;
        app.gql(&admin, DEACTIVATE, json!({ "id": olga, "d": "2026-11-10" })).await;
        let before = written(&app).await;
        let due = "2026-11-25T12:00:00Z";
        refused(&app, &manager, CREATE_ASSIGNMENT, json!({ "i": { "assigneeId": pavel, "title": "x", "dueAt": due } }), "input.assigneeId").await;
        refused(&app, &admin, CREATE_ASSIGNMENT, json!({ "i": { "assigneeId": maria, "controllerId": pavel, "title": "x", "dueAt": due } }), "input.controllerId").await;
        refused(&app, &admin, CREATE_TEMPLATE, json!({ "i": { "title": "t", "employeeId": pavel } }), "input.employeeId").await;
        refused(&app, &admin, CREATE_TEMPLATE, json!({ "i": { "title": "t", "departmentId": dev, "controllerId": pavel } }), "input.controllerId").await;
        refused(&app, &manager, SET_TARGET, json!({ "i": { "employeeId": olga, "metric": "calls", "target": 3 } }), "input.employeeId").await;
        assert_eq!(written(&app).await, before, "nothing was written");
        // Leaving today is still here; a target for someone who worked in the period is fine.
        let d = app.gql(&manager, "mutation($i: AssignmentFields!) { createAssignment(input: $i) { assignee { email } } }", json!({ "i": { "assigneeId": sergey, "title": "hand over", "dueAt": "2026-11-20T16:00:00Z" } })).await;
        assert_eq!(d["createAssignment"]["assignee"]["email"], "sergey.novikov@zeroboard.demo");
        app.gql(&manager, SET_TARGET, json!({ "i": { "employeeId": pavel, "metric": "calls", "target": 3 } })).await;
        // Someone who departed can no longer be made the controller of existing work either.
        let id = app.gql(&admin, CREATE_ASSIGNMENT, json!({ "i": { "assigneeId": maria, "title": "y", "dueAt": due } })).await["createAssignment"]["id"].clone();
        refused(&app, &admin, "mutation($id: ID!, $i: AssignmentFields!) { updateAssignment(id: $id, input: $i) { id } }", json!({ "id": id, "i": { "controllerId": pavel } }), "input.controllerId").await;
    }
}

on_both! {
    async fn emails_differing_in_unicode_case_are_one_address(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        let (person, department) = ids(&app, &admin).await;
        let dev = department("Development");
        let anna = app.gql(&admin, CREATE_EMPLOYEE, json!({ "i": { "name": "Änna", "email": "änna@x.de", "departmentId": dev } })).await["createEmployee"]["id"].clone();
        app.gql(&admin, CREATE_EMPLOYEE, json!({ "i": { "name": "Strasse", "email": "STRASSE@x.de", "departmentId": dev } })).await;
        let before = written(&app).await;
        refused(&app, &admin, CREATE_EMPLOYEE, json!({ "i": { "name": "Anna 2", "email": "ÄNNA@x.de", "departmentId": dev } }), "input.email").await;
        refused(&app, &admin, CREATE_EMPLOYEE, json!({ "i": { "name": "Anna 3", "email": " Änna@X.DE ", "departmentId": dev } }), "input.email").await;
        refused(&app, &admin, CREATE_EMPLOYEE, json!({ "i": { "name": "Straße", "email": "straße@x.de", "departmentId": dev } }), "input.email").await;
        refused(&app, &admin, UPDATE_EMPLOYEE, json!({ "id": person("pavel"), "i": { "email": "ÄNNA@x.de" } }), "input.email").await;
        assert_eq!(written(&app).await, before, "nothing was written");
        // Looking up by e-mail folds the same way.
        let found = domain::directory::employee_id_by_email(&app.db, "ÄNNA@X.DE").await.unwrap().expect("found");
        let d = app.gql(&admin, "query($id: ID!) { employee(id: $id) { id email } }", json!({ "id": anna })).await;
        assert_eq!(d["employee"]["email"], "änna@x.de", "stored as given");
        let row = entity::employee::Entity::find_by_id(found).one(&app.db).await.unwrap().unwrap();
        assert_eq!((row.email.as_str(), row.email_key.as_str()), ("änna@x.de", "änna@x.de"));
        // Changing one's own address in case only is not a clash with oneself.
        app.gql(&admin, UPDATE_EMPLOYEE, json!({ "id": anna, "i": { "email": "Änna@x.de" } })).await;
    }
}

on_both! {
    async fn concurrent_manager_changes_cannot_make_a_cycle(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        let (_, department) = ids(&app, &admin).await;
        let dev = department("Development");
        let set_manager = "mutation($id: ID!, $m: ID!) { updateEmployee(id: $id, input: { managerId: $m }) { id } }";
        for pair in 0..8 {
            let mut people = Vec::new();
            for who in ["a", "b"] {
                let email = format!("{who}{pair}@race.example");
                let d = app.gql(&admin, CREATE_EMPLOYEE, json!({ "i": { "name": email, "email": email, "departmentId": dev } })).await;
                people.push(d["createEmployee"]["id"].clone());
            }
            let (a, b) = (&people[0], &people[1]);
            let (first, second) = tokio::join!(
                app.post(Some(&admin), set_manager, json!({ "id": a, "m": b })),
                app.post(Some(&admin), set_manager, json!({ "id": b, "m": a })),
            );
            let outcomes: Vec<Vec<String>> = [&first.1, &second.1].iter().map(|body| codes(body)).collect();
            let ok = outcomes.iter().filter(|c| c.is_empty()).count();
            assert_eq!(ok, 1, "exactly one wins: {outcomes:?} {first:?} {second:?}");
            for c in outcomes.iter().filter(|c| !c.is_empty()) {
                assert!(c == &["BAD_USER_INPUT"] || c == &["CONFLICT"], "{c:?}");
            }
        }
        // No one is above themselves.
        for e in entity::employee::Entity::find().all(&app.db).await.unwrap() {
            assert!(!domain::access::below(&app.db, e.id).await.unwrap().contains(&e.id), "{} manages themselves", e.email);
        }
    }
}

on_both! {
    async fn payroll_csv_neutralises_formulas_and_graphql_and_json_keep_them(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        let payroll = app.service_token(domain::auth::Scope::PayrollRead).await;
        let name = "=HYPERLINK(\"http://evil.example\",\"x\")";
        let department = app.gql(&admin, "mutation { createDepartment(name: \"+Sales\") { id } }", json!({})).await["createDepartment"]["id"].clone();
        let d = app.gql(&admin, "mutation($i: EmployeeFields!) { createEmployee(input: $i) { id name email } }", json!({ "i": { "name": name, "email": "-1+1@evil.example", "departmentId": department } })).await;
        assert_eq!(d["createEmployee"]["name"], name, "GraphQL keeps the true value");
        let id = d["createEmployee"]["id"].clone();
        let current = app.gql(&admin, "{ currentPeriod { startsOn } }", json!({})).await["currentPeriod"]["startsOn"].as_str().unwrap().to_owned();
        let later = Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap();
        app.clock.set(later);
        domain::tick::tick(&app.db, &domain::auth::Principal::System, &app.company, later).await.unwrap();

        let resp = app.http.get(format!("{}/export/bonus.csv?period={current}", app.base)).bearer_auth(&payroll).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let csv = resp.text().await.unwrap();
        let line = csv.lines().find(|l| l.contains("evil.example")).unwrap_or_else(|| panic!("{csv}"));
        // The csv crate quotes the name (it has quotes and a comma); inside, a leading `'`.
        assert!(line.contains(",'-1+1@evil.example,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",'+Sales,"), "{line}");
        // Numbers stay numbers: no quote before any figure of any row.
        for row in csv.lines().skip(1) {
            assert!(!row.contains(",'-") || row.contains("evil.example"), "{row}");
        }

        let start = chrono::NaiveDate::parse_from_str(&current, "%Y-%m-%d").unwrap();
        let json_rows = domain::export::to_json(&domain::export::bonus_rows(&app.db, &domain::auth::Principal::System, start).await.unwrap());
        let row = json_rows.as_array().unwrap().iter().find(|r| r["email"] == "-1+1@evil.example").unwrap();
        assert_eq!((row["name"].as_str(), row["department"].as_str()), (Some(name), Some("+Sales")), "JSON keeps the true values");
        let d = app.gql(&admin, "query($id: ID!) { employee(id: $id) { name email department { name } } }", json!({ "id": id })).await;
        assert_eq!(d["employee"], json!({ "name": name, "email": "-1+1@evil.example", "department": { "name": "+Sales" } }));
    }
}

on_both! {
    async fn the_email_key_migration_backfills_and_names_clashes(kind: Kind) {
        use migration::{Migrator, MigratorTrait};
        const EMAIL_KEY: &str = "m20261127_000002_email_key";
        use sea_orm::ConnectionTrait;
        let test_db = TestDb::new(kind).await;
        let pool = domain::db::connect(&test_db.url).await.unwrap();
        let db = domain::db::for_schema_changes(&pool).await.unwrap();
        // The first migration only, with people stored before e-mail keys existed.
        Migrator::up(&db, Some(1)).await.unwrap();
        db.execute_unprepared("INSERT INTO department (name, created_at) VALUES ('D', '2026-01-01 00:00:00+00:00')").await.unwrap();
        let insert = |id: i64, email: &str| {
            format!("INSERT INTO employee (id, department_id, name, email, role, hired_on, created_at) VALUES ({id}, 1, 'P{id}', '{email}', 'employee', '2026-01-01', '2026-01-01 00:00:00+00:00')")
        };
        db.execute_unprepared(&insert(1, "Änna@X.de")).await.unwrap();
        db.execute_unprepared(&insert(2, "bob@x.de")).await.unwrap();
        // SQLite's lower() folds ASCII only, so it let this address in beside Änna's; whether
        // PostgreSQL's does depends on the database's character type.
        let clash = db.execute_unprepared(&insert(3, "änna@x.de")).await.is_ok();
        assert!(clash || kind == Kind::Postgres, "SQLite's lower() is ASCII only");
        if clash {
            let err = Migrator::up(&db, None).await.unwrap_err().to_string();
            assert!(err.contains("employees 1 (Änna@X.de) and 3 (änna@x.de)"), "{err}");
            // The failed upgrade changed nothing: once one address is changed, it goes through.
            let pending = Migrator::get_pending_migrations(&db).await.unwrap();
            assert_eq!(pending.first().map(|m| m.name().to_owned()).as_deref(), Some(EMAIL_KEY));
            db.execute_unprepared("UPDATE employee SET email = 'anna.second@x.de' WHERE id = 3").await.unwrap();
        }
        Migrator::up(&db, None).await.unwrap();
        let keys: Vec<(i64, String)> = entity::employee::Entity::find().all(&db).await.unwrap().into_iter().map(|e| (e.id, e.email_key)).collect();
        assert_eq!(keys[..2], [(1, "änna@x.de".to_owned()), (2, "bob@x.de".to_owned())]);
        // Down to before the key and up again: the old index comes back, then the key.
        let since_key = Migrator::migrations().iter().rev().position(|m| m.name() == EMAIL_KEY).unwrap() + 1;
        Migrator::down(&db, Some(since_key as u32)).await.unwrap();
        assert!(db.execute_unprepared(&insert(4, "BOB@x.de")).await.is_err(), "lower(email) is unique again");
        Migrator::up(&db, None).await.unwrap();
        assert!(Migrator::get_pending_migrations(&db).await.unwrap().is_empty());
    }
}
