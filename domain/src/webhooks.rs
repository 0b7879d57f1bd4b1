//! Webhooks as services: the endpoints admins register (with an event filter and a signing
//! secret shown once), their deliveries, and the three database steps of the dispatcher,
//! which lives in `scheduler` and is the only part that sends:
//!
//! 1. [`fan_out`] turns new outbox events into one `pending` delivery per enabled webhook
//!    whose filter takes the event and that existed when the event happened;
//! 2. [`claim`] leases due deliveries to one dispatcher, counting the attempt: a conditional
//!    update (`status = pending`, lease free) after a `SELECT … FOR UPDATE SKIP LOCKED` on
//!    PostgreSQL (SQLite's single writer serialises claims), so two dispatchers never make
//!    the same attempt;
//! 3. [`settle`] stores each attempt's outcome: delivered, retried after a back-off, dead
//!    once the retry window is over, and the endpoint disabled once it has failed for too
//!    long ([`delivery`](crate::delivery) holds these rules).
//!
//! A dispatcher that dies between claim and settle leaves the lease to expire; the attempt
//! is then claimed again, so delivery is at least once, and the event id (`webhook-id`) lets
//! receivers drop a repeat.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use entity::{outbox_event, webhook, webhook_delivery};
use sea_orm::prelude::Expr;
use sea_orm::sea_query::{ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, Select, Set,
};

use crate::auth::Principal;
use crate::db::{Db, begin_write};
use crate::delivery::{self, AfterFailure};
use crate::outbox::EventType;
use crate::{DomainError, DomainResult, access};

/// A delivery's `status`.
pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const DEAD: &str = "dead";

/// Bytes of key in a new secret.
const SECRET_BYTES: usize = 32;

/// The longest error text a delivery keeps.
const ERROR_MAX: usize = 500;

fn new_secret() -> String {
    let mut key = [0u8; SECRET_BYTES];
    // The OS random source failing is unrecoverable for a secret issuer.
    getrandom::fill(&mut key).expect("the operating system's random source is unavailable");
    delivery::secret_of(&key)
}

