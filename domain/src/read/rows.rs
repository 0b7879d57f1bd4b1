//! Rows by id and children by parent id, for the API's object graph: each function is one
//! statement for the whole batch, and every key asked for gets an answer (empty when it has
//! no rows), so a caller's cache remembers "none".

use std::collections::HashMap;

use entity::{
    article, assignment, assignment_event, department, employee, kpi_adjustment, kpi_policy,
    kpi_result, kpi_target, period, proposal, vote,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::DomainResult;
use crate::db::id_in;

/// An entity whose rows are found by an `i64` primary key.
pub trait ById: EntityTrait {
    fn id_column() -> Self::Column;
    fn id_of(row: &Self::Model) -> i64;
}

macro_rules! by_id {
    ($($module:ident),*) => {$(
        impl ById for $module::Entity {
            fn id_column() -> Self::Column {
                $module::Column::Id
            }
            fn id_of(row: &Self::Model) -> i64 {
                row.id
            }
        }
    )*};
}

by_id!(
    employee, department, period, assignment, article, proposal, kpi_target
);

/// Rows of one entity by id; ids without a row are absent.
pub async fn by_ids<E: ById>(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> DomainResult<HashMap<i64, E::Model>> {
    let rows = E::find()
        .filter(id_in(
            db.get_database_backend(),
            E::id_column(),
            ids.iter().copied(),
        ))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|r| (E::id_of(&r), r)).collect())
}

/// The events of each assignment, oldest first.
pub async fn events_of(
    db: &impl ConnectionTrait,
    assignments: &[i64],
) -> DomainResult<HashMap<i64, Vec<assignment_event::Model>>> {
    let rows = assignment_event::Entity::find()
        .filter(id_in(
            db.get_database_backend(),
            assignment_event::Column::AssignmentId,
            assignments.iter().copied(),
        ))
        .order_by_asc(assignment_event::Column::Id)
        .all(db)
        .await?;
    Ok(group(assignments, rows, |r| r.assignment_id))
}

/// The adjustments of each KPI result, oldest first.
pub async fn adjustments_of(
    db: &impl ConnectionTrait,
    results: &[i64],
) -> DomainResult<HashMap<i64, Vec<kpi_adjustment::Model>>> {
    let rows = kpi_adjustment::Entity::find()
        .filter(id_in(
            db.get_database_backend(),
            kpi_adjustment::Column::ResultId,
            results.iter().copied(),
        ))
        .order_by_asc(kpi_adjustment::Column::Id)
        .all(db)
        .await?;
    Ok(group(results, rows, |r| r.result_id))
}

/// The KPI results of each employee, newest period first (period ids grow with their
/// start dates).
pub async fn results_of(
    db: &impl ConnectionTrait,
    employees: &[i64],
) -> DomainResult<HashMap<i64, Vec<kpi_result::Model>>> {
    let rows = kpi_result::Entity::find()
        .filter(id_in(
            db.get_database_backend(),
            kpi_result::Column::EmployeeId,
            employees.iter().copied(),
        ))
        .order_by_desc(kpi_result::Column::PeriodId)
        .all(db)
        .await?;
    Ok(group(employees, rows, |r| r.employee_id))
}

/// Votes by `(proposal, employee)`; pairs without a vote are absent.
pub async fn votes_of(
    db: &impl ConnectionTrait,
    keys: &[(i64, i64)],
) -> DomainResult<HashMap<(i64, i64), vote::Model>> {
    let backend = db.get_database_backend();
    let rows = vote::Entity::find()
        .filter(id_in(
            backend,
            vote::Column::ProposalId,
            keys.iter().map(|k| k.0),
        ))
        .filter(id_in(
            backend,
            vote::Column::EmployeeId,
            keys.iter().map(|k| k.1),
        ))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|v| ((v.proposal_id, v.employee_id), v))
        .collect())
}

/// Policy versions by number; versions without a row are absent.
pub async fn policies_of(
    db: &impl ConnectionTrait,
    versions: &[i32],
) -> DomainResult<HashMap<i32, kpi_policy::Model>> {
    let rows = kpi_policy::Entity::find()
        .filter(kpi_policy::Column::Version.is_in(versions.iter().copied()))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|p| (p.version, p)).collect())
}

/// Rows grouped by their parent, keeping their order; every key gets an entry.
fn group<T>(keys: &[i64], rows: Vec<T>, parent: impl Fn(&T) -> i64) -> HashMap<i64, Vec<T>> {
    let mut out: HashMap<i64, Vec<T>> = keys.iter().map(|k| (*k, Vec::new())).collect();
    for row in rows {
        out.entry(parent(&row)).or_default().push(row);
    }
    out
}
