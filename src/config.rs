//! Settings, from flags > `ZEROBOARD_*` environment > `zeroboard.toml` > defaults.
//!
//! Clap reads flags and the environment; the file fills what neither gave. Every value is
//! checked here, and a bad one stops the program with one line naming the setting.

use std::path::PathBuf;

use chrono_tz::Tz;
use clap::Args;
use domain::calendar::{Cadence, Calendar};
use serde::Deserialize;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://zeroboard.db?mode=rwc";
pub const DEFAULT_BIND: &str = "127.0.0.1:8000";

/// Settings shared by every command.
#[derive(Args, Debug, Clone, Default)]
pub struct SettingsArgs {
    /// Database URL: `sqlite://FILE?mode=rwc` or `postgres://USER@HOST/DB` [default: sqlite://zeroboard.db?mode=rwc]
    #[arg(long, global = true, env = "ZEROBOARD_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Address to serve on [default: 127.0.0.1:8000]
    #[arg(long, global = true, env = "ZEROBOARD_BIND")]
    pub bind: Option<String>,
    /// The company's IANA time zone, e.g. Europe/Berlin; must agree with the one the database
    /// stores (change it with `company set`) [default: the database's; UTC for a new one]
    #[arg(long, global = true, env = "ZEROBOARD_TIMEZONE")]
    pub timezone: Option<String>,
    /// Period cadence: weekly, biweekly, biweekly:YYYY-MM-DD (the anchor Monday; plain
    /// biweekly is anchored on 2024-01-01), semi-monthly or monthly; must agree with the
    /// database's [default: the database's; semi-monthly for a new one]
    #[arg(long, global = true, env = "ZEROBOARD_CADENCE")]
    pub cadence: Option<String>,
    /// When the scheduler ticks: a cron expression with seconds [default: "0 * * * * *", every minute]
    #[arg(long, global = true, env = "ZEROBOARD_SCHEDULER_CRON")]
    pub scheduler_cron: Option<String>,
    /// Days of scheduler run log (`scheduler_run`) to keep; older rows are removed after each tick [default: 30]
    #[arg(long, global = true, env = "ZEROBOARD_SCHEDULER_RUN_RETENTION_DAYS")]
    pub scheduler_run_retention_days: Option<usize>,
    /// Milliseconds the webhook dispatcher waits between polls of the outbox when idle [default: 500]
    #[arg(long, global = true, env = "ZEROBOARD_WEBHOOK_POLL_MS")]
    pub webhook_poll_ms: Option<usize>,
    /// Seconds one webhook attempt may take before it counts as failed [default: 10]
    #[arg(long, global = true, env = "ZEROBOARD_WEBHOOK_TIMEOUT_SECS")]
    pub webhook_timeout_secs: Option<usize>,
    /// Seconds a webhook delivery is retried (exponential back-off with jitter) before it is dead [default: 86400]
    #[arg(long, global = true, env = "ZEROBOARD_WEBHOOK_RETRY_FOR_SECS")]
    pub webhook_retry_for_secs: Option<usize>,
    /// Seconds a webhook may fail every attempt before it is disabled [default: 432000, five days]
    #[arg(long, global = true, env = "ZEROBOARD_WEBHOOK_DISABLE_AFTER_SECS")]
    pub webhook_disable_after_secs: Option<usize>,
    /// SMTP server of the e-mail reminders; reminders are off when none is set [default: none]
    #[arg(long, global = true, env = "ZEROBOARD_SMTP_HOST")]
    pub smtp_host: Option<String>,
    /// SMTP port [default: 25 for none, 587 for starttls, 465 for tls]
    #[arg(long, global = true, env = "ZEROBOARD_SMTP_PORT")]
    pub smtp_port: Option<u16>,
    /// How the SMTP connection is secured: none, starttls (required) or tls [default: starttls]
    #[arg(long, global = true, env = "ZEROBOARD_SMTP_TLS")]
    pub smtp_tls: Option<String>,
    /// SMTP login; with `smtp_password` [default: none, no login]
    #[arg(long, global = true, env = "ZEROBOARD_SMTP_USER")]
    pub smtp_user: Option<String>,
    /// SMTP password; better given by the environment or the file than by a flag
    #[arg(
        long,
        global = true,
        env = "ZEROBOARD_SMTP_PASSWORD",
        hide_env_values = true
    )]
    pub smtp_password: Option<String>,
    /// The reminders' sender, e.g. "Zeroboard <zeroboard@example.com>"; required with `smtp_host`
    #[arg(long, global = true, env = "ZEROBOARD_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// The local time (HH:MM, the company's time zone) of the daily e-mail reminders [default: 09:00]
    #[arg(long, global = true, env = "ZEROBOARD_REMINDER_TIME")]
    pub reminder_time: Option<String>,
    /// Optional settings file [default: zeroboard.toml, if present]
    #[arg(long, global = true, env = "ZEROBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Deepest selection nesting a GraphQL request may use [default: 16]
    #[arg(long, global = true, env = "ZEROBOARD_MAX_DEPTH")]
    pub max_depth: Option<usize>,
    /// Most complexity points a GraphQL request may use [default: 100000]
    #[arg(long, global = true, env = "ZEROBOARD_MAX_COMPLEXITY")]
    pub max_complexity: Option<usize>,
    /// Most aliases in one operation [default: 30]
    #[arg(long, global = true, env = "ZEROBOARD_MAX_ALIASES")]
    pub max_aliases: Option<usize>,
    /// Most operations in one batched request [default: 10]
    #[arg(long, global = true, env = "ZEROBOARD_MAX_BATCH")]
    pub max_batch: Option<usize>,
    /// Largest request body in bytes [default: 262144]
    #[arg(long, global = true, env = "ZEROBOARD_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Largest page a connection may return (`first`) [default: 100]
    #[arg(long, global = true, env = "ZEROBOARD_MAX_PAGE_SIZE")]
    pub max_page_size: Option<usize>,
    /// Deepest bracket nesting in a document or its variables [default: 32]
    #[arg(long, global = true, env = "ZEROBOARD_MAX_NESTING")]
    pub max_nesting: Option<usize>,
    /// Most directives in one operation [default: 50]
    #[arg(long, global = true, env = "ZEROBOARD_MAX_DIRECTIVES")]
    pub max_directives: Option<usize>,
    /// Most connections served at once [default: 1024]
    #[arg(long, global = true, env = "ZEROBOARD_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds a connection may send and receive nothing before it is closed [default: 15]
    #[arg(long, global = true, env = "ZEROBOARD_READ_TIMEOUT_SECS")]
    pub read_timeout_secs: Option<usize>,
    /// Origins allowed to call the API from a browser (CORS), comma-separated [default: none]
    #[arg(long, global = true, env = "ZEROBOARD_CORS_ORIGINS")]
    pub cors_origins: Option<String>,
    /// Serve /metrics without a token [default: false: an admin or metrics:read token]
    #[arg(long, global = true, env = "ZEROBOARD_PUBLIC_METRICS")]
    pub public_metrics: Option<bool>,
    /// Answer GraphQL introspection without a token [default: false]
    #[arg(long, global = true, env = "ZEROBOARD_PUBLIC_INTROSPECTION")]
    pub public_introspection: Option<bool>,
    /// Where people reach the server, e.g. https://board.example.com: the base of sign-in
    /// links and the only origin cookie requests are taken from [default: http:// and the
    /// address served on]
    #[arg(long, global = true, env = "ZEROBOARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Minutes a sign-in link stays usable [default: 15]
    #[arg(long, global = true, env = "ZEROBOARD_LOGIN_LINK_MINUTES")]
    pub login_link_minutes: Option<usize>,
    /// Hours without a request after which a web session ends [default: 12]
    #[arg(long, global = true, env = "ZEROBOARD_SESSION_IDLE_HOURS")]
    pub session_idle_hours: Option<usize>,
    /// Days after which a web session ends however busy [default: 7]
    #[arg(long, global = true, env = "ZEROBOARD_SESSION_MAX_DAYS")]
    pub session_max_days: Option<usize>,
    /// Milliseconds changes are gathered before live boards are pushed [default: 200]
    #[arg(long, global = true, env = "ZEROBOARD_LIVE_WINDOW_MS")]
    pub live_window_ms: Option<usize>,
    /// Most subscriptions on one live connection [default: 10]
    #[arg(
        long,
        global = true,
        env = "ZEROBOARD_LIVE_SUBSCRIPTIONS_PER_CONNECTION"
    )]
    pub live_subscriptions_per_connection: Option<usize>,
    /// Most live connections of one employee or service at once [default: 8]
    #[arg(long, global = true, env = "ZEROBOARD_LIVE_CONNECTIONS_PER_PRINCIPAL")]
    pub live_connections_per_principal: Option<usize>,
    /// Seconds between keep-alive pings on live connections [default: 15]
    #[arg(long, global = true, env = "ZEROBOARD_LIVE_KEEPALIVE_SECS")]
    pub live_keepalive_secs: Option<usize>,
    /// Seconds a live connection may hold no subscription before it is closed [default: 60]
    #[arg(long, global = true, env = "ZEROBOARD_LIVE_IDLE_TIMEOUT_SECS")]
    pub live_idle_timeout_secs: Option<usize>,
    /// Seconds a live client may take to read a message before it is dropped [default: 10]
    #[arg(long, global = true, env = "ZEROBOARD_LIVE_SEND_TIMEOUT_SECS")]
    pub live_send_timeout_secs: Option<usize>,
}

