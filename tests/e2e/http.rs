//! GraphQL over HTTP as its spec says, the configurable limits, and the statement budget.

use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};

use super::*;
use crate::on_both;

async fn raw(
    app: &TestApp,
    method: reqwest::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> (StatusCode, String, String) {
    let mut req = app.http.request(method, format!("{}{url}", app.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

on_both! {
    async fn graphql_over_http(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        let auth = format!("Bearer {admin}");
        let gqlr = "application/graphql-response+json";
        // GET runs queries.
        let (st, ct, body) = raw(&app, reqwest::Method::GET, "/graphql?query=%7B%20departments%20%7B%20name%20%7D%20%7D", &[("authorization", &auth), ("accept", gqlr)], None).await;
        assert_eq!((st, ct.starts_with(gqlr)), (StatusCode::OK, true), "{body}");
        assert!(body.contains("Accounting"));
        // GET refuses mutations, before running them.
        let (st, _, _) = raw(&app, reqwest::Method::GET, "/graphql?query=mutation%20%7B%20createDepartment(name%3A%20%22X%22)%20%7B%20id%20%7D%20%7D", &[("authorization", &auth)], None).await;
        assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
        let d = app.gql(&admin, "{ departments { name } }", json!({})).await;
        assert_eq!(d["departments"].as_array().unwrap().len(), 5, "the GET mutation did not run");
        // POST answers in the media type asked for.
        for (accept, want) in [(gqlr, gqlr), ("application/json", "application/json"), ("*/*", "application/json")] {
            let (st, ct, _) = raw(&app, reqwest::Method::POST, "/graphql", &[("authorization", &auth), ("accept", accept), ("content-type", "application/json")], Some(json!({ "query": "{ departments { name } }" }).to_string())).await;
            assert_eq!(st, StatusCode::OK);
            assert!(ct.starts_with(want), "{accept} -> {ct}");
        }
        let (st, _, _) = raw(&app, reqwest::Method::POST, "/graphql", &[("accept", "text/html"), ("content-type", "application/json")], Some("{}".into())).await;
        assert_eq!(st, StatusCode::NOT_ACCEPTABLE);
        // Not a GraphQL request: 400 with a code, whatever is accepted.
        for body in ["{not json", "[]", "{\"variables\": {}}", "42"] {
            let (st, _, text) = raw(&app, reqwest::Method::POST, "/graphql", &[("authorization", &auth), ("content-type", "application/json")], Some(body.into())).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {text}");
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(codes(&v), ["BAD_USER_INPUT"], "{body}");
        }
        let (st, _, _) = raw(&app, reqwest::Method::POST, "/graphql", &[("content-type", "text/plain")], Some("{ me { id } }".into())).await;
        assert_eq!(st, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        // A request that fails validation: 400 under graphql-response+json, 200 under json.
        let invalid = json!({ "query": "{ nope }" }).to_string();
        let (st, _, text) = raw(&app, reqwest::Method::POST, "/graphql", &[("authorization", &auth), ("accept", gqlr), ("content-type", "application/json")], Some(invalid.clone())).await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        assert_eq!(codes(&serde_json::from_str(&text).unwrap()), ["BAD_USER_INPUT"]);
        let (st, _, _) = raw(&app, reqwest::Method::POST, "/graphql", &[("authorization", &auth), ("accept", "application/json"), ("content-type", "application/json")], Some(invalid)).await;
        assert_eq!(st, StatusCode::OK);
        // A field error is a 200 with data.
        let (st, _, text) = raw(&app, reqwest::Method::POST, "/graphql", &[("authorization", &auth), ("accept", gqlr), ("content-type", "application/json")], Some(json!({ "query": "{ employees(first: 0) { totalCount } departments { name } }" }).to_string())).await;
        assert_eq!(st, StatusCode::OK, "{text}");
        // Batches, up to the cap.
        let batch: Vec<Value> = (0..3).map(|_| json!({ "query": "{ departments { name } }" })).collect();
        let (st, _, text) = raw(&app, reqwest::Method::POST, "/graphql", &[("authorization", &auth), ("content-type", "application/json")], Some(Value::Array(batch).to_string())).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap().as_array().unwrap().len(), 3);
        let batch: Vec<Value> = (0..11).map(|_| json!({ "query": "{ departments { name } }" })).collect();
        let (st, _, text) = raw(&app, reqwest::Method::POST, "/graphql", &[("authorization", &auth), ("content-type", "application/json")], Some(Value::Array(batch).to_string())).await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        assert_eq!(codes(&serde_json::from_str(&text).unwrap()), ["BAD_USER_INPUT"]);
        // A malformed Authorization header.
        let (st, _, _) = raw(&app, reqwest::Method::POST, "/graphql", &[("authorization", "Basic abc"), ("content-type", "application/json")], Some(json!({ "query": "{ me { id } }" }).to_string())).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
    }
}

on_both! {
    async fn limits_are_enforced_with_codes(kind: Kind) {
        let limits = api::Limits { depth: 6, complexity: 500, aliases: 3, batch: 2, body_bytes: 2000, page_size: 10, ..api::Limits::default() };
        let app = TestApp::start_with(kind, utc_company(), t0(), limits).await;
        app.demo().await;
        let admin = app.admin().await;
        let cases: [(&str, String); 5] = [
            ("depth", format!("{{ me {{ {} id {} }} }}", "manager { ".repeat(6), "}".repeat(6))),
            ("complexity", "{ employees(first: 10) { edges { node { summary { duties { items(first: 10) { edges { node { title events { comment } assignee { name } controller { name } } } } } } } } } }".into()),
            ("aliases", "{ a: me { id } b: me { id } c: me { id } d: me { id } }".into()),
            ("page size", "{ employees(first: 11) { totalCount } }".into()),
            ("body size", format!("{{ me {{ id }} }} # {}", "x".repeat(3000))),
        ];
        for (what, query) in cases {
            let (status, body) = app.post(Some(&admin), &query, json!({})).await;
            assert!(status < 500, "{what}: {status}");
            assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{what}: {body}");
            if what != "page size" {
                assert!(body["data"].is_null(), "{what} was refused before execution: {body}");
            } else {
                assert_eq!(body["errors"][0]["extensions"]["field"], "first");
            }
        }
        // Within the limits, the same shapes pass.
        app.gql(&admin, "{ a: me { id } b: me { id } c: me { id } }", json!({})).await;
        app.gql(&admin, "{ employees(first: 10) { totalCount } }", json!({})).await;
        // 40 levels deep under the default limits is refused too, and never a 5xx.
        let app2 = TestApp::start(kind).await;
        app2.demo().await;
        let admin2 = app2.admin().await;
        let deep = format!("{{ me {{ {} id {} }} }}", "manager { ".repeat(40), "}".repeat(40));
        let (status, body) = app2.post(Some(&admin2), &deep, json!({})).await;
        assert!(status < 500 && body["data"].is_null() && codes(&body) == ["BAD_USER_INPUT"], "{status} {body}");
    }
}

/// Adds `n` employees below the demo's development manager.
async fn hire(app: &TestApp, n: usize) {
    let manager = entity::employee::Entity::find()
        .filter(entity::employee::Column::Email.eq("dmitry.orlov@zeroboard.demo"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    for i in 0..n {
        entity::employee::ActiveModel {
            department_id: Set(manager.department_id),
            manager_id: Set(Some(manager.id)),
            name: Set(format!("Extra Person {i}")),
            email: Set(format!("extra{i}@zeroboard.demo")),
            role: Set(entity::enums::Role::Employee),
            hired_on: Set(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()),
            left_on: Set(None),
            created_at: Set(t0()),
            payroll: Set(false),
            language: Set(entity::enums::Language::En),
            reminders: Set(true),
            ..Default::default()
        }
        .insert(&app.db)
        .await
        .unwrap();
    }
}

const COUNTS: &str = "toAccept { count } duties { total done awaitingAcceptance remaining overdue } \
    additional { total done awaitingAcceptance remaining overdue } knowledgeBaseNew { count } proposalsToVote { count } averageKpi";

on_both! {
    async fn statements_per_request_do_not_grow_with_the_page(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        hire(&app, 100).await;
        let admin_person = app.token_for_email("anna.petrova@zeroboard.demo").await;
        let me = app.statements_for(&admin_person, &format!("{{ me {{ summary {{ {COUNTS} }} }} }}")).await;
        eprintln!("statements: me {{ summary }} = {me}");
        // The token, the period, every count tile in one statement, the KPIs the average
        // takes (with the policy's window, in the same statement).
        assert!(me <= 4, "me {{ summary }} took {me} statements");
        let page = |n: usize| format!("{{ employees(first: {n}) {{ edges {{ node {{ department {{ name }} manager {{ name }} summary {{ {COUNTS} }} }} }} }} }}");
        let five = app.statements_for(&admin_person, &page(5)).await;
        let hundred = app.statements_for(&admin_person, &page(100)).await;
        eprintln!("statements: employees(first: 5) = {five}, employees(first: 100) = {hundred}");
        assert_eq!(five, hundred, "a page of 100 costs more statements than a page of 5");
        assert!(hundred <= 6, "{hundred} statements");
        // The live KPI judges the period's obligations from its rows: a fixed number of
        // statements more, whatever the page size.
        let with_kpi = |n: usize| format!("{{ employees(first: {n}) {{ edges {{ node {{ summary {{ {COUNTS} currentKpi }} }} }} }} }}");
        let five = app.statements_for(&admin_person, &with_kpi(5)).await;
        let hundred = app.statements_for(&admin_person, &with_kpi(100)).await;
        let me = app.statements_for(&admin_person, &format!("{{ me {{ summary {{ {COUNTS} currentKpi }} }} }}")).await;
        eprintln!("statements with currentKpi: me = {me}, employees(first: 5) = {five}, employees(first: 100) = {hundred}");
        assert_eq!(five, hundred);
        assert!(hundred <= 13 && me <= 12, "{me} / {hundred}");
        // The outlook judges the period's rows once per page too, and pages its items in
        // memory: a page of 100 costs what a page of 5 does.
        let with_outlook = |n: usize| format!("{{ employees(first: {n}) {{ nodes {{ summary {{ outlook {{ kpiIfAllOnTime items(first: 10) {{ nodes {{ points }} }} }} }} }} }} }}");
        let five = app.statements_for(&admin_person, &with_outlook(5)).await;
        let hundred = app.statements_for(&admin_person, &with_outlook(100)).await;
        let me = app.statements_for(&admin_person, "{ me { summary { outlook { kpiIfAllOnTime items(first: 10) { nodes { points } } advice } } } }").await;
        eprintln!("statements with outlook: me = {me}, employees(first: 5) = {five}, employees(first: 100) = {hundred}");
        assert_eq!(five, hundred, "a page of 100 outlooks costs more statements than a page of 5");
        assert!(hundred <= 16 && me <= 12, "{me} / {hundred}");
        // Lists of assignments with their history and people: also independent of size.
        let list = |n: usize| format!("{{ assignments(first: {n}) {{ edges {{ node {{ title assignee {{ name }} controller {{ name }} period {{ startsOn }} events {{ to actor {{ name }} }} }} }} }} }}");
        let five = app.statements_for(&admin_person, &list(5)).await;
        let hundred = app.statements_for(&admin_person, &list(100)).await;
        eprintln!("statements: assignments(first: 5) with events = {five}, (first: 100) = {hundred}");
        assert_eq!(five, hundred);
        // A closed period's results item by item, with links and explanations: one statement
        // per kind of row, whatever the number of results (here 125).
        let period = app.gql(&admin_person, "{ currentPeriod { id } }", json!({})).await["currentPeriod"]["id"].clone();
        let later = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 2, 12, 0, 0).unwrap();
        app.clock.set(later);
        domain::tick::tick(&app.db, &domain::auth::Principal::System, &app.company, later).await.unwrap();
        let id = period.as_str().unwrap();
        let results = |n: usize| format!("{{ bonusResults(periodId: \"{id}\", first: {n}) {{ edges {{ node {{ kpi explanation items(first: 20) {{ totalCount nodes {{ points assignment {{ title }} article {{ title }} proposal {{ title }} }} }} }} }} }} }}");
        let five = app.statements_for(&admin_person, &results(5)).await;
        let hundred = app.statements_for(&admin_person, &results(100)).await;
        eprintln!("statements: bonusResults(first: 5) with items = {five}, (first: 100) = {hundred}");
        assert_eq!(five, hundred);
        assert!(hundred <= 10, "{hundred} statements");
    }
}

/// Queries a fuzzer starts from: every area of the schema, with arguments.
const SEEDS: [&str; 6] = [
    "{ me { summary { toAccept { count items(first: 5) { edges { node { id title } } } } duties { total } currentKpi averageKpi } } }",
    "query($f: AssignmentFilter, $n: Int) { assignments(first: $n, filter: $f) { totalCount counts { overdue } } }",
    "{ assignmentReport(by: DEBTORS) { employee { name } overdue assignments(first: 3) { edges { node { id } } } } }",
    "mutation($id: ID!) { submitAssignment(id: $id) { id status } }",
    "mutation($i: AssignmentFields!) { createAssignment(input: $i) { id } }",
    "query($id: ID!) { node(id: $id) { id ... on Employee { kpiHistory(first: 2) { totalCount } } } }",
];

on_both! {
    async fn no_input_makes_the_server_fail(kind: Kind) {
        use proptest::prelude::*;
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let app = TestApp::start(kind).await;
        app.demo().await;
        let token = app.token_for_email("dmitry.orlov@zeroboard.demo").await;
        // Mangled queries: a seed with a random span cut out and random text put in.
        let mangled = (0..SEEDS.len(), any::<prop::sample::Index>(), 0usize..40, "\\PC{0,12}")
            .prop_map(|(seed, at, cut, insert)| {
                let s = SEEDS[seed];
                let start = at.index(s.len());
                let end = (start + cut).min(s.len());
                let (start, end) = (s.floor_char_boundary(start), s.floor_char_boundary(end));
                format!("{}{}{}", &s[..start], insert, &s[end..])
            });
        let variables = prop_oneof![
            Just(json!({})),
            any::<i64>().prop_map(|n| json!({ "n": n, "id": n.to_string() })),
            "\\PC{0,20}".prop_map(|s| json!({ "id": s, "f": { "status": s }, "i": { "title": s } })),
            Just(json!({ "id": null, "f": [1, 2], "i": "x", "n": 1e300 })),
        ];
        let body = prop::collection::vec(any::<u8>(), 0..64);
        let mut runner = TestRunner::deterministic();
        for case in 0..150 {
            let query = mangled.new_tree(&mut runner).unwrap().current();
            let vars = variables.new_tree(&mut runner).unwrap().current();
            let (status, response) = app.post(Some(&token), &query, vars).await;
            assert!(status < 500, "case {case}: {status} for {query}: {response}");
            for e in response["errors"].as_array().into_iter().flatten() {
                assert!(e["extensions"]["code"].is_string(), "case {case}: an error without a code: {e}");
            }
            let raw = body.new_tree(&mut runner).unwrap().current();
            let resp = app.http.post(format!("{}/graphql", app.base)).header("content-type", "application/json").body(raw).send().await.unwrap();
            assert!(resp.status().as_u16() < 500, "case {case}: raw body gave {}", resp.status());
        }
    }
}

on_both! {
    async fn metrics_count_requests(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        app.gql(&admin, "{ departments { name } }", json!({})).await;
        // By default the metrics need an admin's or a metrics:read token.
        let (status, _, _) = raw(&app, reqwest::Method::GET, "/metrics", &[], None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let payroll = format!("Bearer {}", app.service_token(domain::auth::Scope::PayrollRead).await);
        let (status, _, _) = raw(&app, reqwest::Method::GET, "/metrics", &[("authorization", &payroll)], None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let scraper = format!("Bearer {}", app.service_token(domain::auth::Scope::MetricsRead).await);
        let (status, ct, text) = raw(&app, reqwest::Method::GET, "/metrics", &[("authorization", &scraper)], None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(ct.starts_with("text/plain"), "{ct}");
        let line = text.lines().find(|l| l.starts_with("zeroboard_http_requests_total{") && l.contains("route=\"/graphql\"") && l.contains("status=\"200\""));
        let count: f64 = line.and_then(|l| l.rsplit(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(0.0);
        assert!(count >= 1.0, "{text}");
        assert!(text.contains("zeroboard_http_request_duration_seconds_bucket"), "{text}");
        // Described, with the build named.
        assert!(text.contains("# HELP zeroboard_http_requests_total "), "{text}");
        assert!(text.lines().any(|l| l.starts_with("zeroboard_build_info{version=\"") && l.ends_with(" 1")), "{text}");
        // Every answer names its request, as the logs do.
        let resp = app.http.get(format!("{}/healthz", app.base)).send().await.unwrap();
        let id = resp.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        assert!(!id.is_empty());
    }
}
