//! Departments and employees: admin-only changes to the organisation.

use chrono::{DateTime, NaiveDate, Utc};
use entity::enums::{Language, Role};
use entity::{department, employee};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};

use crate::auth::Principal;
use crate::db::{Db, ORG_STRUCTURE_LOCK, advisory_lock, begin_write};
use crate::error::unique_as;
use crate::live::{self, Change};
use crate::text::{self, Kind};
use crate::{DomainError, DomainResult, access, bounds};

pub async fn create_department(
    db: &impl Db,
    who: &Principal,
    name: &str,
    now: DateTime<Utc>,
) -> DomainResult<department::Model> {
    access::require_admin(who)?;
    let name = text::check("name", Kind::Name, name)?;
    department::ActiveModel {
        name: Set(name),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(unique_as(
        crate::error::DEPARTMENT_NAME,
        "name",
        "a department with this name exists",
    ))
}

pub async fn rename_department(
    db: &impl Db,
    who: &Principal,
    id: i64,
    name: &str,
) -> DomainResult<department::Model> {
    access::require_admin(who)?;
    let name = text::check("name", Kind::Name, name)?;
    // Read and written in one transaction, as every read-then-write is.
    let txn = begin_write(db).await?;
    let row = department::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("department"))?;
    let mut row: department::ActiveModel = row.into();
    row.name = Set(name);
    let renamed = row.update(&txn).await.map_err(unique_as(
        crate::error::DEPARTMENT_NAME,
        "name",
        "a department with this name exists",
    ))?;
    txn.commit().await?;
    Ok(renamed)
}

/// What an admin gives to create or change an employee; `None` leaves a field as it is.
/// Errors name the fields as the domain does (`name`, `email`, `department_id`, ...).
#[derive(Clone, Debug, Default)]
pub struct EmployeeInput {
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: Option<Role>,
    pub department_id: Option<i64>,
    /// `Some(None)` removes the manager.
    pub manager_id: Option<Option<i64>>,
    pub hired_on: Option<NaiveDate>,
    /// The payroll grant ([`employee::Model::payroll`]); a new employee has none.
    pub payroll: Option<bool>,
    /// The language of the messages Zeroboard sends them [default: English].
    pub language: Option<Language>,
    /// Whether they get the daily e-mail reminders [default: yes].
    pub reminders: Option<bool>,
}

/// Checks that a manager exists, is active, and is not the employee or below them. The
/// caller holds [`ORG_STRUCTURE_LOCK`], so the chain read here is the one the update
/// changes.
async fn check_manager(
    db: &impl Db,
    employee_id: Option<i64>,
    manager_id: i64,
) -> DomainResult<()> {
    let manager = employee::Entity::find_by_id(manager_id).one(db).await?;
    let Some(manager) = manager else {
        return Err(DomainError::bad_input("manager_id", "no such manager"));
    };
    if manager.left_on.is_some() {
        return Err(DomainError::bad_input("manager_id", "the manager has left"));
    }
    if let Some(id) = employee_id
        && (id == manager_id || access::below(db, id).await?.contains(&manager_id))
    {
        return Err(DomainError::bad_input(
            "manager_id",
            "a manager cannot report to themselves or to their own report",
        ));
    }
    Ok(())
}

async fn check_department(db: &impl Db, id: i64) -> DomainResult<()> {
    match department::Entity::find_by_id(id).one(db).await? {
        Some(_) => Ok(()),
        None => Err(DomainError::bad_input(
            "department_id",
            "no such department",
        )),
    }
}

/// Adds an employee; `today` is the company's local date (the default hiring day).
pub async fn create_employee(
    db: &impl Db,
    who: &Principal,
    input: EmployeeInput,
    now: DateTime<Utc>,
    today: chrono::NaiveDate,
) -> DomainResult<employee::Model> {
    access::require_admin(who)?;
    let (department_id, row) = new_employee(&input, now, today)?;
    let txn = begin_write(db).await?;
    check_department(&txn, department_id).await?;
    if let Some(m) = input.manager_id.flatten() {
        check_manager(&txn, None, m).await?;
    }
    let row = row.insert(&txn).await.map_err(unique_as(
        crate::error::EMPLOYEE_EMAIL,
        "email",
        "an employee with this e-mail exists",
    ))?;
    txn.commit().await?;
    Ok(row)
}

/// A new employee's row from an admin's input, checked field by field (the department and
/// manager are checked against the database by the callers), and its department.
fn new_employee(
    input: &EmployeeInput,
    now: DateTime<Utc>,
    today: chrono::NaiveDate,
) -> DomainResult<(i64, employee::ActiveModel)> {
    let name = text::check("name", Kind::Name, input.name.as_deref().unwrap_or(""))?;
    let email = text::email("email", input.email.as_deref().unwrap_or(""))?;
    let hired_on = bounds::date("hired_on", input.hired_on.unwrap_or(today))?;
    let department_id = input
        .department_id
        .ok_or_else(|| DomainError::bad_input("department_id", "a department is required"))?;
    let row = employee::ActiveModel {
        department_id: Set(department_id),
        manager_id: Set(input.manager_id.flatten()),
        name: Set(name),
        email_key: Set(employee::email_key(&email)),
        email: Set(email),
        role: Set(input.role.unwrap_or(Role::Employee)),
        hired_on: Set(hired_on),
        left_on: Set(None),
        created_at: Set(now),
        payroll: Set(input.payroll.unwrap_or(false)),
        language: Set(input.language.unwrap_or_default()),
        reminders: Set(input.reminders.unwrap_or(true)),
        ..Default::default()
    };
    Ok((department_id, row))
}

