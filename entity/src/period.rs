use sea_orm::entity::prelude::*;

use crate::enums::PeriodStatus;

/// A work period: local dates `[starts_on, ends_on]` and their UTC instants.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "period")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub starts_on: Date,
    pub ends_on: Date,
    pub starts_at: DateTimeUtc,
    pub ends_at: DateTimeUtc,
    pub status: PeriodStatus,
    pub policy_version: i32,
    /// The cadence the period was cut by, e.g. `semi-monthly`.
    pub cadence: String,
    pub opened_at: DateTimeUtc,
    pub closed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
