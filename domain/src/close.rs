//! Closing a period: the scheduler's third step, and an admin's early close.
//!
//! A close runs in one write transaction that holds the close step's advisory lock: the
//! period goes `open` → `closing` (a conditional update, so a concurrent closer finds
//! nothing to do), its unfinished assignments become `missed` with a system event, every
//! obligation of the period is judged, one `kpi_result` is written per employee active on
//! any day of the period, with its items (`kpi_item`, one per obligation and target, see
//! [`explain`](crate::explain)), and the period becomes `closed`. Any failure rolls all of it
//! back, so the next tick redoes the close from the start; a unique key on
//! `kpi_result(period_id, employee_id)` makes a second set of results impossible.
//!
//! The obligations are judged by [`owed`](crate::obligations::owed), a pure function over
//! the period's rows, which are loaded once (a handful of queries whatever the number of
//! employees).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use entity::enums::{AssignmentStatus, PeriodStatus};
use entity::{assignment, assignment_event, kpi_policy, kpi_result, kpi_target, period};
use sea_orm::prelude::Expr;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Value,
};

use crate::auth::Principal;
use crate::db::{Column, Db, Step, begin_write, insert_rows, lock_step};
use crate::explain::{self, Item, Titles};
use crate::kpi::{Evaluation, Policy};
use crate::live::{self, Change};
use crate::obligations::{Member, Owed, PeriodRows, active_in, owed};
use crate::outbox::{self, Event, EventType};
use crate::periods::{close_time, period_data};
use crate::transition::UNFINISHED;
use crate::{Company, DomainError, DomainResult, policy};

/// What closing one period did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Closed {
    pub period_id: i64,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    /// Unfinished assignments that became missed.
    pub missed: u32,
    /// Results written, one per employee active in the period.
    pub results: u32,
}

/// The open periods due for closing at `now`, oldest first.
pub async fn due(db: &impl ConnectionTrait, now: DateTime<Utc>) -> DomainResult<Vec<i64>> {
    let ended = period::Entity::find()
        .filter(period::Column::Status.eq(PeriodStatus::Open))
        .filter(period::Column::EndsAt.lte(now))
        .order_by_asc(period::Column::StartsOn)
        .all(db)
        .await?;
    if ended.is_empty() {
        return Ok(Vec::new());
    }
    let policies: HashMap<i32, kpi_policy::Model> = kpi_policy::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.version, p))
        .collect();
    Ok(ended
        .into_iter()
        .filter(|p| {
            policies
                .get(&p.policy_version)
                .is_some_and(|v| close_time(p, v) <= now)
        })
        .map(|p| p.id)
        .collect())
}

/// Closes one period now, for an admin, without waiting for `close_after_hours`: only a
/// period that has ended can be closed (its obligations are not all due before), and only
/// once. `NotFound` if there is no such period, `Conflict` if it has not ended or is
/// already closed (also when a concurrent close got there first).
pub async fn close_period(
    db: &impl Db,
    who: &Principal,
    company: &Company,
    period_id: i64,
    now: DateTime<Utc>,
) -> DomainResult<Closed> {
    crate::access::require_admin(who)?;
    close_one(db, company, period_id, now, When::Ended)
        .await?
        .ok_or_else(|| DomainError::Conflict("the period is already closed".into()))
}

/// What a close requires of the period besides being open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum When {
    /// `ends_at + close_after_hours` has passed: the scheduler.
    Due,
    /// `ends_at` has passed: an admin.
    Ended,
}

/// Closes one period if it is still open and due at `now`, for the scheduler's tick, which
/// records each close separately. `None` when there is nothing to do.
pub async fn close_if_due(
    db: &impl Db,
    company: &Company,
    period_id: i64,
    now: DateTime<Utc>,
) -> DomainResult<Option<Closed>> {
    close_one(db, company, period_id, now, When::Due).await
}

