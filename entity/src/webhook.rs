use sea_orm::entity::prelude::*;

/// An endpoint an admin registered to be told of events.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// An absolute `http` or `https` URL.
    pub url: String,
    /// The event types it wants, space-separated.
    pub events: String,
    /// `whsec_` and base64 of the signing key. Stored as it is, since every delivery is
    /// signed with it.
    pub secret: String,
    /// The secret before the last rotation, still signing beside the new one until
    /// `previous_secret_until`.
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// Since when every attempt to it has failed; null after a success.
    pub failing_since: Option<DateTimeUtc>,
    /// Set when an admin disables it or when it has failed for too long; null while enabled.
    pub disabled_at: Option<DateTimeUtc>,
    pub disabled_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
