//! Live tiles end to end: real `graphql-ws` clients (the npm package, 6.x, driven by node
//! through `tests/live/sub.mjs`; installed by the tests once per build directory) subscribe
//! to two API replicas on one database (two PostgreSQL pools that hear each other through
//! `LISTEN/NOTIFY`; on SQLite two servers in one process, through the in-process feed).
//! The limits are driven by a raw `graphql-transport-ws` client (tokio-tungstenite) that
//! can misbehave as the npm client never does.

use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration as StdDuration, Instant};

use futures_util::{SinkExt, StreamExt};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::*;
use crate::on_both;

/// `node_modules` with graphql-ws, ws and graphql, installed once per build directory.
fn modules() -> &'static str {
    static MODULES: OnceLock<String> = OnceLock::new();
    MODULES.get_or_init(|| {
        let prefix = concat!(env!("CARGO_TARGET_TMPDIR"), "/live-node");
        let modules = format!("{prefix}/node_modules");
        if !std::path::Path::new(&format!("{modules}/graphql-ws/package.json")).exists() {
            std::fs::create_dir_all(prefix).expect("live-node dir");
            let installed = Command::new("npm")
                .args([
                    "install",
                    "--no-save",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    "--prefix",
                    prefix,
                    "graphql-ws@6.4.2",
                    "ws@8.23.0",
                    "graphql@16.11.0",
                ])
                .status()
                .expect("npm");
            assert!(installed.success(), "npm install graphql-ws ws graphql");
        }
        modules
    })
}

/// One `graphql-ws` client with one subscription, and what it printed.
struct Sub {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl Sub {
    fn start(base: &str, token: &str, query: &str) -> Sub {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/live/sub.mjs");
        let url = format!("{}/graphql", base.replace("http://", "ws://"));
        let mut child = Command::new("node")
            .args([script, &url, token, query])
            .env("LIVE_MODULES", modules())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node");
        let out = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        Sub { child, lines }
    }

    fn lines(&self) -> Vec<Value> {
        self.lines.lock().unwrap().clone()
    }

    /// The `next` payloads received so far, with their arrival (ms since the epoch).
    fn boards(&self) -> Vec<(i64, Value)> {
        self.lines()
            .into_iter()
            .filter(|l| l.get("next").is_some())
            .map(|l| (l["at"].as_i64().unwrap_or(0), l["next"].clone()))
            .collect()
    }

