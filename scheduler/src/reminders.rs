//! The e-mail reminders' sender: the only part of Zeroboard that sends mail (SMTP, lettre).
//!
//! It polls (every [`ReminderConfig::poll`]): once a local day, at the configured time in the
//! company's time zone, the day's reminders are prepared in the database
//! ([`domain::reminding::prepare`], once whichever scheduler comes first); then due ones are
//! claimed ([`domain::reminding::claim`]), sent outside any transaction, a few at once with
//! a timeout, and their outcomes stored ([`domain::reminding::settle`]). Several schedulers
//! may run against one database: the day's row, the reminders' unique key and the claims
//! keep a reminder from being sent twice. When to send, to whom, what and when to retry are
//! `domain::reminders`' rules.
//!
//! [`Mailer::run_once`] does one round at a given instant; the tests drive it with a fixed
//! clock. [`Mailer::spawn`] runs rounds until stopped.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use domain::clock::Clock;
use domain::db::DatabaseConnection;
use domain::reminding::{self, Outcome, Prepared, Reminder, Settled};
use domain::{Company, DomainResult};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// How the connection to the SMTP server is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text (a relay on the same host or network).
    None,
    /// STARTTLS, required (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl std::str::FromStr for SmtpTls {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(SmtpTls::None),
            "starttls" => Ok(SmtpTls::StartTls),
            "tls" => Ok(SmtpTls::Tls),
            _ => Err(format!("`{s}` is none of none, starttls or tls")),
        }
    }
}

impl SmtpTls {
    /// The usual port of each mode.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
        }
    }
}

/// How the reminders are sent; none at all without an SMTP host.
#[derive(Clone, PartialEq, Eq)]
pub struct ReminderConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// Both or neither: the SMTP login.
    pub user: Option<String>,
    pub password: Option<String>,
    /// The sender, e.g. `Zeroboard <zeroboard@example.com>`.
    pub from: String,
    /// The local time of the day's reminders, in the company's time zone.
    pub at: NaiveTime,
    /// The board's address, linked from every reminder; none when no public URL is set.
    pub board: Option<String>,
    /// The pause between rounds.
    pub poll: Duration,
    /// How long one message may take, connecting included.
    pub timeout: Duration,
    /// Reminders claimed (and sent at once) per round.
    pub batch: u64,
}

impl std::fmt::Debug for ReminderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReminderConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("from", &self.from)
            .field("at", &self.at)
            .field("board", &self.board)
            .finish_non_exhaustive()
    }
}

pub const DEFAULT_POLL_SECS: u64 = 30;
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;

impl ReminderConfig {
    /// A configuration for `host:port` with the defaults for everything else.
    pub fn new(host: impl Into<String>, port: u16, tls: SmtpTls, from: impl Into<String>) -> Self {
        ReminderConfig {
            host: host.into(),
            port,
            tls,
            user: None,
            password: None,
            from: from.into(),
            at: domain::reminders::DEFAULT_TIME,
            board: None,
            poll: Duration::from_secs(DEFAULT_POLL_SECS),
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            batch: 20,
        }
    }

    /// How long a claimed reminder is leased: the timeout and a margin for storing the
    /// outcome. A sender that has not reported by then is taken to have died.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.timeout).unwrap_or(chrono::Duration::MAX)
            + chrono::Duration::seconds(60)
    }
}

/// Checks a sender the way the mailer will parse it.
pub fn validate_from(from: &str) -> Result<(), String> {
    from.parse::<Mailbox>()
        .map(|_| ())
        .map_err(|_| format!("`{from}` is not a sender like `Zeroboard <zeroboard@example.com>`"))
}

/// What one round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// The day prepared in this round, if any.
    pub prepared: Option<Prepared>,
    /// Attempts made, and how they ended.
    pub attempts: usize,
    pub settled: Settled,
}

