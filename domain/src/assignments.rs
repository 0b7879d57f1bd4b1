//! Moving assignments through the state machine, for people and for the system.
//!
//! A transition is a conditional update on the status read in the same transaction
//! (`... WHERE id = ? AND status = ?`), so of two racing transitions one wins and the other
//! gets `Conflict`. Every transition appends an `assignment_event` with [`record_event`],
//! which also writes the first event of a new assignment (generated or created).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::enums::AssignmentStatus;
use entity::{assignment, assignment_event, period};
use sea_orm::prelude::Expr;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use serde_json::{Value, json};

use crate::access::Reach;
use crate::auth::Principal;
use crate::db::{Db, begin_write};
use crate::live::{self, Change};
use crate::outbox::{self, Event, EventType};
use crate::periods::{changeable, close_time, require_changeable};
use crate::read::reports::overdue_condition;
use crate::transition::{Action, Actor, TransitionError, transition};
use crate::{DomainError, DomainResult, access};

/// Applies `action` to assignment `id` on behalf of `who`.
pub async fn act(
    db: &impl Db,
    who: &Principal,
    id: i64,
    action: Action,
    comment: Option<&str>,
    now: DateTime<Utc>,
) -> DomainResult<assignment::Model> {
    let comment = checked_comment(action, comment)?;
    let txn = begin_write(db).await?;
    let current = assignment::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("assignment"))?;
    if !access::reach(&txn, who).await?.sees_assignment(&current) {
        return Err(DomainError::NotFound("assignment"));
    }
    let me = who.employee_id();
    let actor = Actor::Person {
        assignee: me == Some(current.assignee_id),
        controller: me == Some(current.controller_id),
        admin: who.is_admin(),
    };
    let to = transition(current.status, action, actor).map_err(refused)?;
    // A shared lock on the period row: a close takes it exclusively before marking
    // unfinished assignments missed, so a transition either finishes before the close starts
    // or sees the period closed, never changes an assignment the close has already judged.
    let period = period::Entity::find_by_id(current.period_id)
        .lock_shared()
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("period"))?;
    require_changeable(&txn, &period, now).await?;
    let mut update = assignment::Entity::update_many()
        .col_expr(assignment::Column::Status, Expr::value(to))
        .col_expr(
            assignment::Column::Version,
            Expr::col(assignment::Column::Version).add(1),
        );
    match action {
        Action::Submit => {
            update = update.col_expr(assignment::Column::SubmittedAt, Expr::value(now))
        }
        Action::Accept | Action::Return => {
            update = update.col_expr(assignment::Column::DecidedAt, Expr::value(now))
        }
        _ => {}
    }
    let done = update
        .filter(assignment::Column::Id.eq(id))
        .filter(assignment::Column::Status.eq(current.status))
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(DomainError::Conflict(format!(
            "the assignment changed meanwhile; it is no longer {:?}",
            current.status
        )));
    }
    record_event(&txn, id, me, Some(current.status), to, comment.clone(), now).await?;
    let changed = assignment::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("assignment"))?;
    let told = match to {
        AssignmentStatus::Submitted => Some(EventType::AssignmentSubmitted),
        AssignmentStatus::Returned => Some(EventType::AssignmentReturned),
        _ => None,
    };
    if let Some(kind) = told {
        let data = json!({
            "assignment": assignment_data(&changed),
            "actor_id": me,
            "comment": comment,
        });
        outbox::record(&txn, vec![Event::new(kind, data)], now).await?;
    }
    live::announce(&txn, Change::assignments([&changed])).await?;
    txn.commit().await?;
    Ok(changed)
}

/// The comment of a transition, checked: a return needs one, and a cancellation's comment
/// is its reason, which it needs.
fn checked_comment(action: Action, comment: Option<&str>) -> DomainResult<Option<String>> {
    let field = if action == Action::Cancel {
        "reason"
    } else {
        "comment"
    };
    let comment = crate::text::optional(field, crate::text::Kind::Comment, comment)?;
    match action {
        Action::Return if comment.is_none() => Err(DomainError::bad_input(
            "comment",
            "a return needs a comment",
        )),
        Action::Cancel if comment.is_none() => Err(DomainError::bad_input(
            "reason",
            "a cancellation needs a reason",
        )),
        _ => Ok(comment),
    }
}