    /// Waits (up to `within`) until `pred` holds for the lines printed.
    async fn until(&self, within: StdDuration, pred: impl Fn(&[Value]) -> bool) -> bool {
        let until = Instant::now() + within;
        loop {
            if pred(&self.lines()) {
                return true;
            }
            if Instant::now() > until {
                return false;
            }
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
    }

    /// Waits for the `n`-th board (1-based) and returns it with its arrival.
    async fn board(&self, n: usize, within: StdDuration) -> Option<(i64, Value)> {
        let got = self
            .until(within, |l| {
                l.iter().filter(|l| l.get("next").is_some()).count() >= n
            })
            .await;
        got.then(|| self.boards()[n - 1].clone())
    }
}

impl Drop for Sub {
    fn drop(&mut self) {
        // Ending stdin makes the client dispose of itself; kill in case it hangs.
        drop(self.child.stdin.take().map(|mut s| s.flush()));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

const BOARD: &str = "subscription { summaryChanged { toAccept { count } duties { awaitingAcceptance remaining } } }";

/// Each subscriber gets its `nth` board within a second of `sent`; a controller's shows
/// `expected` submissions to accept.
async fn boards_within_a_second(
    subs: &[(&str, &Sub)],
    nth: usize,
    sent: i64,
    after: &str,
    expected: i64,
) {
    for (who, s) in subs {
        let (at, board) = s
            .board(nth, StdDuration::from_millis(1500))
            .await
            .unwrap_or_else(|| panic!("{who}: no board after the {after}: {:?}", s.lines()));
        assert!(at - sent <= 1000, "{who}: the board took {} ms", at - sent);
        if who.starts_with("controller") {
            assert_eq!(to_accept(&board), expected, "{who}: {board}");
        }
    }
}

fn to_accept(board: &Value) -> i64 {
    board["data"]["summaryChanged"]["toAccept"]["count"]
        .as_i64()
        .unwrap_or(-1)
}

on_both!(
    async fn a_submit_and_an_accept_on_two_replicas_reach_both_within_a_second(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        // Replica B: its own pool on the same database (and, on PostgreSQL, its own LISTEN).
        let (b, _b) = app
            .replica(api::HttpOptions::default(), std::future::pending())
            .await;
        let a = app.base.clone();

        let todo = app
            .gql(
                &admin,
                "{ assignments(first: 100, filter: {status: TODO, kind: DUTY}) { nodes { id assignee { id email department { id } } controller { id email } } } }",
                json!({}),
            )
            .await;
        let duty = todo["assignments"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| !n["controller"].is_null() && n["controller"]["id"] != n["assignee"]["id"])
            .expect("a TODO duty with a controller")
            .clone();
        let (worker_email, boss_email) = (
            duty["assignee"]["email"].as_str().unwrap(),
            duty["controller"]["email"].as_str().unwrap(),
        );
        // An outsider: someone of another department who is neither of them.
        let people = app
            .gql(
                &admin,
                "{ employees(first: 100) { nodes { email role department { id } } } }",
                json!({}),
            )
            .await;
        let outsider_email = people["employees"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| {
                p["email"] != worker_email
                    && p["email"] != boss_email
                    && p["role"] == "EMPLOYEE"
                    && p["department"]["id"] != duty["assignee"]["department"]["id"]
            })
            .expect("an outsider")["email"]
            .as_str()
            .unwrap()
            .to_owned();
        let worker = app.token_for_email(worker_email).await;
        let boss = app.token_for_email(boss_email).await;
        let outsider = app.token_for_email(&outsider_email).await;

        // The employee on A, the controller on A and on B, the outsider on both.
        let worker_sub = Sub::start(&a, &worker, BOARD);
        let boss_a = Sub::start(&a, &boss, BOARD);
        let boss_b = Sub::start(&b, &boss, BOARD);
        let boss_reports = Sub::start(
            &a,
            &boss,
            "subscription { assignmentChanged(filter: {kind: DUTY}) { id status } }",
        );
        let outsider_board = Sub::start(&b, &outsider, BOARD);
        let outsider_reports = Sub::start(
            &a,
            &outsider,
            "subscription { assignmentChanged { id status } }",
        );
        let nobody = Sub::start(&b, "zb_not_a_token", BOARD);

        // Everyone gets their board at once.
        let wait = StdDuration::from_secs(20);
        for s in [&worker_sub, &boss_a, &boss_b, &outsider_board] {
            assert!(
                s.board(1, wait).await.is_some(),
                "a first board: {:?}",
                s.lines()
            );
        }
        assert!(
            boss_reports
                .until(wait, |l| l.iter().any(|l| l.get("connected").is_some()))
                .await
        );
        assert!(
            outsider_reports
                .until(wait, |l| l.iter().any(|l| l.get("connected").is_some()))
                .await
        );
        let before = to_accept(&boss_a.board(1, wait).await.unwrap().1);

        // The employee submits on B.
        let sent = now_ms();
        let ok = app_post(
            &b,
            &worker,
            "mutation($id: ID!) { submitAssignment(id: $id) { status } }",
            &duty["id"],
        )
        .await;
        assert_eq!(
            ok["data"]["submitAssignment"]["status"], "SUBMITTED",
            "{ok}"
        );
        let second = StdDuration::from_secs(1);
        let subs = [
            ("controller on A", &boss_a),
            ("controller on B", &boss_b),
            ("employee", &worker_sub),
        ];
        boards_within_a_second(&subs, 2, sent, "submit", before + 1).await;

        // The controller accepts on A.
        let sent = now_ms();
        let ok = app_post(
            &a,
            &boss,
            "mutation($id: ID!) { acceptAssignment(id: $id) { status } }",
            &duty["id"],
        )
        .await;
        assert_eq!(ok["data"]["acceptAssignment"]["status"], "ACCEPTED", "{ok}");
        boards_within_a_second(&subs, 3, sent, "accept", before).await;
        // The reports' subscription saw both changes of the duty.
        assert!(
            boss_reports
                .until(second, |l| l
                    .iter()
                    .filter(|l| l.get("next").is_some())
                    .count()
                    >= 2)
                .await,
            "{:?}",
            boss_reports.lines()
        );
        let statuses: Vec<Value> = boss_reports
            .boards()
            .iter()
            .map(|(_, v)| v["data"]["assignmentChanged"]["status"].clone())
            .collect();
        assert_eq!(statuses, vec![json!("SUBMITTED"), json!("ACCEPTED")]);

        // Nobody else heard a thing: the outsider has only their first board, nothing of
        // the duty, and a bad token gets no board at all (its connection is refused).
        tokio::time::sleep(StdDuration::from_millis(600)).await;
        assert_eq!(
            outsider_board.boards().len(),
            1,
            "{:?}",
            outsider_board.lines()
        );
        assert!(
            outsider_reports.boards().is_empty(),
            "{:?}",
            outsider_reports.lines()
        );
        assert!(
            nobody
                .until(wait, |l| l.iter().any(|l| l.get("closed").is_some()))
                .await
        );
        assert!(nobody.boards().is_empty(), "{:?}", nobody.lines());
        let closed = nobody
            .lines()
            .into_iter()
            .find(|l| l.get("closed").is_some())
            .unwrap();
        assert_eq!(closed["closed"], 4403, "{closed}");
    }
);

/// POSTs one mutation with an `id` variable to a replica.
async fn app_post(base: &str, token: &str, query: &str, id: &Value) -> Value {
    reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": { "id": id } }))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json")
}

on_both!(
    async fn a_burst_is_one_board_and_the_scheduler_and_a_lost_feed_are_heard(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        let todo = app
            .gql(
                &admin,
                "{ assignments(first: 100, filter: {status: TODO}) { nodes { id assignee { email } } } }",
                json!({}),
            )
            .await;
        let nodes = todo["assignments"]["nodes"].as_array().unwrap().clone();
        let email = nodes[0]["assignee"]["email"].as_str().unwrap().to_owned();
        let mine: Vec<Value> = nodes
            .iter()
            .filter(|n| n["assignee"]["email"] == email.as_str())
            .map(|n| n["id"].clone())
            .collect();
        let worker = app.token_for_email(&email).await;
        let sub = Sub::start(&app.base, &worker, BOARD);
        let wait = StdDuration::from_secs(20);
        assert!(sub.board(1, wait).await.is_some(), "{:?}", sub.lines());

        // Whatever was still in the window when they subscribed (the demo's own changes)
        // arrives first; then a burst: every TODO of theirs started at once, well within
        // one window, is one board.
        tokio::time::sleep(StdDuration::from_millis(600)).await;
        let base = sub.boards().len();
        let start = "mutation($id: ID!) { startAssignment(id: $id) { status } }";
        let burst = mine
            .iter()
            .map(|id| app_post(&app.base, &worker, start, id));
        for answer in futures_util::future::join_all(burst).await {
            assert_eq!(
                answer["data"]["startAssignment"]["status"], "IN_PROGRESS",
                "{answer}"
            );
        }
        assert!(sub.board(base + 1, wait).await.is_some());
        tokio::time::sleep(StdDuration::from_millis(700)).await;
        assert_eq!(
            sub.boards().len(),
            base + 1,
            "{} changes, one board: {:?}",
            mine.len(),
            sub.lines()
        );

        // The scheduler (its own connection, as `zeroboard scheduler` would) tells of
        // overdue work; the subscriber hears it.
        let scheduler_db = domain::db::connect(app.url()).await.expect("connect");
        let later = app.clock.now() + chrono::Duration::days(40);
        let told = domain::assignments::tell_overdue(&scheduler_db, later)
            .await
            .unwrap();
        assert!(told > 0);
        assert!(
            sub.board(base + 2, wait).await.is_some(),
            "overdue: {:?}",
            sub.lines()
        );
        scheduler_db.close().await.ok();

        if kind == Kind::Postgres {
            // The listener's connection is killed: once it listens again, every board is
            // pushed afresh, so nothing committed meanwhile is missed silently.
            use sea_orm::ConnectionTrait;
            let killer = domain::db::connect(app.url()).await.expect("connect");
            let killed = killer
                .execute_unprepared(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND query LIKE 'LISTEN%'",
                )
                .await
                .expect("terminate the listener");
            assert!(killed.rows_affected() >= 1);
            killer.close().await.ok();
            assert!(
                sub.board(base + 3, wait).await.is_some(),
                "after reconnecting: {:?}",
                sub.lines()
            );
        }
    }
);

/// A raw `graphql-transport-ws` client: a reader task answers the server's pings (unless
/// told not to) and hands on everything else.
struct Raw {
    tx: tokio::sync::mpsc::UnboundedSender<Message>,
    rx: tokio::sync::mpsc::UnboundedReceiver<Value>,
}

impl Raw {
    async fn connect(base: &str, pong: bool) -> Raw {
        Raw::connect_with(base, pong, &[]).await
    }

