//! Storage shape of Zeroboard: one sea-orm entity per table, and the enums stored in them.
//!
//! This crate knows tables and columns only. It holds no rules: what a status may
//! become, who may see a row, or how a KPI is computed live in `domain`.

pub mod enums;

pub mod api_token;
pub mod article;
pub mod article_read;
pub mod assignment;
pub mod assignment_event;
pub mod company;
pub mod department;
pub mod duty_template;
pub mod employee;
pub mod kpi_adjustment;
pub mod kpi_item;
pub mod kpi_policy;
pub mod kpi_result;
pub mod kpi_target;
pub mod live_due;
pub mod login_link;
pub mod outbox_event;
pub mod period;
pub mod proposal;
pub mod reminder;
pub mod reminder_day;
pub mod scheduler_run;
pub mod session;
pub mod vote;
pub mod webhook;
pub mod webhook_delivery;
