//! One e-mail uniqueness on both databases: an `email_key` column holding the address
//! case-folded by the application (`entity::employee::email_key`), with a unique index,
//! instead of the index on `lower(email)`, whose `lower()` folds only ASCII on SQLite but
//! all of Unicode on PostgreSQL (so `änna@x.de` and `ÄNNA@x.de` were two employees on one
//! and one on the other).
//!
//! The fold is repeated here (upper-case, then lower-case, trimmed) rather than imported,
//! because a migration must keep doing what it did when it was written.

use std::collections::HashMap;

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000002_email_key"
    }
}

/// The fold of this migration's backfill; the same as `entity::employee::email_key`.
fn fold(email: &str) -> String {
    email.trim().to_uppercase().to_lowercase()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The keys first, before anything changes. Addresses that only SQLite's ASCII-only
        // `lower()` let in twice cannot both keep their address; the upgrade stops, having
        // changed nothing, and names them, so an admin can change one (with the previous
        // version) rather than have two people silently merged.
        let db = manager.get_connection();
        let rows = db
            .query_all(
                &Query::select()
                    .columns(["id", "email"])
                    .from("employee")
                    .order_by("id", Order::Asc)
                    .take(),
            )
            .await?;
        let mut seen: HashMap<String, (i64, String)> = HashMap::new();
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get("", "id")?;
            let email: String = row.try_get("", "email")?;
            let key = fold(&email);
            if let Some((other, other_email)) = seen.get(&key) {
                return Err(DbErr::Migration(format!(
                    "employees {other} ({other_email}) and {id} ({email}) have the same e-mail address apart from case; \
                     change one of them, then migrate again"
                )));
            }
            seen.insert(key.clone(), (id, email));
            keys.push((id, key));
        }
        manager
            .alter_table(
                Table::alter()
                    .table("employee")
                    .add_column(string("email_key").default(""))
                    .take(),
            )
            .await?;
        for (id, key) in keys {
            db.execute(
                &Query::update()
                    .table("employee")
                    .value("email_key", key)
                    .and_where(Expr::col("id").eq(id))
                    .take(),
            )
            .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ix_employee_email_key")
                    .table("employee")
                    .col("email_key")
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_employee_email_lower")
                    .table("employee")
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Exactly what the first migration made.
        manager
            .get_connection()
            .execute_raw(Statement::from_string(
                manager.get_database_backend(),
                "CREATE UNIQUE INDEX ix_employee_email_lower ON employee (lower(email))",
            ))
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_employee_email_key")
                    .table("employee")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("employee")
                    .drop_column("email_key")
                    .take(),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_backfill_folds_as_the_entity_does() {
        // The entity's fold, spelled out: upper-case then lower-case, trimmed.
        assert_eq!(super::fold(" ÄNNA@X.de "), "änna@x.de");
        assert_eq!(super::fold("STRASSE@x.de"), super::fold("straße@x.de"));
    }
}