/// Adds many employees at once, in the order given, with the checks and rows of
/// [`create_employee`], in one write transaction: all or nothing, a chunk of rows per
/// statement. A manager must exist before the call (one being added in the same batch
/// cannot be named). Returns the employees made, in the order given.
pub async fn create_employees(
    db: &impl Db,
    who: &Principal,
    inputs: Vec<EmployeeInput>,
    now: DateTime<Utc>,
    today: chrono::NaiveDate,
) -> DomainResult<Vec<employee::Model>> {
    use sea_orm::{ColumnTrait, QueryFilter};
    access::require_admin(who)?;
    let mut rows = Vec::with_capacity(inputs.len());
    for input in &inputs {
        rows.push(new_employee(input, now, today)?.1);
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let txn = begin_write(db).await?;
    let mut departments: Vec<i64> = inputs.iter().filter_map(|i| i.department_id).collect();
    departments.sort_unstable();
    departments.dedup();
    for id in departments {
        check_department(&txn, id).await?;
    }
    let mut managers: Vec<i64> = inputs
        .iter()
        .filter_map(|i| i.manager_id.flatten())
        .collect();
    managers.sort_unstable();
    managers.dedup();
    for chunk in managers.chunks(CHUNK) {
        let found = employee::Entity::find()
            .filter(employee::Column::Id.is_in(chunk.iter().copied()))
            .all(&txn)
            .await?;
        for id in chunk {
            match found.iter().find(|m| m.id == *id) {
                None => return Err(DomainError::bad_input("manager_id", "no such manager")),
                Some(m) if m.left_on.is_some() => {
                    return Err(DomainError::bad_input("manager_id", "the manager has left"));
                }
                Some(_) => {}
            }
        }
    }
    let mut made = Vec::with_capacity(rows.len());
    let mut pending = rows.into_iter().peekable();
    while pending.peek().is_some() {
        let chunk: Vec<_> = pending.by_ref().take(CHUNK).collect();
        let mut inserted = employee::Entity::insert_many(chunk)
            .exec_with_returning(&txn)
            .await
            .map_err(unique_as(
                crate::error::EMPLOYEE_EMAIL,
                "email",
                "an employee with this e-mail exists",
            ))?;
        // Ids are given in insertion order; `RETURNING` need not keep it.
        inserted.sort_by_key(|e| e.id);
        made.extend(inserted);
    }
    txn.commit().await?;
    Ok(made)
}

/// Rows read or written per statement by [`create_employees`].
const CHUNK: usize = 500;

pub async fn update_employee(
    db: &impl Db,
    who: &Principal,
    id: i64,
    input: EmployeeInput,
) -> DomainResult<employee::Model> {
    access::require_admin(who)?;
    let name = input
        .name
        .as_deref()
        .map(|n| text::check("name", Kind::Name, n))
        .transpose()?;
    let email = input
        .email
        .as_deref()
        .map(|e| text::email("email", e))
        .transpose()?;
    let hired_on = input
        .hired_on
        .map(|d| bounds::date("hired_on", d))
        .transpose()?;
    let txn = begin_write(db).await?;
    if matches!(input.manager_id, Some(Some(_))) {
        // Before anything is read: two concurrent changes that each make the other the
        // manager would otherwise both pass the cycle check and leave a loop.
        advisory_lock(&txn, ORG_STRUCTURE_LOCK).await?;
    }
    let current = employee::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("employee"))?;
    if let (Some(hired_on), Some(left_on)) = (hired_on, current.left_on)
        && hired_on > left_on
    {
        return Err(DomainError::bad_input(
            "hired_on",
            "an employee cannot be hired after leaving",
        ));
    }
    let before = current.clone();
    let mut row: employee::ActiveModel = current.into();
    if let Some(name) = name {
        row.name = Set(name);
    }
    if let Some(email) = email {
        row.email_key = Set(employee::email_key(&email));
        row.email = Set(email);
    }
    if let Some(role) = input.role {
        row.role = Set(role);
    }
    if let Some(department_id) = input.department_id {
        check_department(&txn, department_id).await?;
        row.department_id = Set(department_id);
    }
    if let Some(manager_id) = input.manager_id {
        if let Some(m) = manager_id {
            check_manager(&txn, Some(id), m).await?;
        }
        row.manager_id = Set(manager_id);
    }
    if let Some(hired_on) = hired_on {
        row.hired_on = Set(hired_on);
    }
    if let Some(payroll) = input.payroll {
        row.payroll = Set(payroll);
    }
    if let Some(language) = input.language {
        row.language = Set(language);
    }
    if let Some(reminders) = input.reminders {
        row.reminders = Set(reminders);
    }
    let row = row.update(&txn).await.map_err(unique_as(
        crate::error::EMPLOYEE_EMAIL,
        "email",
        "an employee with this e-mail exists",
    ))?;
    live::announce(&txn, org_change(&before, &row)).await?;
    txn.commit().await?;
    Ok(row)
}

