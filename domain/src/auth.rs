//! The principal behind a request: who a bearer token stands for ([`crate::tokens`]
//! manages the tokens).
//!
//! A token is `zb_` followed by 32 random bytes in URL-safe base64. Only its SHA-256 is
//! stored, so a leaked database does not leak usable tokens; the secret is shown once.

use chrono::{DateTime, Duration, Utc};
use entity::enums::Role;
use entity::{api_token, employee};
use sea_orm::prelude::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};

use crate::{DomainError, DomainResult};

/// What a service token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    Admin,
    PayrollRead,
    MetricsRead,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::PayrollRead => "payroll:read",
            Scope::MetricsRead => "metrics:read",
        }
    }

    pub fn parse(s: &str) -> DomainResult<Self> {
        match s {
            "admin" => Ok(Scope::Admin),
            "payroll:read" => Ok(Scope::PayrollRead),
            "metrics:read" => Ok(Scope::MetricsRead),
            other => Err(DomainError::bad_input(
                "scopes",
                format!(
                    "unknown scope `{other}`; expected `admin`, `payroll:read` or `metrics:read`"
                ),
            )),
        }
    }
}

/// Who is making a request.
#[derive(Clone, Debug, PartialEq)]
pub enum Principal {
    Employee {
        id: i64,
        role: Role,
        /// The employee's payroll grant: what the `payroll:read` scope reads.
        payroll: bool,
        token_id: i64,
    },
    Service {
        name: String,
        scopes: Vec<Scope>,
        token_id: i64,
    },
    /// The scheduler and the operator's own commands (the CLI, run by whoever runs the
    /// server): every right, acting for no employee, recorded as `system`.
    System,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        match self {
            Principal::Employee { role, .. } => *role == Role::Admin,
            Principal::Service { scopes, .. } => scopes.contains(&Scope::Admin),
            Principal::System => true,
        }
    }

    pub fn has_scope(&self, scope: Scope) -> bool {
        self.is_admin()
            || match self {
                Principal::Service { scopes, .. } => scopes.contains(&scope),
                Principal::Employee { payroll, .. } => *payroll && scope == Scope::PayrollRead,
                Principal::System => true,
            }
    }

    pub fn employee_id(&self) -> Option<i64> {
        match self {
            Principal::Employee { id, .. } => Some(*id),
            Principal::Service { .. } | Principal::System => None,
        }
    }
}

pub fn hash_token(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// How stale `last_used_at` may get before a request refreshes it; keeps reads from writing.
const LAST_USED_RESOLUTION: Duration = Duration::minutes(1);

/// Resolves a bearer secret to its principal (and, for an employee, their row), or
/// `Unauthenticated`. One statement: the token joined with its employee.
pub async fn authenticate(
    db: &impl ConnectionTrait,
    company: &crate::Company,
    secret: &str,
    now: DateTime<Utc>,
) -> DomainResult<(Principal, Option<employee::Model>)> {
    let found = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(hash_token(secret)))
        .find_also_related(employee::Entity)
        .one(db)
        .await?;
    let Some((token, person)) = found else {
        return Err(DomainError::Unauthenticated);
    };
    let principal = principal_of(&token, person.as_ref(), company.calendar.tz, now)
        .ok_or(DomainError::Unauthenticated)?;
    if token
        .last_used_at
        .is_none_or(|at| now - at >= LAST_USED_RESOLUTION)
    {
        // Best effort: a database that cannot take the write (read-only, busy) must not
        // turn a read into a failure.
        let touched = api_token::Entity::update_many()
            .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
            .filter(api_token::Column::Id.eq(token.id))
            .exec(db)
            .await;
        if let Err(e) = touched {
            tracing::warn!(token.id = token.id, error = %e, "could not record the token's last use");
        }
    }
    Ok((principal, person))
}

/// Who a stored token stands for at `now`: `None` once it is revoked or expired, or when its
/// employee has left. Reads nothing; `authenticate` and the live connections' checks
/// (`credentials`) share it.
pub fn principal_of(
    token: &api_token::Model,
    person: Option<&employee::Model>,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Option<Principal> {
    if token.revoked_at.is_some() || token.expires_at.is_some_and(|at| at <= now) {
        return None;
    }
    match (person, &token.service) {
        // A person who has left can no longer act, whatever tokens they still hold.
        // Their last day is a local date: it ends at the company's local midnight.
        (Some(person), _) => (!has_left(person.left_on, tz, now)).then_some(Principal::Employee {
            id: person.id,
            role: person.role,
            payroll: person.payroll,
            token_id: token.id,
        }),
        (None, Some(service)) => Some(Principal::Service {
            name: service.clone(),
            scopes: token
                .scopes
                .split_whitespace()
                .filter_map(|s| Scope::parse(s).ok())
                .collect(),
            token_id: token.id,
        }),
        (None, None) => None,
    }
}

/// Whether an employee has left by `now`: their `left_on` is a local date in the company's
/// zone, and they may act until that day's end there.
pub fn has_left(left_on: Option<chrono::NaiveDate>, tz: chrono_tz::Tz, now: DateTime<Utc>) -> bool {
    left_on.is_some_and(|left| left < now.with_timezone(&tz).date_naive())
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone, Utc};
    use chrono_tz::{Asia::Tokyo, Europe::Berlin, UTC};

    use super::has_left;

    #[test]
    #[rustfmt::skip]
    fn a_leaver_acts_until_their_last_local_day_ends() {
        let left = NaiveDate::from_ymd_opt(2026, 11, 20);
        let at = |d, h, m| Utc.with_ymd_and_hms(2026, 11, d, h, m, 0).unwrap();
        let cases = [
            // (zone, now in UTC, has left)
            (UTC, at(20, 23, 59), false),
            (UTC, at(21, 0, 0), true),
            (Berlin, at(20, 22, 59), false), // 23:59 on the 20th in Berlin
            (Berlin, at(20, 23, 0), true),   // midnight in Berlin, still the 20th in UTC
            (Tokyo, at(20, 14, 59), false),
            (Tokyo, at(20, 15, 0), true),    // midnight in Tokyo, 15:00 on the 20th in UTC
        ];
        for (tz, now, gone) in cases {
            assert_eq!(has_left(left, tz, now), gone, "{tz} {now}");
        }
        assert!(!has_left(None, UTC, at(30, 0, 0)));
    }
}
