//! Times the close of one period, phase by phase, on a database you can throw away (the
//! close writes). Builds only `domain`, so a change to the close is measured in minutes:
//!
//! ```sh
//! zeroboard seed --employees 10000 --periods 6 --database-url 'sqlite://base.db?mode=rwc'
//! cp base.db run.db   # (PostgreSQL: createdb -T base run)
//! cargo run --release -p domain --example close -- 'sqlite://run.db' 2026-12-02T00:00:00Z
//! ```
//!
//! It closes the oldest period due at the given instant, as the scheduler's tick would, and
//! prints the close's phases (`domain::close`'s debug log) and its total time.

use std::time::Instant;

use chrono::{DateTime, Utc};
use domain::{Company, close, company, db};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(now)) = (args.next(), args.next()) else {
        return Err("usage: close DATABASE_URL NOW (RFC 3339)".into());
    };
    let now: DateTime<Utc> = now.parse()?;
    tracing_subscriber::fmt()
        .with_env_filter("domain::close=debug")
        .without_time()
        .with_ansi(false)
        .init();
    let db = db::connect(&url).await?;
    let calendar = company::stored(&db)
        .await?
        .ok_or("no company in the database")?;
    let company = Company { calendar };
    let Some(&period) = close::due(&db, now).await?.first() else {
        return Err(format!("no period is due for closing at {now}").into());
    };
    let started = Instant::now();
    let closed = close::close_if_due(&db, &company, period, now).await?;
    println!("closed {closed:?} in {} ms", started.elapsed().as_millis());
    db::close(db).await?;
    Ok(())
}
