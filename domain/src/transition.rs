//! The assignment state machine.
//!
//! | from                                   | action | by                  | to          |
//! |----------------------------------------|--------|---------------------|-------------|
//! | todo, returned                         | start  | assignee            | in_progress |
//! | todo, in_progress, returned            | submit | assignee            | submitted   |
//! | submitted                              | accept | controller or admin | accepted    |
//! | submitted                              | return | controller or admin | returned    |
//! | todo, in_progress, returned, submitted | cancel | controller or admin | cancelled   |
//! | todo, in_progress, returned            | close  | system              | missed      |
//!
//! Any other transition is a conflict; an actor who may not do the action at
//! all is forbidden.
//!
//! Everything here is pure. Stamping `submitted_at`/`decided_at`, and
//! requiring a comment to return or a reason to cancel, belong to the services
//! that apply the transition, because they own the clock and the request.

use chrono::{DateTime, Utc};
use entity::enums::AssignmentStatus;

use AssignmentStatus::{Accepted, Cancelled, InProgress, Missed, Returned, Submitted, Todo};

/// What someone (or the system) tries to do to an assignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Start,
    Submit,
    Accept,
    Return,
    Cancel,
    /// The period closed with the assignment unfinished.
    Close,
}

impl Action {
    pub const ALL: [Action; 6] = [
        Action::Start,
        Action::Submit,
        Action::Accept,
        Action::Return,
        Action::Cancel,
        Action::Close,
    ];
}

/// Who is acting, relative to the assignment. A person can hold several
/// relations (an admin can also be the controller).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    Person {
        assignee: bool,
        controller: bool,
        admin: bool,
    },
    System,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("only {allowed} may {action:?} an assignment")]
    Forbidden {
        action: Action,
        allowed: &'static str,
    },
    #[error("cannot {action:?} an assignment that is {from:?}")]
    Conflict {
        action: Action,
        from: AssignmentStatus,
    },
}

/// Statuses that count as unfinished: the candidates for being overdue, and
/// what closing a period turns into missed.
pub const UNFINISHED: [AssignmentStatus; 3] = [Todo, InProgress, Returned];

/// The status an action leads to, or why it may not happen. Pure: no clock,
/// no storage.
///
/// Permission is checked before the state, because the state of an object
/// you may not act on is not your business: an outsider learns nothing from
/// the error about where the assignment stands.
pub fn transition(
    from: AssignmentStatus,
    action: Action,
    actor: Actor,
) -> Result<AssignmentStatus, TransitionError> {
    if !may(action, actor) {
        return Err(TransitionError::Forbidden {
            action,
            allowed: who_may(action),
        });
    }
    if !allowed_from(action).contains(&from) {
        return Err(TransitionError::Conflict { action, from });
    }
    Ok(status_after(action))
}

/// The statuses from which `action` is allowed, for the conditional
/// `UPDATE ... WHERE status IN (...)` that applies it without a race.
pub fn allowed_from(action: Action) -> &'static [AssignmentStatus] {
    match action {
        Action::Start => &[Todo, Returned],
        Action::Submit => &[Todo, InProgress, Returned],
        Action::Accept | Action::Return => &[Submitted],
        Action::Cancel => &[Todo, InProgress, Returned, Submitted],
        Action::Close => &UNFINISHED,
    }
}

/// The status an allowed action leads to, for the `SET status = ...` half of
/// that update.
pub fn status_after(action: Action) -> AssignmentStatus {
    match action {
        Action::Start => InProgress,
        Action::Submit => Submitted,
        Action::Accept => Accepted,
        Action::Return => Returned,
        Action::Cancel => Cancelled,
        Action::Close => Missed,
    }
}

/// Whether the assignment still owes work.
pub fn is_unfinished(status: AssignmentStatus) -> bool {
    UNFINISHED.contains(&status)
}

/// Overdue means the due instant has passed with the work unfinished. Being
/// exactly at `due_at` is not overdue, matching the KPI rule that a submission
/// at `due_at` is on time.
pub fn is_overdue(status: AssignmentStatus, due_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now > due_at && is_unfinished(status)
}

