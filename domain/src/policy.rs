//! Versions of the KPI policy.
//!
//! A version is never edited: a change inserts version `max + 1`. A period records the
//! version in force when it opened and is closed under it, and every result records the
//! version it used, so a changed policy never rewrites a past period.

use chrono::{DateTime, Utc};
use entity::kpi_policy;
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder, Set};

use crate::auth::Principal;
use crate::db::{Db, POLICY_VERSION_LOCK, advisory_lock, begin_write};
use crate::kpi::Policy;
use crate::{DomainError, DomainResult};

/// How a rule's value is kept in its column: as itself, or (the unsigned counts) in a
/// signed column.
pub trait Stored<Column> {
    fn load(column: Column) -> Self;
    fn store(self) -> Column;
}

impl<T> Stored<T> for T {
    fn load(column: T) -> T {
        column
    }
    fn store(self) -> T {
        self
    }
}

/// A negative stored count means none; counts beyond `i32` cannot pass validation.
impl Stored<i32> for u32 {
    fn load(column: i32) -> u32 {
        u32::try_from(column).unwrap_or(0)
    }
    fn store(self) -> i32 {
        i32::try_from(self).unwrap_or(i32::MAX)
    }
}

/// The policy's fields of a stored version (`kpi_policy::Model` or `ActiveModel`).
macro_rules! from_model {
    ($($(#[doc = $doc:literal])* $name:ident: $ty:ty = $default:expr, $range:expr, $rule:literal;)*) => {
        /// The rules of a stored version.
        ///
        /// Stored integers that the rules keep unsigned are clamped: a negative count of
        /// allowed late duties means none, and an average spans at least one period.
        pub fn rules(model: &kpi_policy::Model) -> Policy {
            let policy = Policy {
                version: model.version,
                $($name: Stored::load(model.$name),)*
            };
            Policy {
                average_window: policy.average_window.max(1),
                ..policy
            }
        }

        /// The stored form of a policy's fields as version `version`.
        fn to_row(new: &Policy, version: i32) -> kpi_policy::ActiveModel {
            kpi_policy::ActiveModel {
                version: Set(version),
                $($name: Set(new.$name.store()),)*
                ..Default::default()
            }
        }
    };
}

crate::policy_fields!(from_model);

/// The version in force now: the newest one.
pub async fn current(db: &impl ConnectionTrait) -> DomainResult<kpi_policy::Model> {
    kpi_policy::Entity::find()
        .order_by_desc(kpi_policy::Column::Version)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("KPI policy"))
}

/// One stored version.
pub async fn by_version(
    db: &impl ConnectionTrait,
    version: i32,
) -> DomainResult<kpi_policy::Model> {
    kpi_policy::Entity::find_by_id(version)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("KPI policy version"))
}

/// Stores `new` as the next version; periods opened from now on use it. `new.version` is
/// ignored (the next number is taken). A field the rules cannot work with is `BadInput`
/// naming it, and nothing is written.
pub async fn create_version(
    db: &impl Db,
    who: &Principal,
    new: Policy,
    note: Option<String>,
    now: DateTime<Utc>,
) -> DomainResult<kpi_policy::Model> {
    amend(db, who, move |p| *p = new, note, now).await
}

/// Stores the current version with `edit` applied as the next version. The current
/// version is read under the same lock that numbers versions, so two admins amending at
/// once each build on the other's change instead of losing it.
pub async fn amend(
    db: &impl Db,
    who: &Principal,
    edit: impl FnOnce(&mut Policy) + Send,
    note: Option<String>,
    now: DateTime<Utc>,
) -> DomainResult<kpi_policy::Model> {
    crate::access::require_admin(who)?;
    let author = who.employee_id();
    // Named as the policy's fields are (`note`); the GraphQL edge makes it `input.note`.
    let note = crate::text::optional("note", crate::text::Kind::Comment, note.as_deref())?;
    let txn = begin_write(db).await?;
    advisory_lock(&txn, POLICY_VERSION_LOCK).await?;
    let current = current(&txn).await?;
    let mut new = rules(&current);
    edit(&mut new);
    // The version number is not the caller's to choose; validate the rest as given.
    Policy {
        version: 1,
        ..new.clone()
    }
    .validate()
    .map_err(|e| DomainError::bad_input(e.field, e.to_string()))?;
    let version = current.version + 1;
    let row = kpi_policy::ActiveModel {
        created_at: Set(now),
        created_by: Set(author),
        note: Set(note),
        ..to_row(&new, version)
    };
    let stored = kpi_policy::Entity::insert(row)
        .exec_with_returning(&txn)
        .await?;
    txn.commit().await?;
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn stored(version: i32, max_late_duties: i32, average_window: i32) -> kpi_policy::Model {
        use sea_orm::TryIntoModel;
        kpi_policy::ActiveModel {
            max_late_duties: Set(max_late_duties),
            average_window: Set(average_window),
            created_at: Set(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()),
            created_by: Set(None),
            note: Set(None),
            ..to_row(&Policy::default(), version)
        }
        .try_into_model()
        .expect("every column set")
    }

    #[test]
    #[rustfmt::skip]
    fn rules_of_a_stored_version() {
        assert_eq!(rules(&stored(1, 0, 6)), Policy::default());
        assert_eq!(rules(&stored(3, 2, 4)), Policy { version: 3, max_late_duties: 2, average_window: 4, ..Policy::default() });
        assert_eq!(rules(&stored(1, -1, 0)), Policy { max_late_duties: 0, average_window: 1, ..Policy::default() }); // clamped
    }
}
