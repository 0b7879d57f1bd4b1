use sea_orm::entity::prelude::*;

/// A knowledge-base article. `department_id` `None` means everyone is the audience.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "article")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub title: String,
    pub link: Option<String>,
    pub body: Option<String>,
    pub author_id: Option<i64>,
    pub department_id: Option<i64>,
    pub mandatory: bool,
    pub published_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
