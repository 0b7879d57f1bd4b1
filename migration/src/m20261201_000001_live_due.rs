//! Announcements the live tiles owe at a later instant (`live_due`): an article published
//! for a later date reaches its audience then, a proposal opens and closes then. The
//! scheduler's tick announces each row whose instant has passed and deletes it in the same
//! transaction, so a row stays until it is told, whatever restarts in between. Articles and
//! proposals already stored are scheduled here as their creation would schedule them; those
//! whose instant has passed are told by the first tick (a board pushed again is harmless).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000001_live_due"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// In one transaction on SQLite too, as the reminders' migration explains.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("live_due")
                    .col(big_pk_auto("id"))
                    .col(string("kind"))
                    .col(big_integer("subject_id"))
                    .col(big_integer_null("department_id"))
                    .col(timestamp_with_time_zone("due_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_live_due_once")
                    .table("live_due")
                    .col("kind")
                    .col("subject_id")
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_live_due_at")
                    .table("live_due")
                    .col("due_at")
                    .take(),
            )
            .await?;
        // What is already stored: articles and proposals published or opening after they
        // were created, and every proposal's closing.
        for (kind, table, at, scheduled) in [
            ("article", "article", "published_at", true),
            ("proposal_opens", "proposal", "opens_at", true),
            ("proposal_closes", "proposal", "closes_at", false),
        ] {
            let mut select = Query::select();
            select
                .expr(Expr::val(kind))
                .column("id")
                .column("department_id")
                .column(at)
                .from(table);
            if scheduled {
                select.and_where(Expr::col(at).gt(Expr::col("created_at")));
            }
            let insert = Query::insert()
                .into_table("live_due")
                .columns(["kind", "subject_id", "department_id", "due_at"])
                .select_from(select)
                .map_err(|e| DbErr::Migration(e.to_string()))?
                .to_owned();
            manager.exec_stmt(insert).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("live_due").take())
            .await
    }
}
