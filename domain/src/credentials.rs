//! What the credential of an open live connection still amounts to.
//!
//! A live connection authenticates once, in `connection_init`, with a bearer token or the web
//! page's session. It asks [`standing`] again whenever its credential may have stopped
//! working: when a change names it (a token revoked, a session ended, its employee left or
//! their rights changed: `live::Change::recheck_*`, heard on every replica), when its feed
//! may have missed changes, and when [`Standing::until`] passes (a token's expiry, a
//! session's idle or absolute end, the end of a leaver's last day). Between those it asks
//! nothing, so an idle connection costs no statement. Reading the standing writes nothing:
//! a connection's checks are not uses of its token or session.

use chrono::{DateTime, Days, NaiveDate, Utc};
use entity::{api_token, employee, session};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::auth::{self, Principal, hash_token};
use crate::sessions::{self, SessionPolicy};
use crate::{Company, DomainResult};

/// The secret a connection authenticated with.
#[derive(Clone)]
pub enum Credential {
    Token(String),
    Session(String),
}

impl std::fmt::Debug for Credential {
    /// Never the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::Token(_) => "Credential::Token",
            Credential::Session(_) => "Credential::Session",
        })
    }
}

/// Who a credential stands for now, and until when at the latest without another check.
#[derive(Clone, Debug, PartialEq)]
pub struct Standing {
    pub principal: Principal,
    /// The first instant at which it may stop working by itself (`None`: never, unless
    /// something changes it and says so).
    pub until: Option<DateTime<Utc>>,
}

/// The standing of a credential at `now`, or `None` when it no longer works (unknown,
/// revoked, expired, ended, or its employee has left). One statement; writes nothing.
pub async fn standing(
    db: &impl ConnectionTrait,
    company: &Company,
    credential: &Credential,
    policy: &SessionPolicy,
    now: DateTime<Utc>,
) -> DomainResult<Option<Standing>> {
    let tz = company.calendar.tz;
    Ok(match credential {
        Credential::Token(secret) => api_token::Entity::find()
            .filter(api_token::Column::TokenHash.eq(hash_token(secret)))
            .find_also_related(employee::Entity)
            .one(db)
            .await?
            .and_then(|(token, person)| {
                let principal = auth::principal_of(&token, person.as_ref(), tz, now)?;
                let left = person.and_then(|p| p.left_on);
                Some(Standing {
                    principal,
                    until: earliest([token.expires_at, last_day_ends(company, left)]),
                })
            }),
        Credential::Session(secret) => session::Entity::find()
            .filter(session::Column::TokenHash.eq(hash_token(secret)))
            .find_also_related(employee::Entity)
            .one(db)
            .await?
            .and_then(|(s, person)| {
                let person = person?;
                let principal = sessions::principal_of(&s, &person, policy, tz, now)?;
                Some(Standing {
                    principal,
                    until: earliest([
                        Some(s.expires_at),
                        Some(s.last_seen_at + policy.idle),
                        last_day_ends(company, person.left_on),
                    ]),
                })
            }),
    })
}

/// The earliest of some instants; `None` when there is none.
pub fn earliest<const N: usize>(at: [Option<DateTime<Utc>>; N]) -> Option<DateTime<Utc>> {
    at.into_iter().flatten().min()
}

/// When a leaver's last day ends in the company's zone: the first instant at which
/// `auth::has_left` holds.
pub fn last_day_ends(company: &Company, left_on: Option<NaiveDate>) -> Option<DateTime<Utc>> {
    let next = left_on?.checked_add_days(Days::new(1))?;
    Some(company.calendar.day_start(next))
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::calendar::{Cadence, Calendar};

    #[test]
    fn a_leavers_credentials_stop_when_their_last_local_day_ends() {
        let left = NaiveDate::from_ymd_opt(2026, 3, 28);
        // Zones ahead of and behind UTC, and a last day before a DST change.
        for tz in [
            "UTC",
            "Europe/Berlin",
            "Asia/Tokyo",
            "America/Santiago",
            "Pacific/Apia",
        ] {
            let tz: chrono_tz::Tz = tz.parse().unwrap();
            let company = Company {
                calendar: Calendar::new(Cadence::SemiMonthly, tz),
            };
            let ends = last_day_ends(&company, left).expect("an end");
            let second = Duration::seconds(1);
            assert!(
                !auth::has_left(left, tz, ends - second),
                "{tz}: still working"
            );
            assert!(auth::has_left(left, tz, ends), "{tz}: gone");
        }
        let company = Company {
            calendar: Calendar::new(Cadence::SemiMonthly, chrono_tz::UTC),
        };
        assert_eq!(last_day_ends(&company, None), None);
    }

    #[test]
    fn the_earliest_end_wins_and_none_is_never() {
        let at = |h| Some(Utc.with_ymd_and_hms(2026, 11, 20, h, 0, 0).unwrap());
        assert_eq!(earliest([None, None]), None);
        assert_eq!(earliest([at(9), None, at(7)]), at(7));
        assert_eq!(earliest([None, at(12)]), at(12));
    }
}
