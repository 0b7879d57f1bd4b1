use sea_orm::entity::prelude::*;

/// A correction to a KPI result, kept beside it; the result itself never changes.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "kpi_adjustment")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub result_id: i64,
    pub delta_x100: i64,
    pub reason: String,
    pub author_id: Option<i64>,
    pub author_service: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