/// A random number in `[0, 1)` from the OS, for the back-off's jitter.
pub fn jitter() -> f64 {
    let mut bytes = [0u8; 8];
    // The OS random source failing is unrecoverable here as anywhere.
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// The event types of a filter: at least one, each known; repeats are dropped. Stored
/// space-separated.
pub fn check_events(events: &[String]) -> DomainResult<Vec<EventType>> {
    if events.is_empty() {
        return Err(DomainError::bad_input(
            "events",
            "name at least one event type",
        ));
    }
    let mut kinds = Vec::new();
    for name in events {
        let kind = EventType::parse(name.trim()).ok_or_else(|| {
            let known: Vec<&str> = EventType::ALL.iter().map(|t| t.name()).collect();
            DomainError::invalid(
                "events",
                format!(
                    "must name known event types; `{}` is not one of {}",
                    name.trim(),
                    known.join(", ")
                ),
            )
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    kinds.sort();
    Ok(kinds)
}

fn stored_events(kinds: &[EventType]) -> String {
    kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(" ")
}

/// Whether a webhook wants events of this type.
pub fn wants(hook: &webhook::Model, event_type: &str) -> bool {
    hook.events.split_whitespace().any(|e| e == event_type)
}

/// Registers an endpoint: an `http(s)` URL and the event types it wants. Returns the row
/// and its secret (`whsec_` and base64 of 32 random bytes), which only this answer and
/// [`rotate_secret`] show.
pub async fn create(
    db: &impl ConnectionTrait,
    who: &Principal,
    url: &str,
    events: &[String],
    now: DateTime<Utc>,
) -> DomainResult<(webhook::Model, String)> {
    access::require_admin(who)?;
    let url = crate::text::link("url", url)?;
    let kinds = check_events(events)?;
    let secret = new_secret();
    let row = webhook::ActiveModel {
        url: Set(url),
        events: Set(stored_events(&kinds)),
        secret: Set(secret.clone()),
        previous_secret: Set(None),
        previous_secret_until: Set(None),
        created_at: Set(now),
        failing_since: Set(None),
        disabled_at: Set(None),
        disabled_reason: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((row, secret))
}

/// Every webhook, oldest first.
pub async fn list(db: &impl ConnectionTrait, who: &Principal) -> DomainResult<Vec<webhook::Model>> {
    access::require_admin(who)?;
    Ok(webhook::Entity::find()
        .order_by_asc(webhook::Column::Id)
        .all(db)
        .await?)
}

/// One webhook, for an admin.
pub async fn get(
    db: &impl ConnectionTrait,
    who: &Principal,
    id: i64,
) -> DomainResult<webhook::Model> {
    access::require_admin(who)?;
    webhook::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("webhook"))
}

/// Changes a webhook's URL or event filter (the ones given).
pub async fn update(
    db: &impl Db,
    who: &Principal,
    id: i64,
    url: Option<&str>,
    events: Option<&[String]>,
) -> DomainResult<webhook::Model> {
    access::require_admin(who)?;
    let url = url.map(|u| crate::text::link("url", u)).transpose()?;
    let events = events.map(check_events).transpose()?;
    let txn = begin_write(db).await?;
    let current = get(&txn, who, id).await?;
    if url.is_none() && events.is_none() {
        return Ok(current);
    }
    let mut row = current.into_active_model();
    if let Some(url) = url {
        row.url = Set(url);
    }
    if let Some(kinds) = events {
        row.events = Set(stored_events(&kinds));
    }
    let row = row.update(&txn).await?;
    txn.commit().await?;
    Ok(row)
}

/// A new secret for a webhook, returned once. The previous one keeps signing beside it for
/// [`delivery::rotation_grace`], so the receiver can switch without losing a delivery.
pub async fn rotate_secret(
    db: &impl Db,
    who: &Principal,
    id: i64,
    now: DateTime<Utc>,
) -> DomainResult<(webhook::Model, String)> {
    let txn = begin_write(db).await?;
    let current = get(&txn, who, id).await?;
    let secret = new_secret();
    let mut row = current.clone().into_active_model();
    row.secret = Set(secret.clone());
    row.previous_secret = Set(Some(current.secret));
    row.previous_secret_until = Set(Some(now + delivery::rotation_grace()));
    let row = row.update(&txn).await?;
    txn.commit().await?;
    Ok((row, secret))
}

/// Disables a webhook (no new deliveries are made for it, due ones wait) or enables it again
/// (its failure streak starts over).
pub async fn set_enabled(
    db: &impl Db,
    who: &Principal,
    id: i64,
    enabled: bool,
    now: DateTime<Utc>,
) -> DomainResult<webhook::Model> {
    let txn = begin_write(db).await?;
    let current = get(&txn, who, id).await?;
    let unchanged = if enabled {
        current.disabled_at.is_none() && current.failing_since.is_none()
    } else {
        current.disabled_at.is_some()
    };
    if unchanged {
        return Ok(current);
    }
    let mut row = current.clone().into_active_model();
    if enabled {
        row.disabled_at = Set(None);
        row.disabled_reason = Set(None);
        row.failing_since = Set(None);
    } else {
        row.disabled_at = Set(Some(now));
        row.disabled_reason = Set(Some(match who {
            Principal::Employee { .. } => "disabled by an admin".to_owned(),
            Principal::Service { name, .. } => format!("disabled by {name}"),
            Principal::System => "disabled by the operator".to_owned(),
        }));
    }
    let row = row.update(&txn).await?;
    txn.commit().await?;
    Ok(row)
}

/// Removes a webhook and its deliveries.
pub async fn delete(db: &impl Db, who: &Principal, id: i64) -> DomainResult<()> {
    let txn = begin_write(db).await?;
    get(&txn, who, id).await?;
    webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::WebhookId.eq(id))
        .exec(&txn)
        .await?;
    webhook::Entity::delete_by_id(id).exec(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// The deliveries of one webhook, optionally of one status, for the API to page.
pub async fn deliveries(
    db: &impl ConnectionTrait,
    who: &Principal,
    webhook_id: i64,
    status: Option<&str>,
) -> DomainResult<Select<webhook_delivery::Entity>> {
    get(db, who, webhook_id).await?;
    let mut q =
        webhook_delivery::Entity::find().filter(webhook_delivery::Column::WebhookId.eq(webhook_id));
    if let Some(status) = status {
        q = q.filter(webhook_delivery::Column::Status.eq(status));
    }
    Ok(q)
}

/// The outbox events of some deliveries, by outbox id (one statement).
pub async fn events_of(
    db: &impl ConnectionTrait,
    outbox_ids: impl IntoIterator<Item = i64>,
) -> DomainResult<HashMap<i64, outbox_event::Model>> {
    let ids: Vec<i64> = outbox_ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(outbox_event::Entity::find()
        .filter(outbox_event::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect())
}

/// Sends a delivery again from now, with a fresh retry window: a dead or delivered one
/// becomes pending, a pending one is due at once. `Conflict` while an attempt is under way.
pub async fn redeliver(
    db: &impl Db,
    who: &Principal,
    delivery_id: i64,
    now: DateTime<Utc>,
) -> DomainResult<webhook_delivery::Model> {
    access::require_admin(who)?;
    let txn = begin_write(db).await?;
    let current = webhook_delivery::Entity::find_by_id(delivery_id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("delivery"))?;
    if current.status == PENDING && current.locked_until.is_some_and(|until| until > now) {
        return Err(DomainError::Conflict(
            "an attempt of this delivery is under way; try again when it is done".into(),
        ));
    }
    let mut row = current.into_active_model();
    row.status = Set(PENDING.into());
    row.retry_from = Set(now);
    row.next_attempt_at = Set(Some(now));
    row.locked_until = Set(None);
    let row = row.update(&txn).await?;
    txn.commit().await?;
    Ok(row)
}

/// Makes the deliveries of up to `batch` new outbox events, oldest first, and marks them
/// fanned out. On PostgreSQL the events are locked `SKIP LOCKED`, so two dispatchers take
/// different events; a unique key on (webhook, event) makes a repeat impossible anyway.
/// Returns how many events it took.
pub async fn fan_out(db: &impl Db, now: DateTime<Utc>, batch: u64) -> DomainResult<usize> {
    let txn = begin_write(db).await?;
    let events = outbox_event::Entity::find()
        .filter(outbox_event::Column::FannedOutAt.is_null())
        .order_by_asc(outbox_event::Column::Id)
        .limit(batch)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(&txn)
        .await?;
    if events.is_empty() {
        txn.commit().await?;
        return Ok(0);
    }
    let hooks = webhook::Entity::find()
        .filter(webhook::Column::DisabledAt.is_null())
        .all(&txn)
        .await?;
    let rows: Vec<webhook_delivery::ActiveModel> = events
        .iter()
        .flat_map(|e| {
            hooks
                .iter()
                .filter(|h| h.created_at <= e.created_at && wants(h, &e.event_type))
                .map(|h| webhook_delivery::ActiveModel {
                    webhook_id: Set(h.id),
                    outbox_id: Set(e.id),
                    status: Set(PENDING.into()),
                    attempts: Set(0),
                    created_at: Set(now),
                    retry_from: Set(now),
                    next_attempt_at: Set(Some(now)),
                    locked_until: Set(None),
                    last_attempt_at: Set(None),
                    last_status_code: Set(None),
                    last_error: Set(None),
                    delivered_at: Set(None),
                    ..Default::default()
                })
        })
        .collect();
    for chunk in rows.chunks(500) {
        webhook_delivery::Entity::insert_many(chunk.to_vec())
            .on_conflict_do_nothing_on([
                webhook_delivery::Column::WebhookId,
                webhook_delivery::Column::OutboxId,
            ])
            .exec_without_returning(&txn)
            .await?;
    }
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    for chunk in ids.chunks(500) {
        outbox_event::Entity::update_many()
            .col_expr(outbox_event::Column::FannedOutAt, Expr::value(now))
            .filter(outbox_event::Column::Id.is_in(chunk.iter().copied()))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(events.len())
}

/// One attempt a dispatcher holds the lease of: what to send and where.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    pub delivery_id: i64,
    /// This attempt's number (1 for the first).
    pub attempt: i32,
    pub retry_from: DateTime<Utc>,
    pub webhook_id: i64,
    pub url: String,
    /// The secrets that sign it: the current one, and the previous within its grace.
    pub secrets: Vec<String>,
    /// The `webhook-id`.
    pub event_id: String,
    pub event_type: String,
    pub body: String,
}

/// Leases up to `batch` due deliveries of enabled webhooks until `now + lease` and counts an
/// attempt on each, earliest due first; returns what to send.
pub async fn claim(
    db: &impl Db,
    now: DateTime<Utc>,
    lease: Duration,
    batch: u64,
) -> DomainResult<Vec<Claim>> {
    let txn = begin_write(db).await?;
    let lease_free = || {
        Condition::any()
            .add(webhook_delivery::Column::LockedUntil.is_null())
            .add(webhook_delivery::Column::LockedUntil.lte(now))
    };
    let enabled = Query::select()
        .column(webhook::Column::Id)
        .from(webhook::Entity)
        .and_where(webhook::Column::DisabledAt.is_null())
        .to_owned();
    let due: Vec<i64> = webhook_delivery::Entity::find()
        .select_only()
        .column(webhook_delivery::Column::Id)
        .filter(webhook_delivery::Column::Status.eq(PENDING))
        .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
        .filter(lease_free())
        .filter(webhook_delivery::Column::WebhookId.in_subquery(enabled))
        .order_by_asc(webhook_delivery::Column::NextAttemptAt)
        .order_by_asc(webhook_delivery::Column::Id)
        .limit(batch)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .into_tuple()
        .all(&txn)
        .await?;
    if due.is_empty() {
        txn.commit().await?;
        return Ok(Vec::new());
    }
    // The status and the lease are checked again by the update itself, so a row another
    // dispatcher claimed meanwhile is not claimed twice.
    let claimed = webhook_delivery::Entity::update_many()
        .col_expr(
            webhook_delivery::Column::Attempts,
            Expr::col(webhook_delivery::Column::Attempts).add(1),
        )
        .col_expr(
            webhook_delivery::Column::LockedUntil,
            Expr::value(now + lease),
        )
        .col_expr(webhook_delivery::Column::LastAttemptAt, Expr::value(now))
        .filter(webhook_delivery::Column::Id.is_in(due))
        .filter(webhook_delivery::Column::Status.eq(PENDING))
        .filter(lease_free())
        .exec_with_returning(&txn)
        .await?;
    let hooks: HashMap<i64, webhook::Model> = webhook::Entity::find()
        .filter(webhook::Column::Id.is_in(claimed.iter().map(|d| d.webhook_id)))
        .all(&txn)
        .await?
        .into_iter()
        .map(|h| (h.id, h))
        .collect();
    let events = events_of(&txn, claimed.iter().map(|d| d.outbox_id)).await?;
    txn.commit().await?;
    let mut claims: Vec<Claim> = claimed
        .into_iter()
        .filter_map(|d| {
            let hook = hooks.get(&d.webhook_id)?;
            let event = events.get(&d.outbox_id)?;
            let secrets = delivery::signing_secrets(
                &hook.secret,
                hook.previous_secret.as_deref(),
                hook.previous_secret_until,
                now,
            );
            Some(Claim {
                delivery_id: d.id,
                attempt: d.attempts,
                retry_from: d.retry_from,
                webhook_id: d.webhook_id,
                url: hook.url.clone(),
                secrets: secrets.into_iter().map(str::to_owned).collect(),
                event_id: event.event_id.clone(),
                event_type: event.event_type.clone(),
                body: event.body.clone(),
            })
        })
        .collect();
    claims.sort_by_key(|c| c.delivery_id);
    Ok(claims)
}

/// How one attempt went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver answered with this HTTP status (2xx delivers, anything else fails).
    Answered(u16),
    /// No answer: refused, timed out, a bad secret, …
    Failed(String),
}

/// The dispatcher's settings that decide what an outcome leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// How long after its window starts a delivery is retried before it is dead.
    pub retry_for: Duration,
    /// How long an endpoint may fail every attempt before it is disabled.
    pub disable_after: Duration,
}

/// What settling one attempt did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settled {
    pub delivery_id: i64,
    pub webhook_id: i64,
    pub delivered: bool,
    pub dead: bool,
    /// The endpoint was disabled for failing, with this reason.
    pub disabled: Option<String>,
}

/// Stores the outcomes of attempts (each with its `jitter` in `[0, 1)` for the back-off)
/// at `now`, in one transaction. An attempt whose lease was lost (the delivery was claimed
/// again meanwhile) changes nothing.
pub async fn settle(
    db: &impl Db,
    outcomes: Vec<(Claim, Outcome, f64)>,
    rules: Rules,
    now: DateTime<Utc>,
) -> DomainResult<Vec<Settled>> {
    let txn = begin_write(db).await?;
    let mut settled = Vec::with_capacity(outcomes.len());
    // Successes first, grouped by status code: two statements for a batch of them.
    let mut delivered_by_code: BTreeMap<u16, Vec<&Claim>> = BTreeMap::new();
    for (claim, outcome, _) in &outcomes {
        if let Outcome::Answered(code) = outcome
            && delivery::delivered(*code)
        {
            delivered_by_code.entry(*code).or_default().push(claim);
        }
    }
    for (code, claims) in &delivered_by_code {
        for chunk in claims.chunks(200) {
            let mine = chunk.iter().fold(Condition::any(), |c, claim| {
                c.add(
                    Condition::all()
                        .add(webhook_delivery::Column::Id.eq(claim.delivery_id))
                        .add(webhook_delivery::Column::Attempts.eq(claim.attempt)),
                )
            });
            webhook_delivery::Entity::update_many()
                .col_expr(webhook_delivery::Column::Status, Expr::value(DELIVERED))
                .col_expr(webhook_delivery::Column::DeliveredAt, Expr::value(now))
                .col_expr(
                    webhook_delivery::Column::LastStatusCode,
                    Expr::value(i32::from(*code)),
                )
                .col_expr(
                    webhook_delivery::Column::LastError,
                    Expr::value(None::<String>),
                )
                .col_expr(
                    webhook_delivery::Column::LockedUntil,
                    Expr::value(None::<DateTime<Utc>>),
                )
                .col_expr(
                    webhook_delivery::Column::NextAttemptAt,
                    Expr::value(None::<DateTime<Utc>>),
                )
                .filter(webhook_delivery::Column::Status.eq(PENDING))
                .filter(mine)
                .exec(&txn)
                .await?;
        }
        for claim in claims {
            settled.push(Settled {
                delivery_id: claim.delivery_id,
                webhook_id: claim.webhook_id,
                delivered: true,
                dead: false,
                disabled: None,
            });
        }
    }
    let recovered: Vec<i64> = {
        let mut ids: Vec<i64> = delivered_by_code
            .values()
            .flatten()
            .map(|c| c.webhook_id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    if !recovered.is_empty() {
        webhook::Entity::update_many()
            .col_expr(
                webhook::Column::FailingSince,
                Expr::value(None::<DateTime<Utc>>),
            )
            .filter(webhook::Column::Id.is_in(recovered))
            .filter(webhook::Column::FailingSince.is_not_null())
            .exec(&txn)
            .await?;
    }
    for (claim, outcome, jitter) in &outcomes {
        let (code, error) = match outcome {
            Outcome::Answered(code) if delivery::delivered(*code) => continue,
            Outcome::Answered(code) => (Some(i32::from(*code)), format!("HTTP {code}")),
            Outcome::Failed(error) => (None, error.chars().take(ERROR_MAX).collect()),
        };
        let attempt = u32::try_from(claim.attempt).unwrap_or(0);
        let verdict =
            delivery::after_failure(attempt, claim.retry_from, rules.retry_for, now, *jitter);
        let (status, next) = match verdict {
            AfterFailure::Retry(at) => (PENDING, Some(at)),
            AfterFailure::Dead => (DEAD, None),
        };
        webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::Status, Expr::value(status))
            .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(next))
            .col_expr(webhook_delivery::Column::LastStatusCode, Expr::value(code))
            .col_expr(
                webhook_delivery::Column::LastError,
                Expr::value(Some(error.clone())),
            )
            .col_expr(
                webhook_delivery::Column::LockedUntil,
                Expr::value(None::<DateTime<Utc>>),
            )
            .filter(webhook_delivery::Column::Id.eq(claim.delivery_id))
            .filter(webhook_delivery::Column::Attempts.eq(claim.attempt))
            .filter(webhook_delivery::Column::Status.eq(PENDING))
            .exec(&txn)
            .await?;
        // The endpoint's failure streak starts at its first failure since a success.
        webhook::Entity::update_many()
            .col_expr(webhook::Column::FailingSince, Expr::value(now))
            .filter(webhook::Column::Id.eq(claim.webhook_id))
            .filter(webhook::Column::FailingSince.is_null())
            .exec(&txn)
            .await?;
        let mut disabled = None;
        let hook = webhook::Entity::find_by_id(claim.webhook_id)
            .one(&txn)
            .await?;
        if let Some(hook) = hook
            && hook.disabled_at.is_none()
            && delivery::should_disable(hook.failing_since, rules.disable_after, now)
        {
            let since = hook.failing_since.unwrap_or(now);
            let reason = delivery::disabled_reason(since, &error);
            let mut row = hook.into_active_model();
            row.disabled_at = Set(Some(now));
            row.disabled_reason = Set(Some(reason.clone()));
            row.update(&txn).await?;
            disabled = Some(reason);
        }
        settled.push(Settled {
            delivery_id: claim.delivery_id,
            webhook_id: claim.webhook_id,
            delivered: false,
            dead: status == DEAD,
            disabled,
        });
    }
    txn.commit().await?;
    Ok(settled)
}

/// Removes deliveries that ended (delivered or dead) before `before`, and the outbox events
/// fanned out before it that no delivery refers to any more; returns how many of each. The
/// outbox's dedupe keys go with their events, so `before` must lie further back than any
/// open period reaches (the dispatcher keeps 90 days).
pub async fn prune(db: &impl Db, before: DateTime<Utc>) -> DomainResult<(u64, u64)> {
    let txn = begin_write(db).await?;
    let deliveries = webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::Status.ne(PENDING))
        .filter(webhook_delivery::Column::LastAttemptAt.lt(before))
        .exec(&txn)
        .await?
        .rows_affected;
    let referenced = Query::select()
        .column(webhook_delivery::Column::OutboxId)
        .from(webhook_delivery::Entity)
        .to_owned();
    let events = outbox_event::Entity::delete_many()
        .filter(outbox_event::Column::FannedOutAt.lt(before))
        .filter(outbox_event::Column::Id.not_in_subquery(referenced))
        .exec(&txn)
        .await?
        .rows_affected;
    txn.commit().await?;
    Ok((deliveries, events))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_filters() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let kinds = check_events(&names(&[
            "period.closed",
            "assignment.submitted",
            "period.closed",
        ]))
        .unwrap();
        assert_eq!(stored_events(&kinds), "period.closed assignment.submitted");
        let err = check_events(&names(&["period.closed", "payroll.done"])).unwrap_err();
        assert!(
            err.to_string().contains("`payroll.done` is not one of"),
            "{err}"
        );
        assert!(matches!(
            err,
            DomainError::BadInput {
                field: "events",
                ..
            }
        ));
        assert!(check_events(&[]).is_err());
    }
}
