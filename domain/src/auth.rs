//! Bearer tokens and the principal behind a request.
//!
//! A token is `zb_` followed by 32 random bytes in URL-safe base64. Only its SHA-256 is
//! stored, so a leaked database does not leak usable tokens; the secret is shown once.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use entity::enums::Role;
use entity::{api_token, employee};
use sea_orm::prelude::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
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
            || matches!(self, Principal::Service { scopes, .. } if scopes.contains(&scope))
    }

    pub fn employee_id(&self) -> Option<i64> {
        match self {
            Principal::Employee { id, .. } => Some(*id),
            Principal::Service { .. } | Principal::System => None,
        }
    }
}

/// Whose token it is.
#[derive(Clone, Debug, PartialEq)]
pub enum TokenOwner {
    Employee(i64),
    Service { name: String, scopes: Vec<Scope> },
}

pub fn hash_token(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    // The OS random source failing is unrecoverable for a token issuer.
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    format!("zb_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Creates a token and returns its row and the secret, which is not stored anywhere.
pub async fn create_token(
    db: &impl ConnectionTrait,
    owner: TokenOwner,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> DomainResult<(api_token::Model, String)> {
    let secret = new_secret();
    let (employee_id, service, scopes) = match owner {
        TokenOwner::Employee(id) => {
            let found = employee::Entity::find_by_id(id).one(db).await?;
            if found.is_none() {
                return Err(DomainError::NotFound("employee"));
            }
            (Some(id), None, String::new())
        }
        TokenOwner::Service { name, scopes } => {
            if name.trim().is_empty() {
                return Err(DomainError::bad_input(
                    "service",
                    "a service token needs a service name",
                ));
            }
            if scopes.is_empty() {
                return Err(DomainError::bad_input(
                    "scopes",
                    "a service token needs at least one scope",
                ));
            }
            let scopes: Vec<_> = scopes.iter().map(|s| s.as_str()).collect();
            (None, Some(name), scopes.join(" "))
        }
    };
    if expires_at.is_some_and(|at| at <= now) {
        return Err(DomainError::bad_input(
            "expires_at",
            "the expiry must be in the future",
        ));
    }
    let row = api_token::ActiveModel {
        token_hash: Set(hash_token(&secret)),
        name: Set(name.to_owned()),
        employee_id: Set(employee_id),
        service: Set(service),
        scopes: Set(scopes),
        created_at: Set(now),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        last_used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((row, secret))
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
    if token.revoked_at.is_some() || token.expires_at.is_some_and(|at| at <= now) {
        return Err(DomainError::Unauthenticated);
    }
    let principal = match (&person, &token.service) {
        (Some(person), _) => {
            // A person who has left can no longer act, whatever tokens they still hold.
            // Their last day is a local date: it ends at the company's local midnight.
            if has_left(person.left_on, company.calendar.tz, now) {
                return Err(DomainError::Unauthenticated);
            }
            Principal::Employee {
                id: person.id,
                role: person.role,
                token_id: token.id,
            }
        }
        (None, Some(service)) => Principal::Service {
            name: service.clone(),
            scopes: token
                .scopes
                .split_whitespace()
                .filter_map(|s| Scope::parse(s).ok())
                .collect(),
            token_id: token.id,
        },
        (None, None) => return Err(DomainError::Unauthenticated),
    };
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

/// Whether an employee has left by `now`: their `left_on` is a local date in the company's
/// zone, and they may act until that day's end there.
pub fn has_left(left_on: Option<chrono::NaiveDate>, tz: chrono_tz::Tz, now: DateTime<Utc>) -> bool {
    left_on.is_some_and(|left| left < now.with_timezone(&tz).date_naive())
}

/// Revokes a token; revoking twice is harmless.
pub async fn revoke_token(
    db: &impl ConnectionTrait,
    token_id: i64,
    now: DateTime<Utc>,
) -> DomainResult<api_token::Model> {
    let token = api_token::Entity::find_by_id(token_id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("token"))?;
    if token.revoked_at.is_some() {
        return Ok(token);
    }
    let mut active: api_token::ActiveModel = token.into();
    active.revoked_at = Set(Some(now));
    Ok(active.update(db).await?)
}

/// How long a service token lives unless its creator says otherwise.
pub const DEFAULT_SERVICE_TOKEN_DAYS: i64 = 90;

/// Whether a token can still be used at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

impl TokenStatus {
    pub fn of(token: &api_token::Model, now: DateTime<Utc>) -> Self {
        if token.revoked_at.is_some() {
            TokenStatus::Revoked
        } else if token.expires_at.is_some_and(|at| at <= now) {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Expired => "expired",
            TokenStatus::Revoked => "revoked",
        }
    }
}

/// Every token, oldest first, with its employee's e-mail for employee tokens (never the
/// secret, which is not stored).
pub async fn list_tokens(
    db: &impl ConnectionTrait,
) -> DomainResult<Vec<(api_token::Model, Option<String>)>> {
    use sea_orm::QueryOrder;
    let rows = api_token::Entity::find()
        .find_also_related(employee::Entity)
        .order_by_asc(api_token::Column::Id)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(token, person)| (token, person.map(|p| p.email)))
        .collect())
}

/// The token a secret belongs to, if it is stored and can still be used; reads only.
pub async fn usable_token(
    db: &impl ConnectionTrait,
    secret: &str,
    now: DateTime<Utc>,
) -> DomainResult<Option<api_token::Model>> {
    let token = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(hash_token(secret)))
        .one(db)
        .await?;
    Ok(token.filter(|t| TokenStatus::of(t, now) == TokenStatus::Active))
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
