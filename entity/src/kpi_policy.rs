use sea_orm::entity::prelude::*;

/// One version of the KPI policy. Versions are never edited: a change inserts a new one.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "kpi_policy")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i32,
    pub late_credit: f64,
    pub duty_weight: f64,
    pub additional_weight: f64,
    pub acceptance_weight: f64,
    pub acceptance_sla_hours: i64,
    pub vote_weight: f64,
    pub reading_weight: f64,
    pub reading_sla_hours: i64,
    pub target_cap: f64,
    pub discipline_share: f64,
    pub max_late_duties: i32,
    pub bonus_min_kpi: f64,
    pub bonus_cap_kpi: f64,
    pub average_window: i32,
    pub close_after_hours: i64,
    pub created_at: DateTimeUtc,
    pub created_by: Option<i64>,
    pub note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
