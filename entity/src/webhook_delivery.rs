use sea_orm::entity::prelude::*;

/// One event to one webhook: its state and the latest of its attempts.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_delivery")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub webhook_id: i64,
    /// The `outbox_event` it delivers.
    pub outbox_id: i64,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    /// Attempts made (each claimed attempt counts, sent or not).
    pub attempts: i32,
    pub created_at: DateTimeUtc,
    /// Where the bounded retry window starts: the creation, or the last `redeliver`.
    pub retry_from: DateTimeUtc,
    /// When the next attempt is due; null unless pending.
    pub next_attempt_at: Option<DateTimeUtc>,
    /// A dispatcher's lease on the attempt under way; no other dispatcher claims it before.
    pub locked_until: Option<DateTimeUtc>,
    pub last_attempt_at: Option<DateTimeUtc>,
    /// The HTTP status of the last answer; null when there was none.
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
