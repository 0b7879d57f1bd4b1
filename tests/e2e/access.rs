//! The access matrix of DESIGN section 6: every query and mutation against each kind of
//! principal. Another employee's object is NOT_FOUND (null for a lookup), never its data.

use serde_json::{Value, json};

use super::*;
use crate::on_both;

/// The principals, in the order of every row below.
const WHO: [&str; 9] = [
    "none",
    "outsider",
    "assignee",
    "controller",
    "manager_in",
    "manager_out",
    "admin",
    "admin_svc",
    "payroll",
];

/// What a response amounts to: `OK`, `NULL` (a lookup that found nothing), or the first error code.
fn outcome(body: &Value, field: &str) -> String {
    if let Some(code) = codes(body).first() {
        return code.clone();
    }
    if body["data"][field].is_null() {
        "NULL".into()
    } else {
        "OK".into()
    }
}

struct World {
    tokens: Vec<Option<String>>,
    ids: std::collections::HashMap<&'static str, String>,
}

async fn world(app: &TestApp) -> World {
    let admin_svc = app.admin().await;
    let people = [
        ("outsider", "nikolai.fedorov@zeroboard.demo"),
        ("assignee", "irina.vasilieva@zeroboard.demo"),
        ("controller", "dmitry.orlov@zeroboard.demo"),
        ("manager_in", "svetlana.kuznetsova@zeroboard.demo"),
        ("manager_out", "igor.smirnov@zeroboard.demo"),
        ("admin", "anna.petrova@zeroboard.demo"),
    ];
    let mut tokens = vec![None];
    for (_, email) in people {
        tokens.push(Some(app.token_for_email(email).await));
    }
    tokens.push(Some(admin_svc.clone()));
    tokens.push(Some(
        app.service_token(domain::auth::Scope::PayrollRead).await,
    ));
    let d = app
        .gql(
            &admin_svc,
            "{ employees(first: 100) { edges { node { id email } } } departments { id name } }",
            json!({}),
        )
        .await;
    let id_of = |email: &str| {
        d["employees"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["node"]["email"] == email)
            .unwrap()["node"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let mut ids = std::collections::HashMap::new();
    ids.insert("irina", id_of("irina.vasilieva@zeroboard.demo"));
    ids.insert("dmitry", id_of("dmitry.orlov@zeroboard.demo"));
    ids.insert(
        "support",
        d["departments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == "Support")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let s = app.gql(&admin_svc, "{ me { id } }", json!({})).await;
    assert!(s["me"].is_null(), "a service has no `me`");
    World { tokens, ids }
}

/// Irina's assignment controlled by Dmitry, made fresh for one row.
async fn assignment(app: &TestApp, w: &World) -> String {
    let d = app
        .gql(
            w.tokens[7].as_deref().unwrap(),
            "mutation($i: AssignmentFields!) { createAssignment(input: $i) { id } }",
            json!({ "i": { "assigneeId": w.ids["irina"], "controllerId": w.ids["dmitry"], "title": "Matrix", "dueAt": "2026-11-28T00:00:00Z" } }),
        )
        .await;
    d["createAssignment"]["id"].as_str().unwrap().to_owned()
}

async fn row(app: &TestApp, w: &World, field: &str, query: &str, vars: Value) -> Vec<String> {
    let mut out = Vec::new();
    for token in &w.tokens {
        let (_, body) = app.post(token.as_deref(), query, vars.clone()).await;
        out.push(outcome(&body, field));
    }
    out
}

fn expect(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

on_both! {
    async fn every_operation_against_every_principal(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let w = world(&app).await;
        let a = assignment(&app, &w).await;
        let irina = w.ids["irina"].clone();
        let support = w.ids["support"].clone();
        //                              none            outsider  assignee  controller manager_in manager_out admin   admin_svc payroll
        let reads: [(&str, &str, Value, &str); 6] = [
            ("assignment", "query($a: ID!) { assignment(id: $a) { title } }", json!({ "a": a }),
                "UNAUTHENTICATED NULL      OK        OK         OK         NULL        OK      OK        NULL"),
            ("node", "query($a: ID!) { node(id: $a) { ... on Assignment { title } } }", json!({ "a": a }),
                "UNAUTHENTICATED NULL      OK        OK         OK         NULL        OK      OK        NULL"),
            ("employee", "query($e: ID!) { employee(id: $e) { summary { duties { total } additional { total } } } }", json!({ "e": irina }),
                "UNAUTHENTICATED NOT_FOUND OK        NOT_FOUND  OK         NOT_FOUND   OK      OK        NOT_FOUND"),
            ("employees", "{ employees(first: 5) { totalCount edges { node { name department { name } } } } }", json!({}),
                "UNAUTHENTICATED OK        OK        OK         OK         OK          OK      OK        OK"),
            ("departments", "{ departments { name } }", json!({}),
                "UNAUTHENTICATED OK        OK        OK         OK         OK          OK      OK        OK"),
            ("currentPeriod", "{ currentPeriod { id } }", json!({}),
                "UNAUTHENTICATED OK        OK        OK         OK         OK          OK      OK        OK"),
        ];
        for (field, query, vars, want) in reads {
            assert_eq!(row(&app, &w, field, query, vars).await, expect(want), "{field} (columns: {WHO:?})");
        }
        // The directory shows names and departments to everyone; e-mail and dates only to
        // the person, those above them, admins and payroll.
        let mut email = Vec::new();
        for token in &w.tokens {
            let (_, body) = app.post(token.as_deref(), "query($e: ID!) { employee(id: $e) { name email hiredOn } }", json!({ "e": irina })).await;
            email.push(match codes(&body).first() {
                Some(c) => c.clone(),
                None if body["data"]["employee"]["email"].is_string() && body["data"]["employee"]["hiredOn"].is_string() => "SHOWN".into(),
                None if body["data"]["employee"]["name"].is_string() && body["data"]["employee"]["email"].is_null() => "HIDDEN".into(),
                None => format!("{body}"),
            });
        }
        assert_eq!(email, expect("UNAUTHENTICATED HIDDEN SHOWN HIDDEN SHOWN HIDDEN SHOWN SHOWN SHOWN"), "private fields (columns: {WHO:?})");
        // Lists are narrowed, not refused: who finds Irina's assignment in `assignments`?
        let mut found = Vec::new();
        for token in &w.tokens {
            let (_, body) = app.post(token.as_deref(), "query($e: ID!) { assignments(first: 100, filter: { assigneeId: $e }) { totalCount } }", json!({ "e": irina })).await;
            found.push(match codes(&body).first() { Some(c) => c.clone(), None => if body["data"]["assignments"]["totalCount"].as_u64().unwrap() > 0 { "SEEN".into() } else { "NONE".into() } });
        }
        assert_eq!(found, expect("UNAUTHENTICATED NONE SEEN SEEN SEEN NONE SEEN SEEN NONE"), "assignments list");
        let mut in_report = Vec::new();
        for token in &w.tokens {
            let (_, body) = app.post(token.as_deref(), "{ assignmentReport(by: ASSIGNEE) { employee { email } } }", json!({})).await;
            in_report.push(match codes(&body).first() { Some(c) => c.clone(), None => if body.to_string().contains("irina.vasilieva") { "SEEN".into() } else { "NONE".into() } });
        }
        assert_eq!(in_report, expect("UNAUTHENTICATED NONE SEEN NONE SEEN NONE SEEN SEEN NONE"), "report by assignee");

        // Mutations. Permission is checked before state, so a refused principal gets the
        // same answer whatever ran before; an allowed one may find the state moved on
        // (CONFLICT), which is counted as allowed.
        let mutations: [(&str, &str, &str); 4] = [
            ("startAssignment", "mutation($a: ID!) { startAssignment(id: $a) { status } }",
                "UNAUTHENTICATED NOT_FOUND ALLOWED FORBIDDEN FORBIDDEN NOT_FOUND FORBIDDEN FORBIDDEN NOT_FOUND"),
            ("submitAssignment", "mutation($a: ID!) { submitAssignment(id: $a) { status } }",
                "UNAUTHENTICATED NOT_FOUND ALLOWED FORBIDDEN FORBIDDEN NOT_FOUND FORBIDDEN FORBIDDEN NOT_FOUND"),
            ("returnAssignment", "mutation($a: ID!) { returnAssignment(id: $a, comment: \"again\") { status } }",
                "UNAUTHENTICATED NOT_FOUND FORBIDDEN ALLOWED FORBIDDEN NOT_FOUND ALLOWED ALLOWED NOT_FOUND"),
            ("cancelAssignment", "mutation($a: ID!) { cancelAssignment(id: $a, reason: \"x\") { status } }",
                "UNAUTHENTICATED NOT_FOUND FORBIDDEN ALLOWED FORBIDDEN NOT_FOUND ALLOWED ALLOWED NOT_FOUND"),
        ];
        let a2 = assignment(&app, &w).await;
        for (field, query, want) in mutations {
            let got: Vec<String> = row(&app, &w, field, query, json!({ "a": a2 })).await.into_iter().map(|o| if o == "OK" || o == "CONFLICT" { "ALLOWED".into() } else { o }).collect();
            assert_eq!(got, expect(want), "{field} (columns: {WHO:?})");
        }
        let a3 = assignment(&app, &w).await;
        let got = row(&app, &w, "acceptAssignment", "mutation($a: ID!) { acceptAssignment(id: $a) { status } }", json!({ "a": a3 })).await;
        assert_eq!(got, expect("UNAUTHENTICATED NOT_FOUND FORBIDDEN CONFLICT FORBIDDEN NOT_FOUND CONFLICT CONFLICT NOT_FOUND"), "accept of a TODO: allowed people reach the state check");
        let got = row(&app, &w, "updateAssignment", "mutation($a: ID!) { updateAssignment(id: $a, input: { title: \"Renamed\" }) { title } }", json!({ "a": a3 })).await;
        assert_eq!(got, expect("UNAUTHENTICATED NOT_FOUND FORBIDDEN FORBIDDEN OK NOT_FOUND OK OK NOT_FOUND"), "updateAssignment");

        let creations: [(&str, &str, Value, &str); 6] = [
            ("createAssignment", "mutation($e: ID!) { createAssignment(input: { assigneeId: $e, title: \"t\", dueAt: \"2026-11-28T00:00:00Z\" }) { id } }", json!({ "e": irina }),
                "UNAUTHENTICATED FORBIDDEN FORBIDDEN FORBIDDEN OK FORBIDDEN OK OK FORBIDDEN"),
            ("setKpiTarget", "mutation($e: ID!) { setKpiTarget(input: { employeeId: $e, metric: \"m\", target: 3 }) { id } }", json!({ "e": irina }),
                "UNAUTHENTICATED FORBIDDEN FORBIDDEN FORBIDDEN OK FORBIDDEN OK OK FORBIDDEN"),
            ("createDepartment", "mutation { createDepartment(name: \"Matrix\") { id } }", json!({}),
                "UNAUTHENTICATED FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN OK BAD_USER_INPUT FORBIDDEN"),
            ("createDutyTemplate", "mutation($e: ID!) { createDutyTemplate(input: { title: \"t\", employeeId: $e }) { id } }", json!({ "e": irina }),
                "UNAUTHENTICATED FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN OK OK FORBIDDEN"),
            ("publishArticle", "mutation($d: ID!) { publishArticle(input: { title: \"t\", body: \"b\", departmentId: $d }) { id } }", json!({ "d": support }),
                "UNAUTHENTICATED FORBIDDEN FORBIDDEN FORBIDDEN OK FORBIDDEN OK OK FORBIDDEN"),
            ("createToken", "mutation($e: ID!) { createToken(input: { employeeId: $e, name: \"t\" }) { secret } }", json!({ "e": irina }),
                "UNAUTHENTICATED FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN OK OK FORBIDDEN"),
        ];
        for (field, query, vars, want) in creations {
            assert_eq!(row(&app, &w, field, query, vars).await, expect(want), "{field} (columns: {WHO:?})");
        }
        // The rest of the admin surface: admins only (an employee or a service with the
        // admin scope); everyone else is FORBIDDEN.
        let admin_only = "UNAUTHENTICATED FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN OK OK FORBIDDEN";
        let d = app.gql(w.tokens[7].as_deref().unwrap(), "{ currentPeriod { id } }", json!({})).await;
        let period = d["currentPeriod"]["id"].clone();
        let admin_ops: [(&str, String, Value); 9] = [
            ("createEmployee", "mutation($d: ID!) { createEmployee(input: { name: \"N\", email: \"n@x.org\", departmentId: $d }) { id } }".into(), json!({ "d": support })),
            ("updateEmployee", "mutation($e: ID!) { updateEmployee(id: $e, input: { name: \"Irina V.\" }) { id } }".into(), json!({ "e": irina })),
            ("deactivateEmployee", "mutation($e: ID!) { deactivateEmployee(id: $e, leftOn: \"2027-01-31\") { id } }".into(), json!({ "e": irina })),
            ("renameDepartment", "mutation($d: ID!) { renameDepartment(id: $d, name: \"Customer support\") { id } }".into(), json!({ "d": support })),
            ("openPeriod", "mutation { openPeriod { id } }".into(), json!({})),
            ("updateKpiPolicy", "mutation { updateKpiPolicy(input: { note: \"matrix\" }) { version } }".into(), json!({})),
            ("schedulerRuns", "{ schedulerRuns(first: 5) { totalCount } }".into(), json!({})),
            ("createToken", "mutation { createToken(input: { service: \"svc\", scopes: [\"payroll:read\"], name: \"t\" }) { secret } }".into(), json!({})),
            ("closePeriod", "mutation($p: ID!) { closePeriod(id: $p) { id } }".into(), json!({ "p": period })),
        ];
        for (field, query, vars) in admin_ops {
            let got = row(&app, &w, field, &query, vars).await;
            // The current period has not ended: admins pass the permission check and meet
            // the state check.
            let want = match field {
                "closePeriod" => admin_only.replace("OK OK", "CONFLICT CONFLICT"),
                // The second admin meets the unique e-mail the first one just took.
                "createEmployee" => admin_only.replace("OK OK", "OK BAD_USER_INPUT"),
                _ => admin_only.into(),
            };
            assert_eq!(got, expect(&want), "{field} (columns: {WHO:?})");
        }
        // Payroll figures: payroll and admins; a period that is not closed has none yet.
        let got = row(&app, &w, "bonusResults", "query($p: ID!) { bonusResults(periodId: $p) { totalCount } }", json!({ "p": period })).await;
        assert_eq!(got, expect("UNAUTHENTICATED FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN FORBIDDEN CONFLICT CONFLICT CONFLICT"), "bonusResults (columns: {WHO:?})");
        let got = row(&app, &w, "employee", "query($e: ID!) { employee(id: $e) { kpiHistory(first: 5) { totalCount } } }", json!({ "e": irina })).await;
        assert_eq!(got, expect("UNAUTHENTICATED NOT_FOUND OK NOT_FOUND OK NOT_FOUND OK OK OK"), "kpiHistory (columns: {WHO:?})");
        let got = row(&app, &w, "kpiPolicy", "{ kpiPolicy { version } }", json!({})).await;
        assert_eq!(got, expect("UNAUTHENTICATED OK OK OK OK OK OK OK OK"), "kpiPolicy (columns: {WHO:?})");

        // Votes and reads are an employee's own, within their audience.
        let d = app.gql(w.tokens[7].as_deref().unwrap(), "mutation($d: ID!) { createProposal(input: { title: \"p\", departmentId: $d, closesAt: \"2026-11-27T00:00:00Z\" }) { id } publishArticle(input: { title: \"a\", body: \"b\", departmentId: $d, mandatory: true }) { id } }", json!({ "d": support })).await;
        let (p, art) = (d["createProposal"]["id"].clone(), d["publishArticle"]["id"].clone());
        let got = row(&app, &w, "vote", "mutation($p: ID!) { vote(proposalId: $p, choice: FOR) { id } }", json!({ "p": p })).await;
        assert_eq!(got, expect("UNAUTHENTICATED OK OK NOT_FOUND OK NOT_FOUND NOT_FOUND FORBIDDEN FORBIDDEN"), "vote");
        let got = row(&app, &w, "vote", "mutation($p: ID!) { vote(proposalId: $p, choice: AGAINST) { id } }", json!({ "p": p })).await;
        assert_eq!(got[1], "CONFLICT", "one vote per employee");
        let got = row(&app, &w, "markArticleRead", "mutation($a: ID!) { markArticleRead(id: $a) { id } }", json!({ "a": art })).await;
        assert_eq!(got, expect("UNAUTHENTICATED OK OK NOT_FOUND OK NOT_FOUND NOT_FOUND FORBIDDEN FORBIDDEN"), "markArticleRead");
        // Nobody's data leaks into an error: the NOT_FOUND bodies never carry the title.
        let (_, body) = app.post(w.tokens[1].as_deref(), "query($a: ID!) { assignment(id: $a) { title } node(id: $a) { id } }", json!({ "a": a })).await;
        assert!(!body.to_string().contains("Matrix"), "{body}");
    }
}