/// The optional file: the same settings, snake_case.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    database_url: Option<String>,
    bind: Option<String>,
    timezone: Option<String>,
    cadence: Option<String>,
    scheduler_cron: Option<String>,
    scheduler_run_retention_days: Option<usize>,
    webhook_poll_ms: Option<usize>,
    webhook_timeout_secs: Option<usize>,
    webhook_retry_for_secs: Option<usize>,
    webhook_disable_after_secs: Option<usize>,
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    smtp_tls: Option<String>,
    smtp_user: Option<String>,
    smtp_password: Option<String>,
    smtp_from: Option<String>,
    reminder_time: Option<String>,
    max_depth: Option<usize>,
    max_complexity: Option<usize>,
    max_aliases: Option<usize>,
    max_batch: Option<usize>,
    max_body_bytes: Option<usize>,
    max_page_size: Option<usize>,
    max_nesting: Option<usize>,
    max_directives: Option<usize>,
    max_connections: Option<usize>,
    read_timeout_secs: Option<usize>,
    cors_origins: Option<String>,
    public_metrics: Option<bool>,
    public_introspection: Option<bool>,
    public_url: Option<String>,
    login_link_minutes: Option<usize>,
    session_idle_hours: Option<usize>,
    session_max_days: Option<usize>,
    live_window_ms: Option<usize>,
    live_subscriptions_per_connection: Option<usize>,
    live_connections_per_principal: Option<usize>,
    live_keepalive_secs: Option<usize>,
    live_idle_timeout_secs: Option<usize>,
    live_send_timeout_secs: Option<usize>,
}

