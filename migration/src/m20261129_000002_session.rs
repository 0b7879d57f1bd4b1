//! People sign in to the web page with a one-time link and stay signed in with a session
//! cookie. Both tables store only the SHA-256 of their secret, as `api_token` does, so a
//! leaked database signs nobody in.
//!
//! `login_link`: made by an admin or the operator (`zeroboard login-link`), spent once
//! (`used_at`, set by a conditional update) before `expires_at`. `session`: one signed-in
//! browser; it ends at `expires_at` (absolute), after its idle time since `last_seen_at`,
//! at sign-out (`ended_at`), or with its employee's last day.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000002_session"
    }
}

fn employee_fk(table: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_employee_id"))
        .from(table, "employee_id")
        .to("employee", "id")
        .on_delete(ForeignKeyAction::Restrict)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("login_link")
                    .col(big_pk_auto("id"))
                    .col(string_uniq("token_hash"))
                    .col(big_integer("employee_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("used_at"))
                    .foreign_key(&mut employee_fk("login_link"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("session")
                    .col(big_pk_auto("id"))
                    .col(string_uniq("token_hash"))
                    .col(big_integer("employee_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("last_seen_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("ended_at"))
                    .foreign_key(&mut employee_fk("session"))
                    .take(),
            )
            .await?;
        for table in ["login_link", "session"] {
            manager
                .create_index(
                    Index::create()
                        .name(format!("ix_{table}_employee"))
                        .table(table)
                        .col("employee_id")
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("session").take())
            .await?;
        manager
            .drop_table(Table::drop().table("login_link").take())
            .await
    }
}
