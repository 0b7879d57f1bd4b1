use sea_orm::ActiveValue;
use sea_orm::entity::prelude::*;

use crate::enums::{Language, Role};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "employee")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub department_id: i64,
    pub manager_id: Option<i64>,
    pub name: String,
    /// As given (trimmed); unique regardless of case through `email_key`.
    pub email: String,
    /// [`email_key`] of `email`, with a unique index: what makes two addresses the same
    /// employee, identically on SQLite and PostgreSQL. Kept in step by `before_save`.
    pub email_key: String,
    pub role: Role,
    pub hired_on: Date,
    pub left_on: Option<Date>,
    pub created_at: DateTimeUtc,
    /// Reads what the `payroll:read` scope reads: closed periods' results and the exports.
    pub payroll: bool,
    /// The language of the messages Zeroboard sends them (`en` unless set).
    pub language: Language,
    /// Whether they get the daily e-mail reminders (true unless they turned them off).
    pub reminders: bool,
}

/// The key that decides whether two e-mail addresses belong to the same employee: the
/// address trimmed and case-folded with Unicode rules in the application, so `ÄNNA@x.de`
/// and `änna@x.de` (and `STRASSE@x.de` and `straße@x.de`) are one address on both
/// databases, whose own `lower()` differ (SQLite folds ASCII only).
///
/// Folding is upper-casing then lower-casing, which approximates Unicode full case folding
/// (`ß` → `ss`, final `ς` → `σ`, `ﬁ` → `fi`) without a folding table.
pub fn email_key(email: &str) -> String {
    email.trim().to_uppercase().to_lowercase()
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    /// Whoever writes an e-mail also writes its key, so the unique index always holds.
    async fn before_save<C>(mut self, _db: &C, _insert: bool) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        if let ActiveValue::Set(email) | ActiveValue::Unchanged(email) = &self.email
            && (self.email.is_set() || self.email_key.is_not_set())
        {
            self.email_key = ActiveValue::Set(email_key(email));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::email_key;

    #[test]
    fn email_keys_fold_case_with_unicode_rules() {
        assert_eq!(email_key(" ÄNNA@X.de "), "änna@x.de");
        assert_eq!(email_key("änna@x.de"), email_key("ÄNNA@x.de"));
        assert_eq!(email_key("STRASSE@x.de"), email_key("straße@x.de"));
        assert_eq!(email_key("ΟΔΟΣ@x.gr"), email_key("οδος@x.gr"));
        assert_eq!(email_key("Anna@Example.COM"), "anna@example.com");
        assert_ne!(email_key("anna@x.de"), email_key("anne@x.de"));
    }
}
