use sea_orm::entity::prelude::*;

/// One obligation or target that went into a `kpi_result`, as judged at close: written in
/// the close's transaction, never updated. `points` is its unrounded contribution to the
/// KPI; `points_x100` the same rounded so that a result's items add up to its `kpi_x100`.
/// Keyed by its result and position; no foreign key to `kpi_result` (see the migration
/// `m20261129_000001_kpi_item_key`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "kpi_item")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub result_id: i64,
    /// 1, 2, … within the result, in display order.
    #[sea_orm(primary_key, auto_increment = false)]
    pub position: i32,
    /// `duty`, `additional`, `acceptance`, `vote`, `reading`, `target` or `nothing_owed`.
    pub kind: String,
    /// The assignment (duty, additional, acceptance), proposal (vote), article (reading) or
    /// `kpi_target` (target) it is about.
    pub subject_id: Option<i64>,
    /// The subject's title (a target's metric) as it was at close.
    pub title: String,
    pub due_at: Option<DateTimeUtc>,
    pub met_at: Option<DateTimeUtc>,
    /// `on_time`, `late`, `missed`, or `scored` for a target with a recorded actual.
    pub outcome: String,
    /// A target's actual / target, uncapped.
    pub ratio: Option<f64>,
    pub weight: f64,
    pub credit: f64,
    pub points: f64,
    pub points_x100: i64,
    /// Points it would have added on time (a target: at its target), unrounded.
    pub points_lost: f64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
