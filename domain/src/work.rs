//! What people are asked to do: duty templates (admin), additional assignments and KPI
//! targets (a manager for their subtree, or an admin).

use chrono::{DateTime, NaiveDate, Utc};
use entity::enums::{AssignmentKind, AssignmentStatus, PeriodStatus};
use entity::{assignment, department, duty_template, employee, kpi_target, period};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::assignments::record_event;
use crate::auth::Principal;
use crate::db::{Db, begin_write};
use crate::live::{self, Change};
use crate::obligations::active_in;
use crate::periods::require_changeable;
use crate::text::{self, Kind};
use crate::{DomainError, DomainResult, access, bounds};

/// Fields of a duty template; `None` leaves a field as it is on update. Errors name the
/// fields as they are named here (`title`, `every_n_periods`, ...).
#[derive(Clone, Debug, Default)]
pub struct TemplateInput {
    pub title: Option<String>,
    pub description: Option<String>,
    pub weight: Option<f64>,
    /// `Some(None)` clears the controller (each employee's manager then controls).
    pub controller_id: Option<Option<i64>>,
    pub employee_id: Option<i64>,
    pub department_id: Option<i64>,
    pub every_n_periods: Option<i32>,
    /// `Some(None)` makes the duty due at the period's end.
    pub due_offset_days: Option<Option<i32>>,
    pub starts_on: Option<NaiveDate>,
    pub active: Option<bool>,
}

async fn exists_employee(
    db: &impl ConnectionTrait,
    field: &'static str,
    id: i64,
) -> DomainResult<employee::Model> {
    employee::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| DomainError::bad_input(field, "no such employee"))
}

/// An employee who exists and has not left before `today`: someone new work may be given
/// to, or who may control it.
async fn present_employee(
    db: &impl ConnectionTrait,
    field: &'static str,
    id: i64,
    today: NaiveDate,
) -> DomainResult<employee::Model> {
    let person = exists_employee(db, field, id).await?;
    if crate::org::departed(&person, today) {
        return Err(DomainError::bad_input(
            field,
            "this employee has left the company",
        ));
    }
    Ok(person)
}

async fn apply_template(
    db: &impl ConnectionTrait,
    row: &mut duty_template::ActiveModel,
    input: &TemplateInput,
    today: NaiveDate,
) -> DomainResult<()> {
    if let Some(title) = &input.title {
        row.title = Set(text::check("title", Kind::Name, title)?);
    }
    if let Some(description) = &input.description {
        row.description = Set(text::check("description", Kind::Body, description)?);
    }
    if let Some(weight) = input.weight {
        row.weight = Set(bounds::weight("weight", weight)?);
    }
    if let Some(controller) = input.controller_id {
        if let Some(id) = controller {
            present_employee(db, "controller_id", id, today).await?;
        }
        row.controller_id = Set(controller);
    }
    match (input.employee_id, input.department_id) {
        (Some(_), Some(_)) => {
            return Err(DomainError::bad_input(
                "employee_id",
                "a template targets an employee or a department, not both",
            ));
        }
        (Some(id), None) => {
            present_employee(db, "employee_id", id, today).await?;
            row.employee_id = Set(Some(id));
            row.department_id = Set(None);
        }
        (None, Some(id)) => {
            department::Entity::find_by_id(id)
                .one(db)
                .await?
                .ok_or_else(|| DomainError::bad_input("department_id", "no such department"))?;
            row.department_id = Set(Some(id));
            row.employee_id = Set(None);
        }
        (None, None) => {}
    }
    if let Some(n) = input.every_n_periods {
        row.every_n_periods = Set(bounds::whole(
            "every_n_periods",
            bounds::EVERY_N_PERIODS,
            n,
        )?);
    }
    if let Some(offset) = input.due_offset_days {
        let offset = offset
            .map(|d| bounds::whole("due_offset_days", bounds::DUE_OFFSET_DAYS, d))
            .transpose()?;
        row.due_offset_days = Set(offset);
    }
    if let Some(starts_on) = input.starts_on {
        row.starts_on = Set(bounds::date("starts_on", starts_on)?);
    }
    if let Some(active) = input.active {
        row.active = Set(active);
    }
    Ok(())
}

