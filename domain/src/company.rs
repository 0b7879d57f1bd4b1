//! The company's calendar (time zone and cadence), stored in the database so that every
//! process cuts periods the same way.
//!
//! The first process that uses the calendar stores what it was configured with
//! ([`adopt`]); from then on a process configured differently is refused with the name of
//! the setting, and the tick refuses to open a period with a calendar other than the stored
//! one (a process started before a change). A deliberate change is [`change`]: it takes
//! effect at the next period boundary by the rule of [`Calendar::following`] — the next
//! period starts exactly where the running one ends and ends at the new calendar's next
//! boundary.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use entity::{company, period};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, QueryOrder, Set};

use crate::auth::Principal;
use crate::calendar::{Cadence, Calendar, Span};
use crate::db::{Db, Step, begin_write, lock_step};
use crate::{DomainError, DomainResult};

/// The one row's key.
const ROW: i32 = 1;

/// A configured calendar that disagrees with the company's: the setting, and both values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// `timezone` or `cadence`.
    pub setting: &'static str,
    pub configured: String,
    pub stored: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "setting `{}` is {} but this database's company uses {}; to change it from the next period on, run `zeroboard company set --{} {}`",
            self.setting, self.configured, self.stored, self.setting, self.configured
        )
    }
}

/// The stored calendar, if any.
pub async fn stored(db: &impl ConnectionTrait) -> DomainResult<Option<Calendar>> {
    let Some(row) = company::Entity::find_by_id(ROW).one(db).await? else {
        return Ok(None);
    };
    Ok(Some(parse(&row)?))
}

fn parse(row: &company::Model) -> DomainResult<Calendar> {
    let tz: Tz = row.timezone.parse().map_err(|_| {
        DomainError::Conflict(format!(
            "the stored time zone `{}` is unknown",
            row.timezone
        ))
    })?;
    let cadence: Cadence = row
        .cadence
        .parse()
        .map_err(|e| DomainError::Conflict(format!("the stored cadence is unusable: {e}")))?;
    Ok(Calendar::new(cadence, tz))
}

/// How `configured` disagrees with `stored`, the zone first.
pub fn mismatch(configured: &Calendar, stored: &Calendar) -> Option<Mismatch> {
    if configured.tz != stored.tz {
        return Some(Mismatch {
            setting: "timezone",
            configured: configured.tz.to_string(),
            stored: stored.tz.to_string(),
        });
    }
    if configured.cadence != stored.cadence {
        return Some(Mismatch {
            setting: "cadence",
            configured: configured.cadence.to_string(),
            stored: stored.cadence.to_string(),
        });
    }
    None
}

/// How `configured` disagrees with the last period of a database that predates the stored
/// settings: its cadence, or instants that are not the configured zone's midnights.
fn mismatch_with_period(configured: &Calendar, last: &period::Model) -> Option<Mismatch> {
    let dates = crate::calendar::PeriodDates {
        starts_on: last.starts_on,
        ends_on: last.ends_on,
    };
    if configured.starts_at(dates) != last.starts_at || configured.ends_at(dates) != last.ends_at {
        return Some(Mismatch {
            setting: "timezone",
            configured: configured.tz.to_string(),
            stored: format!(
                "another zone (period {} starts at {})",
                last.starts_on,
                last.starts_at.to_rfc3339()
            ),
        });
    }
    if configured.cadence.to_string() != last.cadence {
        return Some(Mismatch {
            setting: "cadence",
            configured: configured.cadence.to_string(),
            stored: last.cadence.clone(),
        });
    }
    None
}

/// Makes sure the database's company calendar is `configured`: stores it when none is
/// stored yet (if the database already has periods, only when the last one was cut by it),
/// and otherwise returns how it disagrees. Runs inside the caller's transaction if given one.
pub async fn ensure(
    db: &impl ConnectionTrait,
    configured: &Calendar,
    now: DateTime<Utc>,
) -> DomainResult<Result<(), Mismatch>> {
    if let Some(row) = company::Entity::find_by_id(ROW).one(db).await? {
        return Ok(match mismatch(configured, &parse(&row)?) {
            Some(m) => Err(m),
            None => Ok(()),
        });
    }
    let last = period::Entity::find()
        .order_by_desc(period::Column::StartsOn)
        .one(db)
        .await?;
    if let Some(m) = last
        .as_ref()
        .and_then(|last| mismatch_with_period(configured, last))
    {
        return Ok(Err(m));
    }
    let row = company::ActiveModel {
        id: Set(ROW),
        timezone: Set(configured.tz.to_string()),
        cadence: Set(configured.cadence.to_string()),
        updated_at: Set(now),
    };
    company::Entity::insert(row)
        .on_conflict_do_nothing_on([company::Column::Id])
        .exec_without_returning(db)
        .await?;
    // A concurrent first start may have stored something else in between.
    let stored = stored(db).await?.ok_or(DomainError::NotFound("company"))?;
    Ok(match mismatch(configured, &stored) {
        Some(m) => Err(m),
        None => Ok(()),
    })
}

/// [`ensure`] in its own transaction, serialised with the tick's open step: what every
/// command that uses the calendar calls first.
pub async fn adopt(
    db: &impl Db,
    configured: &Calendar,
    now: DateTime<Utc>,
) -> DomainResult<Result<(), Mismatch>> {
    let txn = begin_write(db).await?;
    lock_step(&txn, Step::Open).await?;
    let outcome = ensure(&txn, configured, now).await?;
    txn.commit().await?;
    Ok(outcome)
}

/// What [`change`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changed {
    /// The calendar before (none when nothing was stored yet).
    pub from: Option<Calendar>,
    pub to: Calendar,
    /// The period the new calendar starts with, when a period exists already.
    pub next: Option<Span>,
}

/// Makes `to` the company's calendar from the next period boundary on: the periods already
/// stored (the running one included) keep their dates and instants, and the next one opened
/// follows [`Calendar::following`]. Serialised with the tick's open step.
pub async fn change(
    db: &impl Db,
    who: &Principal,
    to: Calendar,
    now: DateTime<Utc>,
) -> DomainResult<Changed> {
    crate::access::require_admin(who)?;
    let txn = begin_write(db).await?;
    lock_step(&txn, Step::Open).await?;
    let from = stored(&txn).await?;
    let row = company::ActiveModel {
        id: Set(ROW),
        timezone: Set(to.tz.to_string()),
        cadence: Set(to.cadence.to_string()),
        updated_at: Set(now),
    };
    if from.is_some() {
        row.update(&txn).await?;
    } else {
        row.insert(&txn).await?;
    }
    let last = period::Entity::find()
        .order_by_desc(period::Column::StartsOn)
        .one(&txn)
        .await?;
    txn.commit().await?;
    let next = last.map(|last| to.following(last.ends_on, last.ends_at));
    Ok(Changed { from, to, next })
}
