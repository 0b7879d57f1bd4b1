use sea_orm::entity::prelude::*;

/// One step of one scheduler tick: what it did and how it ended.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "scheduler_run")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `open`, `generate` or `close`.
    pub step: String,
    pub period_id: Option<i64>,
    /// The instant the tick ran for (the clock's `now`, not the wall clock).
    pub tick_at: DateTimeUtc,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    /// `ok`, `failed` or `skipped`.
    pub outcome: String,
    /// What the step did, as JSON, e.g. `{"created": 3, "skipped": 1}`.
    pub counts: String,
    pub error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