/// Sends the reminders of one database.
#[derive(Clone)]
pub struct Mailer {
    db: DatabaseConnection,
    company: Company,
    config: ReminderConfig,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(
        db: DatabaseConnection,
        company: Company,
        config: ReminderConfig,
    ) -> anyhow::Result<Mailer> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| anyhow::anyhow!("{}", validate_from(&config.from).unwrap_err()))?;
        let builder = match config.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
            SmtpTls::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)?
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)?,
        };
        let mut builder = builder
            .port(config.port)
            .timeout(Some(config.timeout))
            .hello_name(ClientId::Domain(from.email.domain().to_owned()));
        if let (Some(user), Some(password)) = (&config.user, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Mailer {
            db,
            company,
            transport: builder.build(),
            from,
            config,
        })
    }

    /// One round at `now`: prepares the day's reminders when they are due and not yet
    /// prepared, then sends every reminder due at `now`.
    pub async fn run_once(&self, now: DateTime<Utc>) -> DomainResult<Round> {
        let mut round = Round {
            prepared: reminding::prepare(
                &self.db,
                &self.company,
                self.config.at,
                self.config.board.as_deref(),
                now,
            )
            .await?,
            ..Round::default()
        };
        if let Some(p) = round.prepared {
            tracing::info!(
                reminders.day = %p.day,
                reminders.overdue = p.overdue,
                reminders.to_accept = p.to_accept,
                "the day's reminders are prepared"
            );
        }
        loop {
            let claims =
                reminding::claim(&self.db, now, self.config.lease(), self.config.batch).await?;
            if claims.is_empty() {
                return Ok(round);
            }
            round.attempts += claims.len();
            let mut sending = JoinSet::new();
            for claim in claims {
                let mailer = self.transport.clone();
                let message = self.message(&claim);
                sending.spawn(async move {
                    let outcome = match message {
                        Ok(message) => match mailer.send(message).await {
                            Ok(_) => Outcome::Sent,
                            Err(e) => Outcome::Failed {
                                permanent: e.is_permanent(),
                                error: describe(&e),
                            },
                        },
                        Err(error) => Outcome::Failed {
                            error,
                            permanent: true,
                        },
                    };
                    (claim, outcome)
                });
            }
            let mut outcomes = Vec::new();
            while let Some(done) = sending.join_next().await {
                match done {
                    Ok(outcome) => outcomes.push(outcome),
                    // Its lease runs out and it is abandoned: never sent twice.
                    Err(e) => tracing::error!(error = %e, "a reminder's send failed to finish"),
                }
            }
            for (claim, outcome) in &outcomes {
                if let Outcome::Failed { error, permanent } = outcome {
                    tracing::warn!(
                        reminder.id = claim.id,
                        reminder.attempt = claim.attempts,
                        permanent,
                        error = %error,
                        "a reminder was not sent"
                    );
                }
            }
            let settled = reminding::settle(&self.db, &self.company, outcomes, now).await?;
            metrics::counter!("zeroboard_reminders_total", "outcome" => "sent")
                .increment(settled.sent as u64);
            metrics::counter!("zeroboard_reminders_total", "outcome" => "retrying")
                .increment(settled.retrying as u64);
            metrics::counter!("zeroboard_reminders_total", "outcome" => "failed")
                .increment(settled.failed as u64);
            round.settled.sent += settled.sent;
            round.settled.retrying += settled.retrying;
            round.settled.failed += settled.failed;
        }
    }

    /// The e-mail of a reminder: plain text, with a Message-ID of its own reminder, so a
    /// receiving system can tell the same reminder by it.
    fn message(&self, r: &Reminder) -> Result<Message, String> {
        let to: Mailbox = r
            .email
            .parse()
            .map_err(|e| format!("`{}` is not an address to send to: {e}", r.email))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(r.subject.clone())
            .message_id(Some(format!(
                "<zeroboard-reminder-{}-{}@{}>",
                r.id,
                r.day,
                self.from.email.domain()
            )))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".into(),
            ))
            .header(ContentType::TEXT_PLAIN)
            .body(r.body.clone())
            .map_err(|e| format!("cannot build the message: {e}"))
    }

    /// Runs rounds at the clock's now until `stop` turns true, one per poll. A failing round
    /// is logged once per distinct error and retried.
    pub fn spawn(self, clock: Clock, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        let mailer = Arc::new(self);
        tokio::spawn(async move {
            let mut last_error: Option<String> = None;
            while !*stop.borrow() {
                match mailer.run_once(clock.now()).await {
                    Ok(round) => {
                        if last_error.take().is_some() {
                            tracing::info!("the reminders' sender recovered");
                        }
                        if round.attempts > 0 {
                            tracing::info!(
                                sent = round.settled.sent,
                                retrying = round.settled.retrying,
                                failed = round.settled.failed,
                                "reminders sent"
                            );
                        }
                    }
                    Err(e) => {
                        let message = e.to_string();
                        if last_error.as_deref() != Some(message.as_str()) {
                            tracing::error!(error = %message, "sending reminders failed; retrying");
                            last_error = Some(message);
                        }
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(mailer.config.poll) => {}
                    changed = stop.changed() => {
                        if changed.is_err() {
                            break;
                        }
                    }
                }
            }
        })
    }
}

/// A failed send in a line: the error and its innermost cause.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_modes_and_senders() {
        assert_eq!("STARTTLS".parse(), Ok(SmtpTls::StartTls));
        assert_eq!("none".parse(), Ok(SmtpTls::None));
        assert_eq!("tls".parse::<SmtpTls>().map(SmtpTls::default_port), Ok(465));
        assert!("ssl".parse::<SmtpTls>().is_err());
        assert_eq!(validate_from("Zeroboard <zb@example.com>"), Ok(()));
        assert_eq!(validate_from("zb@example.com"), Ok(()));
        assert!(validate_from("zeroboard").is_err());
        let mut config =
            ReminderConfig::new("smtp.example.com", 587, SmtpTls::StartTls, "zb@x.org");
        config.password = Some("hunter2".into());
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
