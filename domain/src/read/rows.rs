//! Rows by id and children by parent id, for the API's object graph: each function is one
//! statement for the whole batch, and every key asked for gets an answer (empty when it has
//! no rows), so a caller's cache remembers "none".

use std::collections::HashMap;

use entity::{
    article, assignment, assignment_event, department, employee, kpi_adjustment, kpi_policy,
    kpi_result, kpi_target, period, proposal, vote,
};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query};
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

/// The KPIs (in hundredths) of each employee's last results, newest period first: as many
/// as the newest policy's `average_window` (at least one), which the same statement reads.
/// What `averageKpi` averages, in one statement instead of the policy's and every result's.
pub async fn recent_kpis_of(
    db: &impl ConnectionTrait,
    employees: &[i64],
) -> DomainResult<HashMap<i64, Vec<i64>>> {
    let backend = db.get_database_backend();
    let newest_first =
        Expr::cust(r#"ROW_NUMBER() OVER (PARTITION BY "employee_id" ORDER BY "period_id" DESC)"#);
    let ranked = Query::select()
        .column(kpi_result::Column::EmployeeId)
        .column(kpi_result::Column::KpiX100)
        .expr_as(newest_first, Alias::new("n"))
        .from(kpi_result::Entity)
        .and_where(id_in(
            backend,
            kpi_result::Column::EmployeeId,
            employees.iter().copied(),
        ))
        .to_owned();
    let average_window = Expr::col(kpi_policy::Column::AverageWindow);
    let window = Query::select()
        .expr(Expr::case(average_window.clone().lt(1), 1).finally(average_window))
        .from(kpi_policy::Entity)
        .order_by(kpi_policy::Column::Version, Order::Desc)
        .limit(1)
        .to_owned();
    let recent = Query::select()
        .column(kpi_result::Column::EmployeeId)
        .column(kpi_result::Column::KpiX100)
        .from_subquery(ranked, Alias::new("ranked"))
        .and_where(Expr::col(Alias::new("n")).lte(Expr::SubQuery(None, Box::new(window.into()))))
        .order_by(kpi_result::Column::EmployeeId, Order::Asc)
        .order_by(Alias::new("n"), Order::Asc)
        .to_owned();
    let mut rows = Vec::new();
    for row in db.query_all(&recent).await? {
        rows.push(row.try_get_many_by_index::<(i64, i64)>()?);
    }
    let grouped = group(employees, rows, |(employee, _)| *employee);
    Ok(grouped
        .into_iter()
        .map(|(employee, kpis)| (employee, kpis.into_iter().map(|(_, kpi)| kpi).collect()))
        .collect())
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
