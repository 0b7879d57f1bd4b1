//! The due-date index holds unfinished work only.
//!
//! Why: every query that filters assignments by due date asks what is overdue, unfinished
//! (`todo`, `in_progress`, `returned`) and past due: the scheduler's overdue events at each
//! tick, the debtors report, the reminders. The full index on `due_at` listed every
//! assignment ever due, finished or not, so those queries read all past work to keep the few
//! still open (on a seeded company of 10,000 people, 190,000 index entries and 75,000 rows
//! read for 10,000 kept, 80 ms a tick on PostgreSQL), and every status change added an entry.
//! The partial index holds only the rows its queries keep. A query uses it when it writes
//! the same statuses into its SQL text (`read::reports::overdue_condition`), not bound.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000001_unfinished_due"
    }
}

/// The statuses of unfinished work, as `domain::transition::UNFINISHED` names them.
pub const UNFINISHED: [&str; 3] = ["todo", "in_progress", "returned"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_assignment_due_at")
                    .table("assignment")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_assignment_unfinished_due")
                    .table("assignment")
                    .col("due_at")
                    .and_where(Expr::col("status").is_in(UNFINISHED))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_assignment_unfinished_due")
                    .table("assignment")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_assignment_due_at")
                    .table("assignment")
                    .col("due_at")
                    .take(),
            )
            .await
    }
}
