use sea_orm::entity::prelude::*;

/// A proposal put to a vote. `department_id` `None` means everyone is the audience.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "proposal")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub title: String,
    pub body: String,
    pub author_id: Option<i64>,
    pub department_id: Option<i64>,
    pub opens_at: DateTimeUtc,
    pub closes_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
