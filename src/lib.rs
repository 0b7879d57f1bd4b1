//! What the `zeroboard` binary's commands share: its settings ([`config`]), opening and
//! migrating the database and settling the company's calendar with it ([`connect`],
//! [`connect_company`]), and [`App`], the served API that `zeroboard serve` builds. The
//! end-to-end tests build their server with [`App::build`] too, so they serve what the
//! binary serves, with their own database, port, clock, limits and options.

pub mod config;

use anyhow::Context;
use chrono::{DateTime, Utc};
use config::Settings;
use domain::Company;
use domain::calendar::Calendar;
use domain::clock::Clock;
use domain::db::DatabaseConnection;

/// A mistake in how the program was called or configured: exit code 2, like clap's.
#[derive(Debug)]
pub struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(message.into()))
}

/// How the command line names a domain field (`snake_case`) in an error: by the running
/// command's flag of that name (`employees` → `--employees`, `due_at` → `--due-at`) when
/// it has one, else by the domain's name. `flags` are the command's long flags, without
/// `--`.
pub fn field_name(field: &str, flags: &[String]) -> String {
    let flag = field.replace('_', "-");
    if flags.contains(&flag) {
        format!("--{flag}")
    } else {
        field.to_owned()
    }
}

/// One error's text for an operator: a domain's bad input names its field as
/// [`field_name`] does; any other error reads as it displays.
pub fn error_text(err: &(dyn std::error::Error + 'static), flags: &[String]) -> String {
    match err.downcast_ref::<domain::DomainError>() {
        Some(domain::DomainError::BadInput { field, message }) => {
            message.naming(&field_name(field, flags))
        }
        _ => err.to_string(),
    }
}

/// Opens the database without migrating it; the error reads once, on one line.
pub async fn open(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    domain::db::connect(&settings.database_url)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot open the database at {}: {e}",
                redact(&settings.database_url)
            )
        })
}

/// Opens the database and applies every pending migration.
pub async fn connect(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let db = open(settings).await?;
    domain::db::migrate(&db)
        .await
        .map_err(|e| anyhow::anyhow!("migrations failed: {e}"))?;
    Ok(db)
}

/// Connects for a command that uses the calendar: the database's stored company calendar,
/// which every given setting must agree with (a new database stores the configured one,
/// stamped `now`).
pub async fn connect_company(
    settings: &Settings,
    now: DateTime<Utc>,
) -> anyhow::Result<(DatabaseConnection, Company)> {
    let db = connect(settings).await?;
    let calendar = company_calendar(&db, settings, now).await?;
    Ok((db, Company { calendar }))
}

async fn company_calendar(
    db: &DatabaseConnection,
    settings: &Settings,
    now: DateTime<Utc>,
) -> anyhow::Result<Calendar> {
    if let Some(stored) = domain::company::stored(db).await? {
        let given = Calendar::new(
            settings.given_cadence.unwrap_or(stored.cadence),
            settings.given_tz.unwrap_or(stored.tz),
        );
        return match domain::company::mismatch(&given, &stored) {
            Some(m) => Err(usage(m.to_string())),
            None => Ok(stored),
        };
    }
    match domain::company::adopt(db, &settings.calendar, now).await? {
        Ok(()) => Ok(settings.calendar),
        Err(m) => Err(usage(m.to_string())),
    }
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}@{}", &url[..scheme], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// The API as `zeroboard serve` serves it: bound to its address, over the migrated database
/// and the company's settled calendar, with the settings' limits and options.
pub struct App {
    /// The database the API serves; a caller may use it (load the demo, run the scheduler)
    /// before and while it is served.
    pub db: DatabaseConnection,
    pub company: Company,
    clock: Clock,
    limits: api::Limits,
    http: api::HttpOptions,
    listener: tokio::net::TcpListener,
}

impl App {
    /// Binds first (a port in use fails before anything is written), then connects,
    /// migrates and settles the company's calendar ([`connect_company`]); nothing is served
    /// until [`App::serve_until`].
    pub async fn build(settings: &Settings, clock: Clock) -> anyhow::Result<App> {
        let listener = tokio::net::TcpListener::bind(&settings.bind)
            .await
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        let (mut db, company) = connect_company(settings, clock.now()).await?;
        // `zeroboard_db_statements_total` on /metrics.
        api::count_statements(&mut db);
        let mut http = settings.http.clone();
        if http.public_url.is_none() {
            // The address actually bound (port 0 asks for any free port).
            http.public_url = Some(format!("http://{}", listener.local_addr()?));
        }
        Ok(App {
            db,
            company,
            clock,
            limits: settings.limits,
            http,
            listener,
        })
    }

    /// Where people reach it: the `public_url` setting, else `http://` and the bound address.
    pub fn public_url(&self) -> &str {
        self.http.public_url.as_deref().unwrap_or_default()
    }

    /// The address it is bound to (the actual port when the settings asked for port 0).
    pub fn addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` resolves, then finishes the requests in flight; `/readyz` says
    /// "starting" until `ready` is set.
    pub async fn serve_until(
        self,
        ready: api::Readiness,
        stop: impl std::future::Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        let mut state =
            api::AppState::new(self.db, self.company, self.clock, self.limits).with_http(self.http);
        state.ready = ready;
        api::serve_until(state, self.listener, stop).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_field_is_named_by_the_commands_flag_when_there_is_one() {
        let flags: Vec<String> = ["employees", "periods", "expires-in-days"]
            .map(String::from)
            .into();
        assert_eq!(field_name("employees", &flags), "--employees");
        assert_eq!(field_name("expires_in_days", &flags), "--expires-in-days");
        assert_eq!(field_name("expires_at", &flags), "expires_at");
        let predicate = domain::DomainError::invalid("employees", "must be between 2 and 100000");
        assert_eq!(
            error_text(&predicate, &flags),
            "`--employees` must be between 2 and 100000"
        );
        let elsewhere = domain::DomainError::invalid("due_at", "must be in the future");
        assert_eq!(
            error_text(&elsewhere, &flags),
            "`due_at` must be in the future"
        );
        let sentence =
            domain::DomainError::bad_input("periods", "give at most 240 periods of history");
        assert_eq!(
            error_text(&sentence, &flags),
            "give at most 240 periods of history"
        );
        let other = domain::DomainError::NotFound("employee");
        assert_eq!(error_text(&other, &flags), "employee not found");
    }
}
