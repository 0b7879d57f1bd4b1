//! The tile counts and the managers' reports: by assignee, by controller, debtors.
//!
//! Counting is a pure fold over `(status, overdue)`; the queries only select rows the
//! principal may see (`access::Reach`) and group them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::enums::{AssignmentKind, AssignmentStatus};
use entity::{assignment, employee};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter,
    QuerySelect, Select,
};

use crate::DomainResult;
use crate::access::Reach;
use crate::db::{id_among, id_in};
use crate::read::tiles::literal;
use crate::transition::{UNFINISHED, is_overdue};

/// The counts every work tile and report row shows. Cancelled assignments owe nothing and
/// are not counted; missed ones (in closed periods) count in `total` only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: u64,
    pub done: u64,
    pub awaiting_acceptance: u64,
    pub remaining: u64,
    pub overdue: u64,
    pub missed: u64,
}

impl Counts {
    pub fn add(&mut self, status: AssignmentStatus, overdue: u64, n: u64) {
        use AssignmentStatus::*;
        match status {
            Cancelled => return,
            Accepted => self.done += n,
            Submitted => self.awaiting_acceptance += n,
            Todo | InProgress | Returned => {
                self.remaining += n;
                self.overdue += overdue;
            }
            Missed => self.missed += n,
        }
        self.total += n;
    }
}

/// What a report or the `assignments` list may be narrowed to.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub period_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub controller_id: Option<i64>,
    pub department_id: Option<i64>,
    pub status: Option<AssignmentStatus>,
    pub kind: Option<AssignmentKind>,
    pub overdue: Option<bool>,
}

impl Filter {
    /// Whether one assignment matches, as [`select`] would find it (visibility aside):
    /// `assignee_department` is its assignee's department.
    pub fn matches(
        &self,
        a: &assignment::Model,
        assignee_department: Option<i64>,
        now: DateTime<Utc>,
    ) -> bool {
        self.period_id.is_none_or(|id| a.period_id == id)
            && self.assignee_id.is_none_or(|id| a.assignee_id == id)
            && self.controller_id.is_none_or(|id| a.controller_id == id)
            && self
                .department_id
                .is_none_or(|id| assignee_department == Some(id))
            && self.status.is_none_or(|s| a.status == s)
            && self.kind.is_none_or(|k| a.kind == k)
            && self
                .overdue
                .is_none_or(|o| o == (UNFINISHED.contains(&a.status) && a.due_at < now))
    }
}

/// The condition "overdue at `now`": unfinished and past due. The statuses are written into
/// the SQL text (`tiles::literal`): only then can either database tell that the rows it
/// wants are all in the partial index of unfinished work by due date
/// (`ix_assignment_unfinished_due`), which holds no finished work to skip.
pub fn overdue_condition(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(
            Expr::col((assignment::Entity, assignment::Column::Status))
                .is_in(UNFINISHED.map(literal)),
        )
        .add(assignment::Column::DueAt.lt(now))
}

/// The assignments a principal may see (the SQL form of `Reach::sees_assignment`): all
/// for admins; for an employee, those assigned to or controlled by themselves or someone
/// below them; none for a service.
pub fn visible(backend: DatabaseBackend, reach: &Reach) -> Condition {
    visible_by(reach, |column, ids| id_in(backend, column, ids))
}

/// [`visible`] as a filter over the rows another condition finds (a report's period), each
/// checked against a hash of the ids on PostgreSQL ([`crate::db::id_among`]).
pub fn visible_among(backend: DatabaseBackend, reach: &Reach) -> Condition {
    visible_by(reach, |column, ids| id_among(backend, column, ids))
}

fn visible_by(reach: &Reach, member: impl Fn(assignment::Column, Vec<i64>) -> Expr) -> Condition {
    match reach.visible_ids() {
        None => Condition::all(),
        Some(ids) if ids.is_empty() => Condition::all().add(Expr::val(1).eq(0)),
        Some(ids) => Condition::any()
            .add(member(assignment::Column::AssigneeId, ids.clone()))
            .add(member(assignment::Column::ControllerId, ids)),
    }
}

