//! The one schema of Zeroboard, for SQLite and PostgreSQL alike.
//!
//! Migrations are written with sea-query's builders (plus one portable raw index), so every
//! statement runs unchanged on both databases. A migration never edits an earlier one.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_model;
mod m20261127_000001_company;
mod m20261127_000002_email_key;
mod m20261128_000001_kpi_item;
mod m20261129_000001_kpi_item_key;
mod m20261129_000002_session;
mod m20261129_000003_webhooks;
mod m20261130_000003_payroll_grant;
mod m20261130_000004_reminders;
mod m20261201_000001_live_due;
pub mod m20261202_000001_unfinished_due;
mod m20261203_000001_manager_chain;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_model::Migration),
            Box::new(m20261127_000001_company::Migration),
            Box::new(m20261127_000002_email_key::Migration),
            Box::new(m20261128_000001_kpi_item::Migration),
            Box::new(m20261129_000001_kpi_item_key::Migration),
            Box::new(m20261129_000002_session::Migration),
            Box::new(m20261129_000003_webhooks::Migration),
            Box::new(m20261130_000003_payroll_grant::Migration),
            Box::new(m20261130_000004_reminders::Migration),
            Box::new(m20261201_000001_live_due::Migration),
            Box::new(m20261202_000001_unfinished_due::Migration),
            Box::new(m20261203_000001_manager_chain::Migration),
        ]
    }
}