/// Closes one period in one transaction. `None` when the period is no longer open (a
/// concurrent close finished it) or, for the scheduler, not yet due.
async fn close_one(
    db: &impl Db,
    company: &Company,
    period_id: i64,
    now: DateTime<Utc>,
    when: When,
) -> DomainResult<Option<Closed>> {
    let txn = begin_write(db).await?;
    lock_step(&txn, Step::Close).await?;
    let period = period::Entity::find_by_id(period_id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("period"))?;
    if period.status != PeriodStatus::Open {
        return Ok(None);
    }
    let version = policy::by_version(&txn, period.policy_version).await?;
    match when {
        When::Due if close_time(&period, &version) > now => return Ok(None),
        When::Ended if period.ends_at > now => {
            return Err(DomainError::Conflict(format!(
                "the period runs until {}; it cannot close before",
                period.ends_at
            )));
        }
        _ => {}
    }
    // The conditional update also takes the period's row lock, which every assignment
    // transition takes in share mode first (`assignments::act`), so from here on no
    // transition of this period's assignments can interleave with the close.
    let marked = set_status(
        &txn,
        period.id,
        PeriodStatus::Open,
        PeriodStatus::Closing,
        None,
    )
    .await?;
    if !marked {
        return Ok(None);
    }
    // The scheduler judges as of the moment the period fell due, not of when it got to run
    // (changes stop then, see `require_changeable`); an admin's early close judges now.
    let as_of = match when {
        When::Due => Ord::min(close_time(&period, &version), now),
        When::Ended => now,
    };
    // Each phase's time, for the debug log: what a close of a large period spends where.
    let clock = std::time::Instant::now();
    let lap = |phase: &str| {
        tracing::debug!(
            period.id = period.id,
            phase,
            ms = clock.elapsed().as_millis() as u64,
            "close phase done"
        )
    };
    let missed = mark_missed(&txn, period.id, now).await?;
    lap("missed");
    let rules = policy::rules(&version);
    let rows = PeriodRows::load(&txn, &period, None).await?;
    lap("loaded");
    let (results, items) = results(&rows, &period, &rules, company.calendar.tz, as_of);
    lap("judged");
    // What the event tells of the results, read before they move into their statement.
    let closed_period = period::Model {
        status: PeriodStatus::Closed,
        closed_at: Some(now),
        ..period.clone()
    };
    let told = closed_data(&closed_period, &results, missed);
    let written = insert_results(&txn, results).await?;
    lap("results");
    insert_items(&txn, period.id, items).await?;
    lap("items");
    set_status(
        &txn,
        period.id,
        PeriodStatus::Closing,
        PeriodStatus::Closed,
        Some(now),
    )
    .await?;
    // Told in the close's own transaction: the event exists exactly when the close committed,
    // and its dedupe key keeps it single even if a close could run twice.
    let event = Event::once(EventType::PeriodClosed, period.id, told);
    outbox::record(&txn, vec![event], now).await?;
    live::announce(&txn, Change::everyone()).await?;
    lap("event");
    txn.commit().await?;
    lap("committed");
    Ok(Some(Closed {
        period_id: period.id,
        starts_on: period.starts_on,
        ends_on: period.ends_on,
        missed,
        results: u32::try_from(written).unwrap_or(u32::MAX),
    }))
}

