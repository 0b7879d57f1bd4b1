//! Signing people in to the web page: one-time sign-in links and the sessions they start.
//!
//! A link is made by an admin (or the operator's `zeroboard login-link`) for one employee,
//! lives a short while (`SessionPolicy::link_ttl`) and is spent by its first use, with a
//! conditional update, so two uses racing each other start one session between them. A
//! session is the browser's cookie: it ends at sign-out, after `idle` without a request, at
//! `absolute` after it began, and when its employee's last day ends (as their tokens do,
//! [`crate::auth::has_left`]). Both secrets are stored as their SHA-256 only
//! ([`crate::auth::hash_token`]), so a leaked database signs nobody in.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use entity::{employee, login_link, session};
use sea_orm::prelude::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::auth::{Principal, has_left, hash_token};
use crate::db::{Db, begin_write};
use crate::live::{self, Change};
use crate::{Company, DomainError, DomainResult, access};

/// How long links and sessions last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A sign-in link is refused this long after it was made.
    pub link_ttl: Duration,
    /// A session ends after this long without a request.
    pub idle: Duration,
    /// A session ends this long after it began, however busy.
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    /// A link for 15 minutes; a session for a working day without a request (12 hours) and a
    /// week at most.
    fn default() -> Self {
        SessionPolicy {
            link_ttl: Duration::minutes(15),
            idle: Duration::hours(12),
            absolute: Duration::days(7),
        }
    }
}

/// Whether a session can still be used at `now` (its employee's last day aside).
pub fn is_live(s: &session::Model, policy: &SessionPolicy, now: DateTime<Utc>) -> bool {
    s.ended_at.is_none() && now < s.expires_at && now < s.last_seen_at + policy.idle
}

/// The link a person opens to sign in: `{public_url}/login/{secret}`.
pub fn login_url(public_url: &str, secret: &str) -> String {
    format!("{}/login/{secret}", public_url.trim_end_matches('/'))
}

/// How stale `last_seen_at` may get before a request refreshes it; keeps reads from writing.
const LAST_SEEN_RESOLUTION: Duration = Duration::minutes(1);

fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    // The OS random source failing is unrecoverable for a credential issuer.
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Makes a sign-in link for an employee who has not left; returns its row and the secret,
/// which is not stored. Admins and the operator only.
pub async fn create_login_link(
    db: &impl Db,
    company: &Company,
    who: &Principal,
    employee_id: i64,
    policy: &SessionPolicy,
    now: DateTime<Utc>,
) -> DomainResult<(login_link::Model, String)> {
    access::require_admin(who)?;
    let person = employee::Entity::find_by_id(employee_id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("employee"))?;
    if has_left(person.left_on, company.calendar.tz, now) {
        return Err(DomainError::bad_input(
            "employee_id",
            "this employee has left; a sign-in link would not work",
        ));
    }
    let secret = new_secret();
    let row = login_link::ActiveModel {
        token_hash: Set(hash_token(&secret)),
        employee_id: Set(person.id),
        created_at: Set(now),
        expires_at: Set(now + policy.link_ttl),
        used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((row, secret))
}

/// Spends a sign-in link and starts a session for its employee: the session's row and
/// secret. A link that is unknown, spent, expired, or whose employee has left is
/// `Unauthenticated`, and starts nothing.
pub async fn redeem_login_link(
    db: &impl Db,
    company: &Company,
    link_secret: &str,
    policy: &SessionPolicy,
    now: DateTime<Utc>,
) -> DomainResult<(session::Model, String)> {
    let txn = begin_write(db).await?;
    let hash = hash_token(link_secret);
    // The conditional update is the spending: of two uses, one finds the link unspent.
    let spent = login_link::Entity::update_many()
        .col_expr(login_link::Column::UsedAt, Expr::value(now))
        .filter(login_link::Column::TokenHash.eq(hash.as_str()))
        .filter(login_link::Column::UsedAt.is_null())
        .filter(login_link::Column::ExpiresAt.gt(now))
        .exec(&txn)
        .await?;
    if spent.rows_affected != 1 {
        return Err(DomainError::Unauthenticated);
    }
    let Some((link, Some(person))) = login_link::Entity::find()
        .filter(login_link::Column::TokenHash.eq(hash.as_str()))
        .find_also_related(employee::Entity)
        .one(&txn)
        .await?
    else {
        return Err(DomainError::Unauthenticated);
    };
    if has_left(person.left_on, company.calendar.tz, now) {
        // Rolled back: the link stays unspent, and refused, like the person.
        return Err(DomainError::Unauthenticated);
    }
    let secret = new_secret();
    let row = session::ActiveModel {
        token_hash: Set(hash_token(&secret)),
        employee_id: Set(link.employee_id),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(now + policy.absolute),
        ended_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok((row, secret))
}

/// The principal (always an employee, `token_id` 0) and the employee behind a session
/// cookie's secret, or `Unauthenticated`. One statement, plus a write of `last_seen_at` at
/// most once a minute.
pub async fn authenticate(
    db: &impl ConnectionTrait,
    company: &Company,
    secret: &str,
    policy: &SessionPolicy,
    now: DateTime<Utc>,
) -> DomainResult<(Principal, employee::Model)> {
    let found = session::Entity::find()
        .filter(session::Column::TokenHash.eq(hash_token(secret)))
        .find_also_related(employee::Entity)
        .one(db)
        .await?;
    let Some((s, Some(person))) = found else {
        return Err(DomainError::Unauthenticated);
    };
    let principal = principal_of(&s, &person, policy, company.calendar.tz, now)
        .ok_or(DomainError::Unauthenticated)?;
    if now - s.last_seen_at >= LAST_SEEN_RESOLUTION {
        // Best effort, as for tokens: a database that cannot take the write must not turn
        // a read into a failure.
        let touched = session::Entity::update_many()
            .col_expr(session::Column::LastSeenAt, Expr::value(now))
            .filter(session::Column::Id.eq(s.id))
            .exec(db)
            .await;
        if let Err(e) = touched {
            tracing::warn!(session.id = s.id, error = %e, "could not record the session's last use");
        }
    }
    Ok((principal, person))
}

/// Who a session stands for at `now`: `None` once it has ended (signed out, idle, a week
/// old) or its employee has left. Reads nothing; `authenticate` and the live connections'
/// checks (`credentials`) share it.
pub fn principal_of(
    s: &session::Model,
    person: &employee::Model,
    policy: &SessionPolicy,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Option<Principal> {
    if !is_live(s, policy, now) || has_left(person.left_on, tz, now) {
        return None;
    }
    // A session is no token: it carries no token id.
    Some(Principal::Employee {
        id: person.id,
        role: person.role,
        payroll: person.payroll,
        token_id: 0,
    })
}

/// Ends a session (sign-out); ending one twice, or an unknown one, is harmless. The live
/// connections of its employee are told to check their credentials again, so one opened
/// with this session closes.
pub async fn end_session(db: &impl Db, secret: &str, now: DateTime<Utc>) -> DomainResult<bool> {
    let txn = begin_write(db).await?;
    let hash = hash_token(secret);
    let Some(s) = session::Entity::find()
        .filter(session::Column::TokenHash.eq(hash.as_str()))
        .one(&txn)
        .await?
    else {
        return Ok(false);
    };
    let ended = session::Entity::update_many()
        .col_expr(session::Column::EndedAt, Expr::value(now))
        .filter(session::Column::Id.eq(s.id))
        .filter(session::Column::EndedAt.is_null())
        .exec(&txn)
        .await?;
    if ended.rows_affected == 1 {
        live::announce(&txn, Change::recheck_employee(s.employee_id)).await?;
    }
    txn.commit().await?;
    Ok(ended.rows_affected == 1)
}

/// Removes the sign-in links that expired before `before` (spent or not) and the sessions
/// that ended or expired before it; returns how many of each. The scheduler calls it after
/// each tick with its retention horizon, so neither table grows with every sign-in.
pub async fn prune(db: &impl ConnectionTrait, before: DateTime<Utc>) -> DomainResult<(u64, u64)> {
    let links = login_link::Entity::delete_many()
        .filter(login_link::Column::ExpiresAt.lt(before))
        .exec(db)
        .await?;
    let sessions = session::Entity::delete_many()
        .filter(
            sea_orm::Condition::any()
                .add(session::Column::ExpiresAt.lt(before))
                .add(session::Column::EndedAt.lt(before)),
        )
        .exec(db)
        .await?;
    Ok((links.rows_affected, sessions.rows_affected))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    #[rustfmt::skip]
    fn a_session_lives_until_idle_absolute_or_ended() {
        let policy = SessionPolicy::default();
        let at = |d, h| Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap();
        let s = |last_seen, ended| session::Model {
            id: 1, token_hash: String::new(), employee_id: 1,
            created_at: at(1, 8), last_seen_at: last_seen, expires_at: at(8, 8), ended_at: ended,
        };
        let cases = [
            // (last seen, ended, now, live)
            (at(1, 8), None, at(1, 19), true),
            (at(1, 8), None, at(1, 20), false),           // 12 hours idle
            (at(7, 20), None, at(8, 7), true),
            (at(7, 20), None, at(8, 8), false),           // a week after it began
            (at(1, 8), Some(at(1, 9)), at(1, 10), false), // signed out
        ];
        for (last_seen, ended, now, live) in cases {
            assert_eq!(is_live(&s(last_seen, ended), &policy, now), live, "{last_seen} {ended:?} {now}");
        }
    }
}
