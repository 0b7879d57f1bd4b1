use sea_orm::entity::prelude::*;

/// An announcement the live tiles owe at `due_at` (an article published for a later date,
/// a proposal opening or closing), to the audience `department_id` (`None`: everyone).
/// Deleted by the tick that tells it, in the same transaction; one per kind and subject.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "live_due")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `article`, `proposal_opens` or `proposal_closes`.
    pub kind: String,
    pub subject_id: i64,
    pub department_id: Option<i64>,
    pub due_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
