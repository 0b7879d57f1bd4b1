//! The e-mail reminders' database steps, which the scheduler's mailer runs (nothing here
//! sends): [`prepare`] composes a day's reminders once, after the day's reminder time, and
//! stores them; [`claim`] leases the due ones to one sender; [`settle`] stores how each
//! attempt went. The rules (when, who, what text, when to retry) are `reminders`'.
//!
//! Once, at most: the day's row (`reminder_day`) and the unique key of a reminder
//! (employee, day, kind) make a day's reminders prepared once by whichever scheduler comes
//! first; a claim moves a reminder from `pending` to `sending` by a conditional update, so
//! one sender holds it; a send that failed is retried, but one whose sender vanished
//! before reporting (its lease ran out while `sending`) is `abandoned`, never sent again:
//! nobody gets the same reminder twice, and a crash between the send and its report loses
//! that one reminder for the day.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use entity::enums::{AssignmentStatus, PeriodStatus};
use entity::{assignment, employee, period, reminder, reminder_day};
use sea_orm::prelude::Expr;
use sea_orm::sea_query::{ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};

use crate::db::{Db, Step, begin_write, lock_step};
use crate::obligations::active_on;
use crate::read::reports::overdue_condition;
use crate::read::tiles::{BoardPeriod, to_accept};
use crate::reminders::{self, Kind, Work};
use crate::{Company, DomainResult};

/// A reminder as stored and claimed: whom, what, which attempt.
pub use entity::reminder::Model as Reminder;

pub const PENDING: &str = "pending";
pub const SENDING: &str = "sending";
pub const SENT: &str = "sent";
pub const FAILED: &str = "failed";
pub const ABANDONED: &str = "abandoned";

/// Why a reminder was given up without an attempt of its own failing.
const DAY_OVER: &str = "its day ended before it was sent";
const SENDER_VANISHED: &str = "its sender stopped before reporting; not sent again";

/// How long reminders and prepared days are kept.
pub const RETENTION_DAYS: i64 = 90;

/// What [`prepare`] stored for a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prepared {
    pub day: NaiveDate,
    /// Reminders of overdue work, and of submissions to accept.
    pub overdue: usize,
    pub to_accept: usize,
}

