//! The tiles of the personal board (DESIGN section 5). Each tile is one condition, used both
//! by its count and by its list, so the number on a tile is always the length of the list
//! it opens. Counts come in batches keyed by employee ids, one grouped statement per tile
//! kind whatever the number of employees, and are counted in SQL.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::enums::{AssignmentKind, AssignmentStatus, PeriodStatus};
use entity::{article, article_read, assignment, employee, period, proposal, vote};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Select,
};

use super::reports::{Counts, count, status_counts};
use crate::DomainResult;

/// The period a board is for, as far as its tiles' conditions need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BoardPeriod {
    pub id: i64,
    pub closed: bool,
}

impl From<&period::Model> for BoardPeriod {
    fn from(p: &period::Model) -> Self {
        BoardPeriod {
            id: p.id,
            closed: p.status == PeriodStatus::Closed,
        }
    }
}

/// Submissions waiting for the controllers: for an open period, those of every open period
/// (one that has ended but not closed yet still waits for its acceptances); for a closed
/// one, what its close left submitted.
pub fn to_accept(controllers: impl IntoIterator<Item = i64>, period: BoardPeriod) -> Condition {
    let mine = Condition::all()
        .add(assignment::Column::ControllerId.is_in(controllers))
        .add(assignment::Column::Status.eq(AssignmentStatus::Submitted));
    if period.closed {
        mine.add(assignment::Column::PeriodId.eq(period.id))
    } else {
        mine.add(
            assignment::Column::PeriodId.in_subquery(
                Query::select()
                    .column(period::Column::Id)
                    .from(period::Entity)
                    .and_where(period::Column::Status.eq(PeriodStatus::Open))
                    .to_owned(),
            ),
        )
    }
}

/// The controller's queue: the `toAccept` tile's list, oldest submission first.
pub fn to_accept_list(controller: i64, period: BoardPeriod) -> Select<assignment::Entity> {
    assignment::Entity::find()
        .filter(to_accept([controller], period))
        .order_by_asc(assignment::Column::SubmittedAt)
        .order_by_asc(assignment::Column::Id)
}

/// The `toAccept` count of each controller.
pub async fn to_accept_for(
    db: &impl ConnectionTrait,
    controllers: &[i64],
    period: BoardPeriod,
) -> DomainResult<HashMap<i64, u64>> {
    let rows: Vec<(i64, i64)> = assignment::Entity::find()
        .select_only()
        .column(assignment::Column::ControllerId)
        .column_as(assignment::Column::Id.count(), "n")
        .filter(to_accept(controllers.iter().copied(), period))
        .group_by(assignment::Column::ControllerId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(per_key(controllers, rows))
}

/// One kind of the assignees' own work in a period: the `duties` and `additional` tiles.
pub fn work(
    assignees: impl IntoIterator<Item = i64>,
    period_id: i64,
    kind: AssignmentKind,
) -> Condition {
    Condition::all()
        .add(assignment::Column::AssigneeId.is_in(assignees))
        .add(assignment::Column::PeriodId.eq(period_id))
        .add(assignment::Column::Kind.eq(kind))
}

/// A work tile's list, earliest due first; optionally one status.
pub fn work_list(
    assignee: i64,
    period_id: i64,
    kind: AssignmentKind,
    status: Option<AssignmentStatus>,
) -> Select<assignment::Entity> {
    let mut q = assignment::Entity::find().filter(work([assignee], period_id, kind));
    if let Some(status) = status {
        q = q.filter(assignment::Column::Status.eq(status));
    }
    q.order_by_asc(assignment::Column::DueAt)
        .order_by_asc(assignment::Column::Id)
}

/// An employee's work tiles in one period: their duties and their additional work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    pub duties: Counts,
    pub additional: Counts,
}

impl Work {
    pub fn of(&self, kind: AssignmentKind) -> Counts {
        match kind {
            AssignmentKind::Duty => self.duties,
            AssignmentKind::Additional => self.additional,
        }
    }

    fn of_mut(&mut self, kind: AssignmentKind) -> &mut Counts {
        match kind {
            AssignmentKind::Duty => &mut self.duties,
            AssignmentKind::Additional => &mut self.additional,
        }
    }
}

/// The work tiles of each assignee in a period: one statement grouped by assignee, kind
/// and status, counted in SQL. Every assignee gets an answer, zero when they have no work.
pub async fn work_for(
    db: &impl ConnectionTrait,
    assignees: &[i64],
    period_id: i64,
    now: DateTime<Utc>,
) -> DomainResult<HashMap<i64, Work>> {
    let by_assignee = assignment::Entity::find()
        .select_only()
        .column(assignment::Column::AssigneeId)
        .column(assignment::Column::Kind)
        .filter(assignment::Column::AssigneeId.is_in(assignees.iter().copied()))
        .filter(assignment::Column::PeriodId.eq(period_id))
        .group_by(assignment::Column::AssigneeId)
        .group_by(assignment::Column::Kind);
    let rows: Vec<(i64, AssignmentKind, AssignmentStatus, i64, i64)> =
        status_counts(by_assignee, now).into_tuple().all(db).await?;
    let mut out: HashMap<i64, Work> = assignees.iter().map(|id| (*id, Work::default())).collect();
    for (assignee, kind, status, n, overdue) in rows {
        out.entry(assignee)
            .or_default()
            .of_mut(kind)
            .add(status, count(overdue), count(n));
    }
    Ok(out)
}

