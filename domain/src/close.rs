//! Closing a period: the scheduler's third step, and the live "current KPI" projection.
//!
//! A close runs in one write transaction that holds the close step's advisory lock: the
//! period goes `open` → `closing` (a conditional update, so a concurrent closer finds
//! nothing to do), its unfinished assignments become `missed` with a system event, every
//! obligation of the period is judged, one `kpi_result` is written per employee active on
//! any day of the period, and the period becomes `closed`. Any failure rolls all of it
//! back, so the next tick redoes the close from the start; a unique key on
//! `kpi_result(period_id, employee_id)` makes a second set of results impossible.
//!
//! Obligations are built by [`owed`], a pure function over the period's rows, which are
//! loaded once (a handful of queries whatever the number of employees).
//!
//! Decisions where DESIGN is silent:
//! - An assignment that ends `missed` is a missed obligation even if it was submitted and
//!   returned earlier: the return said that submission was not the work.
//! - The decision on the last submission is `decided_at` unless the assignment is still
//!   `submitted`. `submitted_at` and `decided_at` are stamped by the same conditional
//!   update that writes the transition's event, so they are the last submission and its
//!   decision without reading the event log.
//! - Cancelled assignments owe nothing, to the assignee or to the controller.
//! - Vote and reading audiences are the employees of the audience's department (or all)
//!   active on the local date of the proposal's `closes_at` or the article's
//!   `published_at`.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use entity::enums::{AssignmentKind, AssignmentStatus, PeriodStatus};
use entity::{
    article, article_read, assignment, assignment_event, employee, kpi_policy, kpi_result,
    kpi_target, period, proposal, vote,
};
use sea_orm::prelude::Expr;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::db::{Db, begin_write};
use crate::kpi::{self, Evaluation, Obligation, Policy, TargetScore};
use crate::periods::{Step, lock_step};
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

/// A failure injected into a close, for tests: the close fails after writing this many
/// results, as a crash or a lost connection would.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct CloseFault {
    pub after_results: usize,
}

/// Rows inserted per statement: well under SQLite's limit of bound parameters.
const CHUNK: usize = 200;

/// Closes every open period whose `ends_at + close_after_hours` (of the period's policy
/// version) is at or before `now`, oldest first, each in its own transaction, with a
/// failure injected into the first close: for the test that a failed close leaves
/// nothing behind. The scheduler's tick closes period by period with [`close_if_due`].
#[doc(hidden)]
pub async fn close_due_with_fault(
    db: &impl Db,
    company: &Company,
    now: DateTime<Utc>,
    fault: Option<CloseFault>,
) -> DomainResult<Vec<Closed>> {
    let mut closed = Vec::new();
    for period_id in due(db, now).await? {
        if let Some(done) = close_one(db, company, period_id, now, When::Due, fault).await? {
            closed.push(done);
        }
    }
    Ok(closed)
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
    let version = policy::by_version(db, period.policy_version).await?;
    if close_time(period, &version) <= now {
        return Err(DomainError::Conflict(
            "the period is due to close and takes no more changes".into(),
        ));
    }
    Ok(())
}

