//! Telling the outside world: a transactional outbox of events (`outbox_event`, written in
//! the transaction of the change each tells of), the webhook endpoints admins register
//! (`webhook`), and one `webhook_delivery` per event and endpoint, with its attempts.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000003_webhooks"
    }
}

fn index(
    table: &'static str,
    name: &str,
    columns: &[&'static str],
    unique: bool,
) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(format!("ix_{table}_{name}")).table(table);
    for column in columns {
        index.col(*column);
    }
    if unique {
        index.unique();
    }
    index.take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("outbox_event")
                    .col(big_pk_auto("id"))
                    .col(string("event_id"))
                    .col(string("event_type"))
                    .col(string_null("dedupe_key"))
                    .col(text("body"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("fanned_out_at"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("webhook")
                    .col(big_pk_auto("id"))
                    .col(text("url"))
                    .col(text("events"))
                    .col(string("secret"))
                    .col(string_null("previous_secret"))
                    .col(timestamp_with_time_zone_null("previous_secret_until"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("failing_since"))
                    .col(timestamp_with_time_zone_null("disabled_at"))
                    .col(text_null("disabled_reason"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("webhook_delivery")
                    .col(big_pk_auto("id"))
                    .col(big_integer("webhook_id"))
                    .col(big_integer("outbox_id"))
                    .col(string("status"))
                    .col(integer("attempts"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("retry_from"))
                    .col(timestamp_with_time_zone_null("next_attempt_at"))
                    .col(timestamp_with_time_zone_null("locked_until"))
                    .col(timestamp_with_time_zone_null("last_attempt_at"))
                    .col(integer_null("last_status_code"))
                    .col(text_null("last_error"))
                    .col(timestamp_with_time_zone_null("delivered_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_delivery_webhook_id")
                            .from("webhook_delivery", "webhook_id")
                            .to("webhook", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_delivery_outbox_id")
                            .from("webhook_delivery", "outbox_id")
                            .to("outbox_event", "id")
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .take(),
            )
            .await?;
        for index in [
            index("outbox_event", "event_id", &["event_id"], true),
            // Events told once whatever the retries (`period.closed:<id>`); NULLs are
            // distinct in a unique index on both databases.
            index("outbox_event", "dedupe_key", &["dedupe_key"], true),
            index(
                "outbox_event",
                "fanned_out",
                &["fanned_out_at", "id"],
                false,
            ),
            index(
                "webhook_delivery",
                "webhook_outbox",
                &["webhook_id", "outbox_id"],
                true,
            ),
            index(
                "webhook_delivery",
                "due",
                &["status", "next_attempt_at"],
                false,
            ),
            index("webhook_delivery", "outbox", &["outbox_id"], false),
        ] {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["webhook_delivery", "webhook", "outbox_event"] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }
}
