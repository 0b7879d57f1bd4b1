//! Hostile and careless requests: each ends in a coded error, fast, and the server keeps
//! serving; HTTP conventions; what stays hidden; what a closed period's tiles show.

use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::on_both;

/// Sends a POST body as is and returns the status, the headers and the JSON answer.
async fn send(
    app: &TestApp,
    token: Option<&str>,
    body: String,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = app
        .http
        .post(format!("{}/graphql", app.base))
        .header("content-type", "application/json")
        .header("accept", "application/graphql-response+json")
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("an answer, not a reset connection");
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

async fn assert_alive(app: &TestApp, after: &str) {
    let resp = app
        .http
        .get(format!("{}/healthz", app.base))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(
        resp.is_ok_and(|r| r.status() == StatusCode::OK),
        "/healthz did not answer after {after}"
    );
}

/// The demo's plain employee.
async fn employee_token_query(app: &TestApp) -> String {
    app.token_for_email(&fixtures::demo::email_of(fixtures::demo::DEMO_EMPLOYEE))
        .await
}

fn nested(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("{}{inner}{}", open.repeat(n), close.repeat(n))
}

on_both! {
    async fn denial_of_service_probes_are_refused_fast(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let me = employee_token_query(&app).await;
        let list = nested("[", "1", "]", 2000);
        let object = nested("{a:", "1", "}", 2000);
        let chain: String = (0..30).map(|i| format!("fragment F{i} on Query {{ ...F{} ...F{} }} ", i + 1, i + 1)).collect();
        let mut history = "kpiHistory(first: 100) { nodes { kpi } }".to_owned();
        for _ in 0..4 {
            history = format!("kpiHistory(first: 100) {{ nodes {{ kpi employee {{ {history} }} }} }}");
        }
        let aliased: String = (0..10).map(|i| format!("h{i}: {history} ")).collect();
        let huge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("9223372036854775807");
        let probes: Vec<(&str, Value)> = vec![
            ("a list value 2,000 deep", json!({ "query": format!("{{ node(id: {list}) {{ id }} }}") })),
            ("an object value 2,000 deep", json!({ "query": format!("{{ node(id: {object}) {{ id }} }}") })),
            ("a variable's default value", json!({ "query": format!("query($v: ID = {list}) {{ node(id: $v) {{ id }} }}") })),
            ("a directive argument", json!({ "query": format!("{{ me @skip(if: {list}) {{ name }} }}") })),
            ("selections 2,000 deep", json!({ "query": nested("{ me ", "", "}", 2000) })),
            ("a self-spreading fragment", json!({ "query": "query { ...A } fragment A on Query { x: __typename ...A ...A }" })),
            ("thirty doubling fragments", json!({ "query": format!("query {{ ...F0 }} {chain} fragment F30 on Query {{ __typename }}") })),
            ("kpiHistory nested five deep, ten times", json!({ "query": format!("{{ me {{ {aliased} }} }}") })),
            ("sixty directives", json!({ "query": format!("{{ me {} {{ name }} }}", "@include(if: true) ".repeat(60)) })),
            ("a huge cursor on duties", json!({ "query": format!("{{ me {{ summary {{ duties {{ items(after: \"{huge}\") {{ totalCount }} }} }} }} }}") })),
            ("a huge cursor on toAccept", json!({ "query": format!("{{ me {{ summary {{ toAccept {{ items(after: \"{huge}\") {{ totalCount }} }} }} }} }}") })),
            ("a huge cursor on proposals", json!({ "query": format!("{{ me {{ summary {{ proposalsToVote {{ items(after: \"{huge}\") {{ totalCount }} }} }} }} }}") })),
        ];
        for (label, body) in probes {
            let started = Instant::now();
            let (status, _, answer) = send(&app, Some(&me), body.to_string()).await;
            let took = started.elapsed();
            assert!(status.as_u16() < 500, "{label}: status {status}");
            assert_eq!(codes(&answer), ["BAD_USER_INPUT"], "{label}: {answer}");
            // Linear checks answer in milliseconds; the bound only catches runaway work.
            assert!(took < Duration::from_secs(2), "{label}: took {took:?}");
            assert_alive(&app, label).await;
        }
        // Cursors out of range name their argument.
        let (_, _, answer) = send(&app, Some(&me), json!({ "query": format!("{{ me {{ summary {{ duties {{ items(after: \"{huge}\") {{ totalCount }} }} }} }} }}") }).to_string()).await;
        assert_eq!(answer["errors"][0]["extensions"]["field"], "after", "{answer}");
        // The same nesting inside JSON variables, and over GET.
        let deep_json = format!(r#"{{"query": "query($v: ID!) {{ node(id: $v) {{ id }} }}", "variables": {{"v": {list}}}}}"#);
        let (status, _, answer) = send(&app, Some(&me), deep_json).await;
        assert_eq!((status, codes(&answer)), (StatusCode::BAD_REQUEST, vec!["BAD_USER_INPUT".to_owned()]), "{answer}");
        assert_alive(&app, "deep JSON variables").await;
        let get = app
            .http
            .get(format!("{}/graphql", app.base))
            .query(&[("query", format!("{{ node(id: {list}) {{ id }} }}"))])
            .bearer_auth(&me)
            .send()
            .await
            .expect("an answer");
        assert!(get.status().as_u16() < 500);
        assert_eq!(codes(&get.json().await.unwrap()), ["BAD_USER_INPUT"]);
        assert_alive(&app, "a deep GET").await;
        // A small document cannot ask for megabytes of errors: at most 100, and a count.
        let conflicts: String = (0..500).map(|i| format!("node(id: \"{i}\") {{ id }} ")).collect();
        let (_, _, answer) = send(&app, Some(&me), json!({ "query": format!("{{ {conflicts} }}") }).to_string()).await;
        let errors = answer["errors"].as_array().expect("errors");
        assert_eq!(errors.len(), 101, "{answer}");
        assert!(errors[100]["message"].as_str().unwrap().ends_with("more errors were left out"), "{}", errors[100]);
        // Honest requests still pass: the README's tile query and a page of 100.
        let tiles = "{ me { summary { toAccept { count } duties { total remaining } averageKpi knowledgeBaseNew { count } } kpiHistory(first: 100) { nodes { kpi } } } }";
        app.gql(&me, tiles, json!({})).await;
    }
}

on_both! {
    async fn slow_clients_are_cut_off(kind: Kind) {
        let limits = api::Limits { connections: 8, read_timeout: Duration::from_secs(1), ..api::Limits::default() };
        let app = TestApp::start_with(kind, utc_company(), t0(), limits).await;
        let addr = app.base.trim_start_matches("http://").to_owned();
        // Twelve clients send half a header and stop: eight hold the slots, four are closed
        // on arrival; the read timeout closes the eight.
        let mut sockets = Vec::new();
        for _ in 0..12 {
            let mut s = tokio::net::TcpStream::connect(&addr).await.expect("connect");
            s.write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-").await.expect("write");
            sockets.push(s);
        }
        for (i, s) in sockets.iter_mut().enumerate() {
            let mut buf = [0u8; 256];
            let read = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await;
            assert!(matches!(read, Ok(Ok(_)) | Ok(Err(_))), "client {i} was still held open after 10 s");
        }
        assert_alive(&app, "stalled clients").await;
    }
}

on_both! {
    async fn http_conventions(kind: Kind) {
        let cors = api::HttpOptions { cors_origins: vec!["https://board.example.com".into()], ..api::HttpOptions::default() };
        let app = TestApp::start_full(kind, utc_company(), t0(), api::Limits::default(), cors).await;
        app.demo().await;
        let me = employee_token_query(&app).await;
        // A 401 names its scheme, on GraphQL and on the export.
        let (status, headers, _) = send(&app, Some("zb_nope"), json!({ "query": "{ me { name } }" }).to_string()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(headers.get("www-authenticate").is_some_and(|v| v.to_str().unwrap().starts_with("Bearer")), "{headers:?}");
        let export = app.http.get(format!("{}/export/bonus.csv?period=2026-11-01", app.base)).send().await.unwrap();
        assert_eq!(export.status(), StatusCode::UNAUTHORIZED);
        assert!(export.headers().get("www-authenticate").is_some());
        // A request failing before execution has no `data` entry at all.
        for bad in ["{ me { name ", "{ nosuchfield }"] {
            let (status, _, answer) = send(&app, Some(&me), json!({ "query": bad }).to_string()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
            assert!(answer.get("data").is_none(), "{bad}: {answer}");
            assert_eq!(codes(&answer), ["BAD_USER_INPUT"]);
        }
        // A caller's request id is kept; ours are random, not a pid and a counter.
        let kept = app.http.get(format!("{}/healthz", app.base)).header("x-request-id", "lb-7f3a.01").send().await.unwrap();
        assert_eq!(kept.headers()["x-request-id"], "lb-7f3a.01");
        let ours = app.http.get(format!("{}/healthz", app.base)).send().await.unwrap();
        let id = ours.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        // CORS: the configured origin may call from a browser; another may not.
        let preflight = |origin: &'static str| {
            app.http
                .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.base))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "authorization, content-type")
                .send()
        };
        let allowed = preflight("https://board.example.com").await.unwrap();
        assert_eq!(allowed.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap()), Some("https://board.example.com"));
        let other = preflight("https://evil.example.net").await.unwrap();
        assert!(other.headers().get("access-control-allow-origin").is_none());
        // Introspection needs a token unless configured otherwise.
        let introspect = json!({ "query": "{ __schema { queryType { name } } }" }).to_string();
        let (_, _, answer) = send(&app, None, introspect.clone()).await;
        assert_eq!(codes(&answer), ["UNAUTHENTICATED"], "{answer}");
        let (_, _, answer) = send(&app, Some(&me), introspect).await;
        assert_eq!(answer["data"]["__schema"]["queryType"]["name"], "Query", "{answer}");
    }
}

