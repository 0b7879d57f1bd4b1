use sea_orm::entity::prelude::*;

/// The final KPI of one employee for one closed period. Never updated after insert.
/// Figures are fixed-point integers: `*_x100` in hundredths, the factor in ten-thousandths.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "kpi_result")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub period_id: i64,
    pub employee_id: i64,
    pub policy_version: i32,
    pub kpi_x100: i64,
    pub discipline_x100: i64,
    pub targets_x100: Option<i64>,
    pub eligible: bool,
    pub bonus_factor_x10000: i64,
    /// Reason codes separated by commas, e.g. `DUTY_LATE,KPI_BELOW_THRESHOLD`.
    pub reasons: String,
    pub duties_missed: i32,
    pub duties_late: i32,
    /// Counts and weights per obligation kind and outcome, as JSON.
    pub obligations: String,
    pub computed_at: DateTimeUtc,
    /// Whether its obligations are stored one by one in `kpi_item`; `false` for results
    /// closed before items were stored, which keep only the tally in `obligations`.
    pub itemized: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