/// Prepares the reminders of the local day due at `now` (see `reminders::due_day`) unless
/// that day was prepared already: every active employee who has not turned reminders off
/// gets one of each kind they have something for, composed now in their language, with
/// `board` (the board's address) when given. One transaction, under the step's lock; also
/// gives up pending reminders of earlier days and removes those older than
/// [`RETENTION_DAYS`].
pub async fn prepare(
    db: &impl Db,
    company: &Company,
    at: NaiveTime,
    board: Option<&str>,
    now: DateTime<Utc>,
) -> DomainResult<Option<Prepared>> {
    let tz = company.calendar.tz;
    let Some(day) = reminders::due_day(now, tz, at) else {
        return Ok(None);
    };
    let txn = begin_write(db).await?;
    lock_step(&txn, Step::Reminders).await?;
    if reminder_day::Entity::find_by_id(day)
        .one(&txn)
        .await?
        .is_some()
    {
        txn.commit().await?;
        return Ok(None);
    }
    let people: HashMap<i64, employee::Model> = employee::Entity::find()
        .all(&txn)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    let recipients: Vec<i64> = {
        let mut ids: Vec<i64> = people
            .values()
            .filter(|e| e.reminders && active_on(e, day))
            .map(|e| e.id)
            .collect();
        ids.sort_unstable();
        ids
    };
    let work = open_work(&txn, &recipients, now).await?;
    let names = |id: i64| people.get(&id).map(|e| e.name.clone()).unwrap_or_default();
    let mut rows = Vec::new();
    let mut prepared = Prepared {
        day,
        overdue: 0,
        to_accept: 0,
    };
    for ((employee_id, kind), lines) in reminders::lists(&work, now) {
        let Some(person) = people.get(&employee_id) else {
            continue;
        };
        if recipients.binary_search(&employee_id).is_err() {
            continue;
        }
        let message = reminders::compose(
            kind,
            reminders::lang(person.language),
            &person.name,
            &lines,
            &names,
            tz,
            board,
        );
        match kind {
            Kind::Overdue => prepared.overdue += 1,
            Kind::ToAccept => prepared.to_accept += 1,
        }
        rows.push(reminder::ActiveModel {
            employee_id: Set(employee_id),
            day: Set(day),
            kind: Set(kind.as_str().into()),
            email: Set(person.email.clone()),
            language: Set(match person.language {
                entity::enums::Language::En => "en".into(),
                entity::enums::Language::Ru => "ru".into(),
            }),
            subject: Set(message.subject),
            body: Set(message.body),
            status: Set(PENDING.into()),
            attempts: Set(0),
            created_at: Set(now),
            next_attempt_at: Set(Some(now)),
            locked_until: Set(None),
            sent_at: Set(None),
            last_error: Set(None),
            ..Default::default()
        });
    }
    for chunk in rows.chunks(500) {
        reminder::Entity::insert_many(chunk.to_vec())
            .on_conflict_do_nothing_on([
                reminder::Column::EmployeeId,
                reminder::Column::Day,
                reminder::Column::Kind,
            ])
            .exec_without_returning(&txn)
            .await?;
    }
    reminder_day::ActiveModel {
        day: Set(day),
        prepared_at: Set(now),
    }
    .insert(&txn)
    .await?;
    // A reminder is about its day: one still pending when the day is over is given up.
    reminder::Entity::update_many()
        .col_expr(reminder::Column::Status, Expr::value(FAILED))
        .col_expr(
            reminder::Column::NextAttemptAt,
            Expr::value(None::<DateTime<Utc>>),
        )
        .col_expr(reminder::Column::LastError, Expr::value(DAY_OVER))
        .filter(reminder::Column::Status.eq(PENDING))
        .filter(reminder::Column::Day.lt(day))
        .exec(&txn)
        .await?;
    let horizon = day - Duration::days(RETENTION_DAYS);
    reminder::Entity::delete_many()
        .filter(reminder::Column::Day.lt(horizon))
        .exec(&txn)
        .await?;
    reminder_day::Entity::delete_many()
        .filter(reminder_day::Column::Day.lt(horizon))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(Some(prepared))
}

