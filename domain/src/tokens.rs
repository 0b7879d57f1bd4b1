//! Managing bearer tokens: creating one (the secret is shown once), listing and revoking
//! them. Admins and the operator's commands only; requests are authenticated by
//! [`crate::auth`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use entity::{api_token, employee};
use sea_orm::prelude::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::auth::{Principal, Scope, hash_token};
use crate::db::{Db, begin_write};
use crate::live::{self, Change};
use crate::{DomainError, DomainResult, access};

/// Whose token it is.
#[derive(Clone, Debug, PartialEq)]
pub enum TokenOwner {
    Employee(i64),
    Service { name: String, scopes: Vec<Scope> },
}

fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    // The OS random source failing is unrecoverable for a token issuer.
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    format!("zb_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Creates a token and returns its row and the secret, which is not stored anywhere.
pub async fn create_token(
    db: &impl Db,
    who: &Principal,
    owner: TokenOwner,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> DomainResult<(api_token::Model, String)> {
    access::require_admin(who)?;
    let secret = new_secret();
    // The owner is read and the token written in one transaction.
    let txn = begin_write(db).await?;
    let db = &txn;
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
    txn.commit().await?;
    Ok((row, secret))
}

/// Revokes a token; revoking twice is harmless.
pub async fn revoke_token(
    db: &impl ConnectionTrait,
    who: &Principal,
    token_id: i64,
    now: DateTime<Utc>,
) -> DomainResult<api_token::Model> {
    access::require_admin(who)?;
    // A conditional update, then the row: the first revocation's instant stays.
    let revoked = api_token::Entity::update_many()
        .col_expr(api_token::Column::RevokedAt, Expr::value(now))
        .filter(api_token::Column::Id.eq(token_id))
        .filter(api_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    if revoked.rows_affected == 1 {
        // Live connections opened with it close, on every replica.
        live::announce(db, Change::recheck_token(token_id)).await?;
    }
    api_token::Entity::find_by_id(token_id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("token"))
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
    who: &Principal,
) -> DomainResult<Vec<(api_token::Model, Option<String>)>> {
    access::require_admin(who)?;
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