/// A refused transition as the error a caller gets.
fn refused(e: TransitionError) -> DomainError {
    match e {
        TransitionError::Forbidden { .. } => DomainError::Forbidden(e.to_string()),
        TransitionError::Conflict { .. } => DomainError::Conflict(e.to_string()),
    }
}

/// One transition of a batch for [`act_many`]: what [`act`] takes.
#[derive(Clone, Debug)]
pub struct Act {
    pub who: Principal,
    pub assignment_id: i64,
    pub action: Action,
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
}

/// Applies many transitions, in the order given, each as [`act`] would at its own instant
/// (`at`): the same checks in the same order (comment, visibility, the state machine, the
/// period still taking changes) and the same rows (the assignment's status, version and
/// stamps, one `assignment_event` each, the outbox events of submissions and returns). A
/// later transition of the same assignment starts from where the earlier one left it.
///
/// All or nothing, in one write transaction: the first transition `act` would refuse is
/// refused with `act`'s error and nothing is written. The assignments are read under an
/// exclusive row lock (PostgreSQL; SQLite's write lock already), so nothing changes them
/// between the checks and the writes; and their periods in share mode, as `act` reads its
/// period, so a close waits for the batch. Rows are read and written a chunk at a time: a
/// few statements per thousand transitions instead of about ten per transition. Returns the
/// number of transitions applied.
pub async fn act_many(db: &impl Db, acts: &[Act]) -> DomainResult<usize> {
    if acts.is_empty() {
        return Ok(0);
    }
    let comments = acts
        .iter()
        .map(|a| checked_comment(a.action, a.comment.as_deref()))
        .collect::<DomainResult<Vec<_>>>()?;
    let txn = begin_write(db).await?;
    let mut ids: Vec<i64> = acts.iter().map(|a| a.assignment_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut state: HashMap<i64, assignment::Model> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let rows = assignment::Entity::find()
            .filter(assignment::Column::Id.is_in(chunk.iter().copied()))
            .lock_exclusive()
            .all(&txn)
            .await?;
        state.extend(rows.into_iter().map(|a| (a.id, a)));
    }
    let mut period_ids: Vec<i64> = state.values().map(|a| a.period_id).collect();
    period_ids.sort_unstable();
    period_ids.dedup();
    let mut periods: HashMap<i64, (period::Model, DateTime<Utc>)> = HashMap::new();
    for chunk in period_ids.chunks(CHUNK) {
        let rows = period::Entity::find()
            .filter(period::Column::Id.is_in(chunk.iter().copied()))
            .lock_shared()
            .all(&txn)
            .await?;
        for p in rows {
            let version = crate::policy::by_version(&txn, p.policy_version).await?;
            let closes = close_time(&p, &version);
            periods.insert(p.id, (p, closes));
        }
    }
    // The management chain is read only for someone acting on work that is neither theirs
    // nor theirs to decide (a manager higher up): an assignee or controller sees it anyway.
    let mut reaches: HashMap<Option<i64>, Reach> = HashMap::new();
    let mut events = Vec::with_capacity(acts.len());
    let mut told = Vec::new();
    let original: HashMap<i64, i32> = state.iter().map(|(id, a)| (*id, a.version)).collect();
    for (act, comment) in acts.iter().zip(comments) {
        let current = state
            .get_mut(&act.assignment_id)
            .ok_or(DomainError::NotFound("assignment"))?;
        let me = act.who.employee_id();
        let involved =
            me.is_some_and(|me| me == current.assignee_id || me == current.controller_id);
        if !involved && !act.who.is_admin() {
            let reach = match reaches.entry(me) {
                std::collections::hash_map::Entry::Occupied(r) => r.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(access::reach(&txn, &act.who).await?)
                }
            };
            if !reach.sees_assignment(current) {
                return Err(DomainError::NotFound("assignment"));
            }
        }
        let actor = Actor::Person {
            assignee: me == Some(current.assignee_id),
            controller: me == Some(current.controller_id),
            admin: act.who.is_admin(),
        };
        let from = current.status;
        let to = transition(from, act.action, actor).map_err(refused)?;
        let (period, closes) = periods
            .get(&current.period_id)
            .ok_or(DomainError::NotFound("period"))?;
        changeable(period, *closes, act.at)?;
        current.status = to;
        current.version += 1;
        match act.action {
            Action::Submit => current.submitted_at = Some(act.at),
            Action::Accept | Action::Return => current.decided_at = Some(act.at),
            _ => {}
        }
        let kind = match to {
            AssignmentStatus::Submitted => Some(EventType::AssignmentSubmitted),
            AssignmentStatus::Returned => Some(EventType::AssignmentReturned),
            _ => None,
        };
        if let Some(kind) = kind {
            let data = json!({
                "assignment": assignment_data(current),
                "actor_id": me,
                "comment": comment,
            });
            told.push((Event::new(kind, data), act.at));
        }
        events.push(assignment_event::ActiveModel {
            assignment_id: Set(act.assignment_id),
            actor_id: Set(me),
            from_status: Set(Some(from)),
            to_status: Set(to),
            comment: Set(comment),
            at: Set(act.at),
            ..Default::default()
        });
    }
    let changed: Vec<&assignment::Model> = ids
        .iter()
        .filter_map(|id| state.get(id))
        .filter(|a| original.get(&a.id) != Some(&a.version))
        .collect();
    write_states(&txn, &changed).await?;
    let mut pending = events.into_iter().peekable();
    while pending.peek().is_some() {
        let chunk: Vec<_> = pending.by_ref().take(CHUNK).collect();
        assignment_event::Entity::insert_many(chunk)
            .exec_without_returning(&txn)
            .await?;
    }
    outbox::record_each(&txn, told).await?;
    live::announce(&txn, Change::assignments(changed)).await?;
    txn.commit().await?;
    Ok(acts.len())
}