    /// Connects sending these headers with the upgrade too (a cookie and an origin).
    async fn connect_with(base: &str, pong: bool, headers: &[(&'static str, &str)]) -> Raw {
        let url = format!("{}/graphql", base.replace("http://", "ws://"));
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        for (name, value) in headers {
            req.headers_mut().insert(*name, value.parse().unwrap());
        }
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("ws connect");
        let (mut write, mut read) = ws.split();
        let (tx, mut outgoing) = tokio::sync::mpsc::unbounded_channel::<Message>();
        let (incoming, rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
        tokio::spawn(async move {
            while let Some(m) = outgoing.recv().await {
                if write.send(m).await.is_err() {
                    break;
                }
            }
        });
        let answer = tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(m)) = read.next().await {
                match m {
                    Message::Text(t) => {
                        let v: Value = serde_json::from_str(&t).unwrap();
                        if v["type"] == "ping" && pong {
                            let _ = answer.send(Message::text(r#"{"type":"pong"}"#));
                        }
                        let _ = incoming.send(v);
                    }
                    Message::Close(frame) => {
                        let _ = incoming.send(match frame {
                            Some(f) => {
                                json!({"close": u16::from(f.code), "reason": f.reason.to_string()})
                            }
                            None => json!({"close": null}),
                        });
                        break;
                    }
                    _ => {}
                }
            }
        });
        Raw { tx, rx }
    }

    fn send(&self, v: Value) {
        let _ = self.tx.send(Message::text(v.to_string()));
    }

    async fn init(base: &str, token: &str, pong: bool) -> Raw {
        let raw = Raw::connect(base, pong).await;
        raw.send(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}}));
        raw
    }