/// What a change to an employee's row tells the live tiles: a move to another department
/// or manager, a new hiring or leaving date, changes the person's board (their audience,
/// what they owe) and the old and new manager's (their reach); a change of role, payroll
/// grant or leaving date makes the person's open live connections check again, so they
/// close when the person may no longer act, or may no longer act as they did.
pub fn org_change(before: &employee::Model, after: &employee::Model) -> Change {
    let mut change = Change::default();
    if before.department_id != after.department_id
        || before.manager_id != after.manager_id
        || before.hired_on != after.hired_on
        || before.left_on != after.left_on
    {
        change.merge(&Change::employees(
            [Some(after.id), before.manager_id, after.manager_id]
                .into_iter()
                .flatten(),
        ));
    }
    if before.role != after.role
        || before.payroll != after.payroll
        || before.left_on != after.left_on
    {
        change.merge(&Change::recheck_employee(after.id));
    }
    change
}

/// What an employee may change about themselves: the language of Zeroboard's messages
/// and whether they get e-mail reminders.
#[derive(Clone, Debug, Default)]
pub struct ProfileInput {
    pub language: Option<Language>,
    pub reminders: Option<bool>,
}

/// Changes an employee's own settings: by themselves, or by an admin for anyone.
pub async fn update_profile(
    db: &impl Db,
    who: &Principal,
    id: i64,
    input: ProfileInput,
) -> DomainResult<employee::Model> {
    if who.employee_id() != Some(id) {
        access::require_admin(who)?;
    }
    let txn = begin_write(db).await?;
    let current = employee::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("employee"))?;
    let mut row: employee::ActiveModel = current.clone().into();
    if let Some(language) = input.language {
        row.language = Set(language);
    }
    if let Some(reminders) = input.reminders {
        row.reminders = Set(reminders);
    }
    let row = if row.is_changed() {
        row.update(&txn).await?
    } else {
        current
    };
    txn.commit().await?;
    Ok(row)
}

/// Marks an employee as leaving on `left_on` (their last working day). Their open work
/// stays as it is; their tokens stop working the day after.
pub async fn deactivate_employee(
    db: &impl Db,
    who: &Principal,
    id: i64,
    left_on: NaiveDate,
) -> DomainResult<employee::Model> {
    access::require_admin(who)?;
    let left_on = bounds::date("left_on", left_on)?;
    let txn = begin_write(db).await?;
    let current = employee::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("employee"))?;
    if left_on < current.hired_on {
        return Err(DomainError::bad_input(
            "left_on",
            "an employee cannot leave before being hired",
        ));
    }
    let before = current.clone();
    let mut row: employee::ActiveModel = current.into();
    row.left_on = Set(Some(left_on));
    let row = row.update(&txn).await?;
    live::announce(&txn, org_change(&before, &row)).await?;
    txn.commit().await?;
    Ok(row)
}

/// Whether an employee has left the company before `today` (the company's local date):
/// such a person can no longer be given new work or control it.
pub fn departed(employee: &employee::Model, today: NaiveDate) -> bool {
    employee.left_on.is_some_and(|left| left < today)
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone, Utc};

    use super::*;

    #[test]
    #[rustfmt::skip]
    fn an_org_change_is_told_to_the_person_and_both_managers_and_rechecks_rights() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let before = employee::Model {
            id: 5, department_id: 1, manager_id: Some(2), name: "A".into(), email: "a@x".into(),
            email_key: "a@x".into(), role: Role::Employee, hired_on: day(1), left_on: None,
            created_at: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(), payroll: false,
            language: Language::En, reminders: true,
        };
        let with = |f: &dyn Fn(&mut employee::Model)| { let mut e = before.clone(); f(&mut e); e };
        let cases: [(employee::Model, &[i64], &[i64]); 8] = [
            // (after, boards told, connections rechecked)
            (with(&|e| e.manager_id = Some(3)), &[2, 3, 5], &[]),
            (with(&|e| e.manager_id = None), &[2, 5], &[]),
            (with(&|e| e.department_id = 4), &[2, 5], &[]),
            (with(&|e| e.left_on = Some(day(20))), &[2, 5], &[5]),
            (with(&|e| e.hired_on = day(2)), &[2, 5], &[]),
            (with(&|e| e.role = Role::Admin), &[], &[5]),
            (with(&|e| e.payroll = true), &[], &[5]),
            (with(&|e| e.name = "B".into()), &[], &[]),
        ];
        for (after, boards, rechecked) in cases {
            let change = org_change(&before, &after);
            assert_eq!((change.employees.as_slice(), change.recheck_employees.as_slice()), (boards, rechecked), "{after:?}");
            assert!(change.departments.is_empty() && !change.everyone && change.assignments.is_empty());
        }
    }
}
