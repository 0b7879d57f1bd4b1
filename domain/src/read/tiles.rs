//! The tiles of the personal board (DESIGN section 5). Each tile is one condition, used both
//! by its count and by its list, so the number on a tile is always the length of the list
//! it opens. Counts come in batches keyed by employee ids and are counted in SQL: each tile
//! kind is one grouped statement whatever the number of employees ([`to_accept_counts`],
//! [`work_counts`], [`new_articles_counts`], [`proposals_to_vote_counts`]), and the tiles a
//! board asks for run as one statement, those statements joined by `UNION ALL`
//! ([`boards_for`]).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::enums::{AssignmentKind, AssignmentStatus, PeriodStatus};
use entity::{article, article_read, assignment, employee, period, proposal, vote};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query, SelectStatement, UnionType};
use sea_orm::{
    ActiveEnum, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Select,
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
        .add(
            Expr::col((assignment::Entity, assignment::Column::Status))
                .eq(literal(AssignmentStatus::Submitted)),
        );
    if period.closed {
        mine.add(assignment::Column::PeriodId.eq(period.id))
    } else {
        mine.add(
            assignment::Column::PeriodId.in_subquery(
                Query::select()
                    .column(period::Column::Id)
                    .from(period::Entity)
                    .and_where(
                        Expr::col((period::Entity, period::Column::Status))
                            .eq(literal(PeriodStatus::Open)),
                    )
                    .to_owned(),
            ),
        )
    }
}

/// A status the condition always names, written into the SQL text instead of bound. On
/// PostgreSQL a prepared statement is planned anew on every execution as long as its
/// generic plan looks costlier than the plans for the values bound; a bound status makes
/// it so (the generic plan guesses an average status, not `submitted`), and planning the
/// board's statement took five times as long as running it.
pub(crate) fn literal(status: impl ActiveEnum<Value = String>) -> Expr {
    Expr::Constant(status.into_value().into())
}

/// The controller's queue: the `toAccept` tile's list, oldest submission first.
pub fn to_accept_list(controller: i64, period: BoardPeriod) -> Select<assignment::Entity> {
    assignment::Entity::find()
        .filter(to_accept([controller], period))
        .order_by_asc(assignment::Column::SubmittedAt)
        .order_by_asc(assignment::Column::Id)
}

/// The `toAccept` count of each controller: one row per controller with submissions
/// waiting, in the shape of [`boards_for`]'s rows.
pub fn to_accept_counts(controllers: &[i64], period: BoardPeriod) -> SelectStatement {
    assignment::Entity::find()
        .select_only()
        .column(assignment::Column::ControllerId)
        .expr(Expr::val(Tile::ToAccept as i32))
        .expr(no_text())
        .expr(no_text())
        .column_as(assignment::Column::Id.count(), "n")
        .expr(Expr::val(0_i64))
        .filter(to_accept(controllers.iter().copied(), period))
        .group_by(assignment::Column::ControllerId)
        .into_query()
}

/// One kind of the assignees' own work in a period: the `duties` and `additional` tiles.
pub fn work(
    assignees: impl IntoIterator<Item = i64>,
    period_id: i64,
    kind: AssignmentKind,
) -> Condition {
    own_work(assignees, period_id).add(assignment::Column::Kind.eq(kind))
}