/// A new template; `today` is the company's local date (a departed employee cannot be
/// its target or controller).
pub async fn create_template(
    db: &impl Db,
    who: &Principal,
    input: TemplateInput,
    now: DateTime<Utc>,
    today: NaiveDate,
) -> DomainResult<duty_template::Model> {
    access::require_admin(who)?;
    if input.title.is_none() {
        return Err(DomainError::invalid("title", "must not be empty"));
    }
    if input.employee_id.is_none() && input.department_id.is_none() {
        return Err(DomainError::bad_input(
            "employee_id",
            "a template needs an employee or a department",
        ));
    }
    let txn = begin_write(db).await?;
    let mut row = duty_template::ActiveModel {
        description: Set(String::new()),
        weight: Set(1.0),
        controller_id: Set(None),
        every_n_periods: Set(1),
        due_offset_days: Set(None),
        active: Set(true),
        starts_on: Set(today),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    apply_template(&txn, &mut row, &input, today).await?;
    let row = row.insert(&txn).await?;
    txn.commit().await?;
    Ok(row)
}

pub async fn update_template(
    db: &impl Db,
    who: &Principal,
    id: i64,
    input: TemplateInput,
    now: DateTime<Utc>,
    today: NaiveDate,
) -> DomainResult<duty_template::Model> {
    access::require_admin(who)?;
    let txn = begin_write(db).await?;
    let current = duty_template::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("duty template"))?;
    let mut row: duty_template::ActiveModel = current.into();
    apply_template(&txn, &mut row, &input, today).await?;
    row.updated_at = Set(now);
    let row = row.update(&txn).await?;
    txn.commit().await?;
    Ok(row)
}

/// Archiving stops future generation; duties already generated stay.
pub async fn archive_template(
    db: &impl Db,
    who: &Principal,
    id: i64,
    now: DateTime<Utc>,
) -> DomainResult<duty_template::Model> {
    // Nothing but `active` changes, so no one is checked against a date.
    update_template(
        db,
        who,
        id,
        TemplateInput {
            active: Some(false),
            ..Default::default()
        },
        now,
        NaiveDate::MIN,
    )
    .await
}

/// An additional assignment, made by a manager for someone below them or by an admin.
/// Errors name the fields as they are named here (`assignee_id`, `title`, ...).
#[derive(Clone, Debug, Default)]
pub struct AssignmentInput {
    pub assignee_id: Option<i64>,
    /// Default: the creating employee, else the assignee's manager.
    pub controller_id: Option<i64>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub weight: Option<f64>,
    pub due_at: Option<DateTime<Utc>>,
}

