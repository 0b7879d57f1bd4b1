use sea_orm::entity::prelude::*;

/// One e-mail reminder: to one employee, for one local day, of one kind, unique on the
/// three. Holds the message as composed when the day was prepared, so a retry sends the
/// same text.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "reminder")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub employee_id: i64,
    /// The company-local day it reminds of.
    pub day: Date,
    /// `overdue` (the employee's overdue work) or `to_accept` (submissions waiting for them).
    pub kind: String,
    /// The address and language at the time it was prepared.
    pub email: String,
    pub language: String,
    pub subject: String,
    pub body: String,
    /// `pending` (to be sent at `next_attempt_at`), `sending` (claimed until
    /// `locked_until`), `sent`, `failed` (given up) or `abandoned` (its sender stopped
    /// before saying how the attempt went; never sent again, so nobody gets it twice).
    pub status: String,
    pub attempts: i32,
    pub created_at: DateTimeUtc,
    pub next_attempt_at: Option<DateTimeUtc>,
    pub locked_until: Option<DateTimeUtc>,
    pub sent_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