/// `UPDATE period SET status = to WHERE id = ? AND status = from`; whether it matched.
async fn set_status(
    db: &impl ConnectionTrait,
    period_id: i64,
    from: PeriodStatus,
    to: PeriodStatus,
    closed_at: Option<DateTime<Utc>>,
) -> DomainResult<bool> {
    let mut update =
        period::Entity::update_many().col_expr(period::Column::Status, Expr::value(to));
    if let Some(at) = closed_at {
        update = update.col_expr(period::Column::ClosedAt, Expr::value(at));
    }
    let done = update
        .filter(period::Column::Id.eq(period_id))
        .filter(period::Column::Status.eq(from))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// The note of the event a close writes for each assignment it marks missed.
const MISSED_NOTE: &str = "the period closed with the assignment unfinished";

/// Turns the period's unfinished assignments into `missed`, each with a system event.
/// The caller holds the period's row lock, so the set read is the set updated. Both are
/// set-based statements (the events an `INSERT … SELECT` of the assignments still
/// unfinished, then one `UPDATE`): nothing of the assignments travels to the application.
async fn mark_missed(
    db: &impl ConnectionTrait,
    period_id: i64,
    now: DateTime<Utc>,
) -> DomainResult<u32> {
    use sea_orm::sea_query::Query;
    let unfinished = || {
        sea_orm::Condition::all()
            .add(assignment::Column::PeriodId.eq(period_id))
            .add(assignment::Column::Status.is_in(UNFINISHED))
    };
    let events = Query::select()
        .column(assignment::Column::Id)
        .expr(Expr::value(Option::<i64>::None))
        .column(assignment::Column::Status)
        .expr(Expr::value(AssignmentStatus::Missed))
        .expr(Expr::value(MISSED_NOTE))
        .expr(Expr::value(now))
        .from(assignment::Entity)
        .cond_where(unfinished())
        .order_by(assignment::Column::Id, sea_orm::Order::Asc)
        .to_owned();
    let insert = Query::insert()
        .into_table(assignment_event::Entity)
        .columns([
            assignment_event::Column::AssignmentId,
            assignment_event::Column::ActorId,
            assignment_event::Column::FromStatus,
            assignment_event::Column::ToStatus,
            assignment_event::Column::Comment,
            assignment_event::Column::At,
        ])
        .select_from(events)
        .map_err(|e| sea_orm::DbErr::Custom(format!("the missed events' statement: {e}")))?
        .to_owned();
    db.execute(&insert).await?;
    let updated = assignment::Entity::update_many()
        .col_expr(
            assignment::Column::Status,
            Expr::value(AssignmentStatus::Missed),
        )
        .col_expr(
            assignment::Column::Version,
            Expr::col(assignment::Column::Version).add(1),
        )
        .filter(unfinished())
        .exec(db)
        .await?;
    Ok(u32::try_from(updated.rows_affected).unwrap_or(u32::MAX))
}

/// The columns of `kpi_result` in the order [`result_row`] writes them.
const RESULT_COLUMNS: [(&str, Column); 14] = [
    ("period_id", Column::BigInt),
    ("employee_id", Column::BigInt),
    ("policy_version", Column::Int),
    ("kpi_x100", Column::BigInt),
    ("discipline_x100", Column::BigInt),
    ("targets_x100", Column::BigInt),
    ("eligible", Column::Bool),
    ("bonus_factor_x10000", Column::BigInt),
    ("reasons", Column::Text),
    ("duties_missed", Column::Int),
    ("duties_late", Column::Int),
    ("obligations", Column::Text),
    ("computed_at", Column::Instant),
    ("itemized", Column::Bool),
];

/// One row of `kpi_result` or `kpi_item`, its values in the order of [`RESULT_COLUMNS`] or
/// [`ITEM_COLUMNS`].
type Row = Vec<Value>;

/// Writes the results, many to a statement (`db::insert_rows`).
async fn insert_results(db: &impl ConnectionTrait, results: Vec<Row>) -> DomainResult<usize> {
    let written = results.len();
    insert_rows(db, "kpi_result", &RESULT_COLUMNS, results).await?;
    Ok(written)
}

/// The columns of `kpi_item` in the order [`item_row`] writes them.
const ITEM_COLUMNS: [(&str, Column); 14] = [
    ("result_id", Column::BigInt),
    ("position", Column::Int),
    ("kind", Column::Text),
    ("subject_id", Column::BigInt),
    ("title", Column::Text),
    ("due_at", Column::Instant),
    ("met_at", Column::Instant),
    ("outcome", Column::Text),
    ("ratio", Column::Real),
    ("weight", Column::Real),
    ("credit", Column::Real),
    ("points", Column::Real),
    ("points_x100", Column::BigInt),
    ("points_lost", Column::Real),
];

/// Writes every result's items, found by employee: the results were just inserted, so one
/// query reads their ids. The rows go many to a statement (`db::insert_rows`): a close of
/// 10,000 people writes tens of thousands of items.
async fn insert_items(
    db: &impl ConnectionTrait,
    period_id: i64,
    items: BTreeMap<i64, Vec<Item>>,
) -> DomainResult<()> {
    let ids: HashMap<i64, i64> = kpi_result::Entity::find()
        .select_only()
        .column(kpi_result::Column::EmployeeId)
        .column(kpi_result::Column::Id)
        .filter(kpi_result::Column::PeriodId.eq(period_id))
        .into_tuple::<(i64, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let rows: Vec<Row> = items
        .iter()
        .filter_map(|(employee, items)| ids.get(employee).map(|id| (*id, items)))
        .flat_map(|(result_id, items)| {
            items
                .iter()
                .enumerate()
                .map(move |(i, item)| item_row(result_id, i, item))
        })
        .collect();
    insert_rows(db, "kpi_item", &ITEM_COLUMNS, rows).await?;
    Ok(())
}

fn item_row(result_id: i64, index: usize, item: &Item) -> Row {
    vec![
        result_id.into(),
        i32::try_from(index + 1).unwrap_or(i32::MAX).into(),
        item.kind.code().into(),
        item.subject_id.into(),
        item.title.as_str().into(),
        item.due_at.into(),
        item.met_at.into(),
        item.outcome.code().into(),
        item.ratio.into(),
        item.weight.into(),
        item.credit.into(),
        item.points.into(),
        item.points_x100.into(),
        item.points_lost.into(),
    ]
}

/// One result row per employee active on any day of the period, and its items, by
/// employee id.
fn results(
    rows: &PeriodRows,
    period: &period::Model,
    policy: &Policy,
    tz: Tz,
    close: DateTime<Utc>,
) -> (Vec<Row>, BTreeMap<i64, Vec<Item>>) {
    let mut owed_by: HashMap<i64, Vec<Owed>> = HashMap::new();
    for o in owed(rows, policy, tz, close) {
        owed_by.entry(o.employee_id).or_default().push(o);
    }
    let mut targets_by: HashMap<i64, Vec<&kpi_target::Model>> = HashMap::new();
    for t in &rows.targets {
        targets_by.entry(t.employee_id).or_default().push(t);
    }
    let titles = Titles::of(rows);
    let mut active: Vec<&Member> = rows
        .employees
        .iter()
        .filter(|e| active_in(e, period.starts_on, period.ends_on))
        .collect();
    active.sort_by_key(|e| e.id);
    let mut items = BTreeMap::new();
    let results = active
        .into_iter()
        .map(|e| {
            let owed = owed_by.get(&e.id).map(Vec::as_slice).unwrap_or_default();
            let targets = targets_by.get(&e.id).map(Vec::as_slice).unwrap_or_default();
            let (evaluation, judged) = explain::judge(owed, targets, &titles, policy);
            items.insert(e.id, judged);
            result_row(period, e.id, policy.version, &evaluation, close)
        })
        .collect();
    (results, items)
}

fn result_row(
    period: &period::Model,
    employee_id: i64,
    version: i32,
    e: &Evaluation,
    at: DateTime<Utc>,
) -> Row {
    vec![
        period.id.into(),
        employee_id.into(),
        version.into(),
        e.kpi_x100.into(),
        e.discipline_x100.into(),
        e.targets_x100.into(),
        e.eligible.into(),
        e.bonus_factor_x10000.into(),
        crate::stored::reasons(&e.reasons).into(),
        i32::try_from(e.duties_missed).unwrap_or(i32::MAX).into(),
        i32::try_from(e.duties_late).unwrap_or(i32::MAX).into(),
        crate::stored::tally(&e.tally).into(),
        at.into(),
        true.into(),
    ]
}

/// What `period.closed` tells: the period and a summary of its results (how many, how many
/// eligible for a bonus, the average KPI and bonus factor, the assignments missed).
fn closed_data(period: &period::Model, results: &[Row], missed: u32) -> serde_json::Value {
    let count = results.len();
    // A result row's value in the column `name` of [`RESULT_COLUMNS`].
    let cell = |row: &'_ Row, name: &str| {
        let at = RESULT_COLUMNS.iter().position(|(n, _)| *n == name);
        at.map(|i| row[i].clone())
    };
    let eligible = results
        .iter()
        .filter(|r| cell(r, "eligible") == Some(Value::Bool(Some(true))))
        .count();
    let sum = |name: &str| -> i64 {
        results
            .iter()
            .filter_map(|r| match cell(r, name) {
                Some(Value::BigInt(Some(v))) => Some(v),
                _ => None,
            })
            .sum()
    };
    // The mean of stored figures kept at `scale` (hundredths, ten-thousandths), at that scale.
    let mean = |sum: i64, scale: f64| {
        (count > 0).then(|| {
            crate::kpi::round_half_away(sum as f64 / count as f64 / scale, scale) as f64 / scale
        })
    };
    let kpi_sum = sum("kpi_x100");
    let factor_sum = sum("bonus_factor_x10000");
    serde_json::json!({
        "period": period_data(period),
        "results": count,
        "eligible": eligible,
        "not_eligible": count - eligible,
        "average_kpi": mean(kpi_sum, 100.0),
        "average_bonus_factor": mean(factor_sum, 10_000.0),
        "assignments_missed": missed,
    })
}
