//! The read model: everything the board, the reports and the API's object graph read, as
//! sea-query conditions and batch functions keyed by ids (one statement per batch, whatever
//! its size). Callers batch (the API's DataLoaders are thin adapters over these); nothing
//! here caches.
//!
//! - [`tiles`]: the personal board's tiles, each a condition shared by its count and list.
//! - [`reports`]: the managers' reports and the `assignments` filter.
//! - [`rows`]: rows by id and children by parent id.
//! - The current period and policy, and the live KPI of a batch of employees (below).

pub mod reports;
pub mod rows;
pub mod tiles;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use entity::{kpi_policy, period};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::DomainResult;

/// The period containing `now`, whatever its status (one closed early, by an admin or a
/// tick run ahead of time, keeps its tiles); when the scheduler has not opened it yet, the
/// newest period that has started.
pub async fn current_period(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> DomainResult<Option<period::Model>> {
    Ok(period::Entity::find()
        .filter(period::Column::StartsAt.lte(now))
        .order_by_desc(period::Column::StartsOn)
        .one(db)
        .await?)
}

/// The KPI policy in force now: the newest version.
pub async fn current_policy(db: &impl ConnectionTrait) -> DomainResult<kpi_policy::Model> {
    crate::policy::current(db).await
}

/// The live KPI (×100) of employees in a period (the `currentKpi` tile), judging the
/// period's rows once for all of them: only their own rows for one employee, the whole
/// period's for several, in the same number of statements. `policy` is the period's
/// version when the caller has it at hand.
pub async fn live_kpi_for(
    db: &impl ConnectionTrait,
    tz: Tz,
    period: &period::Model,
    policy: Option<&kpi_policy::Model>,
    employees: &[i64],
    now: DateTime<Utc>,
) -> DomainResult<HashMap<i64, i64>> {
    use crate::close::{PeriodRows, live_evaluations};
    let policy = match policy.filter(|p| p.version == period.policy_version) {
        Some(policy) => policy.clone(),
        None => crate::policy::by_version(db, period.policy_version).await?,
    };
    let rules = crate::policy::rules(&policy);
    let only = match employees {
        [one] => Some(*one),
        _ => None,
    };
    let rows = PeriodRows::load(db, period, only).await?;
    Ok(live_evaluations(&rows, period, &rules, tz, employees, now)
        .into_iter()
        .map(|(id, evaluation)| (id, evaluation.kpi_x100))
        .collect())
}