/// A duration setting: the limit's rules, and at most `max`.
fn bounded(
    setting: &'static str,
    given: Option<usize>,
    file: Option<usize>,
    default: usize,
    max: usize,
) -> Result<i64, SettingError> {
    let n = limit(setting, given, file, default)?;
    if n > max {
        return Err(bad(setting, format!("must be at most {max}")));
    }
    Ok(n as i64)
}

/// A public URL: an origin (`scheme://host[:port]`), http or https, without a path.
fn public_url(url: &str) -> Result<String, SettingError> {
    let url = url.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', '@', ' ']) => {
            Ok(url.to_owned())
        }
        _ => Err(bad(
            "public_url",
            format!("`{url}` is not a URL like https://board.example.com (no path)"),
        )),
    }
}

/// A limit from the flag or environment, else the file, else the default; at least 1.
fn limit(
    setting: &'static str,
    given: Option<usize>,
    file: Option<usize>,
    default: usize,
) -> Result<usize, SettingError> {
    match given.or(file).unwrap_or(default) {
        0 => Err(bad(setting, "must be at least 1")),
        n => Ok(n),
    }
}

/// Checked settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub bind: String,
    /// The configured calendar, defaults included.
    pub calendar: Calendar,
    /// The zone and cadence as given by a flag, the environment or the file (not defaulted):
    /// the ones that must agree with the database's company.
    pub given_tz: Option<Tz>,
    pub given_cadence: Option<Cadence>,
    pub scheduler: scheduler::SchedulerConfig,
    pub limits: api::Limits,
    pub http: api::HttpOptions,
}

