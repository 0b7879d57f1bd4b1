//! Every KPI explains itself: one `kpi_item` row per obligation or target that went into a
//! result, written by the close in the same transaction as the result, and never changed.
//! `kpi_result.itemized` tells the results that have them from those closed before this
//! migration, which keep their tallies only.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261128_000001_kpi_item"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("kpi_result")
                    .add_column(boolean("itemized").default(false))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("kpi_item")
                    .col(big_pk_auto("id"))
                    .col(big_integer("result_id"))
                    .col(integer("position"))
                    .col(string("kind"))
                    .col(big_integer_null("subject_id"))
                    .col(text("title"))
                    .col(timestamp_with_time_zone_null("due_at"))
                    .col(timestamp_with_time_zone_null("met_at"))
                    .col(string("outcome"))
                    .col(double_null("ratio"))
                    .col(double("weight"))
                    .col(double("credit"))
                    .col(double("points"))
                    .col(big_integer("points_x100"))
                    .col(double("points_lost"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_kpi_item_result_id")
                            .from("kpi_item", "result_id")
                            .to("kpi_result", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_kpi_item_result_position")
                    .table("kpi_item")
                    .col("result_id")
                    .col("position")
                    .unique()
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("kpi_item").take())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("kpi_result")
                    .drop_column("itemized")
                    .take(),
            )
            .await
    }
}
