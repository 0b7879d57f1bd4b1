//! Assignments: the type, the `assignments` list with its counts, the three reports, and
//! the state-machine mutations.

use async_graphql::connection::{Connection, ConnectionNameType, EmptyFields, OpaqueCursor};
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use domain::read::reports::{self, By, Counts, Filter};
use domain::transition::Action;
use entity::assignment;
use entity::enums::{AssignmentKind as StoredKind, AssignmentStatus as Stored};

use super::org::Employee;
use super::period::Period;
use crate::context::Ctx;
use crate::error::{OrGql, not_found};
use crate::id::{Kind, decode, encode};
use crate::paging::{Order, Page, PageArgs, page};

use super::mirror::mirror_enum;

mirror_enum!(AssignmentStatus <=> Stored { Todo, InProgress, Submitted, Accepted, Returned, Cancelled, Missed });
mirror_enum!(AssignmentKind <=> StoredKind { Duty, Additional });

/// A personal task in one period: a generated duty or an additional assignment.
pub struct Assignment(pub assignment::Model);

#[Object]
impl Assignment {
    pub async fn id(&self) -> ID {
        encode(Kind::Assignment, self.0.id)
    }
    async fn kind(&self) -> AssignmentKind {
        self.0.kind.into()
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn status(&self) -> AssignmentStatus {
        self.0.status.into()
    }
    async fn assignee(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Employee>> {
        Ok(Ctx::new(ctx)?
            .employee(self.0.assignee_id)
            .await?
            .map(Employee))
    }
    async fn controller(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Employee>> {
        Ok(Ctx::new(ctx)?
            .employee(self.0.controller_id)
            .await?
            .map(Employee))
    }
    async fn period(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Period>> {
        Ok(Ctx::new(ctx)?.period(self.0.period_id).await?.map(Period))
    }
    async fn weight(&self) -> f64 {
        self.0.weight
    }
    async fn due_at(&self) -> DateTime<Utc> {
        self.0.due_at
    }
    /// The last submission.
    async fn submitted_at(&self) -> Option<DateTime<Utc>> {
        self.0.submitted_at
    }
    /// The last acceptance or return.
    async fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.0.decided_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Past due and not yet submitted.
    async fn overdue(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        Ok(domain::transition::is_overdue(
            self.0.status,
            self.0.due_at,
            Ctx::new(ctx)?.now(),
        ))
    }
    /// Every transition, oldest first.
    #[graphql(complexity = "crate::paging::list_cost(crate::paging::SHORT_LIST, child_complexity)")]
    async fn events(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<AssignmentEvent>> {
        let rows = Ctx::new(ctx)?
            .loaders
            .events
            .load_one(self.0.id)
            .await
            .gql()?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .map(AssignmentEvent)
            .collect())
    }
}

pub struct AssignmentEvent(entity::assignment_event::Model);

#[Object]
impl AssignmentEvent {
    /// Who acted; null for the system (generation, period close).
    async fn actor(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Employee>> {
        match self.0.actor_id {
            Some(id) => Ok(Ctx::new(ctx)?.employee(id).await?.map(Employee)),
            None => Ok(None),
        }
    }
    /// Null when the assignment was created.
    async fn from(&self) -> Option<AssignmentStatus> {
        self.0.from_status.map(Into::into)
    }
    async fn to(&self) -> AssignmentStatus {
        self.0.to_status.into()
    }
    async fn comment(&self) -> Option<&str> {
        self.0.comment.as_deref()
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
}

/// Counts of work.
#[derive(SimpleObject, Clone, Copy)]
pub struct WorkCounts {
    /// Everything but cancelled work.
    pub total: u64,
    /// Accepted.
    pub done: u64,
    /// Submitted, waiting for the controller.
    pub awaiting_acceptance: u64,
    /// To do, in progress or returned: what must reach zero.
    pub remaining: u64,
    /// Remaining and past due.
    pub overdue: u64,
    /// Never submitted before the period closed.
    pub missed: u64,
}

impl From<Counts> for WorkCounts {
    fn from(c: Counts) -> Self {
        WorkCounts {
            total: c.total,
            done: c.done,
            awaiting_acceptance: c.awaiting_acceptance,
            remaining: c.remaining,
            overdue: c.overdue,
            missed: c.missed,
        }
    }
}

#[derive(InputObject, Default)]
pub struct AssignmentFilter {
    pub period_id: Option<ID>,
    pub assignee_id: Option<ID>,
    pub controller_id: Option<ID>,
    pub department_id: Option<ID>,
    pub status: Option<AssignmentStatus>,
    pub kind: Option<AssignmentKind>,
    pub overdue: Option<bool>,
}

impl AssignmentFilter {
    pub(super) fn decode(&self) -> async_graphql::Result<Filter> {
        let opt =
            |id: &Option<ID>, kind, field| id.as_ref().map(|i| decode(i, kind, field)).transpose();
        Ok(Filter {
            period_id: opt(&self.period_id, Kind::Period, "filter.periodId")?,
            assignee_id: opt(&self.assignee_id, Kind::Employee, "filter.assigneeId")?,
            controller_id: opt(&self.controller_id, Kind::Employee, "filter.controllerId")?,
            department_id: opt(&self.department_id, Kind::Department, "filter.departmentId")?,
            status: self.status.map(Into::into),
            kind: self.kind.map(Into::into),
            overdue: self.overdue,
        })
    }
}

/// A page of visible assignments matching a filter, oldest first.
///
/// What the page's nodes ask for (people, period, events and their actors) is loaded up
/// front, one statement per kind, so the cost of a page does not depend on its size.
pub async fn list(
    c: &Ctx<'_>,
    node: async_graphql::Lookahead<'_>,
    filter: &Filter,
    args: PageArgs,
) -> async_graphql::Result<Page<Assignment>> {
    let backend = c.db().get_database_backend();
    let q = reports::select(backend, c.reach().await?, filter, c.now());
    let page = page(
        c,
        q,
        assignment::Column::Id,
        Order::Ascending,
        args,
        |a| a.id,
        Assignment,
    )
    .await?;
    let rows: Vec<&assignment::Model> = page.edges.iter().map(|e| &e.node.0).collect();
    let mut people: Vec<i64> = Vec::new();
    if node.field("assignee").exists() {
        people.extend(rows.iter().map(|a| a.assignee_id));
    }
    if node.field("controller").exists() {
        people.extend(rows.iter().map(|a| a.controller_id));
    }
    if node.field("period").exists() {
        c.loaders
            .periods
            .load_many(rows.iter().map(|a| a.period_id))
            .await
            .gql()?;
    }
    if node.field("events").exists() {
        let events = c
            .loaders
            .events
            .load_many(rows.iter().map(|a| a.id))
            .await
            .gql()?;
        if node.field("events").field("actor").exists() {
            people.extend(events.values().flatten().filter_map(|e| e.actor_id));
        }
    }
    if !people.is_empty() {
        c.loaders.employees.load_many(people).await.gql()?;
    }
    Ok(page)
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ReportBy {
    /// One row per assignee: their work.
    Assignee,
    /// One row per controller: what they control, and from whom submissions wait.
    Controller,
    /// Only employees with overdue work, most overdue first, then oldest due date.
    Debtors,
}

/// One row of a report: an employee and the counts of their work.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ReportRow {
    #[graphql(flatten)]
    counts: WorkCounts,
    /// The earliest due date of work still remaining.
    oldest_due_at: Option<DateTime<Utc>>,
    #[graphql(skip)]
    row: reports::Row,
    #[graphql(skip)]
    by: ReportBy,
    #[graphql(skip)]
    period_id: i64,
}

#[ComplexObject]
impl ReportRow {
    async fn employee(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Employee>> {
        Ok(Ctx::new(ctx)?
            .employee(self.row.employee_id)
            .await?
            .map(Employee))
    }
    /// BY CONTROLLER: whose submissions wait for this controller, most first.
    #[graphql(complexity = "crate::paging::list_cost(crate::paging::SHORT_LIST, child_complexity)")]
    async fn awaiting_from(&self) -> Vec<AwaitingFrom> {
        self.row
            .awaiting_from
            .iter()
            .map(|&(employee_id, count)| AwaitingFrom { employee_id, count })
            .collect()
    }
    /// The row's assignments: for BY CONTROLLER those awaiting acceptance; for DEBTORS the
    /// overdue ones; otherwise all of the assignee's.
    #[graphql(complexity = "crate::paging::page_cost(first, child_complexity)")]
    async fn assignments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<Assignment>> {
        let c = Ctx::new(ctx)?;
        let mut filter = Filter {
            period_id: Some(self.period_id),
            ..Default::default()
        };
        match self.by {
            ReportBy::Assignee => filter.assignee_id = Some(self.row.employee_id),
            ReportBy::Controller => {
                filter.controller_id = Some(self.row.employee_id);
                filter.status = Some(Stored::Submitted);
            }
            ReportBy::Debtors => {
                filter.assignee_id = Some(self.row.employee_id);
                filter.overdue = Some(true);
            }
        }
        list(
            &c,
            ctx.look_ahead().field("edges").field("node"),
            &filter,
            PageArgs::new(first, after),
        )
        .await
    }
}

pub struct AwaitingFrom {
    employee_id: i64,
    count: u64,
}

#[Object]
impl AwaitingFrom {
    async fn employee(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Employee>> {
        Ok(Ctx::new(ctx)?
            .employee(self.employee_id)
            .await?
            .map(Employee))
    }
    async fn count(&self) -> u64 {
        self.count
    }
}

#[derive(Default)]
pub struct AssignmentQuery;

#[Object]
impl AssignmentQuery {
    /// One assignment you may see; null otherwise.
    async fn assignment(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<Assignment>> {
        let c = Ctx::new(ctx)?;
        load_visible(&c, decode(&id, Kind::Assignment, "id")?).await
    }

    /// Assignments you may see, filtered, with counts over the whole filter.
    #[graphql(complexity = "crate::paging::page_cost(first, child_complexity)")]
    async fn assignments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<AssignmentFilter>,
    ) -> async_graphql::Result<AssignmentList> {
        let c = Ctx::new(ctx)?;
        let filter = filter.unwrap_or_default().decode()?;
        let page = list(
            &c,
            ctx.look_ahead().field("edges").field("node"),
            &filter,
            PageArgs::new(first, after),
        )
        .await?;
        let mut out = AssignmentList::with_additional_fields(
            page.has_previous_page,
            page.has_next_page,
            AssignmentCountsFields {
                total: page.additional_fields,
                filter,
            },
        );
        out.edges = page.edges;
        Ok(out)
    }

    /// A manager's report over one period (default: the current one), within your reach.
    #[graphql(complexity = "crate::paging::list_cost(crate::paging::LONG_LIST, child_complexity)")]
    async fn assignment_report(
        &self,
        ctx: &Context<'_>,
        period_id: Option<ID>,
        by: ReportBy,
        department_id: Option<ID>,
    ) -> async_graphql::Result<Vec<ReportRow>> {
        let c = Ctx::new(ctx)?;
        let period_id = period_id
            .map(|p| decode(&p, Kind::Period, "periodId"))
            .transpose()?;
        let department_id = department_id
            .map(|d| decode(&d, Kind::Department, "departmentId"))
            .transpose()?;
        let period = c.period_or_current(period_id).await?;
        let domain_by = match by {
            ReportBy::Assignee => By::Assignee,
            ReportBy::Controller => By::Controller,
            ReportBy::Debtors => By::Debtors,
        };
        let rows = reports::report(
            c.db(),
            c.reach().await?,
            domain_by,
            period.id,
            department_id,
            c.now(),
        )
        .await
        .gql()?;
        // The people the rows name, and their departments, one statement each, before the
        // rows resolve them one by one.
        let look = ctx.look_ahead();
        let (employee, from) = (
            look.field("employee"),
            look.field("awaitingFrom").field("employee"),
        );
        if employee.exists() || from.exists() {
            let mut named: Vec<i64> = rows.iter().map(|r| r.employee_id).collect();
            for r in &rows {
                named.extend(r.awaiting_from.iter().map(|(id, _)| *id));
            }
            let people = c.loaders.employees.load_many(named).await.gql()?;
            if employee.field("department").exists() || from.field("department").exists() {
                c.loaders
                    .departments
                    .load_many(people.values().map(|e| e.department_id))
                    .await
                    .gql()?;
            }
        }
        Ok(rows
            .into_iter()
            .map(|row| ReportRow {
                counts: row.counts.into(),
                oldest_due_at: row.oldest_due_at,
                row,
                by,
                period_id: period.id,
            })
            .collect())
    }
}

/// The `assignments` list: a connection with `totalCount` and `counts`.
pub type AssignmentList = Connection<
    OpaqueCursor<i64>,
    Assignment,
    AssignmentCountsFields,
    EmptyFields,
    AssignmentListName,
>;

pub struct AssignmentListName;

impl ConnectionNameType for AssignmentListName {
    fn type_name<T: async_graphql::OutputType>() -> String {
        "AssignmentList".into()
    }
}

/// `totalCount` and `counts` of an `assignments` list.
pub struct AssignmentCountsFields {
    total: crate::paging::Counted,
    filter: Filter,
}

#[Object(name = "AssignmentListFields")]
impl AssignmentCountsFields {
    /// How many items the whole list has, over all pages.
    async fn total_count(&self) -> async_graphql::Result<u64> {
        self.total.count().await
    }

    /// Counts over everything the filter matches, not just this page.
    async fn counts(&self, ctx: &Context<'_>) -> async_graphql::Result<WorkCounts> {
        let c = Ctx::new(ctx)?;
        let now = c.now();
        let backend = c.db().get_database_backend();
        let q = reports::select(backend, c.reach().await?, &self.filter, now);
        Ok(reports::counts(c.db(), q, now).await.gql()?.into())
    }
}

/// An assignment if the principal may see it.
pub async fn load_visible(c: &Ctx<'_>, id: i64) -> async_graphql::Result<Option<Assignment>> {
    let Some(row) = c.loaders.assignments.load_one(id).await.gql()? else {
        return Ok(None);
    };
    Ok(c.reach()
        .await?
        .sees_assignment(&row)
        .then_some(Assignment(row)))
}

#[derive(Default)]
pub struct AssignmentMutation;

async fn act(
    ctx: &Context<'_>,
    id: ID,
    action: Action,
    comment: Option<&str>,
) -> async_graphql::Result<Assignment> {
    let c = Ctx::new(ctx)?;
    let id = decode(&id, Kind::Assignment, "id").map_err(|_| not_found("assignment"))?;
    Ok(Assignment(
        domain::assignments::act(c.db(), c.who, id, action, comment, c.now())
            .await
            .gql()?,
    ))
}

#[Object]
impl AssignmentMutation {
    /// The assignee starts work (from TODO or RETURNED).
    async fn start_assignment(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Assignment> {
        act(ctx, id, Action::Start, None).await
    }
    /// The assignee hands the work in for acceptance.
    async fn submit_assignment(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Assignment> {
        act(ctx, id, Action::Submit, None).await
    }
    /// The controller (or an admin) accepts a submission.
    async fn accept_assignment(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Assignment> {
        act(ctx, id, Action::Accept, None).await
    }
    /// The controller (or an admin) returns a submission, saying why (`comment`: at most
    /// 2,000 characters).
    async fn return_assignment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        comment: String,
    ) -> async_graphql::Result<Assignment> {
        act(ctx, id, Action::Return, Some(&comment)).await
    }
    /// The controller (or an admin) cancels an assignment, saying why (`reason`: at most
    /// 2,000 characters); it then owes nothing.
    async fn cancel_assignment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
    ) -> async_graphql::Result<Assignment> {
        act(ctx, id, Action::Cancel, Some(&reason)).await
    }
}
