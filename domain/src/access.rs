//! Who may see what (DESIGN section 6), in one place. Resolvers and services ask here;
//! none of them decides visibility on its own.

use entity::{assignment, employee};
use sea_orm::{ConnectionTrait, EntityTrait};

use crate::DomainResult;
use crate::auth::Principal;

/// The longest management chain we follow; guards against a cycle in bad data.
const MAX_CHAIN: usize = 64;

/// Whether `manager_id` is above `employee_id` in the management chain.
pub async fn is_above(db: &impl ConnectionTrait, manager_id: i64, employee_id: i64) -> DomainResult<bool> {
    let mut current = employee_id;
    for _ in 0..MAX_CHAIN {
        let Some(row) = employee::Entity::find_by_id(current).one(db).await? else { return Ok(false) };
        match row.manager_id {
            Some(m) if m == manager_id => return Ok(true),
            Some(m) => current = m,
            None => return Ok(false),
        }
    }
    Ok(false)
}

/// Whether the principal may see everything about an employee (profile, tiles, KPI):
/// admins, the employee, and managers above them.
pub async fn can_see_employee_details(db: &impl ConnectionTrait, who: &Principal, employee_id: i64) -> DomainResult<bool> {
    if who.is_admin() {
        return Ok(true);
    }
    match who.employee_id() {
        Some(me) if me == employee_id => Ok(true),
        Some(me) => is_above(db, me, employee_id).await,
        None => Ok(false),
    }
}

/// Whether the principal may see an assignment: admins, its assignee and controller, and
/// managers above the assignee.
pub async fn can_see_assignment(db: &impl ConnectionTrait, who: &Principal, a: &assignment::Model) -> DomainResult<bool> {
    if who.is_admin() {
        return Ok(true);
    }
    match who.employee_id() {
        Some(me) if me == a.assignee_id || me == a.controller_id => Ok(true),
        Some(me) => is_above(db, me, a.assignee_id).await,
        None => Ok(false),
    }
}
