use sea_orm::entity::prelude::*;

/// A KPI target of one employee in one period, e.g. `extra_services_sold`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "kpi_target")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub period_id: i64,
    pub employee_id: i64,
    pub metric: String,
    pub target_value: f64,
    pub actual_value: Option<f64>,
    pub weight: f64,
    pub recorded_at: Option<DateTimeUtc>,
    pub recorded_by: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