/// A period about to get a change to its assignments or targets, read with a shared row
/// lock: the close takes that row's lock before it judges the period, so a change either
/// commits before the close reads the period's rows or finds the period closed.
async fn period_for_change(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<period::Model>, sea_orm::DbErr> {
    period::Entity::find_by_id(id).lock_shared().one(db).await
}

/// The open period containing an instant, read with a shared row lock (see [`period_for_change`]).
async fn open_period_at(
    db: &impl ConnectionTrait,
    at: DateTime<Utc>,
) -> DomainResult<period::Model> {
    period::Entity::find()
        .filter(period::Column::Status.eq(PeriodStatus::Open))
        // A due instant at a period's very end (its `ends_at`) belongs to that period, as
        // generated duties do.
        .filter(period::Column::StartsAt.lt(at))
        .filter(period::Column::EndsAt.gte(at))
        .order_by_desc(period::Column::StartsOn)
        .lock_shared()
        .one(db)
        .await?
        .ok_or_else(|| DomainError::bad_input("due_at", "no open period contains this due date"))
}

/// A new additional assignment; `today` is the company's local date (a departed employee
/// can be neither its assignee nor its controller).
pub async fn create_assignment(
    db: &impl Db,
    who: &Principal,
    input: AssignmentInput,
    now: DateTime<Utc>,
    today: NaiveDate,
) -> DomainResult<assignment::Model> {
    let assignee_id = input
        .assignee_id
        .ok_or_else(|| DomainError::bad_input("assignee_id", "an assignee is required"))?;
    let title = text::check("title", Kind::Name, input.title.as_deref().unwrap_or(""))?;
    let description = text::check(
        "description",
        Kind::Body,
        input.description.as_deref().unwrap_or(""),
    )?;
    let weight = bounds::weight("weight", input.weight.unwrap_or(1.0))?;
    let due_at = input
        .due_at
        .ok_or_else(|| DomainError::bad_input("due_at", "a due date is required"))?;
    if due_at <= now {
        return Err(DomainError::bad_input(
            "due_at",
            "the due date must be in the future",
        ));
    }
    let txn = begin_write(db).await?;
    let assignee = exists_employee(&txn, "assignee_id", assignee_id).await?;
    access::require_manager_of(&txn, who, assignee_id).await?;
    if crate::org::departed(&assignee, today) {
        return Err(DomainError::bad_input(
            "assignee_id",
            "this employee has left the company",
        ));
    }
    let controller_id = match input
        .controller_id
        .or(who.employee_id())
        .or(assignee.manager_id)
    {
        Some(c) if c == assignee_id => {
            return Err(DomainError::bad_input(
                "controller_id",
                "the controller cannot be the assignee",
            ));
        }
        Some(c) => present_employee(&txn, "controller_id", c, today).await?.id,
        None => {
            return Err(DomainError::bad_input(
                "controller_id",
                "a controller is required",
            ));
        }
    };
    let period = open_period_at(&txn, due_at).await?;
    let row = assignment::ActiveModel {
        kind: Set(AssignmentKind::Additional),
        template_id: Set(None),
        period_id: Set(period.id),
        assignee_id: Set(assignee_id),
        controller_id: Set(controller_id),
        title: Set(title),
        description: Set(description),
        weight: Set(weight),
        due_at: Set(due_at),
        status: Set(AssignmentStatus::Todo),
        submitted_at: Set(None),
        decided_at: Set(None),
        created_at: Set(now),
        created_by: Set(who.employee_id()),
        version: Set(1),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    record_event(
        &txn,
        row.id,
        who.employee_id(),
        None,
        AssignmentStatus::Todo,
        None,
        now,
    )
    .await?;
    live::announce(&txn, Change::assignments([&row])).await?;
    txn.commit().await?;
    Ok(row)
}

/// Changes an additional assignment's title, description, weight or due date while it is
/// still open work in an open period; `today` as in [`create_assignment`].
pub async fn update_assignment(
    db: &impl Db,
    who: &Principal,
    id: i64,
    input: AssignmentInput,
    now: DateTime<Utc>,
    today: NaiveDate,
) -> DomainResult<assignment::Model> {
    let title = input
        .title
        .as_deref()
        .map(|t| text::check("title", Kind::Name, t))
        .transpose()?;
    let description = input
        .description
        .as_deref()
        .map(|d| text::check("description", Kind::Body, d))
        .transpose()?;
    let weight = input
        .weight
        .map(|w| bounds::weight("weight", w))
        .transpose()?;
    let txn = begin_write(db).await?;
    let current = assignment::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("assignment"))?;
    let reach = access::reach(&txn, who).await?;
    if !reach.sees_assignment(&current) {
        return Err(DomainError::NotFound("assignment"));
    }
    if !reach.manages(current.assignee_id) {
        return Err(DomainError::Forbidden(
            "only the assignee's manager or an admin may change an assignment".into(),
        ));
    }
    if current.kind != AssignmentKind::Additional {
        return Err(DomainError::Conflict(
            "a generated duty is changed through its template".into(),
        ));
    }
    if !crate::transition::is_unfinished(current.status)
        && current.status != AssignmentStatus::Submitted
    {
        return Err(DomainError::Conflict(format!(
            "the assignment is already {:?}",
            current.status
        )));
    }
    let period = period_for_change(&txn, current.period_id)
        .await?
        .ok_or(DomainError::NotFound("period"))?;
    require_changeable(&txn, &period, now).await?;
    if input.assignee_id.is_some_and(|a| a != current.assignee_id) {
        return Err(DomainError::bad_input(
            "assignee_id",
            "the assignee of an assignment cannot change; cancel it and create another",
        ));
    }
    let version = current.version;
    let mut row: assignment::ActiveModel = current.clone().into();
    if let Some(title) = title {
        row.title = Set(title);
    }
    if let Some(description) = description {
        row.description = Set(description);
    }
    if let Some(weight) = weight {
        row.weight = Set(weight);
    }
    if let Some(due_at) = input.due_at {
        if due_at <= now || due_at > period.ends_at || due_at < period.starts_at {
            return Err(DomainError::bad_input(
                "due_at",
                "the due date must be in the future and inside the assignment's period",
            ));
        }
        row.due_at = Set(due_at);
    }
    if let Some(controller) = input.controller_id {
        if controller == *row.assignee_id.as_ref() {
            return Err(DomainError::bad_input(
                "controller_id",
                "the controller cannot be the assignee",
            ));
        }
        present_employee(&txn, "controller_id", controller, today).await?;
        row.controller_id = Set(controller);
    }
    row.version = Set(version + 1);
    // Conditional on the version read above: a transition that committed meanwhile (an
    // accept, say) makes this a conflict rather than a silent change to settled work.
    let update = sea_orm::ValidatedUpdateOne::try_from(assignment::Entity::update(row))?;
    let row = update
        .filter(assignment::Column::Version.eq(version))
        .exec(&txn)
        .await
        .map_err(|e| match e {
            sea_orm::DbErr::RecordNotUpdated => {
                DomainError::Conflict("the assignment changed meanwhile; read it again".into())
            }
            other => DomainError::Db(other),
        })?;
    // The old assignee and controller hear it too (a reassignment leaves their boards).
    live::announce(&txn, Change::assignments([&current, &row])).await?;
    txn.commit().await?;
    Ok(row)
}

/// A KPI target to set: whose, in which period, which metric, how much, how heavy. Errors
/// name the fields as they are named here (`metric`, `target`, ...).
#[derive(Clone, Debug)]
pub struct TargetInput {
    pub period_id: i64,
    pub employee_id: i64,
    pub metric: String,
    pub target: f64,
    pub weight: f64,
}

/// Sets (or replaces) a KPI target of an employee in a period. The employee must be
/// employed on some day of the period (a target for anyone else is never scored).
pub async fn set_target(
    db: &impl Db,
    who: &Principal,
    input: TargetInput,
    now: DateTime<Utc>,
) -> DomainResult<kpi_target::Model> {
    let TargetInput {
        period_id,
        employee_id,
        metric,
        target,
        weight,
    } = input;
    let metric = text::check("metric", Kind::Name, &metric)?;
    let target = bounds::value("target", target)?;
    let weight = bounds::weight("weight", weight)?;
    let txn = begin_write(db).await?;
    let person = exists_employee(&txn, "employee_id", employee_id).await?;
    access::require_manager_of(&txn, who, employee_id).await?;
    let period = period_for_change(&txn, period_id)
        .await?
        .ok_or_else(|| DomainError::bad_input("period_id", "no such period"))?;
    if !active_in(&person, period.starts_on, period.ends_on) {
        return Err(DomainError::bad_input(
            "employee_id",
            "this employee is not employed in that period",
        ));
    }
    require_changeable(&txn, &period, now).await?;
    // An upsert, so two managers setting the same target at once both succeed.
    let row = kpi_target::ActiveModel {
        period_id: Set(period_id),
        employee_id: Set(employee_id),
        metric: Set(metric.clone()),
        target_value: Set(target),
        actual_value: Set(None),
        weight: Set(weight),
        recorded_at: Set(None),
        recorded_by: Set(None),
        created_at: Set(now),
        ..Default::default()
    };
    kpi_target::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                kpi_target::Column::PeriodId,
                kpi_target::Column::EmployeeId,
                kpi_target::Column::Metric,
            ])
            .update_columns([kpi_target::Column::TargetValue, kpi_target::Column::Weight])
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    let row = kpi_target::Entity::find()
        .filter(kpi_target::Column::PeriodId.eq(period_id))
        .filter(kpi_target::Column::EmployeeId.eq(employee_id))
        .filter(kpi_target::Column::Metric.eq(metric))
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("KPI target"))?;
    live::announce(&txn, Change::employees([row.employee_id])).await?;
    txn.commit().await?;
    Ok(row)
}

