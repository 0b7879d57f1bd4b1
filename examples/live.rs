//! What live tiles cost: N idle connections, each with a board and a reports subscription,
//! held by one server (memory per connection); one change fanned out to all N boards, the
//! people of one department (an article published to it): the time until the last board is
//! delivered, and the SQL statements the boards cost the server's pool; and one assignment
//! changed under all N `assignmentChanged` subscriptions, each filtering the batch by its own
//! reach: the statements that cost (the reaches are read in one).
//!
//! `cargo run --release --example live -- [sqlite|postgres] [SUBSCRIBERS]` (default 1,000;
//! PostgreSQL: a throwaway database on `ZEROBOARD_TEST_PG_URL`, dropped afterwards). The
//! clients (tokio-tungstenite, one connection each) run in the same process as the server,
//! so the memory figure is the process's resident growth per subscription, both ends
//! together: an upper bound for the server's share.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use domain::auth::Principal;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const BOARD: &str = "subscription { summaryChanged { toAccept { count } duties { remaining overdue } \
    additional { remaining } knowledgeBaseNew { count } proposalsToVote { count } currentKpi } }";

const REPORTS: &str = "subscription { assignmentChanged { id status assignee { email } } }";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = common::Args::from_env();
    let kind = args.kind();
    let n = args.count(1, 1000)?;
    common::with_scratch_database(&kind, "live_bench", async |url| run(&kind, url, n).await).await
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

