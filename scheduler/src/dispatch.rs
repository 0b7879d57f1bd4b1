//! The webhook dispatcher: the only part of Zeroboard that sends to the outside world.
//!
//! It polls (every [`DispatcherConfig::poll`], and at once again while there is more to do):
//! new outbox events become deliveries ([`domain::webhooks::fan_out`]), due deliveries are
//! leased to this dispatcher ([`domain::webhooks::claim`]), sent concurrently with a
//! timeout and signed as the Standard Webhooks specification says, and their outcomes stored
//! ([`domain::webhooks::settle`]). Several dispatchers may run against one database: leases
//! keep them from making the same attempt. Every decision (when to retry, when a delivery
//! is dead, when an endpoint is disabled) is `domain::delivery`'s, from `now`.
//!
//! [`Dispatcher::run_once`] does one round at a given instant; the tests and the benchmark
//! drive it with a fixed clock. [`Dispatcher::spawn`] runs rounds until stopped.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::DomainResult;
use domain::clock::Clock;
use domain::db::DatabaseConnection;
use domain::webhooks::{self, Claim, Outcome, Rules};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// How the dispatcher runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DispatcherConfig {
    /// The pause between rounds that found nothing to do.
    pub poll: Duration,
    /// How long one attempt may take, from connecting to the answer's status.
    pub timeout: Duration,
    /// How long a delivery is retried before it is dead.
    pub retry_for: chrono::Duration,
    /// How long an endpoint may fail every attempt before it is disabled.
    pub disable_after: chrono::Duration,
    /// Events fanned out, and deliveries claimed, per statement.
    pub batch: u64,
    /// How long ended deliveries and their outbox events are kept (pruned hourly). Longer
    /// than any period lasts, since an event's dedupe key goes with it.
    pub retention: chrono::Duration,
}

pub const DEFAULT_POLL_MS: u64 = 500;
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_RETRY_FOR_SECS: u64 = 24 * 60 * 60;
pub const DEFAULT_DISABLE_AFTER_SECS: u64 = 5 * 24 * 60 * 60;

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            poll: Duration::from_millis(DEFAULT_POLL_MS),
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            retry_for: chrono::Duration::seconds(DEFAULT_RETRY_FOR_SECS as i64),
            disable_after: chrono::Duration::seconds(DEFAULT_DISABLE_AFTER_SECS as i64),
            batch: 100,
            retention: chrono::Duration::days(90),
        }
    }
}

impl DispatcherConfig {
    fn rules(&self) -> Rules {
        Rules {
            retry_for: self.retry_for,
            disable_after: self.disable_after,
        }
    }

    /// How long a claimed attempt is leased: the timeout and a margin for storing the
    /// outcome; after it, another dispatcher may make the attempt again.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.timeout).unwrap_or(chrono::Duration::MAX)
            + chrono::Duration::seconds(30)
    }
}

/// What one round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Outbox events turned into deliveries.
    pub fanned_out: usize,
    /// Attempts made.
    pub sent: usize,
    pub delivered: usize,
    pub failed: usize,
    /// Deliveries that became dead.
    pub dead: usize,
    /// Endpoints disabled for failing too long.
    pub disabled: usize,
}

impl Round {
    fn add(&mut self, other: Round) {
        self.fanned_out += other.fanned_out;
        self.sent += other.sent;
        self.delivered += other.delivered;
        self.failed += other.failed;
        self.dead += other.dead;
        self.disabled += other.disabled;
    }
}

/// Sends webhooks from one database.
#[derive(Clone)]
pub struct Dispatcher {
    db: DatabaseConnection,
    client: reqwest::Client,
    config: DispatcherConfig,
}