/// When a period is due for closing under its policy version.
fn close_time(period: &period::Model, version: &kpi_policy::Model) -> DateTime<Utc> {
    Duration::try_hours(version.close_after_hours)
        .and_then(|after| period.ends_at.checked_add_signed(after))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Closes one period now, for an admin, without waiting for `close_after_hours`: only a
/// period that has ended can be closed (its obligations are not all due before), and only
/// once. `NotFound` if there is no such period, `Conflict` if it has not ended or is
/// already closed (also when a concurrent close got there first).
pub async fn close_period(
    db: &impl Db,
    company: &Company,
    period_id: i64,
    now: DateTime<Utc>,
) -> DomainResult<Closed> {
    close_one(db, company, period_id, now, When::Ended, None)
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
    close_one(db, company, period_id, now, When::Due, None).await
}

/// Closes one period in one transaction. `None` when the period is no longer open (a
/// concurrent close finished it) or, for the scheduler, not yet due.
async fn close_one(
    db: &impl Db,
    company: &Company,
    period_id: i64,
    now: DateTime<Utc>,
    when: When,
    fault: Option<CloseFault>,
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
    let missed = mark_missed(&txn, period.id, now).await?;
    let rules = policy::rules(&version);
    let rows = PeriodRows::load(&txn, &period, None).await?;
    let results = results(&rows, &period, &rules, company.calendar.tz, as_of);
    let written = match fault {
        Some(fault) if fault.after_results < results.len() => {
            insert_results(&txn, &results[..fault.after_results]).await?;
            return Err(DomainError::Db(sea_orm::DbErr::Custom(format!(
                "injected failure after {} of {} results",
                fault.after_results,
                results.len()
            ))));
        }
        _ => insert_results(&txn, &results).await?,
    };
    set_status(
        &txn,
        period.id,
        PeriodStatus::Closing,
        PeriodStatus::Closed,
        Some(now),
    )
    .await?;
    txn.commit().await?;
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

/// Turns the period's unfinished assignments into `missed`, each with a system event.
/// The caller holds the period's row lock, so the set read is the set updated.
async fn mark_missed(
    db: &impl ConnectionTrait,
    period_id: i64,
    now: DateTime<Utc>,
) -> DomainResult<u32> {
    let unfinished = assignment::Entity::find()
        .filter(assignment::Column::PeriodId.eq(period_id))
        .filter(assignment::Column::Status.is_in(UNFINISHED))
        .order_by_asc(assignment::Column::Id)
        .all(db)
        .await?;
    if unfinished.is_empty() {
        return Ok(0);
    }
    assignment::Entity::update_many()
        .col_expr(
            assignment::Column::Status,
            Expr::value(AssignmentStatus::Missed),
        )
        .col_expr(
            assignment::Column::Version,
            Expr::col(assignment::Column::Version).add(1),
        )
        .filter(assignment::Column::PeriodId.eq(period_id))
        .filter(assignment::Column::Status.is_in(UNFINISHED))
        .exec(db)
        .await?;
    for chunk in unfinished.chunks(CHUNK) {
        let events = chunk.iter().map(|a| assignment_event::ActiveModel {
            assignment_id: Set(a.id),
            actor_id: Set(None),
            from_status: Set(Some(a.status)),
            to_status: Set(AssignmentStatus::Missed),
            comment: Set(Some(
                "the period closed with the assignment unfinished".into(),
            )),
            at: Set(now),
            ..Default::default()
        });
        assignment_event::Entity::insert_many(events)
            .exec_without_returning(db)
            .await?;
    }
    Ok(u32::try_from(unfinished.len()).unwrap_or(u32::MAX))
}

async fn insert_results(
    db: &impl ConnectionTrait,
    results: &[kpi_result::ActiveModel],
) -> DomainResult<usize> {
    for chunk in results.chunks(CHUNK) {
        kpi_result::Entity::insert_many(chunk.iter().cloned())
            .exec_without_returning(db)
            .await?;
    }
    Ok(results.len())
}

/// One result row per employee active on any day of the period, by employee id.
fn results(
    rows: &PeriodRows,
    period: &period::Model,
    policy: &Policy,
    tz: Tz,
    close: DateTime<Utc>,
) -> Vec<kpi_result::ActiveModel> {
    let mut owed_by: BTreeMap<i64, Vec<Obligation>> = BTreeMap::new();
    for o in owed(rows, policy, tz, close) {
        owed_by.entry(o.employee_id).or_default().push(o.obligation);
    }
    let mut active: Vec<&employee::Model> = rows
        .employees
        .iter()
        .filter(|e| active_in(e, period.starts_on, period.ends_on))
        .collect();
    active.sort_by_key(|e| e.id);
    active
        .into_iter()
        .map(|e| {
            let obligations = owed_by.get(&e.id).map(Vec::as_slice).unwrap_or_default();
            let targets = rows.targets_of(e.id, false);
            let evaluation = kpi::evaluate(obligations, &targets, policy);
            result_row(period, e.id, policy.version, &evaluation, close)
        })
        .collect()
}

fn result_row(
    period: &period::Model,
    employee_id: i64,
    version: i32,
    e: &Evaluation,
    at: DateTime<Utc>,
) -> kpi_result::ActiveModel {
    kpi_result::ActiveModel {
        period_id: Set(period.id),
        employee_id: Set(employee_id),
        policy_version: Set(version),
        kpi_x100: Set(e.kpi_x100),
        discipline_x100: Set(e.discipline_x100),
        targets_x100: Set(e.targets_x100),
        eligible: Set(e.eligible),
        bonus_factor_x10000: Set(e.bonus_factor_x10000),
        reasons: Set(e
            .reasons
            .iter()
            .map(|r| r.code())
            .collect::<Vec<_>>()
            .join(",")),
        duties_missed: Set(i32::try_from(e.duties_missed).unwrap_or(i32::MAX)),
        duties_late: Set(i32::try_from(e.duties_late).unwrap_or(i32::MAX)),
        obligations: Set(tally_json(e).to_string()),
        computed_at: Set(at),
        ..Default::default()
    }
}

/// The counts per obligation kind and outcome, as stored in `kpi_result.obligations`:
/// `[{"kind":"duty","outcome":"on_time","count":3,"weight":3.0}, …]`.
pub fn tally_json(e: &Evaluation) -> serde_json::Value {
    e.tally
        .iter()
        .map(|t| serde_json::json!({ "kind": t.kind, "outcome": t.outcome, "count": t.count, "weight": t.weight }))
        .collect()
}

/// Whether an employee is active on any day of `[starts_on, ends_on]`.
pub fn active_in(e: &employee::Model, starts_on: NaiveDate, ends_on: NaiveDate) -> bool {
    e.hired_on <= ends_on && e.left_on.is_none_or(|left| left >= starts_on)
}

/// The "current KPI" of DESIGN section 3: the KPI formula under the period's policy over
/// the obligations that are fulfilled or whose deadline has passed, judged as if the period
/// closed now (an unfinished duty past its due date counts as missed; a duty due next week
/// and not yet done does not count). Targets count once their actual is recorded. For a
/// closed period it reproduces the stored result. `None` when there is no such period.
pub async fn live_kpi(
    db: &impl ConnectionTrait,
    company: &Company,
    period_id: i64,
    employee_id: i64,
    now: DateTime<Utc>,
) -> DomainResult<Option<Evaluation>> {
    let Some(period) = period::Entity::find_by_id(period_id).one(db).await? else {
        return Ok(None);
    };
    let rules = policy::rules(&policy::by_version(db, period.policy_version).await?);
    let rows = PeriodRows::load(db, &period, Some(employee_id)).await?;
    Ok(live_evaluations(
        &rows,
        &period,
        &rules,
        company.calendar.tz,
        &[employee_id],
        now,
    )
    .remove(&employee_id))
}

/// The live KPI of several employees from a period's rows (see [`live_kpi`]), judging the
/// rows' obligations once for all of them. Pure.
pub fn live_evaluations(
    rows: &PeriodRows,
    period: &period::Model,
    rules: &Policy,
    tz: Tz,
    employee_ids: &[i64],
    now: DateTime<Utc>,
) -> HashMap<i64, Evaluation> {
    let as_of = period.closed_at.map_or(now, |closed| Ord::min(closed, now));
    let settled_only = period.status == PeriodStatus::Open;
    let mut owed_by: HashMap<i64, Vec<Obligation>> =
        employee_ids.iter().map(|id| (*id, Vec::new())).collect();
    for o in owed(rows, rules, tz, as_of) {
        if let Some(list) = owed_by.get_mut(&o.employee_id)
            && (!settled_only || o.fulfilled || o.deadline <= as_of)
        {
            list.push(o.obligation);
        }
    }
    owed_by
        .into_iter()
        .map(|(id, obligations)| {
            let targets = rows.targets_of(id, settled_only);
            (id, kpi::evaluate(&obligations, &targets, rules))
        })
        .collect()
}

/// The rows a period's obligations are built from.
#[derive(Clone, Debug, Default)]
pub struct PeriodRows {
    /// The period's assignments.
    pub assignments: Vec<assignment::Model>,
    /// Proposals whose `closes_at` falls in the period.
    pub proposals: Vec<proposal::Model>,
    /// Votes on those proposals.
    pub votes: Vec<vote::Model>,
    /// Mandatory articles published in the period.
    pub articles: Vec<article::Model>,
    /// Reads of those articles.
    pub reads: Vec<article_read::Model>,
    pub employees: Vec<employee::Model>,
    /// The period's KPI targets.
    pub targets: Vec<kpi_target::Model>,
}

impl PeriodRows {
    /// Loads the rows of a period in seven queries, whatever the number of employees; with
    /// `only`, just what concerns that employee.
    pub async fn load(
        db: &impl ConnectionTrait,
        period: &period::Model,
        only: Option<i64>,
    ) -> DomainResult<PeriodRows> {
        let mut assignments =
            assignment::Entity::find().filter(assignment::Column::PeriodId.eq(period.id));
        let mut employees = employee::Entity::find();
        let mut targets =
            kpi_target::Entity::find().filter(kpi_target::Column::PeriodId.eq(period.id));
        if let Some(id) = only {
            assignments = assignments.filter(
                Condition::any()
                    .add(assignment::Column::AssigneeId.eq(id))
                    .add(assignment::Column::ControllerId.eq(id)),
            );
            employees = employees.filter(employee::Column::Id.eq(id));
            targets = targets.filter(kpi_target::Column::EmployeeId.eq(id));
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
            if let Some(id) = only {
                q = q.filter(vote::Column::EmployeeId.eq(id));
            }
            q.all(db).await?
        };
        let reads = if articles.is_empty() {
            Vec::new()
        } else {
            let mut q = article_read::Entity::find()
                .filter(article_read::Column::ArticleId.is_in(articles.iter().map(|a| a.id)));
            if let Some(id) = only {
                q = q.filter(article_read::Column::EmployeeId.eq(id));
            }
            q.all(db).await?
        };
        Ok(PeriodRows {
            assignments: assignments.all(db).await?,
            proposals,
            votes,
            articles,
            reads,
            employees: employees.all(db).await?,
            targets: targets.all(db).await?,
        })
    }

    /// An employee's targets; with `recorded_only`, those with a recorded actual.
    fn targets_of(&self, employee_id: i64, recorded_only: bool) -> Vec<TargetScore> {
        self.targets
            .iter()
            .filter(|t| {
                t.employee_id == employee_id && (!recorded_only || t.actual_value.is_some())
            })
            .map(|t| TargetScore {
                weight: t.weight,
                target: t.target_value,
                actual: t.actual_value,
            })
            .collect()
    }
}

/// One judged obligation with who owes it, when it falls due, and whether it is done.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Owed {
    pub employee_id: i64,
    pub obligation: Obligation,
    /// The instant after which an unfulfilled obligation is overdue: the assignment's
    /// `due_at`, the acceptance SLA after the last submission, the proposal's `closes_at`,
    /// the reading SLA after publication.
    pub deadline: DateTime<Utc>,
    pub fulfilled: bool,
}

/// Judges every obligation of a period's rows as of `as_of`: something recorded after it
/// did not happen in time. Pure; the rows' statuses are taken as they are.
pub fn owed(rows: &PeriodRows, policy: &Policy, tz: Tz, as_of: DateTime<Utc>) -> Vec<Owed> {
    let mut out = Vec::new();
    for a in &rows.assignments {
        if a.status == AssignmentStatus::Cancelled {
            continue;
        }
        let submitted = kpi::as_of(a.submitted_at, as_of);
        // Submitted or accepted (by `as_of`) is done; anything else (unfinished, or missed at
        // close) is not.
        let done = submitted.is_some()
            && matches!(
                a.status,
                AssignmentStatus::Submitted | AssignmentStatus::Accepted
            );
        let outcome = if done {
            kpi::submission_outcome(submitted, a.due_at)
        } else {
            kpi::Outcome::Missed
        };
        let obligation = match a.kind {
            AssignmentKind::Duty => Obligation::duty(a.weight, outcome, policy),
            AssignmentKind::Additional => Obligation::additional(a.weight, outcome, policy),
        };
        out.push(Owed {
            employee_id: a.assignee_id,
            obligation,
            deadline: a.due_at,
            fulfilled: done,
        });
        if let Some(submitted) = submitted {
            // A still-submitted assignment awaits a decision on its last submission; in any
            // other status `decided_at` is that decision (an accept, or the return that
            // sent it back).
            let decided = match a.status {
                AssignmentStatus::Submitted => None,
                _ => kpi::as_of(a.decided_at, as_of),
            };
            out.push(Owed {
                employee_id: a.controller_id,
                obligation: Obligation::acceptance(
                    kpi::acceptance_outcome(submitted, decided, policy),
                    policy,
                ),
                deadline: after_hours(submitted, policy.acceptance_sla_hours),
                fulfilled: decided.is_some(),
            });
        }
    }
    let votes: HashMap<(i64, i64), DateTime<Utc>> = rows
        .votes
        .iter()
        .map(|v| ((v.proposal_id, v.employee_id), v.voted_at))
        .collect();
    for p in &rows.proposals {
        for e in audience(&rows.employees, p.department_id, p.closes_at, tz) {
            let voted = kpi::as_of(votes.get(&(p.id, e.id)).copied(), as_of);
            let outcome = kpi::vote_outcome(voted, p.closes_at);
            out.push(Owed {
                employee_id: e.id,
                obligation: Obligation::vote(outcome, policy),
                deadline: p.closes_at,
                fulfilled: outcome == kpi::Outcome::OnTime,
            });
        }
    }
    let reads: HashMap<(i64, i64), DateTime<Utc>> = rows
        .reads
        .iter()
        .map(|r| ((r.article_id, r.employee_id), r.read_at))
        .collect();
    let mandatory = rows.articles.iter().filter(|a| a.mandatory);
    for a in mandatory {
        for e in audience(&rows.employees, a.department_id, a.published_at, tz) {
            let read = kpi::as_of(reads.get(&(a.id, e.id)).copied(), as_of);
            out.push(Owed {
                employee_id: e.id,
                obligation: Obligation::reading(
                    kpi::reading_outcome(a.published_at, read, policy),
                    policy,
                ),
                deadline: after_hours(a.published_at, policy.reading_sla_hours),
                fulfilled: read.is_some(),
            });
        }
    }
    out
}

/// The members of an audience (a department, or everyone with `None`) active on the local
/// date of `at`.
pub fn audience(
    employees: &[employee::Model],
    department: Option<i64>,
    at: DateTime<Utc>,
    tz: Tz,
) -> impl Iterator<Item = &employee::Model> {
    let date = at.with_timezone(&tz).date_naive();
    employees.iter().filter(move |e| {
        department.is_none_or(|d| d == e.department_id) && crate::periods::active_on(e, date)
    })
}

fn after_hours(at: DateTime<Utc>, hours: i64) -> DateTime<Utc> {
    Duration::try_hours(hours)
        .and_then(|h| at.checked_add_signed(h))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use entity::enums::Role;

    use super::*;
    use crate::kpi::ObligationKind::{Acceptance, Additional, Duty, Reading, Vote};
    use crate::kpi::Outcome::{Late, Missed, OnTime};
    use crate::kpi::{ObligationKind, Outcome};
    use AssignmentStatus::{Accepted, Cancelled, Missed as MissedStatus, Submitted, Todo};

    /// Hours after 2026-03-01T00:00Z, the start of the period in these tests.
    fn h(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + Duration::hours(hours)
    }
    fn person(id: i64, department_id: i64, hired: (u32, u32)) -> employee::Model {
        employee::Model {
            id,
            department_id,
            manager_id: None,
            name: format!("E{id}"),
            email: format!("e{id}@x"),
            email_key: format!("e{id}@x"),
            role: Role::Employee,
            hired_on: NaiveDate::from_ymd_opt(2026, hired.0, hired.1).unwrap(),
            left_on: None,
            created_at: h(0),
        }
    }
    /// An assignment of weight 1 due at hour 100: (id, kind, assignee, controller, status, submitted, decided).
    fn work(
        id: i64,
        kind: AssignmentKind,
        who: (i64, i64),
        status: AssignmentStatus,
        submitted: Option<i64>,
        decided: Option<i64>,
    ) -> assignment::Model {
        assignment::Model {
            id,
            kind,
            template_id: None,
            period_id: 1,
            assignee_id: who.0,
            controller_id: who.1,
            title: String::new(),
            description: String::new(),
            weight: 1.0,
            due_at: h(100),
            status,
            submitted_at: submitted.map(h),
            decided_at: decided.map(h),
            created_at: h(0),
            created_by: None,
            version: 1,
        }
    }
    fn proposal(id: i64, department_id: Option<i64>, closes: i64) -> proposal::Model {
        proposal::Model {
            id,
            title: String::new(),
            body: String::new(),
            author_id: None,
            department_id,
            opens_at: h(0),
            closes_at: h(closes),
            created_at: h(0),
        }
    }
    fn article(
        id: i64,
        department_id: Option<i64>,
        published: i64,
        mandatory: bool,
    ) -> article::Model {
        article::Model {
            id,
            title: String::new(),
            link: None,
            body: None,
            author_id: None,
            department_id,
            mandatory,
            published_at: h(published),
            created_at: h(0),
        }
    }

    /// The judged obligations as (employee, kind, outcome, fulfilled), sorted.
    fn judged(rows: &PeriodRows, as_of: i64) -> Vec<(i64, ObligationKind, Outcome, bool)> {
        let mut out: Vec<_> = owed(rows, &Policy::default(), chrono_tz::UTC, h(as_of))
            .into_iter()
            .map(|o| {
                (
                    o.employee_id,
                    o.obligation.kind,
                    o.obligation.outcome,
                    o.fulfilled,
                )
            })
            .collect();
        out.sort_by_key(|(e, k, o, f)| (*e, *k, *o, *f));
        out
    }

    #[test]
    #[rustfmt::skip]
    fn assignments_owe_the_assignee_and_the_controller() {
        let (a, k) = (1, 2);
        let case = |row: assignment::Model| judged(&PeriodRows { assignments: vec![row], ..Default::default() }, 400);
        assert_eq!(case(work(1, AssignmentKind::Duty, (a, k), Accepted, Some(90), Some(120))), [(a, Duty, OnTime, true), (k, Acceptance, OnTime, true)]);
        assert_eq!(case(work(1, AssignmentKind::Duty, (a, k), Accepted, Some(100), Some(149))), [(a, Duty, OnTime, true), (k, Acceptance, Late, true)]); // at due_at is on time; 49 h to decide is late
        assert_eq!(case(work(1, AssignmentKind::Duty, (a, k), Submitted, Some(101), None)), [(a, Duty, Late, true), (k, Acceptance, Missed, false)]); // still submitted at close
        assert_eq!(case(work(1, AssignmentKind::Duty, (a, k), MissedStatus, Some(50), Some(60))), [(a, Duty, Missed, false), (k, Acceptance, OnTime, true)]); // returned, never resubmitted
        assert_eq!(case(work(1, AssignmentKind::Duty, (a, k), Submitted, Some(80), Some(60))), [(a, Duty, OnTime, true), (k, Acceptance, Missed, false)]); // resubmitted: the earlier return decided nothing of it
        assert_eq!(case(work(1, AssignmentKind::Duty, (a, k), Cancelled, Some(50), None)), []); // cancelled owes nothing, to anyone
        assert_eq!(case(work(1, AssignmentKind::Additional, (a, k), Todo, None, None)), [(a, Additional, Missed, false)]);
        assert_eq!(case(work(1, AssignmentKind::Duty, (a, k), Accepted, Some(90), Some(500))), [(a, Duty, OnTime, true), (k, Acceptance, Missed, false)]); // decided after as_of: not in time
        assert_eq!(case(work(1, AssignmentKind::Duty, (a, k), Submitted, Some(450), None)), [(a, Duty, Missed, false)]); // submitted after as_of: not in time, nothing to decide
    }

    #[test]
    #[rustfmt::skip]
    fn votes_and_readings_owe_the_audience() {
        let (x, y, newcomer, other) = (1, 2, 3, 4);
        let rows = PeriodRows {
            employees: vec![person(x, 10, (1, 1)), person(y, 10, (1, 1)), person(newcomer, 10, (3, 10)), person(other, 20, (1, 1))],
            proposals: vec![proposal(1, Some(10), 100)], // closes on 5 March: the newcomer joins on the 10th
            votes: vec![vote::Model { id: 1, proposal_id: 1, employee_id: x, choice: entity::enums::VoteChoice::For, voted_at: h(99) }],
            articles: vec![article(1, None, 240, true), article(2, None, 240, false)], // published on 11 March, to everyone
            reads: vec![
                article_read::Model { id: 1, article_id: 1, employee_id: x, read_at: h(240 + 72) },
                article_read::Model { id: 2, article_id: 1, employee_id: y, read_at: h(240 + 73) },
                article_read::Model { id: 3, article_id: 2, employee_id: y, read_at: h(241) },
            ],
            ..Default::default()
        };
        assert_eq!(judged(&rows, 400), [
            (x, Vote, OnTime, true), (x, Reading, OnTime, true),
            (y, Vote, Missed, false), (y, Reading, Late, true),
            (newcomer, Reading, Missed, false), // hired before publication, after the vote closed
            (other, Reading, Missed, false), // everyone's article, not department 10's proposal
        ]);
        // Before the reads happened, nothing was read.
        assert_eq!(judged(&rows, 300).iter().filter(|o| o.1 == Reading && o.3).count(), 0);
    }

    #[test]
    fn activity_in_a_period() {
        let starts = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let ends = NaiveDate::from_ymd_opt(2026, 3, 15).unwrap();
        let mut e = person(1, 1, (3, 15));
        assert!(active_in(&e, starts, ends), "hired on the last day");
        e.hired_on = NaiveDate::from_ymd_opt(2026, 3, 16).unwrap();
        assert!(!active_in(&e, starts, ends));
        e.hired_on = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
        e.left_on = Some(starts);
        assert!(active_in(&e, starts, ends), "left on the first day");
        e.left_on = starts.pred_opt();
        assert!(!active_in(&e, starts, ends));
    }
}