fn may(action: Action, actor: Actor) -> bool {
    match (action, actor) {
        (Action::Start | Action::Submit, Actor::Person { assignee, .. }) => assignee,
        // The controller is never the assignee by design. The check is kept
        // here too, for admins as well, because deciding on or cancelling your
        // own work would let you turn a miss into "owes nothing".
        (
            Action::Accept | Action::Return | Action::Cancel,
            Actor::Person {
                assignee,
                controller,
                admin,
            },
        ) => (controller || admin) && !assignee,
        (Action::Close, Actor::System) => true,
        (_, _) => false,
    }
}

fn who_may(action: Action) -> &'static str {
    match action {
        Action::Start | Action::Submit => "the assignee",
        Action::Accept | Action::Return | Action::Cancel => {
            "the controller or an admin, other than the assignee,"
        }
        Action::Close => "the system",
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    const ASSIGNEE: Actor = Actor::Person {
        assignee: true,
        controller: false,
        admin: false,
    };
    const CONTROLLER: Actor = Actor::Person {
        assignee: false,
        controller: true,
        admin: false,
    };
    const ADMIN: Actor = Actor::Person {
        assignee: false,
        controller: false,
        admin: true,
    };
    const ADMIN_CONTROLLER: Actor = Actor::Person {
        assignee: false,
        controller: true,
        admin: true,
    };
    const ADMIN_ASSIGNEE: Actor = Actor::Person {
        assignee: true,
        controller: false,
        admin: true,
    };
    const STRANGER: Actor = Actor::Person {
        assignee: false,
        controller: false,
        admin: false,
    };
    const SYSTEM: Actor = Actor::System;

    const ACTORS: [Actor; 7] = [
        ASSIGNEE,
        CONTROLLER,
        ADMIN,
        ADMIN_CONTROLLER,
        ADMIN_ASSIGNEE,
        STRANGER,
        SYSTEM,
    ];
    const STATUSES: [AssignmentStatus; 7] = [
        Todo, InProgress, Submitted, Accepted, Returned, Cancelled, Missed,
    ];

    use Action::{Accept, Cancel, Close, Return, Start, Submit};

    /// The design's table, one row per allowed (from, action), with who may
    /// do it and where it leads.
    #[rustfmt::skip]
    const TABLE: &[(AssignmentStatus, Action, &[Actor], AssignmentStatus)] = &[
        (Todo,       Start,  &[ASSIGNEE],                           InProgress),
        (Returned,   Start,  &[ASSIGNEE],                           InProgress),
        (Todo,       Submit, &[ASSIGNEE],                           Submitted),
        (InProgress, Submit, &[ASSIGNEE],                           Submitted),
        (Returned,   Submit, &[ASSIGNEE],                           Submitted),
        (Submitted,  Accept, &[CONTROLLER, ADMIN, ADMIN_CONTROLLER], Accepted),
        (Submitted,  Return, &[CONTROLLER, ADMIN, ADMIN_CONTROLLER], Returned),
        (Todo,       Cancel, &[CONTROLLER, ADMIN, ADMIN_CONTROLLER], Cancelled),
        (InProgress, Cancel, &[CONTROLLER, ADMIN, ADMIN_CONTROLLER], Cancelled),
        (Returned,   Cancel, &[CONTROLLER, ADMIN, ADMIN_CONTROLLER], Cancelled),
        (Submitted,  Cancel, &[CONTROLLER, ADMIN, ADMIN_CONTROLLER], Cancelled),
        (Todo,       Close,  &[SYSTEM],                             Missed),
        (InProgress, Close,  &[SYSTEM],                             Missed),
        (Returned,   Close,  &[SYSTEM],                             Missed),
    ];

    /// Who may do an action at all, from any status.
    fn permitted(action: Action) -> &'static [Actor] {
        match action {
            Start | Submit => &[ASSIGNEE, ADMIN_ASSIGNEE],
            Accept | Return | Cancel => &[CONTROLLER, ADMIN, ADMIN_CONTROLLER],
            Close => &[SYSTEM],
        }
    }

    fn ok(to: AssignmentStatus) -> Result<AssignmentStatus, TransitionError> {
        Ok(to)
    }
    fn conflict(
        action: Action,
        from: AssignmentStatus,
    ) -> Result<AssignmentStatus, TransitionError> {
        Err(TransitionError::Conflict { action, from })
    }
    fn forbidden(action: Action) -> Result<AssignmentStatus, TransitionError> {
        Err(TransitionError::Forbidden {
            action,
            allowed: who_may(action),
        })
    }

    #[test]
    fn every_combination_agrees_with_the_table() {
        for from in STATUSES {
            for action in Action::ALL {
                let row = TABLE.iter().find(|(f, a, _, _)| (*f, *a) == (from, action));
                assert_eq!(
                    allowed_from(action).contains(&from),
                    row.is_some(),
                    "{from:?} {action:?}"
                );
                for actor in ACTORS {
                    let expected = match row {
                        _ if !permitted(action).contains(&actor) => forbidden(action),
                        Some((_, _, _, to)) => ok(*to),
                        None => conflict(action, from),
                    };
                    assert_eq!(
                        transition(from, action, actor),
                        expected,
                        "{from:?} {action:?} {actor:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_table_row_holds() {
        for (from, action, actors, to) in TABLE {
            for actor in *actors {
                assert!(permitted(*action).contains(actor), "{action:?} {actor:?}");
                assert_eq!(
                    transition(*from, *action, *actor),
                    ok(*to),
                    "{from:?} {action:?} {actor:?}"
                );
            }
            assert_eq!(status_after(*action), *to);
        }
    }

    #[test]
    #[rustfmt::skip]
    fn spot_checks() {
        assert_eq!(transition(Todo, Start, ASSIGNEE), ok(InProgress));
        assert_eq!(transition(InProgress, Start, ASSIGNEE), conflict(Start, InProgress));
        assert_eq!(transition(Submitted, Submit, ASSIGNEE), conflict(Submit, Submitted));
        assert_eq!(transition(Submitted, Accept, ADMIN_CONTROLLER), ok(Accepted));
        assert_eq!(transition(Submitted, Accept, ASSIGNEE), forbidden(Accept));
        assert_eq!(transition(Submitted, Accept, ADMIN_ASSIGNEE), forbidden(Accept)); // no deciding on your own work
        assert_eq!(transition(Todo, Cancel, ADMIN_ASSIGNEE), forbidden(Cancel)); // nor cancelling it
        assert_eq!(transition(Todo, Start, ADMIN_ASSIGNEE), ok(InProgress)); // but doing it is fine
        assert_eq!(transition(Accepted, Accept, STRANGER), forbidden(Accept)); // forbidden before conflict
        assert_eq!(transition(Accepted, Cancel, CONTROLLER), conflict(Cancel, Accepted));
        assert_eq!(transition(Missed, Submit, ASSIGNEE), conflict(Submit, Missed));
        assert_eq!(transition(Cancelled, Close, SYSTEM), conflict(Close, Cancelled));
        assert_eq!(transition(Submitted, Close, SYSTEM), conflict(Close, Submitted)); // awaits a decision
        assert_eq!(transition(Todo, Close, ADMIN), forbidden(Close));
        assert_eq!(transition(Todo, Start, SYSTEM), forbidden(Start));
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            forbidden(Close).unwrap_err().to_string(),
            "only the system may Close an assignment"
        );
        assert_eq!(
            forbidden(Start).unwrap_err().to_string(),
            "only the assignee may Start an assignment"
        );
        assert_eq!(
            forbidden(Accept).unwrap_err().to_string(),
            "only the controller or an admin, other than the assignee, may Accept an assignment"
        );
        assert_eq!(
            conflict(Submit, Missed).unwrap_err().to_string(),
            "cannot Submit an assignment that is Missed"
        );
    }

    #[test]
    fn unfinished() {
        assert_eq!(UNFINISHED, [Todo, InProgress, Returned]);
        assert_eq!(allowed_from(Close), UNFINISHED);
        let unfinished: Vec<_> = STATUSES.into_iter().filter(|s| is_unfinished(*s)).collect();
        assert_eq!(unfinished, UNFINISHED);
    }

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::minutes(minutes)
    }

    #[test]
    #[rustfmt::skip]
    fn overdue() {
        let due = at(0);
        assert!(!is_overdue(Todo, due, at(-1)));
        assert!(!is_overdue(Todo, due, at(0))); // exactly at due_at is not overdue
        assert!(is_overdue(Todo, due, at(1)));
        assert!(is_overdue(InProgress, due, at(1)));
        assert!(is_overdue(Returned, due, at(1)));
        assert!(!is_overdue(Submitted, due, at(1)));
        assert!(!is_overdue(Accepted, due, at(1)));
        assert!(!is_overdue(Cancelled, due, at(1)));
        assert!(!is_overdue(Missed, due, at(1)));
        assert!(is_overdue(Returned, due, due + TimeDelta::nanoseconds(1)));
    }
}