on_both! {
    async fn defaults_send_no_cors_and_public_settings_open_up(kind: Kind) {
        let open = api::HttpOptions { public_metrics: true, public_introspection: true, ..api::HttpOptions::default() };
        let app = TestApp::start_full(kind, utc_company(), t0(), api::Limits::default(), open).await;
        let (_, _, answer) = send(&app, None, json!({ "query": "{ __schema { queryType { name } } }" }).to_string()).await;
        assert_eq!(answer["data"]["__schema"]["queryType"]["name"], "Query", "{answer}");
        let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap();
        assert_eq!(metrics.status(), StatusCode::OK);
        let plain = TestApp::start(kind).await;
        let resp = plain.http.get(format!("{}/healthz", plain.base)).header("origin", "https://board.example.com").send().await.unwrap();
        assert!(resp.headers().get("access-control-allow-origin").is_none());
    }
}

on_both! {
    async fn unpublished_material_stays_hidden(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        let me = employee_token_query(&app).await;
        let payroll = app.service_token(domain::auth::Scope::PayrollRead).await;
        let later = (t0() + chrono::Duration::days(3)).to_rfc3339();
        let article = app
            .gql(&admin, "mutation($at: DateTime) { publishArticle(input: {title: \"Soon\", body: \"x\", publishedAt: $at}) { id } }", json!({ "at": later }))
            .await["publishArticle"]["id"]
            .clone();
        let proposal = app
            .gql(
                &admin,
                "mutation($at: DateTime, $end: DateTime!) { createProposal(input: {title: \"Later\", opensAt: $at, closesAt: $end}) { id } }",
                json!({ "at": later, "end": (t0() + chrono::Duration::days(5)).to_rfc3339() }),
            )
            .await["createProposal"]["id"]
            .clone();
        let node = "query($id: ID!) { node(id: $id) { id } }";
        for id in [&article, &proposal] {
            for token in [&me, &payroll] {
                assert_eq!(app.gql(token, node, json!({ "id": id })).await["node"], Value::Null, "{id} before it is visible");
            }
            assert_eq!(app.gql(&admin, node, json!({ "id": id })).await["node"]["id"], *id);
        }
    }
}