/// Published articles of the reader's audience (everyone's, or their department's) that
/// they have not read. `reader` and `department` are expressions, so the same condition
/// serves one reader (values) and a batch (columns of the `employee` row).
pub fn new_articles(reader: Expr, department: Expr, now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(
            Condition::any()
                .add(Expr::col((article::Entity, article::Column::DepartmentId)).is_null())
                .add(Expr::col((article::Entity, article::Column::DepartmentId)).eq(department)),
        )
        .add(Expr::col((article::Entity, article::Column::PublishedAt)).lte(now))
        .add(
            Expr::exists(
                Query::select()
                    .expr(Expr::val(1))
                    .from(article_read::Entity)
                    .and_where(
                        Expr::col((article_read::Entity, article_read::Column::ArticleId))
                            .equals((article::Entity, article::Column::Id)),
                    )
                    .and_where(
                        Expr::col((article_read::Entity, article_read::Column::EmployeeId))
                            .eq(reader),
                    )
                    .to_owned(),
            )
            .not(),
        )
}

/// The `knowledgeBaseNew` list, newest first (by id, for keyset paging).
pub fn new_articles_list(
    reader: i64,
    department: i64,
    now: DateTime<Utc>,
) -> Select<article::Entity> {
    article::Entity::find().filter(new_articles(Expr::val(reader), Expr::val(department), now))
}

/// Open proposals of the voter's audience that they have not voted on (expressions as in
/// [`new_articles`]).
pub fn proposals_to_vote(voter: Expr, department: Expr, now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(
            Condition::any()
                .add(Expr::col((proposal::Entity, proposal::Column::DepartmentId)).is_null())
                .add(Expr::col((proposal::Entity, proposal::Column::DepartmentId)).eq(department)),
        )
        .add(Expr::col((proposal::Entity, proposal::Column::OpensAt)).lte(now))
        .add(Expr::col((proposal::Entity, proposal::Column::ClosesAt)).gt(now))
        .add(
            Expr::exists(
                Query::select()
                    .expr(Expr::val(1))
                    .from(vote::Entity)
                    .and_where(
                        Expr::col((vote::Entity, vote::Column::ProposalId))
                            .equals((proposal::Entity, proposal::Column::Id)),
                    )
                    .and_where(Expr::col((vote::Entity, vote::Column::EmployeeId)).eq(voter))
                    .to_owned(),
            )
            .not(),
        )
}

/// The `proposalsToVote` list, closing soonest first.
pub fn proposals_to_vote_list(
    voter: i64,
    department: i64,
    now: DateTime<Utc>,
) -> Select<proposal::Entity> {
    proposal::Entity::find()
        .filter(proposals_to_vote(
            Expr::val(voter),
            Expr::val(department),
            now,
        ))
        .order_by_asc(proposal::Column::ClosesAt)
        .order_by_asc(proposal::Column::Id)
}

/// The `knowledgeBaseNew` count of each employee.
pub async fn new_articles_for(
    db: &impl ConnectionTrait,
    employees: &[i64],
    now: DateTime<Utc>,
) -> DomainResult<HashMap<i64, u64>> {
    let (reader, department) = employee_columns();
    let count = Query::select()
        .expr(Func::count(Expr::col((
            article::Entity,
            article::Column::Id,
        ))))
        .from(article::Entity)
        .cond_where(new_articles(reader, department, now))
        .to_owned();
    count_per_employee(db, employees, count).await
}

/// The `proposalsToVote` count of each employee.
pub async fn proposals_to_vote_for(
    db: &impl ConnectionTrait,
    employees: &[i64],
    now: DateTime<Utc>,
) -> DomainResult<HashMap<i64, u64>> {
    let (voter, department) = employee_columns();
    let count = Query::select()
        .expr(Func::count(Expr::col((
            proposal::Entity,
            proposal::Column::Id,
        ))))
        .from(proposal::Entity)
        .cond_where(proposals_to_vote(voter, department, now))
        .to_owned();
    count_per_employee(db, employees, count).await
}

/// The outer employee row's id and department, for the correlated counts.
fn employee_columns() -> (Expr, Expr) {
    (
        Expr::col((employee::Entity, employee::Column::Id)),
        Expr::col((employee::Entity, employee::Column::DepartmentId)),
    )
}

/// `SELECT employee.id, (count) FROM employee WHERE id IN (..)`: a correlated count per
/// employee in one statement.
async fn count_per_employee(
    db: &impl ConnectionTrait,
    employees: &[i64],
    count: sea_orm::sea_query::SelectStatement,
) -> DomainResult<HashMap<i64, u64>> {
    let rows: Vec<(i64, i64)> = employee::Entity::find()
        .select_only()
        .column(employee::Column::Id)
        .expr_as(Expr::SubQuery(None, Box::new(count.into())), "n")
        .filter(employee::Column::Id.is_in(employees.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(per_key(employees, rows))
}

/// Every key with its count, zero when no row named it.
fn per_key(keys: &[i64], rows: Vec<(i64, i64)>) -> HashMap<i64, u64> {
    let mut out: HashMap<i64, u64> = keys.iter().map(|k| (*k, 0)).collect();
    for (key, n) in rows {
        out.insert(key, count(n));
    }
    out
}
