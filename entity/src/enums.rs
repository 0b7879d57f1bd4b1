//! Enums stored as lowercase strings, so the same column type works on SQLite and PostgreSQL.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Role {
    #[sea_orm(string_value = "employee")]
    Employee,
    #[sea_orm(string_value = "manager")]
    Manager,
    #[sea_orm(string_value = "admin")]
    Admin,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum PeriodStatus {
    #[sea_orm(string_value = "open")]
    Open,
    #[sea_orm(string_value = "closing")]
    Closing,
    #[sea_orm(string_value = "closed")]
    Closed,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum AssignmentKind {
    #[sea_orm(string_value = "duty")]
    Duty,
    #[sea_orm(string_value = "additional")]
    Additional,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum AssignmentStatus {
    #[sea_orm(string_value = "todo")]
    Todo,
    #[sea_orm(string_value = "in_progress")]
    InProgress,
    #[sea_orm(string_value = "submitted")]
    Submitted,
    #[sea_orm(string_value = "accepted")]
    Accepted,
    #[sea_orm(string_value = "returned")]
    Returned,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    #[sea_orm(string_value = "missed")]
    Missed,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum VoteChoice {
    #[sea_orm(string_value = "for")]
    For,
    #[sea_orm(string_value = "against")]
    Against,
    #[sea_orm(string_value = "abstain")]
    Abstain,
}

/// The language an employee reads Zeroboard's messages in (the reminders).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Language {
    #[default]
    #[sea_orm(string_value = "en")]
    En,
    #[sea_orm(string_value = "ru")]
    Ru,
}