on_both! {
    async fn closed_period_tiles_read_what_was_stored(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        let me = employee_token_query(&app).await;
        let history = app.gql(&me, "{ me { id kpiHistory(first: 100) { nodes { kpi period { id } } } } }", json!({})).await;
        let stored: Vec<(Value, Value)> =
            history["me"]["kpiHistory"]["nodes"].as_array().unwrap().iter().map(|n| (n["period"]["id"].clone(), n["kpi"].clone())).collect();
        assert!(!stored.is_empty());
        // Moving the employee to another department changes their audiences, not the past.
        let departments = app.gql(&admin, "{ departments { id } }", json!({})).await;
        let other = departments["departments"].as_array().unwrap().last().unwrap()["id"].clone();
        app.gql(&admin, "mutation($id: ID!, $d: ID!) { updateEmployee(id: $id, input: {departmentId: $d}) { id } }", json!({ "id": history["me"]["id"], "d": other })).await;
        for (period, kpi) in &stored {
            let got = app.gql(&me, "query($p: ID) { me { summary(periodId: $p) { currentKpi } } }", json!({ "p": period })).await;
            assert_eq!(got["me"]["summary"]["currentKpi"], *kpi, "period {period}");
        }
        // A tick run ahead of time closes the running period: its tiles stay, as stored.
        domain::tick::tick(&app.db, &domain::auth::Principal::System, &app.company, t0() + chrono::Duration::days(40)).await.expect("tick");
        let tiles = app.gql(&me, "{ me { summary { period { id status } duties { total } toAccept { count } currentKpi } } }", json!({})).await;
        let summary = &tiles["me"]["summary"];
        assert_eq!(summary["period"]["status"], "CLOSED", "{tiles}");
        assert!(summary["duties"]["total"].is_u64());
        let history = app.gql(&me, "{ me { kpiHistory(first: 100) { nodes { kpi period { id } } } } }", json!({})).await;
        let stored = history["me"]["kpiHistory"]["nodes"].as_array().unwrap().iter().find(|n| n["period"]["id"] == summary["period"]["id"]).expect("a result for the closed period");
        assert_eq!(summary["currentKpi"], stored["kpi"], "{tiles}");
    }
}