/// The assignees' own work in a period, of either kind: grouped by kind, [`work`].
fn own_work(assignees: impl IntoIterator<Item = i64>, period_id: i64) -> Condition {
    Condition::all()
        .add(assignment::Column::AssigneeId.is_in(assignees))
        .add(assignment::Column::PeriodId.eq(period_id))
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

/// The work tiles of each assignee in a period: grouped by assignee, kind and status, with
/// how many of each group are overdue, in the shape of [`boards_for`]'s rows: grouped by
/// kind, the condition of the tiles' lists ([`work`]).
pub fn work_counts(assignees: &[i64], period_id: i64, now: DateTime<Utc>) -> SelectStatement {
    let by_assignee = assignment::Entity::find()
        .select_only()
        .column(assignment::Column::AssigneeId)
        .expr(Expr::val(Tile::Work as i32))
        .column(assignment::Column::Kind)
        .filter(own_work(assignees.iter().copied(), period_id))
        .group_by(assignment::Column::AssigneeId)
        .group_by(assignment::Column::Kind);
    status_counts(by_assignee, now).into_query()
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

/// The `knowledgeBaseNew` count of each employee, in the shape of [`boards_for`]'s rows.
pub fn new_articles_counts(employees: &[i64], now: DateTime<Utc>) -> SelectStatement {
    let (reader, department) = employee_columns();
    let count = Query::select()
        .expr(Func::count(Expr::col((
            article::Entity,
            article::Column::Id,
        ))))
        .from(article::Entity)
        .cond_where(new_articles(reader, department, now))
        .to_owned();
    count_per_employee(employees, Tile::NewArticles, count)
}

/// The `proposalsToVote` count of each employee, in the shape of [`boards_for`]'s rows.
pub fn proposals_to_vote_counts(employees: &[i64], now: DateTime<Utc>) -> SelectStatement {
    let (voter, department) = employee_columns();
    let count = Query::select()
        .expr(Func::count(Expr::col((
            proposal::Entity,
            proposal::Column::Id,
        ))))
        .from(proposal::Entity)
        .cond_where(proposals_to_vote(voter, department, now))
        .to_owned();
    count_per_employee(employees, Tile::ProposalsToVote, count)
}

/// The outer employee row's id and department, for the correlated counts.
fn employee_columns() -> (Expr, Expr) {
    (
        Expr::col((employee::Entity, employee::Column::Id)),
        Expr::col((employee::Entity, employee::Column::DepartmentId)),
    )
}

/// `SELECT employee.id, tile, NULL, NULL, (count), 0 FROM employee WHERE id IN (..)`: a
/// correlated count per employee.
fn count_per_employee(employees: &[i64], tile: Tile, count: SelectStatement) -> SelectStatement {
    employee::Entity::find()
        .select_only()
        .column(employee::Column::Id)
        .expr(Expr::val(tile as i32))
        .expr(no_text())
        .expr(no_text())
        .expr_as(Expr::SubQuery(None, Box::new(count.into())), "n")
        .expr(Expr::val(0_i64))
        .filter(employee::Column::Id.is_in(employees.iter().copied()))
        .into_query()
}

/// The absent kind or status of a row that counts no assignments.
fn no_text() -> Expr {
    Expr::cust("NULL")
}

/// Which statement a row of [`boards_for`] comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
enum Tile {
    ToAccept = 0,
    Work = 1,
    NewArticles = 2,
    ProposalsToVote = 3,
}

impl Tile {
    fn of(tag: i32) -> Option<Tile> {
        [
            Tile::ToAccept,
            Tile::Work,
            Tile::NewArticles,
            Tile::ProposalsToVote,
        ]
        .into_iter()
        .find(|t| *t as i32 == tag)
    }
}

/// The tiles of a board to count: each one asked for costs its statement in [`boards_for`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Asked {
    pub to_accept: bool,
    /// `duties` and `additional`, which one statement counts.
    pub work: bool,
    pub new_articles: bool,
    pub proposals_to_vote: bool,
}

impl Asked {
    /// Both sets of tiles.
    pub fn and(self, other: Asked) -> Asked {
        Asked {
            to_accept: self.to_accept || other.to_accept,
            work: self.work || other.work,
            new_articles: self.new_articles || other.new_articles,
            proposals_to_vote: self.proposals_to_vote || other.proposals_to_vote,
        }
    }
}

/// The counts of one employee's board, for the tiles asked (`None` for the others).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Board {
    pub to_accept: Option<u64>,
    pub work: Option<Work>,
    pub new_articles: Option<u64>,
    pub proposals_to_vote: Option<u64>,
}

/// The boards of employees in a period: the asked tiles' statements joined by `UNION ALL`
/// into one, each row `(employee, tile, kind, status, n, overdue)`. Every employee gets
/// every asked tile, zero when no row named them.
pub async fn boards_for(
    db: &impl ConnectionTrait,
    employees: &[i64],
    period: BoardPeriod,
    asked: Asked,
    now: DateTime<Utc>,
) -> DomainResult<HashMap<i64, Board>> {
    let mut out: HashMap<i64, Board> = employees
        .iter()
        .map(|id| {
            let board = Board {
                to_accept: asked.to_accept.then_some(0),
                work: asked.work.then(Work::default),
                new_articles: asked.new_articles.then_some(0),
                proposals_to_vote: asked.proposals_to_vote.then_some(0),
            };
            (*id, board)
        })
        .collect();
    if employees.is_empty() {
        return Ok(out);
    }
    // The work tiles first: PostgreSQL takes a `UNION`'s column types from its branches,
    // and the work rows are the ones whose kind and status are not NULL.
    let statements = [
        asked.work.then(|| work_counts(employees, period.id, now)),
        asked.to_accept.then(|| to_accept_counts(employees, period)),
        asked
            .new_articles
            .then(|| new_articles_counts(employees, now)),
        asked
            .proposals_to_vote
            .then(|| proposals_to_vote_counts(employees, now)),
    ];
    let mut statements = statements.into_iter().flatten();
    let Some(mut all) = statements.next() else {
        return Ok(out);
    };
    for next in statements {
        all.union(UnionType::All, next);
    }
    let rows = db.query_all(&all).await?;
    for row in rows {
        let (employee, tag, kind, status, n, overdue): (
            i64,
            i32,
            Option<AssignmentKind>,
            Option<AssignmentStatus>,
            i64,
            i64,
        ) = row.try_get_many_by_index()?;
        let Some(board) = out.get_mut(&employee) else {
            continue;
        };
        match Tile::of(tag) {
            Some(Tile::ToAccept) => board.to_accept = Some(count(n)),
            Some(Tile::NewArticles) => board.new_articles = Some(count(n)),
            Some(Tile::ProposalsToVote) => board.proposals_to_vote = Some(count(n)),
            Some(Tile::Work) => {
                if let (Some(work), Some(kind), Some(status)) = (&mut board.work, kind, status) {
                    work.of_mut(kind).add(status, count(overdue), count(n));
                }
            }
            None => {}
        }
    }
    Ok(out)
}
