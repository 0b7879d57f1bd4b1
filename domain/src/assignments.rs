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
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};

use crate::auth::Principal;
use crate::db::{Db, begin_write};
use crate::periods::require_changeable;
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
    record_event(&txn, id, me, Some(current.status), to, comment, now).await?;
    let changed = assignment::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("assignment"))?;
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