impl Dispatcher {
    pub fn new(db: DatabaseConnection, config: DispatcherConfig) -> anyhow::Result<Dispatcher> {
        // Redirects are not followed: the endpoint is the URL an admin registered.
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("zeroboard-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Dispatcher { db, client, config })
    }

    /// One round at `now`: fans out the new events, then sends one batch of due deliveries.
    pub async fn run_once(&self, now: DateTime<Utc>) -> DomainResult<Round> {
        let mut round = Round::default();
        loop {
            let taken = webhooks::fan_out(&self.db, now, self.config.batch).await?;
            round.fanned_out += taken;
            if (taken as u64) < self.config.batch {
                break;
            }
        }
        let claims = webhooks::claim(&self.db, now, self.config.lease(), self.config.batch).await?;
        if claims.is_empty() {
            return Ok(round);
        }
        round.sent = claims.len();
        let mut sending = JoinSet::new();
        for claim in claims {
            let client = self.client.clone();
            sending.spawn(async move {
                let outcome = send(&client, &claim, now).await;
                (claim, outcome, webhooks::jitter())
            });
        }
        let mut outcomes = Vec::with_capacity(round.sent);
        while let Some(done) = sending.join_next().await {
            match done {
                Ok(outcome) => outcomes.push(outcome),
                // A panicked send leaves its lease to expire; the attempt is made again.
                Err(e) => tracing::error!(error = %e, "a webhook send failed to finish"),
            }
        }
        for settled in webhooks::settle(&self.db, outcomes, self.config.rules(), now).await? {
            if settled.delivered {
                round.delivered += 1;
            } else {
                round.failed += 1;
            }
            if settled.dead {
                round.dead += 1;
                tracing::warn!(
                    webhook.id = settled.webhook_id,
                    delivery.id = settled.delivery_id,
                    "a webhook delivery is dead: its retry window is over"
                );
            }
            if let Some(reason) = settled.disabled {
                round.disabled += 1;
                tracing::warn!(webhook.id = settled.webhook_id, reason, "webhook disabled");
            }
        }
        metrics::counter!("zeroboard_webhook_attempts_total", "outcome" => "delivered")
            .increment(round.delivered as u64);
        metrics::counter!("zeroboard_webhook_attempts_total", "outcome" => "failed")
            .increment(round.failed as u64);
        Ok(round)
    }

    /// Rounds at `now` until nothing is due at `now`: everything a healthy receiver can take.
    pub async fn drain(&self, now: DateTime<Utc>) -> DomainResult<Round> {
        let mut total = Round::default();
        loop {
            let round = self.run_once(now).await?;
            total.add(round);
            if round.sent == 0 && round.fanned_out == 0 {
                return Ok(total);
            }
        }
    }

    /// Runs rounds at the clock's now until `stop` turns true; a round that had a full batch
    /// is followed at once by the next, else after the poll interval. A failing round is
    /// logged once per distinct error and retried.
    pub fn spawn(self, clock: Clock, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        let dispatcher = Arc::new(self);
        tokio::spawn(async move {
            let mut last_error: Option<String> = None;
            let mut pruned_at: Option<std::time::Instant> = None;
            while !*stop.borrow() {
                if pruned_at.is_none_or(|at| at.elapsed() >= Duration::from_secs(3600)) {
                    pruned_at = Some(std::time::Instant::now());
                    let before = clock.now() - dispatcher.config.retention;
                    match webhooks::prune(&dispatcher.db, before).await {
                        Ok((0, 0)) => {}
                        Ok((deliveries, events)) => {
                            tracing::debug!(
                                deliveries,
                                events,
                                "old webhook deliveries and events removed"
                            )
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot remove old webhook deliveries")
                        }
                    }
                }
                let busy = match dispatcher.run_once(clock.now()).await {
                    Ok(round) => {
                        if last_error.take().is_some() {
                            tracing::info!("the webhook dispatcher recovered");
                        }
                        if round.sent > 0 {
                            tracing::debug!(
                                sent = round.sent,
                                delivered = round.delivered,
                                failed = round.failed,
                                "webhooks sent"
                            );
                        }
                        round.sent as u64 >= dispatcher.config.batch
                    }
                    Err(e) => {
                        let message = e.to_string();
                        if last_error.as_deref() != Some(message.as_str()) {
                            tracing::error!(error = %message, "webhook dispatch failed; retrying");
                            last_error = Some(message);
                        }
                        false
                    }
                };
                if !busy {
                    tokio::select! {
                        _ = tokio::time::sleep(dispatcher.config.poll) => {}
                        changed = stop.changed() => {
                            // The scheduler is gone without saying stop: stop too.
                            if changed.is_err() {
                                break;
                            }
                        }
                    }
                }
            }
        })
    }
}

/// One signed attempt: the body as stored, `webhook-id` the event's id, `webhook-timestamp`
/// the attempt's instant, `webhook-signature` one `v1,` signature per signing secret.
async fn send(client: &reqwest::Client, claim: &Claim, now: DateTime<Utc>) -> Outcome {
    let timestamp = now.timestamp();
    let secrets: Vec<&str> = claim.secrets.iter().map(String::as_str).collect();
    let signature = match domain::delivery::signature_header(
        &secrets,
        &claim.event_id,
        timestamp,
        claim.body.as_bytes(),
    ) {
        Ok(signature) => signature,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let sent = client
        .post(&claim.url)
        .header("content-type", "application/json")
        .header("webhook-id", &claim.event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(claim.body.clone())
        .send()
        .await;
    match sent {
        Ok(answer) => Outcome::Answered(answer.status().as_u16()),
        Err(e) => Outcome::Failed(describe(&e)),
    }
}

/// A failed request in a line: what kind of failure, and the innermost cause.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut cause: &dyn std::error::Error = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    format!("{kind}: {cause}")
}