impl Settings {
    /// Where people reach the server: the setting, else `http://` and the address served on
    /// (for a command that serves nothing, the configured one).
    pub fn public_url(&self) -> String {
        self.http
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.bind))
    }

    /// A process configured with a database, an address and a calendar (given, so they
    /// must agree with the database's company), everything else at its default: how the
    /// tests start one.
    pub fn new(
        database_url: impl Into<String>,
        bind: impl Into<String>,
        calendar: Calendar,
    ) -> Self {
        Settings {
            database_url: database_url.into(),
            bind: bind.into(),
            calendar,
            given_tz: Some(calendar.tz),
            given_cadence: Some(calendar.cadence),
            scheduler: scheduler::SchedulerConfig::default(),
            limits: api::Limits::default(),
            http: api::HttpOptions::default(),
        }
    }
}

/// A bad setting: which one, and why.
#[derive(Debug)]
pub struct SettingError {
    pub setting: &'static str,
    pub message: String,
}

impl std::fmt::Display for SettingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid setting `{}`: {}", self.setting, self.message)
    }
}

impl std::error::Error for SettingError {}

fn bad(setting: &'static str, message: impl Into<String>) -> SettingError {
    SettingError {
        setting,
        message: message.into(),
    }
}

impl SettingsArgs {
    pub fn resolve(&self) -> Result<Settings, SettingError> {
        let mut file = self.read_file()?;
        let mut reminders = self.reminders(&mut file)?;
        let database_url = self
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(bad(
                "database_url",
                format!("`{database_url}` is neither sqlite://… nor postgres://…"),
            ));
        }
        let bind = self
            .bind
            .clone()
            .or(file.bind)
            .unwrap_or_else(|| DEFAULT_BIND.into());
        if bind.parse::<std::net::SocketAddr>().is_err() {
            return Err(bad(
                "bind",
                format!("`{bind}` is not an address like 127.0.0.1:8000"),
            ));
        }
        let given_tz = match self.timezone.clone().or(file.timezone) {
            Some(timezone) => Some(timezone.parse::<Tz>().map_err(|_| {
                bad(
                    "timezone",
                    format!("`{timezone}` is not an IANA time zone like Europe/Berlin"),
                )
            })?),
            None => None,
        };
        let given_cadence = match self.cadence.clone().or(file.cadence) {
            Some(cadence) => Some(
                cadence
                    .parse::<Cadence>()
                    .map_err(|e| bad("cadence", format!("{e}")))?,
            ),
            None => None,
        };
        let tz = given_tz.unwrap_or(Tz::UTC);
        let cadence = given_cadence.unwrap_or(Cadence::SemiMonthly);
        let d = api::Limits::default();
        let page_size = limit(
            "max_page_size",
            self.max_page_size,
            file.max_page_size,
            d.page_size as usize,
        )?;
        let limits = api::Limits {
            depth: limit("max_depth", self.max_depth, file.max_depth, d.depth)?,
            complexity: limit(
                "max_complexity",
                self.max_complexity,
                file.max_complexity,
                d.complexity,
            )?,
            aliases: limit("max_aliases", self.max_aliases, file.max_aliases, d.aliases)?,
            batch: limit("max_batch", self.max_batch, file.max_batch, d.batch)?,
            body_bytes: limit(
                "max_body_bytes",
                self.max_body_bytes,
                file.max_body_bytes,
                d.body_bytes,
            )?,
            page_size: i32::try_from(page_size)
                .map_err(|_| bad("max_page_size", "is too large"))?,
            nesting: limit("max_nesting", self.max_nesting, file.max_nesting, d.nesting)?,
            directives: limit(
                "max_directives",
                self.max_directives,
                file.max_directives,
                d.directives,
            )?,
            connections: limit(
                "max_connections",
                self.max_connections,
                file.max_connections,
                d.connections,
            )?,
            read_timeout: std::time::Duration::from_secs(limit(
                "read_timeout_secs",
                self.read_timeout_secs,
                file.read_timeout_secs,
                d.read_timeout.as_secs() as usize,
            )? as u64),
        };
        let cors_origins = self
            .cors_origins
            .clone()
            .or(file.cors_origins)
            .unwrap_or_default();
        let cors_origins: Vec<String> = cors_origins
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(o) = cors_origins
            .iter()
            .find(|o| !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/'))
        {
            return Err(bad(
                "cors_origins",
                format!("`{o}` is not an origin like https://board.example.com"),
            ));
        }
        let http = api::HttpOptions {
            cors_origins,
            public_metrics: self.public_metrics.or(file.public_metrics).unwrap_or(false),
            public_introspection: self
                .public_introspection
                .or(file.public_introspection)
                .unwrap_or(false),
            public_url: self
                .public_url
                .clone()
                .or(file.public_url)
                .map(|u| public_url(&u))
                .transpose()?,
            sessions: domain::sessions::SessionPolicy {
                link_ttl: chrono::Duration::minutes(bounded(
                    "login_link_minutes",
                    self.login_link_minutes,
                    file.login_link_minutes,
                    15,
                    24 * 60,
                )?),
                idle: chrono::Duration::hours(bounded(
                    "session_idle_hours",
                    self.session_idle_hours,
                    file.session_idle_hours,
                    12,
                    24 * 366,
                )?),
                absolute: chrono::Duration::days(bounded(
                    "session_max_days",
                    self.session_max_days,
                    file.session_max_days,
                    7,
                    366,
                )?),
            },
            live: {
                let d = api::LiveOptions::default();
                let secs = |n: i64| std::time::Duration::from_secs(n as u64);
                api::LiveOptions {
                    window: std::time::Duration::from_millis(bounded(
                        "live_window_ms",
                        self.live_window_ms,
                        file.live_window_ms,
                        d.window.as_millis() as usize,
                        60_000,
                    )? as u64),
                    subscriptions_per_connection: limit(
                        "live_subscriptions_per_connection",
                        self.live_subscriptions_per_connection,
                        file.live_subscriptions_per_connection,
                        d.subscriptions_per_connection,
                    )?,
                    connections_per_principal: limit(
                        "live_connections_per_principal",
                        self.live_connections_per_principal,
                        file.live_connections_per_principal,
                        d.connections_per_principal,
                    )?,
                    keepalive: secs(bounded(
                        "live_keepalive_secs",
                        self.live_keepalive_secs,
                        file.live_keepalive_secs,
                        d.keepalive.as_secs() as usize,
                        3600,
                    )?),
                    idle_timeout: secs(bounded(
                        "live_idle_timeout_secs",
                        self.live_idle_timeout_secs,
                        file.live_idle_timeout_secs,
                        d.idle_timeout.as_secs() as usize,
                        86_400,
                    )?),
                    send_timeout: secs(bounded(
                        "live_send_timeout_secs",
                        self.live_send_timeout_secs,
                        file.live_send_timeout_secs,
                        d.send_timeout.as_secs() as usize,
                        3600,
                    )?),
                }
            },
        };
        let cron = self
            .scheduler_cron
            .clone()
            .or(file.scheduler_cron)
            .unwrap_or_else(|| scheduler::DEFAULT_CRON.into());
        scheduler::validate_cron(&cron).map_err(|e| bad("scheduler_cron", e))?;
        let retention = limit(
            "scheduler_run_retention_days",
            self.scheduler_run_retention_days,
            file.scheduler_run_retention_days,
            scheduler::DEFAULT_RUN_RETENTION_DAYS as usize,
        )?;
        let run_retention_days = u32::try_from(retention)
            .ok()
            .filter(|days| *days <= 36_500)
            .ok_or_else(|| {
                bad(
                    "scheduler_run_retention_days",
                    "must be at most 36500 (a hundred years)",
                )
            })?;
        use scheduler::dispatch;
        // A span in seconds: at least 1, at most ten years.
        let seconds = |setting: &'static str,
                       given: Option<usize>,
                       file: Option<usize>,
                       default: u64|
         -> Result<u64, SettingError> {
            let n = limit(setting, given, file, default as usize)? as u64;
            if n > 10 * 366 * 24 * 60 * 60 {
                return Err(bad(setting, "must be at most ten years"));
            }
            Ok(n)
        };
        let webhooks = dispatch::DispatcherConfig {
            poll: std::time::Duration::from_millis(seconds(
                "webhook_poll_ms",
                self.webhook_poll_ms,
                file.webhook_poll_ms,
                dispatch::DEFAULT_POLL_MS,
            )?),
            timeout: std::time::Duration::from_secs(seconds(
                "webhook_timeout_secs",
                self.webhook_timeout_secs,
                file.webhook_timeout_secs,
                dispatch::DEFAULT_TIMEOUT_SECS,
            )?),
            retry_for: chrono::Duration::seconds(seconds(
                "webhook_retry_for_secs",
                self.webhook_retry_for_secs,
                file.webhook_retry_for_secs,
                dispatch::DEFAULT_RETRY_FOR_SECS,
            )? as i64),
            disable_after: chrono::Duration::seconds(seconds(
                "webhook_disable_after_secs",
                self.webhook_disable_after_secs,
                file.webhook_disable_after_secs,
                dispatch::DEFAULT_DISABLE_AFTER_SECS,
            )? as i64),
            ..dispatch::DispatcherConfig::default()
        };
        if let Some(r) = &mut reminders {
            r.board = http.public_url.as_ref().map(|u| format!("{u}/"));
        }
        Ok(Settings {
            database_url,
            bind,
            calendar: Calendar::new(cadence, tz),
            given_tz,
            given_cadence,
            scheduler: scheduler::SchedulerConfig {
                cron,
                run_retention_days,
                webhooks,
                reminders,
            },
            limits,
            http,
        })
    }