/// Records the actual value of a target (a manager, an admin, or an integration's admin token).
pub async fn record_actual(
    db: &impl Db,
    who: &Principal,
    target_id: i64,
    actual: f64,
    now: DateTime<Utc>,
) -> DomainResult<kpi_target::Model> {
    let actual = bounds::value("actual", actual)?;
    let txn = begin_write(db).await?;
    let target = kpi_target::Entity::find_by_id(target_id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("KPI target"))?;
    let reach = access::reach(&txn, who).await?;
    if !reach.sees_employee(target.employee_id) {
        return Err(DomainError::NotFound("KPI target"));
    }
    if !reach.manages(target.employee_id) {
        return Err(DomainError::Forbidden(
            "only the employee's manager or an admin may record an actual".into(),
        ));
    }
    let period = period_for_change(&txn, target.period_id)
        .await?
        .ok_or(DomainError::NotFound("period"))?;
    require_changeable(&txn, &period, now).await?;
    let mut row: kpi_target::ActiveModel = target.into();
    row.actual_value = Set(Some(actual));
    row.recorded_at = Set(Some(now));
    row.recorded_by = Set(who.employee_id());
    let row = row.update(&txn).await?;
    live::announce(&txn, Change::employees([row.employee_id])).await?;
    txn.commit().await?;
    Ok(row)
}
