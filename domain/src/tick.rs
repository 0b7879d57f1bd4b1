//! One scheduler tick: open, generate, close, in that order, each step recorded in
//! `scheduler_run`.
//!
//! Every step is idempotent, so a tick may run any number of times for any instant and
//! by any number of instances at once. The tick stops at the first failing step (the next
//! tick retries it); its transaction rolled back, so the failure is recorded by a separate
//! write together with the steps that succeeded before it.
//!
//! The log is written once per tick, after the steps: one insert, so a minute cron adds
//! one small write a minute. `tick_at` is the instant the tick ran for (the clock's `now`,
//! fixed in tests and `tick --now`); `started_at` and `finished_at` are wall-clock
//! measurements of the run itself, which is what an operator reading the log wants.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use entity::{period, scheduler_run};
use sea_orm::{EntityTrait, Set};

use crate::close::{self, Closed};
use crate::db::Db;
use crate::periods::{self, Generated};
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
    /// Periods closed, oldest first.
    pub closed: Vec<Closed>,
}

impl TickReport {
    /// Whether the tick changed anything.
    pub fn did_something(&self) -> bool {
        !self.opened.is_empty() || self.generated.created > 0 || !self.closed.is_empty()
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
/// On a failing step the error is returned after the log is written; nothing of the failed
/// step is left behind.
pub async fn tick(db: &impl Db, company: &Company, now: DateTime<Utc>) -> DomainResult<TickReport> {
    let mut log = Log {
        tick_at: now,
        runs: Vec::new(),
    };
    match steps(db, company, now, &mut log).await {
        Ok(report) => {
            log.write(db).await?;
            Ok(report)
        }
        Err(e) => {
            // The log is secondary: if it cannot be written either, the step's error is
            // the one worth returning.
            if let Err(log_error) = log.write(db).await {
                tracing::warn!(error = %log_error, "cannot record the failed scheduler step");
            }
            Err(e)
        }
    }
}

async fn steps(
    db: &impl Db,
    company: &Company,
    now: DateTime<Utc>,
    log: &mut Log,
) -> DomainResult<TickReport> {
    let started = Utc::now();
    let opened = log.step(
        OPEN,
        None,
        started,
        periods::open_due(db, company, now).await,
        |created| serde_json::json!({ "opened": created.len() }),
    )?;
    let opened: Vec<PeriodSummary> = opened.iter().map(PeriodSummary::from).collect();
    for p in &opened {
        tracing::debug!(period.id = p.id, period.starts_on = %p.starts_on, "period opened");
    }

    let started = Utc::now();
    let generated = log.step(
        GENERATE,
        None,
        started,
        periods::generate_due(db, company, now).await,
        |g| serde_json::to_value(g).unwrap_or_default(),
    )?;
    if generated.created > 0 {
        tracing::debug!(duties = generated.created, "duties generated");
    }

    let started = Utc::now();
    let due = match close::due(db, now).await {
        Ok(due) => due,
        Err(e) => {
            log.failed(CLOSE, None, started, &e);
            return Err(e);
        }
    };
    if due.is_empty() {
        log.ok(CLOSE, None, started, serde_json::json!({ "closed": 0 }));
    }
    let mut closed = Vec::new();
    for period_id in due {
        let started = Utc::now();
        let done = log.step(
            CLOSE,
            Some(period_id),
            started,
            close::close_if_due(db, company, period_id, now).await,
            |c| serde_json::to_value(c).unwrap_or_default(),
        )?;
        if let Some(c) = done {
            tracing::debug!(
                period.id = c.period_id,
                results = c.results,
                missed = c.missed,
                "period closed"
            );
            closed.push(c);
        }
    }
    Ok(TickReport {
        at: now,
        opened,
        generated,
        closed,
    })
}

/// The runs of one tick, written together at its end.
struct Log {
    tick_at: DateTime<Utc>,
    runs: Vec<scheduler_run::ActiveModel>,
}

impl Log {
    /// Records a step's outcome and passes its result on.
    fn step<T>(
        &mut self,
        step: &'static str,
        period_id: Option<i64>,
        started_at: DateTime<Utc>,
        result: DomainResult<T>,
        counts: impl FnOnce(&T) -> serde_json::Value,
    ) -> DomainResult<T> {
        match &result {
            Ok(value) => self.ok(step, period_id, started_at, counts(value)),
            Err(e) => self.failed(step, period_id, started_at, e),
        }
        result
    }

    fn ok(
        &mut self,
        step: &'static str,
        period_id: Option<i64>,
        started_at: DateTime<Utc>,
        counts: serde_json::Value,
    ) {
        self.push(step, period_id, started_at, "ok", counts, None);
    }

    fn failed(
        &mut self,
        step: &'static str,
        period_id: Option<i64>,
        started_at: DateTime<Utc>,
        e: &DomainError,
    ) {
        self.push(
            step,
            period_id,
            started_at,
            "failed",
            serde_json::Value::Null,
            Some(describe(e)),
        );
    }

    fn push(
        &mut self,
        step: &'static str,
        period_id: Option<i64>,
        started_at: DateTime<Utc>,
        outcome: &'static str,
        counts: serde_json::Value,
        error: Option<String>,
    ) {
        self.runs.push(scheduler_run::ActiveModel {
            step: Set(step.into()),
            period_id: Set(period_id),
            tick_at: Set(self.tick_at),
            started_at: Set(started_at),
            finished_at: Set(Some(Utc::now())),
            outcome: Set(outcome.into()),
            counts: Set(counts.to_string()),
            error: Set(error),
            ..Default::default()
        });
    }

    async fn write(self, db: &impl Db) -> DomainResult<()> {
        scheduler_run::Entity::insert_many(self.runs)
            .exec_without_returning(db)
            .await?;
        Ok(())
    }
}

/// The error text kept in the log: the full chain, since only operators read it.
fn describe(e: &DomainError) -> String {
    match e {
        DomainError::Db(db) => format!("database: {db}"),
        other => other.to_string(),
    }
}