/// The visible assignments matching a filter.
pub fn select(
    backend: DatabaseBackend,
    reach: &Reach,
    f: &Filter,
    now: DateTime<Utc>,
) -> Select<assignment::Entity> {
    narrowed(
        assignment::Entity::find().filter(visible(backend, reach)),
        f,
        now,
    )
}

/// A selection of assignments narrowed to those matching a filter.
fn narrowed(
    mut q: Select<assignment::Entity>,
    f: &Filter,
    now: DateTime<Utc>,
) -> Select<assignment::Entity> {
    if let Some(id) = f.period_id {
        q = q.filter(assignment::Column::PeriodId.eq(id));
    }
    if let Some(id) = f.assignee_id {
        q = q.filter(assignment::Column::AssigneeId.eq(id));
    }
    if let Some(id) = f.controller_id {
        q = q.filter(assignment::Column::ControllerId.eq(id));
    }
    if let Some(id) = f.department_id {
        q = q.filter(
            assignment::Column::AssigneeId.in_subquery(
                Query::select()
                    .column(employee::Column::Id)
                    .from(employee::Entity)
                    .and_where(employee::Column::DepartmentId.eq(id))
                    .to_owned(),
            ),
        );
    }
    if let Some(status) = f.status {
        q = q.filter(assignment::Column::Status.eq(status));
    }
    if let Some(kind) = f.kind {
        q = q.filter(assignment::Column::Kind.eq(kind));
    }
    match f.overdue {
        Some(true) => q = q.filter(overdue_condition(now)),
        Some(false) => q = q.filter(overdue_condition(now).not()),
        None => {}
    }
    q
}

/// Adds to a selection the columns every count reads, grouped by status: the status, how
/// many (`n`) and how many of them are past due at `now` (`overdue`). Callers add their own
/// grouping columns in front and fold the rows with [`Counts::add`].
pub(crate) fn status_counts(
    q: Select<assignment::Entity>,
    now: DateTime<Utc>,
) -> Select<assignment::Entity> {
    let overdue = Expr::case(assignment::Column::DueAt.lt(now), 1).finally(0);
    q.column(assignment::Column::Status)
        .column_as(assignment::Column::Id.count(), "n")
        .column_as(
            Expr::from(Func::coalesce([
                Expr::from(Func::sum(overdue)),
                Expr::val(0),
            ])),
            "overdue",
        )
        .group_by(assignment::Column::Status)
}

/// A count read back from SQL: never negative.
pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Counts over a whole selection, in one grouped statement.
pub async fn counts(
    db: &impl ConnectionTrait,
    q: Select<assignment::Entity>,
    now: DateTime<Utc>,
) -> DomainResult<Counts> {
    let rows: Vec<(AssignmentStatus, i64, i64)> = status_counts(q.select_only(), now)
        .into_tuple()
        .all(db)
        .await?;
    let mut counts = Counts::default();
    for (status, n, overdue) in rows {
        counts.add(status, count(overdue), count(n));
    }
    Ok(counts)
}

/// How a report groups its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    Assignee,
    Controller,
    Debtors,
}

/// One row of a report: an employee and their counts.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub employee_id: i64,
    pub counts: Counts,
    /// The earliest due date of work still remaining.
    pub oldest_due_at: Option<DateTime<Utc>>,
    /// For BY CONTROLLER: whose submissions wait for this controller, and how many.
    pub awaiting_from: Vec<(i64, u64)>,
}

