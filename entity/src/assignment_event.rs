use sea_orm::entity::prelude::*;

use crate::enums::AssignmentStatus;

/// One transition of an assignment. `actor_id` is `None` for the system.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "assignment_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub assignment_id: i64,
    pub actor_id: Option<i64>,
    pub from_status: Option<AssignmentStatus>,
    pub to_status: AssignmentStatus,
    pub comment: Option<String>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
