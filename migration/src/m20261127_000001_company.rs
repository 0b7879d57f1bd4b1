//! The company's calendar settings, stored once so that every process agrees on them.
//!
//! One row (`id` = 1): the IANA time zone and the cadence (`Cadence`'s spelling, e.g.
//! `semi-monthly` or `biweekly:2024-01-01`). The first process that uses the calendar
//! stores what it was configured with; a process configured differently refuses to start,
//! and `zeroboard company set` changes the row deliberately.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000001_company"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("company")
                    .col(integer("id").primary_key())
                    .col(string("timezone"))
                    .col(string("cadence"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("company").take())
            .await
    }
}
