//! One scheduler tick: open, generate, close, in that order, each step recorded in
//! `scheduler_run`; between generate and close, assignments that fell overdue are told of
//! (outbox events, not logged as a step), and the live tiles are told of articles and
//! proposals whose publication, opening or closing has come (`live::tell_due`, not logged
//! as a step either).
//!
//! Every step is idempotent, so a tick may run any number of times for any instant and
//! by any number of instances at once. The tick stops at the first failing step (the next
//! tick retries it).
//!
//! Each step's log row is written in the step's own transaction, so a step that commits is
//! logged and one that rolls back is not (a crash between the two cannot leave a committed
//! step unlogged); a failing step rolls back, and its failure is then recorded by a separate
//! write. `tick_at` is the instant the tick ran for (the clock's `now`, fixed in tests and
//! `tick --now`); `started_at` and `finished_at` are wall-clock measurements of the run
//! itself, which is what an operator reading the log wants. Old rows are removed by
//! [`prune_runs`] (the scheduler calls it with its retention setting).
//!
//! [`dry_run`] runs the same tick inside one outer transaction and rolls it back: every
//! step's transaction is then a savepoint of it (PostgreSQL's transaction-level advisory
//! locks are held until the rollback, SQLite's write lock likewise), so the plan it reports
//! is exactly what a tick would do, and nothing is written.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use entity::{period, scheduler_run};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};

use crate::assignments;
use crate::auth::Principal;
use crate::close::{self, Closed};
use crate::db::{Db, begin_write};
use crate::duties::{self, Generated};
use crate::periods;
use crate::{Company, DomainError, DomainResult};

/// A period as a tick reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PeriodSummary {
    pub id: i64,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
}

impl From<&period::Model> for PeriodSummary {
    fn from(p: &period::Model) -> Self {
        PeriodSummary {
            id: p.id,
            starts_on: p.starts_on,
            ends_on: p.ends_on,
        }
    }
}

/// What one tick did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TickReport {
    pub at: DateTime<Utc>,
    /// Periods created, oldest first.
    pub opened: Vec<PeriodSummary>,
    pub generated: Generated,
    /// Assignments newly overdue, told of as `assignment.overdue` events.
    pub overdue: u32,
    /// Articles and proposals that reached their audience (published or opened) or closed
    /// since they were stored for later, told to the live tiles.
    pub reached: u32,
    /// Periods closed, oldest first.
    pub closed: Vec<Closed>,
}

impl TickReport {
    /// Whether the tick changed anything.
    pub fn did_something(&self) -> bool {
        !self.opened.is_empty()
            || self.generated.created > 0
            || self.overdue > 0
            || self.reached > 0
            || !self.closed.is_empty()
    }
}

impl fmt::Display for TickReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "tick at {}", self.at.to_rfc3339())?;
        if self.opened.is_empty() {
            writeln!(f, "  opened:    nothing")?;
        }
        for p in &self.opened {
            writeln!(
                f,
                "  opened:    {} to {} (period {})",
                p.starts_on, p.ends_on, p.id
            )?;
        }
        let g = &self.generated;
        writeln!(
            f,
            "  generated: {} duties ({} already there, {} skipped for want of a controller)",
            g.created, g.existing, g.skipped_no_controller
        )?;
        if self.overdue > 0 {
            writeln!(f, "  overdue:   {} assignments fell overdue", self.overdue)?;
        }
        if self.reached > 0 {
            writeln!(
                f,
                "  reached:   {} articles or proposals reached their audience or closed",
                self.reached
            )?;
        }
        if self.closed.is_empty() {
            writeln!(f, "  closed:    nothing")?;
        }
        for c in &self.closed {
            writeln!(
                f,
                "  closed:    {} to {} (period {}): {} results, {} assignments missed",
                c.starts_on, c.ends_on, c.period_id, c.results, c.missed
            )?;
        }
        Ok(())
    }
}

/// The names of the steps in `scheduler_run.step`.
const OPEN: &str = "open";
const GENERATE: &str = "generate";
const CLOSE: &str = "close";

