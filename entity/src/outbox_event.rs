use sea_orm::entity::prelude::*;

/// One event worth telling the outside world, written in the same transaction as the change
/// it tells of (the transactional outbox), never updated but for `fanned_out_at`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `evt_` and 32 hex digits: the `webhook-id` every delivery of it carries, unique.
    pub event_id: String,
    /// `period.opened`, `period.closed`, `assignment.submitted`, …
    pub event_type: String,
    /// For events told once per subject whatever the retries (`period.closed:12`); unique.
    pub dedupe_key: Option<String>,
    /// The JSON body every delivery sends: `{"type", "timestamp", "data"}`.
    pub body: String,
    pub created_at: DateTimeUtc,
    /// When the dispatcher made its deliveries; null while it has not.
    pub fanned_out_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