async fn run(kind: &str, url: &str, n: usize) -> anyhow::Result<()> {
    let now = Utc::now();
    let calendar =
        domain::calendar::Calendar::new(domain::calendar::Cadence::SemiMonthly, chrono_tz::UTC);
    let mut settings = zeroboard::config::Settings::new(url, "127.0.0.1:0", calendar);
    settings.limits.connections = n + 64;
    let mut app = zeroboard::App::build(&settings, domain::clock::Clock::System).await?;
    let db = app.db.clone();
    let company = app.company;
    let today = company.calendar.local_date(now);

    // One department of N people, an open period with their duties, a token each.
    let system = Principal::System;
    let dept = domain::org::create_department(&db, &system, "Live", now).await?;
    let mut tokens = Vec::with_capacity(n);
    let made = Instant::now();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let e = domain::org::create_employee(
            &db,
            &system,
            domain::org::EmployeeInput {
                name: Some(format!("Person {i}")),
                email: Some(format!("p{i}@live.bench")),
                department_id: Some(dept.id),
                ..Default::default()
            },
            now,
            today,
        )
        .await?;
        ids.push(e.id);
        let (_, secret) = domain::tokens::create_token(
            &db,
            &system,
            domain::tokens::TokenOwner::Employee(e.id),
            "bench",
            None,
            now,
        )
        .await?;
        tokens.push(secret);
    }
    domain::tick::tick(&db, &system, &company, now).await?;
    // One assignment of person 1's, controlled by person 0, for the reports' subscriptions.
    let work = domain::work::create_assignment(
        &db,
        &system,
        domain::work::AssignmentInput {
            assignee_id: Some(ids[1]),
            controller_id: Some(ids[0]),
            title: Some("Live".into()),
            due_at: Some(now + chrono::Duration::days(1)),
            ..Default::default()
        },
        now,
        today,
    )
    .await?;
    println!(
        "{kind}: {n} people and tokens in {:.1} s",
        made.elapsed().as_secs_f64()
    );

    // The server's statements: its pool's callback, set after the set-up.
    let statements = Arc::new(AtomicUsize::new(0));
    let counter = statements.clone();
    app.db.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let base = format!("ws://{}/graphql", app.addr()?);
    tokio::spawn(async move {
        let _ = app
            .serve_until(api::Readiness::ready(), std::future::pending())
            .await;
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    // N clients, each with its board subscription; each reports its boards' arrival.
    let before = rss_kib();
    // (client, subscription id: "1" the board, "2" the reports' assignments, arrival)
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, String, Instant)>();
    let (reports_tx, reports_rx) = tokio::sync::watch::channel(());
    let opened = Instant::now();
    for (i, token) in tokens.iter().enumerate() {
        let mut req = base.clone().into_client_request()?;
        req.headers_mut()
            .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
        // Small client buffers, so the figure is mostly the server's.
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(4 * 1024)
            .write_buffer_size(0);
        let (mut ws, _) =
            tokio_tungstenite::connect_async_with_config(req, Some(config), false).await?;
        ws.send(Message::text(
            json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}})
                .to_string(),
        ))
        .await?;
        ws.send(Message::text(
            json!({"id": "1", "type": "subscribe", "payload": {"query": BOARD}}).to_string(),
        ))
        .await?;
        let tx = tx.clone();
        let mut reports = reports_rx.clone();
        tokio::spawn(async move {
            loop {
                let m = tokio::select! {
                    m = ws.next() => match m {
                        Some(Ok(m)) => m,
                        _ => break,
                    },
                    // Told once, after the memory is measured: subscribe to the reports too.
                    Ok(()) = reports.changed() => {
                        let subscribe = json!({"id": "2", "type": "subscribe", "payload": {"query": REPORTS}});
                        let _ = ws.send(Message::text(subscribe.to_string())).await;
                        continue;
                    }
                };
                if let Message::Text(t) = m {
                    let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                    if v["type"] == "ping" {
                        let _ = ws.send(Message::text(r#"{"type":"pong"}"#)).await;
                    } else if v["type"] == "next" {
                        if v["payload"]["errors"].is_array() {
                            eprintln!("errors: {}", v["payload"]);
                        }
                        let id = v["id"].as_str().unwrap_or_default().to_owned();
                        let _ = tx.send((i, id, Instant::now()));
                    }
                }
            }
        });
    }
    let mut first = 0;
    while first < n {
        rx.recv().await;
        first += 1;
    }
    println!(
        "{kind}: {n} subscriptions open with their first board in {:.1} s",
        opened.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib();
    println!(
        "{kind}: resident memory {} MiB -> {} MiB: {:.1} KiB per idle subscription (server and client in one process)",
        before / 1024,
        after / 1024,
        (after.saturating_sub(before)) as f64 / n as f64
    );
    reports_tx.send_replace(());
    tokio::time::sleep(Duration::from_secs(1)).await;

    // One change for the whole department, made on a connection of its own (as another
    // replica would): an article published to it.
    let writer = domain::db::connect(url).await?;
    let counted = statements.load(Ordering::SeqCst);
    let sent = Instant::now();
    domain::kb::publish_article(
        &writer,
        &system,
        domain::kb::ArticleInput {
            title: "Live".into(),
            body: Some("What changed.".into()),
            department_id: Some(dept.id),
            ..Default::default()
        },
        Utc::now(),
    )
    .await?;
    let mut last = sent;
    let mut got = 0;
    while got < n {
        match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
            Ok(Some((_, _, at))) => {
                got += 1;
                last = last.max(at);
            }
            _ => break,
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cost = statements.load(Ordering::SeqCst) - counted;
    println!(
        "{kind}: one change to {got} of {n} boards: the last delivered {:.0} ms after the commit \
         (window {} ms); {cost} statements for all of them",
        last.duration_since(sent).as_secs_f64() * 1000.0,
        api::LiveOptions::default().window.as_millis(),
    );

    // One assignment changed (person 1 starts it), heard by every connection's reports
    // subscription: each filters the batch by its own reach, all read in one statement.
    let counted = statements.load(Ordering::SeqCst);
    let sent = Instant::now();
    let worker = Principal::Employee {
        id: ids[1],
        role: entity::enums::Role::Employee,
        payroll: false,
        token_id: 0,
    };
    domain::assignments::act(
        &writer,
        &worker,
        work.id,
        domain::transition::Action::Start,
        None,
        Utc::now(),
    )
    .await?;
    // Person 0 and person 1 each get a board and the assignment; nobody else gets anything.
    let (mut boards, mut items, mut last) = (0, 0, sent);
    while boards + items < 4 {
        match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
            Ok(Some((_, id, at))) => {
                if id == "1" {
                    boards += 1;
                } else {
                    items += 1;
                }
                last = last.max(at);
            }
            _ => break,
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut extra = 0;
    while rx.try_recv().is_ok() {
        extra += 1;
    }
    let cost = statements.load(Ordering::SeqCst) - counted;
    println!(
        "{kind}: one assignment changed under {n} assignmentChanged subscriptions: {items} items \
         and {boards} boards to the 2 people within reach ({extra} more to anyone), the last \
         {:.0} ms after the commit; {cost} statements for all of them",
        last.duration_since(sent).as_secs_f64() * 1000.0,
    );
    writer.close().await.ok();
    Ok(())
}