/// An assignment's columns the reminders read: id, assignee, controller, status, title,
/// due and submitted.
type WorkRow = (
    i64,
    i64,
    i64,
    AssignmentStatus,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

/// The work of open periods the reminders look at: what is overdue at `now`
/// (`read::reports::overdue_condition`, the debtors report's) and what waits for the
/// recipients' acceptance (`read::tiles::to_accept`, the `toAccept` tile's).
async fn open_work(
    db: &impl Db,
    recipients: &[i64],
    now: DateTime<Utc>,
) -> DomainResult<Vec<Work>> {
    let open = Query::select()
        .column(period::Column::Id)
        .from(period::Entity)
        .and_where(period::Column::Status.eq(PeriodStatus::Open))
        .to_owned();
    let mut work = Vec::new();
    let mut conditions = vec![
        Condition::all()
            .add(overdue_condition(now))
            .add(assignment::Column::PeriodId.in_subquery(open)),
    ];
    // The tile's condition names its controllers; a chunk at a time keeps the statement small.
    let any_open = BoardPeriod {
        id: 0,
        closed: false,
    };
    for chunk in recipients.chunks(1000) {
        conditions.push(to_accept(chunk.iter().copied(), any_open));
    }
    let mut seen = HashSet::new();
    for condition in conditions {
        let rows: Vec<WorkRow> = assignment::Entity::find()
            .select_only()
            .column(assignment::Column::Id)
            .column(assignment::Column::AssigneeId)
            .column(assignment::Column::ControllerId)
            .column(assignment::Column::Status)
            .column(assignment::Column::Title)
            .column(assignment::Column::DueAt)
            .column(assignment::Column::SubmittedAt)
            .filter(condition)
            .order_by_asc(assignment::Column::Id)
            .into_tuple()
            .all(db)
            .await?;
        for (id, assignee_id, controller_id, status, title, due_at, submitted_at) in rows {
            if seen.insert(id) {
                work.push(Work {
                    id,
                    assignee_id,
                    controller_id,
                    status,
                    title,
                    due_at,
                    submitted_at,
                });
            }
        }
    }
    Ok(work)
}

/// Leases up to `batch` due reminders to the caller until `now + lease` and counts an
/// attempt on each, oldest first. First marks `abandoned` those whose sender's lease ran
/// out before it reported.
pub async fn claim(
    db: &impl Db,
    now: DateTime<Utc>,
    lease: Duration,
    batch: u64,
) -> DomainResult<Vec<reminder::Model>> {
    let txn = begin_write(db).await?;
    reminder::Entity::update_many()
        .col_expr(reminder::Column::Status, Expr::value(ABANDONED))
        .col_expr(reminder::Column::LastError, Expr::value(SENDER_VANISHED))
        .filter(reminder::Column::Status.eq(SENDING))
        .filter(reminder::Column::LockedUntil.lte(now))
        .exec(&txn)
        .await?;
    let due: Vec<i64> = reminder::Entity::find()
        .select_only()
        .column(reminder::Column::Id)
        .filter(reminder::Column::Status.eq(PENDING))
        .filter(reminder::Column::NextAttemptAt.lte(now))
        .order_by_asc(reminder::Column::Id)
        .limit(batch)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .into_tuple()
        .all(&txn)
        .await?;
    if due.is_empty() {
        txn.commit().await?;
        return Ok(Vec::new());
    }
    // The status is checked again by the update itself, so a reminder another sender
    // claimed meanwhile is not claimed twice.
    let mut claimed = reminder::Entity::update_many()
        .col_expr(reminder::Column::Status, Expr::value(SENDING))
        .col_expr(
            reminder::Column::Attempts,
            Expr::col(reminder::Column::Attempts).add(1),
        )
        .col_expr(reminder::Column::LockedUntil, Expr::value(now + lease))
        .filter(reminder::Column::Id.is_in(due))
        .filter(reminder::Column::Status.eq(PENDING))
        .exec_with_returning(&txn)
        .await?;
    txn.commit().await?;
    claimed.sort_by_key(|r| r.id);
    Ok(claimed)
}

/// How one attempt went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Not sent; `permanent` when the server refused the message for good (5xx).
    Failed {
        error: String,
        permanent: bool,
    },
}

/// What became of the settled reminders: sent, to be retried, given up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settled {
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
}

/// Stores the outcome of each claimed attempt (the reminder as [`claim`] returned it). An
/// attempt whose claim was meanwhile marked abandoned is still settled: it was this one.
pub async fn settle(
    db: &impl Db,
    company: &Company,
    outcomes: Vec<(reminder::Model, Outcome)>,
    now: DateTime<Utc>,
) -> DomainResult<Settled> {
    let txn = begin_write(db).await?;
    let mut settled = Settled::default();
    for (r, outcome) in outcomes {
        let mut row = reminder::ActiveModel {
            locked_until: Set(None),
            ..Default::default()
        };
        match outcome {
            Outcome::Sent => {
                settled.sent += 1;
                row.status = Set(SENT.into());
                row.sent_at = Set(Some(now));
                row.next_attempt_at = Set(None);
                row.last_error = Set(None);
            }
            Outcome::Failed { error, permanent } => {
                let day_ends = company.calendar.day_start(r.day + Duration::days(1));
                let retry = reminders::retry_at(r.attempts, permanent, now, day_ends);
                if retry.is_some() {
                    settled.retrying += 1;
                    row.status = Set(PENDING.into());
                } else {
                    settled.failed += 1;
                    row.status = Set(FAILED.into());
                }
                row.next_attempt_at = Set(retry);
                row.last_error = Set(Some(error.chars().take(1000).collect()));
            }
        }
        // Only this attempt's claim: the same reminder and attempt, still leased or
        // abandoned meanwhile.
        reminder::Entity::update_many()
            .set(row)
            .filter(reminder::Column::Id.eq(r.id))
            .filter(reminder::Column::Attempts.eq(r.attempts))
            .filter(reminder::Column::Status.is_in([SENDING, ABANDONED]))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(settled)
}
