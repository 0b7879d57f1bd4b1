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
        for (who, s) in [
            ("controller on A", &boss_a),
            ("controller on B", &boss_b),
            ("employee", &worker_sub),
        ] {
            let (at, board) = s
                .board(2, second + StdDuration::from_millis(500))
                .await
                .unwrap_or_else(|| panic!("{who}: no board after the submit: {:?}", s.lines()));
            assert!(at - sent <= 1000, "{who}: the board took {} ms", at - sent);
            if who.starts_with("controller") {
                assert_eq!(to_accept(&board), before + 1, "{who}: {board}");
            }
        }

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
        for (who, s) in [
            ("controller on A", &boss_a),
            ("controller on B", &boss_b),
            ("employee", &worker_sub),
        ] {
            let (at, board) = s
                .board(3, second + StdDuration::from_millis(500))
                .await
                .unwrap_or_else(|| panic!("{who}: no board after the accept: {:?}", s.lines()));
            assert!(at - sent <= 1000, "{who}: the board took {} ms", at - sent);
            if who.starts_with("controller") {
                assert_eq!(to_accept(&board), before, "{who}: {board}");
            }
        }
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
        let url = format!("{}/graphql", base.replace("http://", "ws://"));
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
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
