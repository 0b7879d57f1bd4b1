//! `kpi_item` keyed by what identifies an item, its result and position, and without a
//! foreign key to `kpi_result`.
//!
//! Why: a close of 10,000 people writes some 35,000 items in its transaction. On PostgreSQL
//! the foreign key's check (a `SELECT … FOR KEY SHARE` of the result, per item) cost more than
//! the insert itself, and the surrogate `id` a second index nobody reads by. Items are
//! written only by the close, in the transaction that writes their results, under ids it
//! reads back in that transaction; results are never deleted. The tests check that every
//! item belongs to a result of its close (`tests/e2e/scheduler.rs`).
//!
//! SQLite cannot change a table's key, so the table is rebuilt (on both databases alike):
//! created anew, its rows copied, the old one dropped and the new one renamed, in one
//! transaction on SQLite too. (Outside a transaction, each statement may run on another of
//! the pool's connections, and SQLite checks a rename's new name against the schema the
//! connection last read: one that had not seen the drop refused the rename.)

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000001_kpi_item_key"
    }
}

/// Every column but the surrogate `id`, in the table's order.
const COLUMNS: [&str; 14] = [
    "result_id",
    "position",
    "kind",
    "subject_id",
    "title",
    "due_at",
    "met_at",
    "outcome",
    "ratio",
    "weight",
    "credit",
    "points",
    "points_x100",
    "points_lost",
];

/// `kpi_item`'s columns after `result_id` and `position`, as the previous migration made them.
fn item_columns(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table
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
}

/// Copies every item from `from` to `to`, in result and position order, and replaces `from`.
async fn move_items(
    manager: &SchemaManager<'_>,
    from: &'static str,
    to: &'static str,
) -> Result<(), DbErr> {
    let rows = Query::select()
        .columns(COLUMNS)
        .from(from)
        .order_by("result_id", Order::Asc)
        .order_by("position", Order::Asc)
        .take();
    manager
        .exec_stmt(
            Query::insert()
                .into_table(to)
                .columns(COLUMNS)
                .select_from(rows)
                .map_err(|e| DbErr::Migration(e.to_string()))?
                .take(),
        )
        .await?;
    manager.drop_table(Table::drop().table(from).take()).await?;
    manager
        .rename_table(Table::rename().table(to, from).take())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut next = Table::create();
        next.table("kpi_item_next");
        item_columns(&mut next).primary_key(Index::create().col("result_id").col("position"));
        manager.create_table(next).await?;
        move_items(manager, "kpi_item", "kpi_item_next").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut previous = Table::create();
        previous.table("kpi_item_previous").col(big_pk_auto("id"));
        item_columns(&mut previous).foreign_key(
            ForeignKey::create()
                .name("fk_kpi_item_result_id")
                .from("kpi_item_previous", "result_id")
                .to("kpi_result", "id")
                .on_delete(ForeignKeyAction::Restrict),
        );
        manager.create_table(previous).await?;
        move_items(manager, "kpi_item", "kpi_item_previous").await?;
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
}
