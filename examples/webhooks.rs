//! How fast the webhook dispatcher drains its outbox: queues N events (default 10,000) for one
//! webhook, then drains them to a local receiver (poem on loopback, answering 204) with the
//! real dispatcher, signed, and prints events per second.
//!
//! `cargo run --release --example webhooks -- [sqlite|postgres] [EVENTS]`
//! (PostgreSQL: a throwaway database on `ZEROBOARD_TEST_PG_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, dropped afterwards).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::Utc;
use domain::auth::Principal;
use domain::outbox::{Event, EventType};
use scheduler::dispatch::{Dispatcher, DispatcherConfig};
use serde_json::json;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = common::Args::from_env();
    let kind = args.kind();
    let events = args.count(1, 10_000)?;
    common::with_scratch_database(&kind, "hooks_bench", async |url| {
        run(&kind, url, events).await
    })
    .await
}

async fn run(kind: &str, url: &str, events: usize) -> anyhow::Result<()> {
    let db = domain::db::connect(url).await?;
    domain::db::migrate(&db).await?;

    // The receiver: counts what it gets, answers 204.
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    drop(listener);
    let app = poem::Route::new().at(
        "/hook",
        poem::post(poem::endpoint::make_sync(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
            poem::http::StatusCode::NO_CONTENT
        })),
    );
    let server = poem::Server::new(poem::listener::TcpListener::bind(format!(
        "127.0.0.1:{port}"
    )));
    tokio::spawn(async move { server.run(app).await });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let now = Utc::now();
    domain::webhooks::create(
        &db,
        &Principal::System,
        &format!("http://127.0.0.1:{port}/hook"),
        &["kpi_result.adjusted".to_owned()],
        now,
    )
    .await?;
    let started = Instant::now();
    let queued: Vec<Event> = (0..events)
        .map(|n| {
            Event::new(
                EventType::KpiResultAdjusted,
                json!({ "n": n, "note": "benchmark" }),
            )
        })
        .collect();
    domain::outbox::record(&db, queued, now).await?;
    let queue_ms = started.elapsed().as_millis();

    let dispatcher = Dispatcher::new(db.clone(), DispatcherConfig::default())?;
    let started = Instant::now();
    let round = dispatcher.drain(Utc::now()).await?;
    let drained = started.elapsed();
    let got = received.load(Ordering::Relaxed);
    println!(
        "{kind}: queued {events} events in {queue_ms} ms; drained {} deliveries ({} received, {} failed) in {:.2} s: {:.0} events/s",
        round.delivered,
        got,
        round.failed,
        drained.as_secs_f64(),
        round.delivered as f64 / drained.as_secs_f64()
    );
    anyhow::ensure!(
        round.delivered == events && got == events,
        "not every event arrived once"
    );
    domain::db::close(db).await?;
    Ok(())
}
