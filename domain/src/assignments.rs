//! Moving assignments through the state machine, for people and for the system.
//!
//! A transition is a conditional update on the status read in the same transaction
//! (`... WHERE id = ? AND status = ?`), so of two racing transitions one wins and the other
//! gets `Conflict`. Every transition appends an `assignment_event` with [`record_event`],
//! which also writes the first event of a new assignment (generated or created).

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

use crate::auth::Principal;
use crate::db::{Db, begin_write};
use crate::live::{self, Change};
use crate::outbox::{self, Event, EventType};
use crate::periods::require_changeable;
use crate::transition::{Action, Actor, TransitionError, UNFINISHED, transition};
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
    // A cancellation's comment is its reason.
    let field = if action == Action::Cancel {
        "reason"
    } else {
        "comment"
    };
    let comment = crate::text::optional(field, crate::text::Kind::Comment, comment)?;
    match action {
        Action::Return if comment.is_none() => {
            return Err(DomainError::bad_input(
                "comment",
                "a return needs a comment",
            ));
        }
        Action::Cancel if comment.is_none() => {
            return Err(DomainError::bad_input(
                "reason",
                "a cancellation needs a reason",
            ));
        }
        _ => {}
    }
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
    let to = transition(current.status, action, actor).map_err(|e| match e {
        TransitionError::Forbidden { .. } => DomainError::Forbidden(e.to_string()),
        TransitionError::Conflict { .. } => DomainError::Conflict(e.to_string()),
    })?;
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
    let overdue = assignment::Entity::find()
        .filter(assignment::Column::Status.is_in(UNFINISHED))
        .filter(assignment::Column::DueAt.lt(now))
        .order_by_asc(assignment::Column::Id)
        .all(&txn)
        .await?;
    let key = |a: &assignment::Model| format!("{}:{}", a.id, a.due_at.timestamp());
    let mut told = std::collections::HashSet::new();
    for chunk in overdue.chunks(500) {
        let keys = chunk
            .iter()
            .map(|a| format!("{}:{}", EventType::AssignmentOverdue.name(), key(a)));
        let found: Vec<Option<String>> = entity::outbox_event::Entity::find()
            .select_only()
            .column(entity::outbox_event::Column::DedupeKey)
            .filter(entity::outbox_event::Column::DedupeKey.is_in(keys))
            .into_tuple()
            .all(&txn)
            .await?;
        told.extend(found.into_iter().flatten());
    }
    let events: Vec<Event> = overdue
        .iter()
        .map(|a| {
            Event::once(
                EventType::AssignmentOverdue,
                key(a),
                json!({ "assignment": assignment_data(a) }),
            )
        })
        .filter(|e| e.dedupe_key.as_ref().is_some_and(|k| !told.contains(k)))
        .collect();
    let count = u32::try_from(events.len()).unwrap_or(u32::MAX);
    let newly = overdue.iter().filter(|a| {
        !told.contains(&format!(
            "{}:{}",
            EventType::AssignmentOverdue.name(),
            key(a)
        ))
    });
    live::announce(&txn, Change::assignments(newly)).await?;
    outbox::record(&txn, events, now).await?;
    txn.commit().await?;
    Ok(count)
}
