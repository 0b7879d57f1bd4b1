//! E-mail reminders: each employee's language and whether they want reminders
//! (`employee.language`, `employee.reminders`), the days whose reminders were prepared
//! (`reminder_day`, one row per local day, so a day is prepared once however many
//! schedulers run), and the reminders themselves (`reminder`, one per employee, local day
//! and kind under a unique key, holding the message as sent, its status and attempts).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000004_reminders"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// In one transaction on SQLite too: outside one, the pool may run a statement on a
    /// connection that has not yet seen the previous one's schema change (the storage test
    /// that runs down and up again saw "index ix_reminder_due already exists").
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table("employee")
                    .add_column(string("language").default("en"))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("employee")
                    .add_column(boolean("reminders").default(true))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("reminder_day")
                    .col(date("day").primary_key())
                    .col(timestamp_with_time_zone("prepared_at"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("reminder")
                    .col(big_pk_auto("id"))
                    .col(big_integer("employee_id"))
                    .col(date("day"))
                    .col(string("kind"))
                    .col(string("email"))
                    .col(string("language"))
                    .col(text("subject"))
                    .col(text("body"))
                    .col(string("status"))
                    .col(integer("attempts"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("next_attempt_at"))
                    .col(timestamp_with_time_zone_null("locked_until"))
                    .col(timestamp_with_time_zone_null("sent_at"))
                    .col(text_null("last_error"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_reminder_employee_id")
                            .from("reminder", "employee_id")
                            .to("employee", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_reminder_once")
                    .table("reminder")
                    .col("employee_id")
                    .col("day")
                    .col("kind")
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_reminder_due")
                    .table("reminder")
                    .col("status")
                    .col("next_attempt_at")
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("reminder").take())
            .await?;
        manager
            .drop_table(Table::drop().table("reminder_day").take())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("employee")
                    .drop_column("reminders")
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("employee")
                    .drop_column("language")
                    .take(),
            )
            .await
    }
}