/// During a database outage every request that needs the database answers 503 with a
/// coded error and `Retry-After`, whether the token lookup or a resolver met it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    zb_skip_postgres,
    ignore = "postgres is not in ZEROBOARD_TEST_DATABASES"
)]
async fn database_outage_answers_503() {
    let app = TestApp::start(Kind::Postgres).await;
    let admin = app.admin().await;
    app.gql(&admin, "{ departments { name } }", json!({})).await;
    let name = app
        .db
        .get_postgres_connection_pool()
        .connect_options()
        .get_database()
        .unwrap()
        .to_owned();
    let outside = domain::db::connect(
        &std::env::var("ZEROBOARD_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
    )
    .await
    .unwrap();
    use sea_orm::ConnectionTrait;
    let hidden = format!("{name}_away");
    // The pool reconnects at once, so terminate and rename until the rename wins.
    let mut renamed = false;
    for _ in 0..50 {
        outside
            .execute_unprepared(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            ))
            .await
            .unwrap();
        if outside
            .execute_unprepared(&format!("ALTER DATABASE {name} RENAME TO {hidden}"))
            .await
            .is_ok()
        {
            renamed = true;
            break;
        }
    }
    assert!(renamed, "could not take the database away");
    for token in [Some(admin.as_str()), None] {
        let (status, headers, answer) = send(
            &app,
            token,
            json!({ "query": "{ departments { name } }" }).to_string(),
        )
        .await;
        if token.is_some() {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
            assert_eq!(codes(&answer), ["UNAVAILABLE"], "{answer}");
            assert!(headers.get("retry-after").is_some());
        } else {
            // Without a token nothing needed the database.
            assert_eq!(codes(&answer), ["UNAUTHENTICATED"], "{answer}");
        }
    }
    outside
        .execute_unprepared(&format!("ALTER DATABASE {hidden} RENAME TO {name}"))
        .await
        .expect("bring it back");
    app.gql(&admin, "{ departments { name } }", json!({})).await;
}

on_both! {
    async fn logs_are_plain_off_a_terminal_and_json_on_request(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        let run = |format: Option<&str>| {
            let mut cmd = super::cli::zeroboard(&test_db.url);
            cmd.arg("migrate").env("ZEROBOARD_LOG", "info");
            match format {
                Some(f) => cmd.env("ZEROBOARD_LOG_FORMAT", f),
                None => cmd.env_remove("ZEROBOARD_LOG_FORMAT"),
            };
            let out = cmd.output().expect("run zeroboard");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stderr).expect("utf-8 logs")
        };
        let plain = run(None);
        assert!(plain.contains("INFO"), "{plain}");
        assert!(!plain.contains('\u{1b}'), "colour codes in a log that is not a terminal: {plain:?}");
        let json = run(Some("json"));
        let events: Vec<Value> = json.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).expect("a JSON log line")).collect();
        assert!(events.iter().any(|e| e["level"] == "INFO" && e["fields"]["message"].is_string()), "{json}");
        // A tick's events carry their ids, one line each (crates.io's logging guide).
        let mut tick = super::cli::zeroboard(&test_db.url);
        tick.args(["tick", "--now", "2026-11-20T10:00:00Z"]).env("ZEROBOARD_LOG", "info").env("ZEROBOARD_LOG_FORMAT", "json");
        let out = tick.output().expect("run zeroboard tick");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let logs = String::from_utf8(out.stderr).unwrap();
        let events: Vec<Value> = logs.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not one JSON event a line: {l:?}"))).collect();
        let opened = events.iter().find(|e| e["fields"]["message"] == "period opened").unwrap_or_else(|| panic!("{logs}"));
        assert!(opened["fields"]["period.id"].is_i64() && opened["fields"]["period.starts_on"] == "2026-11-16", "{opened}");
    }
}