/// Folds assignment facts into report rows. Pure: the query below feeds it.
/// Facts are `(assignee, controller, status, due_at)`.
pub fn fold(
    by: By,
    facts: &[(i64, i64, AssignmentStatus, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Vec<Row> {
    let mut rows: HashMap<i64, Row> = HashMap::new();
    for &(assignee, controller, status, due_at) in facts {
        let key = if by == By::Controller {
            controller
        } else {
            assignee
        };
        let row = rows.entry(key).or_insert_with(|| Row {
            employee_id: key,
            counts: Counts::default(),
            oldest_due_at: None,
            awaiting_from: Vec::new(),
        });
        row.counts
            .add(status, u64::from(is_overdue(status, due_at, now)), 1);
        if UNFINISHED.contains(&status) {
            row.oldest_due_at = Some(row.oldest_due_at.map_or(due_at, |d| Ord::min(d, due_at)));
        }
        if by == By::Controller && status == AssignmentStatus::Submitted {
            match row
                .awaiting_from
                .iter_mut()
                .find(|(who, _)| *who == assignee)
            {
                Some((_, n)) => *n += 1,
                None => row.awaiting_from.push((assignee, 1)),
            }
        }
    }
    let mut rows: Vec<Row> = rows.into_values().collect();
    match by {
        By::Debtors => {
            rows.retain(|r| r.counts.overdue > 0);
            rows.sort_by(|a, b| {
                b.counts
                    .overdue
                    .cmp(&a.counts.overdue)
                    .then(a.oldest_due_at.cmp(&b.oldest_due_at))
                    .then(a.employee_id.cmp(&b.employee_id))
            });
        }
        By::Assignee | By::Controller => rows.sort_by_key(|r| r.employee_id),
    }
    for r in &mut rows {
        r.awaiting_from
            .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    }
    rows
}

/// What a report folds: `(assignee, controller, status, due_at)` of the visible assignments
/// of a period, optionally of one department's assignees. The period picks the rows; the
/// reach filters them ([`visible_among`]).
pub fn facts(
    backend: DatabaseBackend,
    reach: &Reach,
    period_id: i64,
    department_id: Option<i64>,
    now: DateTime<Utc>,
) -> Select<assignment::Entity> {
    let filter = Filter {
        period_id: Some(period_id),
        department_id,
        ..Default::default()
    };
    let visible = assignment::Entity::find().filter(visible_among(backend, reach));
    narrowed(visible, &filter, now)
        .select_only()
        .column(assignment::Column::AssigneeId)
        .column(assignment::Column::ControllerId)
        .column(assignment::Column::Status)
        .column(assignment::Column::DueAt)
}

/// A report over one period, optionally one department (of the assignees), within the
/// principal's reach: only visible assignments count, and only rows about visible
/// employees (the controller for BY CONTROLLER, else the assignee) are kept.
pub async fn report(
    db: &impl ConnectionTrait,
    reach: &Reach,
    by: By,
    period_id: i64,
    department_id: Option<i64>,
    now: DateTime<Utc>,
) -> DomainResult<Vec<Row>> {
    let facts: Vec<(i64, i64, AssignmentStatus, DateTime<Utc>)> = facts(
        db.get_database_backend(),
        reach,
        period_id,
        department_id,
        now,
    )
    .into_tuple()
    .all(db)
    .await?;
    let rows = fold(by, &facts, now);
    Ok(rows
        .into_iter()
        .filter(|r| reach.sees_employee(r.employee_id))
        .collect())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use AssignmentStatus::*;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, h, 0, 0).unwrap()
    }

    #[test]
    fn counts_fold_statuses() {
        let mut c = Counts::default();
        for (status, overdue) in [
            (Todo, 1),
            (InProgress, 0),
            (Returned, 1),
            (Submitted, 0),
            (Accepted, 0),
            (Cancelled, 0),
            (Missed, 0),
        ] {
            c.add(status, overdue, 1);
        }
        assert_eq!(
            c,
            Counts {
                total: 6,
                done: 1,
                awaiting_acceptance: 1,
                remaining: 3,
                overdue: 2,
                missed: 1
            }
        );
    }

    #[test]
    fn a_filter_matches_one_assignment_as_its_select_would() {
        let a = assignment::Model {
            id: 1,
            kind: AssignmentKind::Duty,
            template_id: None,
            period_id: 10,
            assignee_id: 5,
            controller_id: 6,
            title: "t".into(),
            description: String::new(),
            weight: 1.0,
            due_at: at(12),
            status: Todo,
            submitted_at: None,
            decided_at: None,
            created_at: at(1),
            created_by: None,
            version: 1,
        };
        let f = Filter::default;
        let cases: [(Filter, Option<i64>, u32, bool); 10] = [
            (f(), None, 10, true),
            (
                Filter {
                    period_id: Some(10),
                    ..f()
                },
                None,
                10,
                true,
            ),
            (
                Filter {
                    period_id: Some(11),
                    ..f()
                },
                None,
                10,
                false,
            ),
            (
                Filter {
                    assignee_id: Some(5),
                    controller_id: Some(6),
                    ..f()
                },
                None,
                10,
                true,
            ),
            (
                Filter {
                    controller_id: Some(5),
                    ..f()
                },
                None,
                10,
                false,
            ),
            (
                Filter {
                    department_id: Some(3),
                    ..f()
                },
                Some(3),
                10,
                true,
            ),
            (
                Filter {
                    department_id: Some(3),
                    ..f()
                },
                None,
                10,
                false,
            ),
            (
                Filter {
                    status: Some(Submitted),
                    ..f()
                },
                None,
                10,
                false,
            ),
            (
                Filter {
                    overdue: Some(true),
                    kind: Some(AssignmentKind::Duty),
                    ..f()
                },
                None,
                13,
                true,
            ),
            (
                Filter {
                    overdue: Some(true),
                    ..f()
                },
                None,
                12,
                false,
            ),
        ];
        for (filter, department, hour, matches) in cases {
            assert_eq!(
                filter.matches(&a, department, at(hour)),
                matches,
                "{filter:?} at {hour}"
            );
        }
    }

    #[test]
    fn debtors_come_most_overdue_first_then_oldest_due() {
        let now = at(12);
        let facts = [
            (1, 9, Todo, at(8)),
            (2, 9, Todo, at(9)),
            (2, 9, Returned, at(10)),
            (3, 9, Todo, at(7)),
            (4, 9, Accepted, at(1)),
            (5, 9, Todo, at(13)),
        ];
        let rows = fold(By::Debtors, &facts, now);
        let order: Vec<(i64, u64)> = rows
            .iter()
            .map(|r| (r.employee_id, r.counts.overdue))
            .collect();
        assert_eq!(order, [(2, 2), (3, 1), (1, 1)]);
        assert_eq!(rows[0].oldest_due_at, Some(at(9)));
    }

    #[test]
    fn by_controller_says_from_whom() {
        let now = at(12);
        let facts = [
            (1, 9, Submitted, at(20)),
            (2, 9, Submitted, at(20)),
            (2, 9, Submitted, at(20)),
            (3, 8, Todo, at(20)),
        ];
        let rows = fold(By::Controller, &facts, now);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].employee_id, 9);
        assert_eq!(rows[1].awaiting_from, [(2, 2), (1, 1)]);
        assert_eq!(rows[1].counts.awaiting_acceptance, 3);
        assert_eq!(rows[0].counts.remaining, 1);
    }

    #[test]
    fn by_assignee_counts_each_person() {
        let rows = fold(
            By::Assignee,
            &[
                (1, 9, Todo, at(1)),
                (1, 9, Accepted, at(1)),
                (2, 9, Cancelled, at(1)),
            ],
            at(12),
        );
        assert_eq!(
            rows.iter()
                .map(|r| (r.employee_id, r.counts.total, r.counts.overdue))
                .collect::<Vec<_>>(),
            [(1, 2, 1), (2, 0, 0)]
        );
    }
}