    /// The e-mail reminders' settings: none without an SMTP host.
    fn reminders(
        &self,
        file: &mut FileSettings,
    ) -> Result<Option<scheduler::reminders::ReminderConfig>, SettingError> {
        use scheduler::reminders::{ReminderConfig, SmtpTls, validate_from};
        let text = |given: &Option<String>, file: Option<String>| {
            given
                .clone()
                .or(file)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let host = text(&self.smtp_host, file.smtp_host.take());
        let tls = text(&self.smtp_tls, file.smtp_tls.take());
        let user = text(&self.smtp_user, file.smtp_user.take());
        let password = self.smtp_password.clone().or(file.smtp_password.take());
        let from = text(&self.smtp_from, file.smtp_from.take());
        let port = self.smtp_port.or(file.smtp_port);
        let at = match text(&self.reminder_time, file.reminder_time.take()) {
            Some(at) => chrono::NaiveTime::parse_from_str(&at, "%H:%M").map_err(|_| {
                bad(
                    "reminder_time",
                    format!("`{at}` is not a local time like 09:00"),
                )
            })?,
            None => domain::reminders::DEFAULT_TIME,
        };
        let Some(host) = host else {
            return Ok(None);
        };
        if host.contains(['/', ':', ' ', '@']) {
            return Err(bad(
                "smtp_host",
                format!("`{host}` is not a host name like smtp.example.com"),
            ));
        }
        let tls = match tls {
            Some(tls) => tls.parse::<SmtpTls>().map_err(|e| bad("smtp_tls", e))?,
            None => SmtpTls::StartTls,
        };
        if port == Some(0) {
            return Err(bad("smtp_port", "must be at least 1"));
        }
        if user.is_some() != password.is_some() {
            return Err(bad(
                if user.is_some() {
                    "smtp_password"
                } else {
                    "smtp_user"
                },
                "is required with smtp_user and smtp_password: both or neither",
            ));
        }
        let from = from.ok_or_else(|| bad("smtp_from", "is required when smtp_host is set"))?;
        validate_from(&from).map_err(|e| bad("smtp_from", e))?;
        let mut config = ReminderConfig::new(host, port.unwrap_or(tls.default_port()), tls, from);
        config.user = user;
        config.password = password;
        config.at = at;
        Ok(Some(config))
    }

    fn read_file(&self) -> Result<FileSettings, SettingError> {
        let (path, required) = match &self.config {
            Some(p) => (p.clone(), true),
            None => (PathBuf::from("zeroboard.toml"), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(FileSettings::default());
            }
            Err(e) => {
                return Err(bad(
                    "config",
                    format!("cannot read {}: {e}", path.display()),
                ));
            }
        };
        toml::from_str(&text)
            .map_err(|e| bad("config", format!("{}: {}", path.display(), e.message())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(f: impl FnOnce(&mut SettingsArgs)) -> SettingsArgs {
        let mut a = SettingsArgs::default();
        f(&mut a);
        a
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let dir = tempfile::tempdir().unwrap();
        let s = args(|a| a.config = Some(dir.path().join("absent.toml"))).resolve();
        // An explicitly named file must exist.
        assert_eq!(s.unwrap_err().setting, "config");
        let s = args(|_| {}).resolve().unwrap();
        assert_eq!(s.bind, DEFAULT_BIND);
        assert_eq!(s.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(s.calendar.tz, chrono_tz::UTC);
        assert_eq!(s.calendar.cadence, Cadence::SemiMonthly);
        assert_eq!(s.scheduler.cron, "0 * * * * *");
        assert_eq!(s.scheduler.run_retention_days, 30);
        assert_eq!(s.public_url(), "http://127.0.0.1:8000");
        assert_eq!(s.http.sessions, domain::sessions::SessionPolicy::default());
        assert_eq!(s.scheduler.reminders, None, "no SMTP host, no reminders");
        let s = args(|a| a.public_url = Some("https://board.example.com/".into()))
            .resolve()
            .unwrap();
        assert_eq!(s.public_url(), "https://board.example.com");
    }

    #[test]
    fn a_bad_value_names_its_setting() {
        type Case = (fn(&mut SettingsArgs), &'static str);
        let cases: [Case; 18] = [
            (|a| a.reminder_time = Some("9am".into()), "reminder_time"),
            (
                |a| a.smtp_host = Some("smtp://mail.example.com".into()),
                "smtp_host",
            ),
            (
                |a| a.smtp_host = Some("mail.example.com".into()),
                "smtp_from",
            ),
            (
                |a| {
                    a.smtp_host = Some("mail.example.com".into());
                    a.smtp_from = Some("zeroboard".into());
                },
                "smtp_from",
            ),
            (
                |a| {
                    a.smtp_host = Some("mail.example.com".into());
                    a.smtp_from = Some("zb@example.com".into());
                    a.smtp_tls = Some("ssl".into());
                },
                "smtp_tls",
            ),
            (
                |a| {
                    a.smtp_host = Some("mail.example.com".into());
                    a.smtp_from = Some("zb@example.com".into());
                    a.smtp_user = Some("zb".into());
                },
                "smtp_password",
            ),
            (
                |a| a.scheduler_run_retention_days = Some(0),
                "scheduler_run_retention_days",
            ),
            (
                |a| a.scheduler_run_retention_days = Some(40_000),
                "scheduler_run_retention_days",
            ),
            (
                |a| a.scheduler_cron = Some("* * * * *".into()),
                "scheduler_cron",
            ),
            (|a| a.max_depth = Some(0), "max_depth"),
            (|a| a.timezone = Some("Mars/Olympus".into()), "timezone"),
            (|a| a.cadence = Some("fortnightly".into()), "cadence"),
            (|a| a.bind = Some("localhost".into()), "bind"),
            (
                |a| a.database_url = Some("mysql://x".into()),
                "database_url",
            ),
            (
                |a| a.public_url = Some("ftp://board.example.com".into()),
                "public_url",
            ),
            (
                |a| a.public_url = Some("https://board.example.com/zb".into()),
                "public_url",
            ),
            (|a| a.session_max_days = Some(400), "session_max_days"),
            (|a| a.login_link_minutes = Some(0), "login_link_minutes"),
        ];
        for (set, setting) in cases {
            assert_eq!(args(set).resolve().unwrap_err().setting, setting);
        }
    }

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zeroboard.toml");
        std::fs::write(&path, "timezone = \"Europe/Berlin\"\ncadence = \"monthly\"\nbind = \"127.0.0.1:9000\"\nscheduler_cron = \"0 */5 * * * *\"\nscheduler_run_retention_days = 7\n").unwrap();
        let s = args(|a| {
            a.config = Some(path.clone());
            a.cadence = Some("weekly".into());
        })
        .resolve()
        .unwrap();
        assert_eq!(s.calendar.tz, chrono_tz::Europe::Berlin);
        assert_eq!(s.calendar.cadence, Cadence::Weekly);
        assert_eq!(s.bind, "127.0.0.1:9000");
        assert_eq!(s.scheduler.cron, "0 */5 * * * *");
        assert_eq!(s.scheduler.run_retention_days, 7);
        // The reminders: on with a host; the port follows the TLS mode unless given; the
        // board's link follows the public URL.
        std::fs::write(&path, "smtp_host = \"mail.example.com\"\nsmtp_from = \"Zeroboard <zb@example.com>\"\nsmtp_tls = \"tls\"\nsmtp_user = \"zb\"\nsmtp_password = \"secret\"\nreminder_time = \"07:30\"\npublic_url = \"https://board.example.com\"\n").unwrap();
        let s = args(|a| a.config = Some(path.clone())).resolve().unwrap();
        let r = s.scheduler.reminders.expect("reminders on");
        assert_eq!(
            (r.host.as_str(), r.port, r.tls),
            ("mail.example.com", 465, scheduler::reminders::SmtpTls::Tls)
        );
        assert_eq!(
            (r.user.as_deref(), r.password.as_deref()),
            (Some("zb"), Some("secret"))
        );
        assert_eq!(r.at, chrono::NaiveTime::from_hms_opt(7, 30, 0).unwrap());
        assert_eq!(r.board.as_deref(), Some("https://board.example.com/"));
        let s = args(|a| {
            a.config = Some(path.clone());
            a.smtp_port = Some(2525);
            a.smtp_host = Some(String::new());
        })
        .resolve()
        .unwrap();
        assert_eq!(s.scheduler.reminders, None, "an empty host turns them off");
        std::fs::write(&path, "colour = \"blue\"\n").unwrap();
        let err = args(|a| a.config = Some(path.clone()))
            .resolve()
            .unwrap_err();
        assert_eq!(err.setting, "config");
    }
}