/// Rows read or written per statement by [`act_many`].
const CHUNK: usize = 500;

/// Writes the status, version and stamps of assignments, a chunk of rows per statement.
async fn write_states(db: &impl ConnectionTrait, rows: &[&assignment::Model]) -> DomainResult<()> {
    use crate::db::Column;
    let rows: Vec<Vec<sea_orm::Value>> = rows
        .iter()
        .map(|a| {
            vec![
                a.id.into(),
                a.status.to_value().into(),
                a.version.into(),
                a.submitted_at.into(),
                a.decided_at.into(),
            ]
        })
        .collect();
    crate::db::update_rows(
        db,
        "assignment",
        ("id", Column::BigInt),
        &[
            ("status", Column::Text),
            ("version", Column::Int),
            ("submitted_at", Column::Instant),
            ("decided_at", Column::Instant),
        ],
        &rows,
    )
    .await?;
    Ok(())
}

/// Appends one event to an assignment's history.
/// The first event of assignments just created (none → `todo`), one statement for all.
pub async fn record_created(
    db: &impl ConnectionTrait,
    assignment_ids: &[i64],
    actor_id: Option<i64>,
    at: DateTime<Utc>,
) -> DomainResult<()> {
    if assignment_ids.is_empty() {
        return Ok(());
    }
    let events = assignment_ids
        .iter()
        .map(|id| assignment_event::ActiveModel {
            assignment_id: Set(*id),
            actor_id: Set(actor_id),
            from_status: Set(None),
            to_status: Set(AssignmentStatus::Todo),
            comment: Set(None),
            at: Set(at),
            ..Default::default()
        });
    assignment_event::Entity::insert_many(events)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn record_event(
    db: &impl ConnectionTrait,
    assignment_id: i64,
    actor_id: Option<i64>,
    from: Option<AssignmentStatus>,
    to: AssignmentStatus,
    comment: Option<String>,
    at: DateTime<Utc>,
) -> DomainResult<()> {
    assignment_event::Entity::insert(assignment_event::ActiveModel {
        assignment_id: Set(assignment_id),
        actor_id: Set(actor_id),
        from_status: Set(from),
        to_status: Set(to),
        comment: Set(comment),
        at: Set(at),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// An assignment as its outbox events tell it.
pub fn assignment_data(a: &assignment::Model) -> Value {
    json!({
        "id": a.id,
        "kind": a.kind.to_value(),
        "title": a.title,
        "period_id": a.period_id,
        "assignee_id": a.assignee_id,
        "controller_id": a.controller_id,
        "status": a.status.to_value(),
        "due_at": outbox::instant(a.due_at),
        "submitted_at": a.submitted_at.map(outbox::instant),
        "decided_at": a.decided_at.map(outbox::instant),
    })
}

/// Writes an `assignment.overdue` event for every unfinished assignment whose due date has
/// passed at `now` and that has not been told of for that due date (its dedupe key is the
/// assignment and the due instant, so a new due date that passes is told again). The
/// scheduler's tick calls it between generating and closing; it runs in one write
/// transaction under its advisory lock. Returns how many it told of.
pub async fn tell_overdue(db: &impl Db, now: DateTime<Utc>) -> DomainResult<u32> {
    let txn = begin_write(db).await?;
    crate::db::lock_step(&txn, crate::db::Step::Overdue).await?;
    // Only ids and due dates first: most of what is overdue was told of at an earlier tick,
    // and only what is new is read whole, for its event.
    let overdue: Vec<(i64, DateTime<Utc>)> = assignment::Entity::find()
        .select_only()
        .column(assignment::Column::Id)
        .column(assignment::Column::DueAt)
        .filter(overdue_condition(now))
        .order_by_asc(assignment::Column::Id)
        .into_tuple()
        .all(&txn)
        .await?;
    let key = |id: i64, due_at: DateTime<Utc>| format!("{id}:{}", due_at.timestamp());
    let dedupe_key = |id: i64, due_at: DateTime<Utc>| {
        format!(
            "{}:{}",
            EventType::AssignmentOverdue.name(),
            key(id, due_at)
        )
    };
    let mut told = std::collections::HashSet::new();
    for chunk in overdue.chunks(500) {
        let keys = chunk.iter().map(|(id, due_at)| dedupe_key(*id, *due_at));
        let found: Vec<Option<String>> = entity::outbox_event::Entity::find()
            .select_only()
            .column(entity::outbox_event::Column::DedupeKey)
            .filter(entity::outbox_event::Column::DedupeKey.is_in(keys))
            .into_tuple()
            .all(&txn)
            .await?;
        told.extend(found.into_iter().flatten());
    }
    let untold: Vec<i64> = overdue
        .iter()
        .filter(|(id, due_at)| !told.contains(&dedupe_key(*id, *due_at)))
        .map(|(id, _)| *id)
        .collect();
    let mut newly = Vec::with_capacity(untold.len());
    for chunk in untold.chunks(500) {
        newly.extend(
            assignment::Entity::find()
                .filter(assignment::Column::Id.is_in(chunk.iter().copied()))
                .filter(overdue_condition(now))
                .order_by_asc(assignment::Column::Id)
                .all(&txn)
                .await?
                .into_iter()
                .filter(|a| !told.contains(&dedupe_key(a.id, a.due_at))),
        );
    }
    let events: Vec<Event> = newly
        .iter()
        .map(|a| {
            Event::once(
                EventType::AssignmentOverdue,
                key(a.id, a.due_at),
                json!({ "assignment": assignment_data(a) }),
            )
        })
        .collect();
    let count = u32::try_from(events.len()).unwrap_or(u32::MAX);
    live::announce(&txn, Change::assignments(&newly)).await?;
    outbox::record(&txn, events, now).await?;
    txn.commit().await?;
    Ok(count)
}