on_both! {
    async fn a_read_only_database_is_not_ready_but_still_serves_reads(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let me = employee_token_query(&app).await;
        let ready = app.http.get(format!("{}/readyz", app.base)).send().await.unwrap();
        assert_eq!(ready.status(), StatusCode::OK);
        // The same database, read-only: a SQLite file opened so, a PostgreSQL session so.
        let url = match kind {
            Kind::Sqlite => app.url().replace("mode=rwc", "mode=ro"),
            Kind::Postgres => {
                use sea_orm::ConnectionTrait;
                let name = app.url().rsplit('/').next().unwrap().to_owned();
                app.db.execute_unprepared(&format!("ALTER DATABASE {name} SET default_transaction_read_only = on")).await.unwrap();
                app.url().to_owned()
            }
        };
        let db = domain::db::connect(&url).await.expect("connect");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        // Later than the token's last recorded use, so authenticating tries to write.
        let later = domain::clock::Clock::fixed(t0() + chrono::Duration::hours(1));
        let state = api::AppState::new(db, app.company, later, api::Limits::default());
        tokio::spawn(async move { api::serve(state, listener).await.ok() });
        let ready = app.http.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(ready.text().await.unwrap().trim(), "database read-only");
        let answer = app
            .http
            .post(format!("{base}/graphql"))
            .bearer_auth(&me)
            .json(&json!({ "query": "{ me { name summary { duties { total } } } }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let body: Value = answer.json().await.unwrap();
        assert!(body.get("errors").is_none() && body["data"]["me"]["name"].is_string(), "{body}");
    }
}

on_both! {
    async fn defaults_are_the_companys_local_date(kind: Kind) {
        // 16:00 UTC on the 20th is already 01:00 on the 21st in Tokyo.
        let tokyo = domain::Company { calendar: domain::calendar::Calendar::new(domain::calendar::Cadence::SemiMonthly, chrono_tz::Asia::Tokyo) };
        let now = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 20, 16, 0, 0).unwrap();
        let app = TestApp::start_with(kind, tokyo, now, api::Limits::default()).await;
        app.demo().await;
        let admin = app.admin().await;
        let department = app.gql(&admin, "{ departments { id } }", json!({})).await["departments"][0]["id"].clone();
        let hired = app
            .gql(&admin, "mutation($d: ID!) { createEmployee(input: {name: \"Kenji Sato\", email: \"kenji@example.com\", departmentId: $d}) { id hiredOn } }", json!({ "d": department }))
            .await;
        assert_eq!(hired["createEmployee"]["hiredOn"], "2026-11-21", "{hired}");
        let template = app
            .gql(&admin, "mutation($e: ID!) { createDutyTemplate(input: {title: \"Weekly notes\", employeeId: $e}) { startsOn } }", json!({ "e": hired["createEmployee"]["id"] }))
            .await;
        assert_eq!(template["createDutyTemplate"]["startsOn"], "2026-11-21", "{template}");
    }
}

on_both! {
    async fn unique_violations_name_their_own_field(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        let make = "mutation { createDepartment(name: \"Twice\") { id } }";
        app.gql(&admin, make, json!({})).await;
        let (_, answer) = app.post(Some(&admin), make, json!({})).await;
        assert_eq!(codes(&answer), ["BAD_USER_INPUT"], "{answer}");
        assert_eq!(answer["errors"][0]["extensions"]["field"], "name", "{answer}");
        let department = app.gql(&admin, "{ departments { id } }", json!({})).await["departments"][0]["id"].clone();
        let hire = "mutation($d: ID!) { createEmployee(input: {name: \"Same Mail\", email: \"same@example.com\", departmentId: $d}) { id } }";
        app.gql(&admin, hire, json!({ "d": department })).await;
        let (_, answer) = app.post(Some(&admin), hire, json!({ "d": department })).await;
        assert_eq!(answer["errors"][0]["extensions"]["field"], "input.email", "{answer}");
    }
}
