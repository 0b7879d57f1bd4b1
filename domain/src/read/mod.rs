//! The read model: everything the board, the reports and the API's object graph read, as
//! sea-query conditions and batch functions keyed by ids (one statement per batch, whatever
//! its size). Callers batch (the API's DataLoaders are thin adapters over these); nothing
//! here caches.
//!
//! - [`tiles`]: the personal board's tiles, each a condition shared by its count and list.
//! - [`reports`]: the managers' reports and the `assignments` filter.
//! - [`rows`]: rows by id and children by parent id.
//! - [`items`]: the stored items of KPI results, a page of many results in one statement.
//! - The current period (below). The current policy is `policy::current`, the live KPI
//!   `results::live_kpis`.

pub mod items;
pub mod reports;
pub mod rows;
pub mod tiles;

use chrono::{DateTime, Utc};
use entity::period;
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