    /// The next message, or close frame as `{"close": code, "reason": …}`, skipping pings
    /// when `skip_pings`; `None` at the end or after `within`.
    async fn next(&mut self, within: StdDuration, skip_pings: bool) -> Option<Value> {
        let until = tokio::time::Instant::now() + within;
        loop {
            let v = tokio::time::timeout_at(until, self.rx.recv())
                .await
                .ok()??;
            if skip_pings && v["type"] == "ping" {
                continue;
            }
            return Some(v);
        }
    }

    /// Skips messages until a close frame.
    async fn closed(&mut self, within: StdDuration) -> Value {
        loop {
            match self.next(within, true).await {
                Some(m) if m.get("close").is_some() => return m,
                Some(_) => {}
                None => panic!("no close frame"),
            }
        }
    }
}

on_both!(
    async fn each_limit_is_a_setting_and_holds(kind: Kind) {
        let live = api::LiveOptions {
            window: StdDuration::from_millis(50),
            subscriptions_per_connection: 1,
            connections_per_principal: 2,
            keepalive: StdDuration::from_secs(1),
            idle_timeout: StdDuration::from_secs(1),
            send_timeout: StdDuration::from_secs(5),
        };
        let app = TestApp::start(kind).await;
        app.demo().await;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (base, server) = app
            .replica(
                api::HttpOptions {
                    live,
                    ..api::HttpOptions::default()
                },
                async move {
                    let _ = stop_rx.await;
                },
            )
            .await;
        let anna = app.token_for_email("anna.petrova@zeroboard.demo").await;
        let pavel = app.token_for_email("pavel.lebedev@zeroboard.demo").await;
        let wait = StdDuration::from_secs(10);
        let sub = |id: &str| json!({"id": id, "type": "subscribe", "payload": {"query": "subscription { summaryChanged { toAccept { count } } }"}});

        // One subscription per connection: the second is refused with a code; once the
        // first completes, another may start.
        let mut one = Raw::init(&base, &anna, true).await;
        assert_eq!(
            one.next(wait, true).await.unwrap()["type"],
            "connection_ack"
        );
        one.send(sub("1"));
        assert_eq!(one.next(wait, true).await.unwrap()["type"], "next");
        one.send(sub("2"));
        let refused = loop {
            let m = one.next(wait, true).await.unwrap();
            if m["id"] == "2" {
                break m;
            }
        };
        assert_eq!(refused["type"], "next", "{refused}");
        assert_eq!(
            refused["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{refused}"
        );
        one.send(json!({"id": "1", "type": "complete"}));
        tokio::time::sleep(StdDuration::from_millis(100)).await;
        one.send(sub("3"));
        let third = loop {
            let m = one.next(wait, true).await.unwrap();
            if m["id"] == "3" && m["type"] != "complete" {
                break m;
            }
        };
        assert_eq!(third["type"], "next", "{third}");

        // Two connections per principal: a third is refused in connection_init (4403).
        let mut two = Raw::init(&base, &anna, true).await;
        assert_eq!(
            two.next(wait, true).await.unwrap()["type"],
            "connection_ack"
        );
        two.send(sub("1"));
        assert_eq!(two.next(wait, true).await.unwrap()["type"], "next");
        let mut three = Raw::init(&base, &anna, true).await;
        let refused = three.closed(wait).await;
        assert_eq!(refused["close"], 4403, "{refused}");

        // Keep-alive: the server pings every second; a client that never answers is
        // dropped after two pings' time, subscription or not.
        let mut silent = Raw::init(&base, &pavel, false).await;
        let began = Instant::now();
        assert_eq!(
            silent.next(wait, true).await.unwrap()["type"],
            "connection_ack"
        );
        silent.send(sub("1"));
        let ping = silent.next(wait, false).await.unwrap();
        assert_eq!(ping["type"], "next", "{ping}");
        let ping = silent.next(wait, false).await.unwrap();
        assert_eq!(ping["type"], "ping", "{ping}");
        let closed = silent.closed(wait).await;
        assert_eq!(closed["close"], 4408, "{closed}");
        assert!(
            closed["reason"].as_str().unwrap().contains("ping"),
            "{closed}"
        );
        assert!(
            began.elapsed() < StdDuration::from_secs(4),
            "{:?}",
            began.elapsed()
        );

        // Idle: a connection that holds no subscription for a second is closed.
        let mut idle = Raw::init(&base, &app.admin().await, true).await;
        let began = Instant::now();
        let closed = idle.closed(wait).await;
        assert_eq!(closed["close"], 4408, "{closed}");
        assert!(
            closed["reason"].as_str().unwrap().contains("idle"),
            "{closed}"
        );
        assert!(
            began.elapsed() < StdDuration::from_secs(3),
            "{:?}",
            began.elapsed()
        );

        // Shutdown: every open connection gets a close frame (1001).
        stop_tx.send(()).unwrap();
        for raw in [&mut one, &mut two] {
            let closed = raw.closed(wait).await;
            assert_eq!(closed["close"], 1001, "{closed}");
        }
        tokio::time::timeout(wait, server)
            .await
            .expect("the replica stops")
            .unwrap();
    }
);

/// The demo's people: email, id, role, department and manager's id.
async fn people(app: &TestApp, admin: &str) -> Vec<Value> {
    app.gql(
        admin,
        "{ employees(first: 100) { nodes { id email role department { id } manager { id } } } }",
        json!({}),
    )
    .await["employees"]["nodes"]
        .as_array()
        .unwrap()
        .clone()
}

/// POSTs a GraphQL request with variables to a replica as `token`; the `data`.
async fn gql_on(base: &str, token: &str, query: &str, variables: Value) -> Value {
    let answer: Value = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert!(answer["errors"].is_null(), "{answer}");
    answer["data"].clone()
}

const AUDIENCE: &str =
    "subscription { summaryChanged { knowledgeBaseNew { count } proposalsToVote { count } } }";

fn tile(board: &Value, name: &str) -> i64 {
    board["data"]["summaryChanged"][name]["count"]
        .as_i64()
        .unwrap_or(-1)
}

on_both!(
    async fn what_is_published_for_later_reaches_its_audience_when_a_tick_passes_then(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        let everyone = people(&app, &admin).await;
        let insider = everyone
            .iter()
            .find(|p| p["role"] == "EMPLOYEE")
            .expect("an employee")
            .clone();
        let outsider = everyone
            .iter()
            .find(|p| {
                p["role"] == "EMPLOYEE" && p["department"]["id"] != insider["department"]["id"]
            })
            .expect("an employee of another department")
            .clone();
        let insider_id =
            domain::directory::employee_id_by_email(&app.db, insider["email"].as_str().unwrap())
                .await
                .unwrap()
                .expect("the insider");
        let department = entity::employee::Entity::find_by_id(insider_id)
            .one(&app.db)
            .await
            .unwrap()
            .expect("the insider's row")
            .department_id;
        let system = domain::auth::Principal::System;
        let system_tick = async |when: chrono::DateTime<chrono::Utc>| {
            // Each tick on a connection of its own: a scheduler restarted between them.
            let scheduler = domain::db::connect(app.url()).await.expect("connect");
            app.clock.set(when);
            let report = domain::tick::tick(&scheduler, &system, &app.company, when)
                .await
                .unwrap();
            scheduler.close().await.ok();
            report
        };
        // A tick now first: it tells what the demo left overdue, so that what follows is
        // only what this test publishes.
        system_tick(app.clock.now()).await;
        let ins = Sub::start(
            &app.base,
            &app.token_for_email(insider["email"].as_str().unwrap())
                .await,
            AUDIENCE,
        );
        let out = Sub::start(
            &app.base,
            &app.token_for_email(outsider["email"].as_str().unwrap())
                .await,
            AUDIENCE,
        );
        let wait = StdDuration::from_secs(20);
        let (_, first) = ins.board(1, wait).await.expect("a first board");
        assert!(out.board(1, wait).await.is_some(), "{:?}", out.lines());
        // Whatever the demo left in the window arrives first.
        tokio::time::sleep(StdDuration::from_millis(600)).await;
        let (ins_n, out_n) = (ins.boards().len(), out.boards().len());
        let first = ins.boards().last().map(|(_, b)| b.clone()).unwrap_or(first);

        // An article and a proposal for the insider's department, published an hour from
        // now, on a connection of their own (another replica, say).
        let now = app.clock.now();
        let at = now + chrono::Duration::hours(1);
        let writer = domain::db::connect(app.url()).await.expect("connect");
        domain::kb::publish_article(
            &writer,
            &system,
            domain::kb::ArticleInput {
                title: "Later".into(),
                body: Some("Read me in an hour.".into()),
                department_id: Some(department),
                published_at: Some(at),
                ..Default::default()
            },
            now,
        )
        .await
        .unwrap();
        domain::kb::create_proposal(
            &writer,
            &system,
            domain::kb::ProposalInput {
                title: "Later".into(),
                body: "Vote in an hour.".into(),
                department_id: Some(department),
                opens_at: Some(at),
                closes_at: at + chrono::Duration::days(2),
            },
            now,
        )
        .await
        .unwrap();
        writer.close().await.ok();

        // Nothing at creation, nor from a tick a second before then.
        let early = system_tick(at - chrono::Duration::seconds(1)).await;
        assert_eq!((early.reached, early.overdue), (0, 0), "{early}");
        tokio::time::sleep(StdDuration::from_millis(700)).await;
        assert_eq!(
            ins.boards().len(),
            ins_n,
            "nothing before its time: {early} {:?}",
            ins.lines()
        );

        // The tick that passes then tells the audience, and only them.
        let report = system_tick(at).await;
        assert_eq!(
            report.reached, 2,
            "the article and the proposal's opening: {report}"
        );
        assert!(
            report.opened.is_empty() && report.closed.is_empty() && report.overdue == 0,
            "{report}"
        );
        let (_, board) = ins
            .board(ins_n + 1, wait)
            .await
            .unwrap_or_else(|| panic!("no board at publication: {:?}", ins.lines()));
        assert_eq!(
            tile(&board, "knowledgeBaseNew"),
            tile(&first, "knowledgeBaseNew") + 1,
            "{board}"
        );
        assert_eq!(
            tile(&board, "proposalsToVote"),
            tile(&first, "proposalsToVote") + 1,
            "{board}"
        );
        // Told once: a tick again finds nothing left.
        let again = system_tick(at).await;
        assert_eq!(again.reached, 0, "{again}");
        tokio::time::sleep(StdDuration::from_millis(700)).await;
        assert_eq!(
            out.boards().len(),
            out_n,
            "the outsider heard nothing: {:?}",
            out.lines()
        );
        assert_eq!(ins.boards().len(), ins_n + 1, "{:?}", ins.lines());

        // When the proposal closes, its audience's "to vote" tile drops again.
        let closes = system_tick(at + chrono::Duration::days(2)).await;
        assert!(closes.reached >= 1, "{closes}");
        let (_, board) = ins
            .board(ins_n + 2, wait)
            .await
            .unwrap_or_else(|| panic!("no board at closing: {:?}", ins.lines()));
        assert_eq!(
            tile(&board, "proposalsToVote"),
            tile(&first, "proposalsToVote"),
            "{board}"
        );
    }
);

on_both!(
    async fn revoked_signed_out_departed_and_expired_credentials_close_their_sockets(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        // Replica B: on PostgreSQL the revocations are made there, the sockets held by A.
        let (b, _b) = app
            .replica(api::HttpOptions::default(), std::future::pending())
            .await;
        let a = app.base.clone();
        let everyone = people(&app, &admin).await;
        let employees: Vec<&Value> = everyone
            .iter()
            .filter(|p| p["role"] == "EMPLOYEE" && !p["manager"].is_null())
            .collect();
        assert!(employees.len() >= 4, "{everyone:?}");
        let email = |p: &Value| p["email"].as_str().unwrap().to_owned();
        let by_id = |id: &Value| {
            everyone
                .iter()
                .find(|p| &p["id"] == id)
                .expect("someone of that id")
                .clone()
        };
        let wait = StdDuration::from_secs(20);
        let closed = async |s: &Sub| {
            assert!(
                s.until(StdDuration::from_secs(5), |l| l
                    .iter()
                    .any(|l| l.get("closed").is_some()))
                    .await,
                "not closed: {:?}",
                s.lines()
            );
            s.lines()
                .into_iter()
                .find(|l| l.get("closed").is_some())
                .unwrap()
        };

        // A token revoked on B closes the socket it opened on A (4403), not another of the
        // same person's.
        let worker = employees[0];
        let made = gql_on(
            &a,
            &admin,
            "mutation($id: ID!) { createToken(input: {employeeId: $id, name: \"live\"}) { secret token { id } } }",
            json!({ "id": worker["id"] }),
        )
        .await;
        let revoked = Sub::start(&a, made["createToken"]["secret"].as_str().unwrap(), BOARD);
        let kept = Sub::start(&a, &app.token_for_email(&email(worker)).await, BOARD);
        for s in [&revoked, &kept] {
            assert!(s.board(1, wait).await.is_some(), "{:?}", s.lines());
        }
        gql_on(
            &b,
            &admin,
            "mutation($id: ID!) { revokeToken(id: $id) { revokedAt } }",
            json!({ "id": made["createToken"]["token"]["id"] }),
        )
        .await;
        let frame = closed(&revoked).await;
        assert_eq!(frame["closed"], 4403, "{frame}");
        assert!(
            frame["reason"].as_str().unwrap().contains("revoked"),
            "{frame}"
        );

        // A session signed out on B closes the page's socket on A.
        let reader = employees[1];
        let reader_id = domain::directory::employee_id_by_email(&app.db, &email(reader))
            .await
            .unwrap()
            .unwrap();
        let (_, link) = domain::sessions::create_login_link(
            &app.db,
            &app.company,
            &domain::auth::Principal::System,
            reader_id,
            &domain::sessions::SessionPolicy::default(),
            app.clock.now(),
        )
        .await
        .unwrap();
        let (_, session) = domain::sessions::redeem_login_link(
            &app.db,
            &app.company,
            &link,
            &domain::sessions::SessionPolicy::default(),
            app.clock.now(),
        )
        .await
        .unwrap();
        let cookie = format!("zb_session={session}");
        let mut page = Raw::connect_with(
            &a,
            true,
            &[("cookie", cookie.as_str()), ("origin", a.as_str())],
        )
        .await;
        page.send(json!({"type": "connection_init", "payload": {}}));
        assert_eq!(
            page.next(wait, true).await.unwrap()["type"],
            "connection_ack"
        );
        page.send(json!({"id": "1", "type": "subscribe", "payload": {"query": BOARD}}));
        assert_eq!(page.next(wait, true).await.unwrap()["type"], "next");
        let out = reqwest::Client::new()
            .post(format!("{b}/logout"))
            .header("cookie", &cookie)
            .header("origin", &b)
            .header("x-zeroboard-csrf", "1")
            .send()
            .await
            .unwrap();
        assert_eq!(out.status().as_u16(), 204);
        let frame = page.closed(wait).await;
        assert_eq!(frame["close"], 4403, "{frame}");

        // A departure on B closes the leaver's sockets and pushes their manager's board; a
        // move to another manager pushes the person's, the old and the new manager's.
        let manager = by_id(&worker["manager"]["id"]);
        let boss = Sub::start(&a, &app.token_for_email(&email(&manager)).await, BOARD);
        let mover: Value = employees
            .iter()
            .find(|p| {
                p["manager"]["id"] != worker["manager"]["id"] && p["email"] != reader["email"]
            })
            .map(|p| (*p).clone())
            .expect("someone with another manager");
        let old_manager = by_id(&mover["manager"]["id"]);
        let moving = Sub::start(&a, &app.token_for_email(&email(&mover)).await, BOARD);
        let old_boss = Sub::start(&a, &app.token_for_email(&email(&old_manager)).await, BOARD);
        for s in [&boss, &moving, &old_boss] {
            assert!(s.board(1, wait).await.is_some(), "{:?}", s.lines());
        }
        tokio::time::sleep(StdDuration::from_millis(600)).await;
        let counts = |subs: &[&Sub]| subs.iter().map(|s| s.boards().len()).collect::<Vec<_>>();
        let before = counts(&[&boss, &moving, &old_boss]);
        let yesterday = (app.clock.now() - chrono::Duration::days(1)).date_naive();
        gql_on(
            &b,
            &admin,
            "mutation($id: ID!, $on: Date!) { deactivateEmployee(id: $id, leftOn: $on) { leftOn } }",
            json!({ "id": worker["id"], "on": yesterday.to_string() }),
        )
        .await;
        let frame = closed(&kept).await;
        assert_eq!(frame["closed"], 4403, "{frame}");
        assert!(
            boss.board(before[0] + 1, wait).await.is_some(),
            "the manager's board: {:?}",
            boss.lines()
        );
        gql_on(
            &b,
            &admin,
            "mutation($id: ID!, $m: ID!) { updateEmployee(id: $id, input: {managerId: $m}) { id } }",
            json!({ "id": mover["id"], "m": manager["id"] }),
        )
        .await;
        assert!(
            moving.board(before[1] + 1, wait).await.is_some(),
            "the mover's board: {:?}",
            moving.lines()
        );
        assert!(
            old_boss.board(before[2] + 1, wait).await.is_some(),
            "the old manager's: {:?}",
            old_boss.lines()
        );
        assert!(
            boss.board(before[0] + 2, wait).await.is_some(),
            "the new manager's: {:?}",
            boss.lines()
        );

        // A token that expires closes its socket once the clock passes its expiry, with
        // nothing announced (the connection checks again when its credential's time is up).
        let someone = employees[2];
        let expiring = gql_on(
            &a,
            &admin,
            "mutation($id: ID!, $at: DateTime!) { createToken(input: {employeeId: $id, name: \"soon\", expiresAt: $at}) { secret } }",
            json!({ "id": someone["id"], "at": (app.clock.now() + chrono::Duration::hours(1)).to_rfc3339() }),
        )
        .await;
        let short = Sub::start(
            &a,
            expiring["createToken"]["secret"].as_str().unwrap(),
            BOARD,
        );
        assert!(short.board(1, wait).await.is_some(), "{:?}", short.lines());
        app.clock.set(app.clock.now() + chrono::Duration::hours(2));
        let frame = closed(&short).await;
        assert_eq!(frame["closed"], 4403, "{frame}");
        // The others are still open.
        assert!(
            boss.lines().iter().all(|l| l.get("closed").is_none()),
            "{:?}",
            boss.lines()
        );
    }
);
