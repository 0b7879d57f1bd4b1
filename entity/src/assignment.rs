use sea_orm::entity::prelude::*;

use crate::enums::{AssignmentKind, AssignmentStatus};

/// A personal task in one period: a generated duty or an additional assignment.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "assignment")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: AssignmentKind,
    pub template_id: Option<i64>,
    pub period_id: i64,
    pub assignee_id: i64,
    pub controller_id: i64,
    pub title: String,
    pub description: String,
    pub weight: f64,
    pub due_at: DateTimeUtc,
    pub status: AssignmentStatus,
    pub submitted_at: Option<DateTimeUtc>,
    pub decided_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub created_by: Option<i64>,
    /// Bumped by every change, so a stale write can be detected.
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
