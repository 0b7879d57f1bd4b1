//! Payroll is people too: `employee.payroll` lets an employee read what the `payroll:read`
//! scope reads (closed periods' results and the exports), so a payroll clerk signs in to the
//! web page with a link like everyone else instead of pasting a service token.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000003_payroll_grant"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("employee")
                    .add_column(boolean("payroll").default(false))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("employee")
                    .drop_column("payroll")
                    .take(),
            )
            .await
    }
}
