//! Periods as services: the scheduler's first step (opening due periods), whether a period
//! still takes changes and when it closes, and reading the rows its obligations are judged
//! from.
//!
//! The open step is idempotent and safe to run concurrently: it runs in one write
//! transaction, holds a transaction-level advisory lock on PostgreSQL, and inserts behind
//! the unique key `period.starts_on`, so a second run or a second instance finds nothing
//! left to do.

use chrono::{DateTime, Duration, Utc};
use entity::enums::PeriodStatus;
use entity::{
    article, article_read, assignment, employee, kpi_policy, kpi_target, period, proposal, vote,
};
use sea_orm::{
    ActiveEnum, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::db::{Db, Step, begin_write, lock_step};
use crate::live::{self, Change};
use crate::obligations::PeriodRows;
use crate::outbox::{self, Event, EventType};
use crate::{Company, DomainError, DomainResult};

/// Creates every missing period from the end of the last one up to the one under way at
/// `now` (on the first run: just the period containing today). Returns the periods it
/// created, oldest first.
///
/// Each new period starts at the previous one's `ends_at` and ends at the company
/// calendar's next boundary
/// ([`Calendar::following`](crate::calendar::Calendar::following)), so a changed zone or
/// cadence leaves no gap and no overlap. The calendar must be the company's stored one (it
/// is stored here when none is yet): a process configured otherwise opens nothing and
/// fails.
pub async fn open_due(
    db: &impl Db,
    who: &Principal,
    company: &Company,
    now: DateTime<Utc>,
) -> DomainResult<Vec<period::Model>> {
    crate::access::require_admin(who)?;
    let txn = begin_write(db).await?;
    lock_step(&txn, Step::Open).await?;
    let calendar = &company.calendar;
    if let Err(mismatch) = crate::company::ensure(&txn, calendar, now).await? {
        return Err(DomainError::Conflict(mismatch.to_string()));
    }
    let last = period::Entity::find()
        .order_by_desc(period::Column::StartsOn)
        .one(&txn)
        .await?;
    let mut next = match &last {
        None => calendar.span(calendar.period_at(now)),
        Some(last) => calendar.following(last.ends_on, last.ends_at),
    };
    let policy = crate::policy::current(&txn).await?;
    let mut created = Vec::new();
    while next.starts_at <= now {
        let row = period::ActiveModel {
            starts_on: Set(next.dates.starts_on),
            ends_on: Set(next.dates.ends_on),
            starts_at: Set(next.starts_at),
            ends_at: Set(next.ends_at),
            status: Set(PeriodStatus::Open),
            policy_version: Set(policy.version),
            cadence: Set(calendar.cadence.to_string()),
            opened_at: Set(now),
            closed_at: Set(None),
            ..Default::default()
        };
        let inserted = period::Entity::insert(row)
            .on_conflict_do_nothing_on([period::Column::StartsOn])
            .exec_with_returning(&txn)
            .await?;
        if let sea_orm::TryInsertResult::Inserted(row) = inserted {
            created.push(row);
        }
        next = calendar.following(next.dates.ends_on, next.ends_at);
    }
    let events = created
        .iter()
        .map(|p| {
            Event::once(
                EventType::PeriodOpened,
                p.id,
                json!({ "period": period_data(p) }),
            )
        })
        .collect();
    if !created.is_empty() {
        live::announce(&txn, Change::everyone()).await?;
    }
    outbox::record(&txn, events, now).await?;
    txn.commit().await?;
    Ok(created)
}

/// A period as its outbox events tell it; `export` is the path of its payroll CSV (which
/// names the period by its first day).
pub fn period_data(p: &period::Model) -> Value {
    json!({
        "id": p.id,
        "starts_on": p.starts_on.to_string(),
        "ends_on": p.ends_on.to_string(),
        "starts_at": outbox::instant(p.starts_at),
        "ends_at": outbox::instant(p.ends_at),
        "status": p.status.to_value(),
        "policy_version": p.policy_version,
        "export": format!("/export/bonus.csv?period={}", p.starts_on),
    })
}

/// When a period is due for closing under its policy version: `close_after_hours` after its
/// end. From then on it takes no more changes ([`require_changeable`]), and the scheduled
/// close judges it as of that instant.
pub fn close_time(period: &period::Model, version: &kpi_policy::Model) -> DateTime<Utc> {
    Duration::try_hours(version.close_after_hours)
        .and_then(|after| period.ends_at.checked_add_signed(after))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Refuses a change to a period that is closed or due to close. Once `ends_at +
/// close_after_hours` has passed, the scheduled close judges the period as of that instant,
/// so nothing done later may count, however late the scheduler runs.
pub async fn require_changeable(
    db: &impl ConnectionTrait,
    period: &period::Model,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    if period.status != PeriodStatus::Open {
        return Err(DomainError::Conflict("the period is closed".into()));
    }
    let version = crate::policy::by_version(db, period.policy_version).await?;
    changeable(period, close_time(period, &version), now)
}

/// [`require_changeable`] with the period's close time already known: pure.
pub fn changeable(
    period: &period::Model,
    close_time: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    if period.status != PeriodStatus::Open {
        return Err(DomainError::Conflict("the period is closed".into()));
    }
    if close_time <= now {
        return Err(DomainError::Conflict(
            "the period is due to close and takes no more changes".into(),
        ));
    }
    Ok(())
}

/// Reading a period's rows is I/O, so it lives here rather than beside the pure rules that
/// judge them (`obligations`).
impl PeriodRows {
    /// Loads the rows of a period in seven queries, whatever the number of employees; with
    /// `only`, just what concerns those employees (their work, what they control, their
    /// votes, reads and targets), which is all their obligations are judged from.
    pub async fn load(
        db: &impl ConnectionTrait,
        period: &period::Model,
        only: Option<&[i64]>,
    ) -> DomainResult<PeriodRows> {
        let mut assignments =
            assignment::Entity::find().filter(assignment::Column::PeriodId.eq(period.id));
        let mut employees = employee::Entity::find();
        let mut targets =
            kpi_target::Entity::find().filter(kpi_target::Column::PeriodId.eq(period.id));
        if let Some(ids) = only {
            let ids = || ids.iter().copied();
            assignments = assignments.filter(
                Condition::any()
                    .add(assignment::Column::AssigneeId.is_in(ids()))
                    .add(assignment::Column::ControllerId.is_in(ids())),
            );
            employees = employees.filter(employee::Column::Id.is_in(ids()));
            targets = targets.filter(kpi_target::Column::EmployeeId.is_in(ids()));
        }
        let proposals = proposal::Entity::find()
            .filter(proposal::Column::ClosesAt.gte(period.starts_at))
            .filter(proposal::Column::ClosesAt.lt(period.ends_at))
            .all(db)
            .await?;
        let articles = article::Entity::find()
            .filter(article::Column::Mandatory.eq(true))
            .filter(article::Column::PublishedAt.gte(period.starts_at))
            .filter(article::Column::PublishedAt.lt(period.ends_at))
            .all(db)
            .await?;
        let votes = if proposals.is_empty() {
            Vec::new()
        } else {
            let mut q = vote::Entity::find()
                .filter(vote::Column::ProposalId.is_in(proposals.iter().map(|p| p.id)));
            if let Some(ids) = only {
                q = q.filter(vote::Column::EmployeeId.is_in(ids.iter().copied()));
            }
            q.all(db).await?
        };
        let reads = if articles.is_empty() {
            Vec::new()
        } else {
            let mut q = article_read::Entity::find()
                .filter(article_read::Column::ArticleId.is_in(articles.iter().map(|a| a.id)));
            if let Some(ids) = only {
                q = q.filter(article_read::Column::EmployeeId.is_in(ids.iter().copied()));
            }
            q.all(db).await?
        };
        Ok(PeriodRows {
            assignments: assignments.into_partial_model().all(db).await?,
            proposals,
            votes,
            articles,
            reads,
            employees: employees.into_partial_model().all(db).await?,
            targets: targets.all(db).await?,
        })
    }
}