/// Runs one tick at `now`: opens due periods, generates their duties, closes due periods.
/// On a failing step the error is returned after the failure is logged; nothing of the
/// failed step is left behind. The scheduler's work: `who` is the system (or an admin).
pub async fn tick(
    db: &impl Db,
    who: &Principal,
    company: &Company,
    now: DateTime<Utc>,
) -> DomainResult<TickReport> {
    crate::access::require_admin(who)?;
    let opened = logged(
        db,
        now,
        OPEN,
        None,
        async |txn| periods::open_due(txn, who, company, now).await,
        |created| serde_json::json!({ "opened": created.len() }),
    )
    .await?;
    let opened: Vec<PeriodSummary> = opened.iter().map(PeriodSummary::from).collect();
    for p in &opened {
        tracing::info!(period.id = p.id, period.starts_on = %p.starts_on, period.ends_on = %p.ends_on, "period opened");
    }

    let generated = logged(
        db,
        now,
        GENERATE,
        None,
        async |txn| duties::generate_due(txn, who, company, now).await,
        |g| serde_json::to_value(g).unwrap_or_default(),
    )
    .await?;
    if generated.created > 0 {
        tracing::debug!(duties = generated.created, "duties generated");
    }

    // Not logged in `scheduler_run`: what it did is its `assignment.overdue` events.
    let overdue = assignments::tell_overdue(db, now).await?;
    if overdue > 0 {
        tracing::debug!(assignments = overdue, "assignments fell overdue");
    }

    // Not logged either: the live tiles hear of what was published for now.
    let reached = crate::live::tell_due(db, now).await?;
    if reached > 0 {
        tracing::debug!(
            items = reached,
            "articles and proposals reached their audience"
        );
    }

    let started = Utc::now();
    let due = match close::due(db, now).await {
        Ok(due) => due,
        Err(e) => {
            record_failure(
                db,
                run(
                    now,
                    CLOSE,
                    None,
                    started,
                    "failed",
                    serde_json::Value::Null,
                    Some(describe(&e)),
                ),
            )
            .await;
            return Err(e);
        }
    };
    if due.is_empty() {
        insert_runs(
            db,
            vec![run(
                now,
                CLOSE,
                None,
                started,
                "ok",
                serde_json::json!({ "closed": 0 }),
                None,
            )],
        )
        .await?;
    }
    let mut closed = Vec::new();
    for period_id in due {
        let done = logged(
            db,
            now,
            CLOSE,
            Some(period_id),
            async |txn| close::close_if_due(txn, company, period_id, now).await,
            |c| serde_json::to_value(c).unwrap_or_default(),
        )
        .await?;
        if let Some(c) = done {
            tracing::info!(
                period.id = c.period_id,
                results = c.results,
                assignments.missed = c.missed,
                "period closed"
            );
            closed.push(c);
        }
    }
    Ok(TickReport {
        at: now,
        opened,
        generated,
        overdue,
        reached,
        closed,
    })
}

/// What a tick at `now` would do, without writing anything: the tick runs inside one
/// transaction that is rolled back.
pub async fn dry_run(
    db: &impl Db,
    who: &Principal,
    company: &Company,
    now: DateTime<Utc>,
) -> DomainResult<TickReport> {
    let txn = begin_write(db).await?;
    let report = tick(&txn, who, company, now).await;
    txn.rollback().await?;
    report
}

/// Removes the log rows of runs that started before `before`; returns how many.
pub async fn prune_runs(db: &impl ConnectionTrait, before: DateTime<Utc>) -> DomainResult<u64> {
    let deleted = scheduler_run::Entity::delete_many()
        .filter(scheduler_run::Column::StartedAt.lt(before))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}

/// Runs one step in a write transaction that also records its log row, so the step and its
/// record commit together. A failing step rolls back and its failure is recorded apart.
async fn logged<T>(
    db: &impl Db,
    tick_at: DateTime<Utc>,
    step: &'static str,
    period_id: Option<i64>,
    work: impl AsyncFnOnce(&DatabaseTransaction) -> DomainResult<T>,
    counts: impl FnOnce(&T) -> serde_json::Value,
) -> DomainResult<T> {
    let started = Utc::now();
    let txn = begin_write(db).await?;
    match work(&txn).await {
        Ok(value) => {
            insert_runs(
                &txn,
                vec![run(
                    tick_at,
                    step,
                    period_id,
                    started,
                    "ok",
                    counts(&value),
                    None,
                )],
            )
            .await?;
            txn.commit().await?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) = txn.rollback().await {
                tracing::warn!(error = %rollback, "cannot roll back the failed scheduler step");
            }
            record_failure(
                db,
                run(
                    tick_at,
                    step,
                    period_id,
                    started,
                    "failed",
                    serde_json::Value::Null,
                    Some(describe(&e)),
                ),
            )
            .await;
            Err(e)
        }
    }
}

/// Records a failed step. The log is secondary: if it cannot be written either, the step's
/// error is the one worth returning, so this only warns.
async fn record_failure(db: &impl ConnectionTrait, row: scheduler_run::ActiveModel) {
    if let Err(log_error) = insert_runs(db, vec![row]).await {
        tracing::warn!(error = %log_error, "cannot record the failed scheduler step");
    }
}

fn run(
    tick_at: DateTime<Utc>,
    step: &'static str,
    period_id: Option<i64>,
    started_at: DateTime<Utc>,
    outcome: &'static str,
    counts: serde_json::Value,
    error: Option<String>,
) -> scheduler_run::ActiveModel {
    scheduler_run::ActiveModel {
        step: Set(step.into()),
        period_id: Set(period_id),
        tick_at: Set(tick_at),
        started_at: Set(started_at),
        finished_at: Set(Some(Utc::now())),
        outcome: Set(outcome.into()),
        counts: Set(counts.to_string()),
        error: Set(error),
        ..Default::default()
    }
}

async fn insert_runs(
    db: &impl ConnectionTrait,
    runs: Vec<scheduler_run::ActiveModel>,
) -> DomainResult<()> {
    scheduler_run::Entity::insert_many(runs)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The error text kept in the log: the full chain, since only operators read it.
fn describe(e: &DomainError) -> String {
    match e {
        DomainError::Db(db) => format!("database: {db}"),
        other => other.to_string(),
    }
}
