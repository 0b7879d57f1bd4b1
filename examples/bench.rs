//! Prints figures for the hot paths: seeding and ticking a company of N people, and the
//! latency, throughput and SQL statements of the main GraphQL requests over real HTTP.
//!
//! `cargo run --release --example bench -- [sqlite|postgres] [EMPLOYEES] [REQUESTS]`
//! (PostgreSQL: a throwaway database on `ZEROBOARD_TEST_PG_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, dropped afterwards).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use domain::Company;
use domain::calendar::{Cadence, Calendar};
use domain::clock::Clock;
use serde_json::{Value, json};

const TILES: &str = "{ me { summary { toAccept { count } duties { total done awaitingAcceptance remaining overdue } \
    additional { total done awaitingAcceptance remaining overdue } knowledgeBaseNew { count } proposalsToVote { count } \
    averageKpi currentKpi } } }";
const PAGE: &str = "{ employees(first: 100) { edges { node { name department { name } manager { name } summary { \
    toAccept { count } duties { total remaining overdue } additional { total remaining overdue } knowledgeBaseNew { count } \
    proposalsToVote { count } averageKpi } } } } }";
const DEBTORS: &str = "{ assignmentReport(by: DEBTORS) { employee { name } overdue oldestDueAt } }";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = common::Args::from_env();
    let kind = args.kind();
    let employees = args.count(1, 1000)?;
    let requests = args.count(2, 200)?;

    common::with_scratch_database(&kind, "bench", async |url| {
        run(&kind, url, employees, requests).await
    })
    .await
}

async fn run(kind: &str, url: &str, employees: usize, requests: usize) -> anyhow::Result<()> {
    let mut db = domain::db::connect(url).await?;
    domain::db::migrate(&db).await?;
    let company = Company {
        calendar: Calendar::new(Cadence::SemiMonthly, chrono_tz::Europe::Berlin),
    };
    let now = Utc::now();
    println!("database: {kind}; employees: {employees}");

    let started = Instant::now();
    let spec = fixtures::seed::SeedSpec {
        employees,
        periods: 6,
        seed: 7,
    };
    fixtures::seed::seed(&db, &company, spec, now).await?;
    println!(
        "seed with 6 closed periods of history: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let report = domain::tick::tick(&db, &domain::auth::Principal::System, &company, now).await?;
    println!(
        "one tick with nothing due: {:.1} ms (opened {}, closed {})",
        ms(started.elapsed()),
        report.opened.len(),
        report.closed.len()
    );

    let statements = Arc::new(AtomicUsize::new(0));
    let counter = statements.clone();
    db.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/graphql", listener.local_addr()?);
    let state = api::AppState::new(db.clone(), company, Clock::System, api::Limits::default());
    tokio::spawn(api::serve(state, listener));

    let admin = domain::tokens::create_token(
        &db,
        &domain::auth::Principal::System,
        domain::tokens::TokenOwner::Service {
            name: "bench".into(),
            scopes: vec![domain::auth::Scope::Admin],
        },
        "bench",
        None,
        now,
    )
    .await?
    .1;
    let someone: i64 = {
        use sea_orm::{EntityTrait, QueryOrder};
        entity::employee::Entity::find()
            .order_by_desc(entity::employee::Column::Id)
            .one(&db)
            .await?
            .map(|e| e.id)
            .unwrap_or(1)
    };
    let employee = domain::tokens::create_token(
        &db,
        &domain::auth::Principal::System,
        domain::tokens::TokenOwner::Employee(someone),
        "bench",
        None,
        now,
    )
    .await?
    .1;
    let http = reqwest::Client::new();

    for (name, token, query) in [
        ("my tiles (all, with currentKpi)", &employee, TILES),
        ("a page of 100 employees with tiles", &admin, PAGE),
        ("debtors report", &admin, DEBTORS),
    ] {
        post(&http, &base, token, query).await?; // Warm up, and refresh the token's last use.
        let before = statements.load(Ordering::Relaxed);
        post(&http, &base, token, query).await?;
        let per_request = statements.load(Ordering::Relaxed) - before;
        let mut latencies = Vec::with_capacity(requests);
        let started = Instant::now();
        for _ in 0..requests {
            let t = Instant::now();
            post(&http, &base, token, query).await?;
            latencies.push(t.elapsed());
        }
        let total = started.elapsed();
        latencies.sort();
        println!(
            "{name}: {per_request} statements; sequential p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms, {:.0} req/s",
            ms(latencies[requests / 2]),
            ms(latencies[requests * 95 / 100]),
            ms(latencies[requests - 1]),
            requests as f64 / total.as_secs_f64()
        );
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (http, base, token) = (http.clone(), base.clone(), token.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..requests / 8 {
                    post(&http, &base, &token, query).await?;
                }
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        println!(
            "{name}: 8 concurrent clients, {:.0} req/s",
            (requests / 8 * 8) as f64 / started.elapsed().as_secs_f64()
        );
    }
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
        });
    println!(
        "peak resident memory of this process (server and client): {}",
        rss.unwrap_or_else(|| "unknown".into())
    );
    Ok(())
}

async fn post(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    query: &str,
) -> anyhow::Result<Value> {
    let body: Value = http
        .post(base)
        .bearer_auth(token)
        .json(&json!({ "query": query }))
        .send()
        .await?
        .json()
        .await?;
    if body.get("errors").is_some() {
        anyhow::bail!("{body}");
    }
    Ok(body)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
