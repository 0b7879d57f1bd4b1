use sea_orm::entity::prelude::*;

/// A recurring job duty. Targets one employee or every active employee of a department.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "duty_template")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub title: String,
    pub description: String,
    pub weight: f64,
    pub controller_id: Option<i64>,
    pub employee_id: Option<i64>,
    pub department_id: Option<i64>,
    pub every_n_periods: i32,
    pub due_offset_days: Option<i32>,
    pub active: bool,
    pub starts_on: Date,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
