//! Versions of the KPI policy.
//!
//! A version is never edited: a change inserts version `max + 1`. A period records the
//! version in force when it opened and is closed under it, and every result records the
//! version it used, so a changed policy never rewrites a past period.

use chrono::{DateTime, Utc};
use entity::kpi_policy;
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder, Set};

use crate::db::{Db, POLICY_VERSION_LOCK, advisory_lock, begin_write};
use crate::kpi::Policy;
use crate::{DomainError, DomainResult};

/// The rules of a stored version.
///
/// Stored integers that the rules keep unsigned are clamped: a negative count of allowed
/// late duties means none, and an average spans at least one period.
pub fn rules(model: &kpi_policy::Model) -> Policy {
    Policy {
        version: model.version,
        late_credit: model.late_credit,
        duty_weight: model.duty_weight,
        additional_weight: model.additional_weight,
        acceptance_weight: model.acceptance_weight,
        acceptance_sla_hours: model.acceptance_sla_hours,
        vote_weight: model.vote_weight,
        reading_weight: model.reading_weight,
        reading_sla_hours: model.reading_sla_hours,
        target_cap: model.target_cap,
        discipline_share: model.discipline_share,
        max_late_duties: u32::try_from(model.max_late_duties).unwrap_or(0),
        bonus_min_kpi: model.bonus_min_kpi,
        bonus_cap_kpi: model.bonus_cap_kpi,
        average_window: u32::try_from(model.average_window).unwrap_or(1).max(1),
        close_after_hours: model.close_after_hours,
    }
}

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
    new: Policy,
    author: Option<i64>,
    note: Option<String>,
    now: DateTime<Utc>,
) -> DomainResult<kpi_policy::Model> {
    amend(db, move |p| *p = new, author, note, now).await
}

/// Stores the current version with `edit` applied as the next version. The current
/// version is read under the same lock that numbers versions, so two admins amending at
/// once each build on the other's change instead of losing it.
pub async fn amend(
    db: &impl Db,
    edit: impl FnOnce(&mut Policy) + Send,
    author: Option<i64>,
    note: Option<String>,
    now: DateTime<Utc>,
) -> DomainResult<kpi_policy::Model> {
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
    let max_late_duties = i32::try_from(new.max_late_duties)
        .map_err(|_| DomainError::bad_input("max_late_duties", "max_late_duties is too large"))?;
    let average_window = i32::try_from(new.average_window)
        .map_err(|_| DomainError::bad_input("average_window", "average_window is too large"))?;
    let version = current.version + 1;
    let row = kpi_policy::ActiveModel {
        version: Set(version),
        late_credit: Set(new.late_credit),
        duty_weight: Set(new.duty_weight),
        additional_weight: Set(new.additional_weight),
        acceptance_weight: Set(new.acceptance_weight),
        acceptance_sla_hours: Set(new.acceptance_sla_hours),
        vote_weight: Set(new.vote_weight),
        reading_weight: Set(new.reading_weight),
        reading_sla_hours: Set(new.reading_sla_hours),
        target_cap: Set(new.target_cap),
        discipline_share: Set(new.discipline_share),
        max_late_duties: Set(max_late_duties),
        bonus_min_kpi: Set(new.bonus_min_kpi),
        bonus_cap_kpi: Set(new.bonus_cap_kpi),
        average_window: Set(average_window),
        close_after_hours: Set(new.close_after_hours),
        created_at: Set(now),
        created_by: Set(author),
        note: Set(note),
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
        let p = Policy::default();
        kpi_policy::Model {
            version,
            late_credit: p.late_credit,
            duty_weight: p.duty_weight,
            additional_weight: p.additional_weight,
            acceptance_weight: p.acceptance_weight,
            acceptance_sla_hours: p.acceptance_sla_hours,
            vote_weight: p.vote_weight,
            reading_weight: p.reading_weight,
            reading_sla_hours: p.reading_sla_hours,
            target_cap: p.target_cap,
            discipline_share: p.discipline_share,
            max_late_duties,
            bonus_min_kpi: p.bonus_min_kpi,
            bonus_cap_kpi: p.bonus_cap_kpi,
            average_window,
            close_after_hours: p.close_after_hours,
            created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            created_by: None,
            note: None,
        }
    }

    #[test]
    #[rustfmt::skip]
    fn rules_of_a_stored_version() {
        assert_eq!(rules(&stored(1, 0, 6)), Policy::default());
        assert_eq!(rules(&stored(3, 2, 4)), Policy { version: 3, max_late_duties: 2, average_window: 4, ..Policy::default() });
        assert_eq!(rules(&stored(1, -1, 0)), Policy { max_late_duties: 0, average_window: 1, ..Policy::default() }); // clamped
    }
}
