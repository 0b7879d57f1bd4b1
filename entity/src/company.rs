use sea_orm::entity::prelude::*;

/// The company's calendar settings: one row, `id` = 1.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "company")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    /// An IANA time zone, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// The period cadence, e.g. `semi-monthly` or `biweekly:2024-01-01`.
    pub cadence: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
