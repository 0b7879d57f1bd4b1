//! `zeroboard`: wires the crates into one binary. Each command parses settings, connects,
//! and calls a service of `domain`, `api` or `scheduler`; no rules live here. What the
//! commands share, `serve`'s [`App`] included, is in the library (`src/lib.rs`).

use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use domain::auth::Scope;
use domain::clock::Clock;
use domain::tokens::TokenOwner;
use zeroboard::config::{Settings, SettingsArgs};
use zeroboard::{App, Usage, connect, connect_company, error_text, open, redact, usage};

#[derive(Parser)]
#[command(
    name = "zeroboard",
    version,
    about = "Personal KPI reports: a GraphQL gateway and a KPI scheduler"
)]
struct Cli {
    #[command(flatten)]
    settings: SettingsArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Bind, migrate, then serve the web page at /, GraphQL (and GraphiQL at /graphiql) and
    /// run the scheduler; `/readyz`
    /// answers "starting" until the scheduler's start-up tick is done.
    Serve {
        /// Load the demo company first when the database is empty, and print demo tokens
        /// (the same ones on every start while they stay valid).
        #[arg(long)]
        demo: bool,
        /// Serve only; another process runs `zeroboard scheduler`.
        #[arg(long)]
        no_scheduler: bool,
    },
    /// Run the scheduler alone (a tick now, then on the cron) until ctrl-c or SIGTERM.
    Scheduler,
    /// Run one scheduler tick and print what it did.
    Tick {
        /// The instant to tick at, RFC 3339 (e.g. 2026-12-01T00:00:00Z) [default: now]
        #[arg(long, value_parser = parse_instant)]
        now: Option<chrono::DateTime<chrono::Utc>>,
        /// Accept a `--now` after the wall clock (it would close the running period early).
        #[arg(long)]
        allow_future: bool,
        /// Print what the tick would do and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Export data for other systems.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// Apply pending migrations and exit.
    Migrate,
    /// Load the demo company (does nothing when the database already has employees).
    Demo,
    /// Load a synthetic company of any size with closed periods of history (only into a
    /// database without employees).
    Seed {
        #[arg(long, default_value_t = 200)]
        employees: usize,
        /// Closed periods of history before the current one.
        #[arg(long, default_value_t = 6)]
        periods: usize,
        /// The same seed gives the same company and behaviour.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Make a one-time sign-in link to the web page for an employee and print it alone on
    /// stdout (`ZEROBOARD_PUBLIC_URL` is its base; it expires after `login_link_minutes`).
    LoginLink {
        /// The employee (by e-mail) the link signs in.
        #[arg(long)]
        employee: String,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Show or change the company's time zone and cadence, stored in the database.
    Company {
        #[command(subcommand)]
        command: CompanyCommand,
    },
    /// Write a consistent copy of a SQLite database to FILE while it is in use (for
    /// PostgreSQL, print the pg_dump command to run instead).
    Backup {
        /// The copy to create; it must not exist yet.
        file: std::path::PathBuf,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
}

#[derive(Subcommand)]
enum CompanyCommand {
    /// Print the stored time zone and cadence.
    Show,
    /// Make the given `--timezone` and/or `--cadence` the company's from the next period on:
    /// the running period keeps its dates, the next one starts where it ends and ends at the
    /// new calendar's next boundary.
    Set,
}

#[derive(Subcommand)]
enum ExportCommand {
    /// The bonus results of a closed period, one row per employee, on stdout.
    Bonus {
        /// The period's first day, YYYY-MM-DD.
        #[arg(long)]
        period: chrono::NaiveDate,
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
    },
    /// The obligations and targets behind a closed period's results, one row per item, by
    /// employee, on stdout; each employee's points add up to their KPI in `export bonus`.
    Obligations {
        /// The period's first day, YYYY-MM-DD.
        #[arg(long)]
        period: chrono::NaiveDate,
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
    },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum ExportFormat {
    Csv,
    Json,
}

fn parse_instant(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("`{s}` is not an RFC 3339 instant like 2026-12-01T00:00:00Z: {e}"))
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it alone on stdout.
    Create {
        /// The employee (by e-mail) the token acts as.
        #[arg(long, conflicts_with_all = ["service", "scope"], required_unless_present = "service")]
        employee: Option<String>,
        /// A service name, for a token that is not an employee.
        #[arg(long, requires = "scope")]
        service: Option<String>,
        /// A scope of the service token: `admin` or `payroll:read` (repeatable).
        #[arg(long)]
        scope: Vec<String>,
        /// A label to recognise the token by.
        #[arg(long)]
        name: Option<String>,
        /// Days until the token expires [default: 90 for a service token, never for an employee's]
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36_500), conflicts_with = "no_expiry")]
        expires_in_days: Option<u32>,
        /// A token that never expires.
        #[arg(long)]
        no_expiry: bool,
    },
    /// List every token (never the secrets): id, status, owner, label and dates.
    List,
    /// Revoke a token by its id (see `token list`); revoking twice is harmless.
    Revoke { id: i64 },
}

/// An error and its causes on one line, each cause once: a database error's text often
/// repeats its source's, which printed the message twice. A bad input names its field by
/// one of `flags`, the running command's, when one matches ([`error_text`]).
fn one_line(e: &anyhow::Error, flags: &[String]) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = error_text(cause, flags);
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How far past the wall clock `tick --now` may be without `--allow-future` (clock skew).
const FUTURE_TOLERANCE: chrono::Duration = chrono::Duration::minutes(1);

/// The long flags (without `--`) of the command that `matches` runs and of the commands
/// above it, for naming a bad field in an error.
fn flags_of(matches: &clap::ArgMatches) -> Vec<String> {
    let mut command = Cli::command();
    let mut matches = matches;
    let mut flags = Vec::new();
    loop {
        flags.extend(
            command
                .get_arguments()
                .filter_map(|a| a.get_long())
                .map(str::to_owned),
        );
        let Some((name, sub)) = matches.subcommand() else {
            return flags;
        };
        let Some(next) = command.find_subcommand(name).cloned() else {
            return flags;
        };
        (command, matches) = (next, sub);
    }
}

fn main() -> ExitCode {
    // `Cli::parse()`, keeping the matches to name flags in errors.
    let mut matches = Cli::command().get_matches();
    let flags = flags_of(&matches);
    let cli = Cli::from_arg_matches_mut(&mut matches)
        .unwrap_or_else(|e| e.format(&mut Cli::command()).exit());
    init_logging();
    let settings = match cli.settings.resolve() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("zeroboard: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("zeroboard: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zeroboard: {}", one_line(&e, &flags));
            if e.downcast_ref::<Usage>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Logs go to stderr: readable lines (coloured only on a terminal), or one JSON object per
/// line with `ZEROBOARD_LOG_FORMAT=json` for a log collector.
fn init_logging() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("ZEROBOARD_LOG").unwrap_or_else(|_| {
        EnvFilter::new("info,sqlx=warn,sea_orm=warn,tokio_cron_scheduler=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match std::env::var("ZEROBOARD_LOG_FORMAT").as_deref() {
        Ok("json") => builder.json().init(),
        _ => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    let clock = Clock::System;
    match command {
        Command::Schema => {
            print!("{}", api::sdl());
            Ok(())
        }
        Command::Migrate => {
            let db = connect(&settings).await?;
            eprintln!("migrations applied");
            close(db).await
        }
        Command::Demo => {
            let (db, company) = connect_company(&settings, clock.now()).await?;
            report_demo(fixtures::demo::load(&db, &company, clock.now()).await?);
            close(db).await
        }
        Command::Seed {
            employees,
            periods,
            seed,
        } => {
            let (db, company) = connect_company(&settings, clock.now()).await?;
            let spec = fixtures::seed::SeedSpec {
                employees,
                periods,
                seed,
            };
            report_demo(fixtures::seed::seed(&db, &company, spec, clock.now()).await?);
            close(db).await
        }
        Command::Token { command } => {
            let db = connect(&settings).await?;
            token(&db, command, clock.now()).await?;
            close(db).await
        }
        Command::LoginLink { employee } => {
            let (db, company) = connect_company(&settings, clock.now()).await?;
            let link = login_link(&db, &company, &settings, &employee, clock.now()).await?;
            println!("{link}");
            close(db).await
        }
        Command::Company { command } => {
            let db = connect(&settings).await?;
            company(&db, command, &settings).await?;
            close(db).await
        }
        Command::Backup { file } => backup(&settings, &file).await,
        Command::Serve { demo, no_scheduler } => serve(&settings, demo, no_scheduler, clock).await,
        Command::Scheduler => {
            // Handlers first: a SIGTERM during start-up or the start-up tick stops cleanly
            // (the tick's open transaction rolls back) instead of killing the process.
            let stop = shutdown_signal();
            tokio::pin!(stop);
            let (db, company) = tokio::select! {
                connected = connect_company(&settings, clock.now()) => connected?,
                _ = &mut stop => return Ok(()),
            };
            warn_unheard_on_sqlite(&settings, "`zeroboard scheduler`");
            let running = tokio::select! {
                started = scheduler::start(db.clone(), company, clock, settings.scheduler.clone()) => started?,
                _ = &mut stop => return close(db).await,
            };
            eprintln!(
                "scheduler running on `{}`; stop with ctrl-c or SIGTERM",
                settings.scheduler.cron
            );
            stop.await;
            running.shutdown().await?;
            close(db).await
        }
        Command::Tick {
            now,
            allow_future,
            dry_run,
        } => {
            let wall = clock.now();
            let at = now.unwrap_or(wall);
            // A dry run writes nothing, so any instant may be planned.
            if at > wall + FUTURE_TOLERANCE && !allow_future && !dry_run {
                return Err(usage(format!(
                    "--now {} is after the current time {}; a future tick would close the running period early. \
                     Give --allow-future to do it anyway, or --dry-run to see what it would do",
                    at.to_rfc3339(),
                    wall.to_rfc3339()
                )));
            }
            let (db, company) = connect_company(&settings, clock.now()).await?;
            if dry_run {
                let report =
                    domain::tick::dry_run(&db, &domain::auth::Principal::System, &company, at)
                        .await?;
                println!("dry run: nothing was written; a tick would do this");
                print!("{report}");
            } else {
                let report =
                    domain::tick::tick(&db, &domain::auth::Principal::System, &company, at).await?;
                let horizon =
                    wall - chrono::Duration::days(i64::from(settings.scheduler.run_retention_days));
                domain::tick::prune_runs(&db, horizon).await?;
                print!("{report}");
            }
            close(db).await
        }
        Command::Export {
            command: ExportCommand::Bonus { period, format },
        } => {
            let db = connect(&settings).await?;
            let rows =
                domain::export::bonus_rows(&db, &domain::auth::Principal::System, period).await?;
            match format {
                ExportFormat::Csv => print!("{}", domain::export::to_csv(&rows)),
                ExportFormat::Json => println!("{:#}", domain::export::to_json(&rows)),
            }
            close(db).await
        }
        Command::Export {
            command: ExportCommand::Obligations { period, format },
        } => {
            let db = connect(&settings).await?;
            let rows =
                domain::export::obligation_rows(&db, &domain::auth::Principal::System, period)
                    .await?;
            match format {
                ExportFormat::Csv => print!("{}", domain::export::obligations_to_csv(&rows)),
                ExportFormat::Json => {
                    println!("{:#}", domain::export::obligations_to_json(&rows))
                }
            }
            close(db).await
        }
    }
}

/// Closes the pool; on SQLite this also folds the write-ahead log into the database file.
async fn close(db: domain::db::DatabaseConnection) -> anyhow::Result<()> {
    domain::db::close(db)
        .await
        .map_err(|e| anyhow::anyhow!("cannot close the database cleanly: {e}"))
}

/// `serve`: install the signal handlers, then build the [`App`] (bind first, so a port in use
/// fails before anything is written, then migrate) and load the demo; the scheduler's
/// start-up tick runs in the background while requests are served, and `/readyz` says
/// "starting" until it is done.
/// On SQLite the live tiles' changes travel inside one process (see README, Live tiles): a
/// scheduler in a process other than the server's is not heard by its subscribers. Said
/// once at start-up, by the process that runs apart.
fn warn_unheard_on_sqlite(settings: &Settings, running: &str) {
    if settings.database_url.starts_with("sqlite:") {
        tracing::warn!(
            "{running} on SQLite: live subscribers of a server in another process will not hear \
             the scheduler's changes (overdue work, periods opened or closed, articles and \
             proposals reaching their audience) until something else changes their boards; \
             on SQLite run the scheduler inside `zeroboard serve`, or use PostgreSQL"
        );
    }
}

async fn serve(
    settings: &Settings,
    demo: bool,
    no_scheduler: bool,
    clock: Clock,
) -> anyhow::Result<()> {
    let stop = shutdown_signal();
    tokio::pin!(stop);
    let prepared = async {
        let app = App::build(settings, clock.clone()).await?;
        if demo {
            report_demo(fixtures::demo::load(&app.db, &app.company, clock.now()).await?);
        }
        anyhow::Ok(app)
    };
    let app = tokio::select! {
        prepared = prepared => prepared?,
        _ = &mut stop => return Ok(()),
    };
    let addr = app.addr()?;
    let (db, company) = (app.db.clone(), app.company);
    let public_url = app.public_url().to_owned();
    println!(
        "Zeroboard is serving the board at http://{addr}/ (GraphiQL at http://{addr}/graphiql, GraphQL at http://{addr}/graphql)"
    );
    if demo {
        print_demo_links(&db, &company, settings, &public_url, clock.now()).await?;
        print_demo_tokens(&db, &settings.database_url, clock.now()).await?;
    }
    let ready = api::Readiness::starting();
    let startup = if no_scheduler {
        warn_unheard_on_sqlite(settings, "`serve --no-scheduler`");
        ready.set_ready();
        None
    } else {
        let (db, clock, config, ready) = (
            db.clone(),
            clock.clone(),
            settings.scheduler.clone(),
            ready.clone(),
        );
        Some(tokio::spawn(async move {
            let started = scheduler::start(db, company, clock, config).await;
            ready.set_ready();
            started
        }))
    };
    let served = app.serve_until(ready, stop).await;
    if let Some(startup) = startup {
        if startup.is_finished() {
            startup.await??.shutdown().await?;
        } else {
            // Still in the start-up tick: dropping it rolls its open transaction back, and
            // the next start redoes it.
            startup.abort();
            let _ = startup.await;
        }
    }
    served?;
    close(db).await
}

async fn token(
    db: &domain::db::DatabaseConnection,
    command: TokenCommand,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            employee,
            service,
            scope,
            name,
            expires_in_days,
            no_expiry,
        } => {
            let owner = match (employee, service) {
                (Some(email), _) => {
                    let id = domain::directory::employee_id_by_email(db, &email)
                        .await?
                        .with_context(|| format!("no employee with e-mail {email}"))?;
                    TokenOwner::Employee(id)
                }
                (None, Some(name)) => {
                    let scopes = scope
                        .iter()
                        .map(|s| Scope::parse(s))
                        .collect::<Result<Vec<_>, _>>()?;
                    TokenOwner::Service { name, scopes }
                }
                (None, None) => {
                    return Err(usage(
                        "give --employee EMAIL or --service NAME --scope SCOPE",
                    ));
                }
            };
            let days = match (expires_in_days, no_expiry, &owner) {
                (Some(days), _, _) => Some(i64::from(days)),
                (None, true, _) | (None, false, TokenOwner::Employee(_)) => None,
                (None, false, TokenOwner::Service { .. }) => {
                    Some(domain::tokens::DEFAULT_SERVICE_TOKEN_DAYS)
                }
            };
            let expires_at = days.map(|d| now + chrono::Duration::days(d));
            let label = name.unwrap_or_else(|| "cli".into());
            let (row, secret) = domain::tokens::create_token(
                db,
                &domain::auth::Principal::System,
                owner,
                &label,
                expires_at,
                now,
            )
            .await?;
            println!("{secret}");
            match row.expires_at {
                Some(at) => eprintln!(
                    "token {} created; it expires at {}",
                    row.id,
                    at.to_rfc3339()
                ),
                None => eprintln!("token {} created; it does not expire", row.id),
            }
        }
        TokenCommand::List => {
            let date = |at: Option<chrono::DateTime<chrono::Utc>>| {
                at.map_or("-".to_owned(), |at| at.format("%Y-%m-%d %H:%M").to_string())
            };
            println!(
                "{:>5}  {:<7}  {:<16}  {:<16}  {:<16}  {:<12}  OWNER",
                "ID", "STATUS", "CREATED", "EXPIRES", "LAST USED", "NAME"
            );
            for (token, email) in
                domain::tokens::list_tokens(db, &domain::auth::Principal::System).await?
            {
                let owner = match (email, &token.service) {
                    (Some(email), _) => email,
                    (None, Some(service)) => format!("service {service} ({})", token.scopes),
                    (None, None) => "-".into(),
                };
                println!(
                    "{:>5}  {:<7}  {:<16}  {:<16}  {:<16}  {:<12}  {owner}",
                    token.id,
                    domain::tokens::TokenStatus::of(&token, now).as_str(),
                    date(Some(token.created_at)),
                    date(token.expires_at),
                    date(token.last_used_at),
                    token.name,
                );
            }
        }
        TokenCommand::Revoke { id } => {
            let token = domain::tokens::revoke_token(db, &domain::auth::Principal::System, id, now)
                .await
                .map_err(|e| match e {
                    domain::DomainError::NotFound(_) => anyhow::anyhow!("no token with id {id}"),
                    other => other.into(),
                })?;
            eprintln!("token {} ({}) revoked", token.id, token.name);
        }
    }
    Ok(())
}

/// A new sign-in link for the employee with this e-mail, for `zeroboard login-link`.
async fn login_link(
    db: &domain::db::DatabaseConnection,
    company: &domain::Company,
    settings: &Settings,
    email: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<String> {
    let (link, expires_at) =
        new_login_link(db, company, settings, &settings.public_url(), email, now)
            .await?
            .with_context(|| format!("no employee with e-mail {email}"))?;
    eprintln!(
        "the link signs {email} in once, until {}",
        expires_at.to_rfc3339()
    );
    Ok(link)
}

/// A new sign-in link under `public_url` for the employee with this e-mail, and when it
/// expires; `None` when nobody has that e-mail.
async fn new_login_link(
    db: &domain::db::DatabaseConnection,
    company: &domain::Company,
    settings: &Settings,
    public_url: &str,
    email: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Option<(String, chrono::DateTime<chrono::Utc>)>> {
    let Some(id) = domain::directory::employee_id_by_email(db, email).await? else {
        return Ok(None);
    };
    let (row, secret) = domain::sessions::create_login_link(
        db,
        company,
        &domain::auth::Principal::System,
        id,
        &settings.http.sessions,
        now,
    )
    .await?;
    let link = domain::sessions::login_url(public_url, &secret);
    Ok(Some((link, row.expires_at)))
}

async fn company(
    db: &domain::db::DatabaseConnection,
    command: CompanyCommand,
    settings: &Settings,
) -> anyhow::Result<()> {
    use domain::calendar::Calendar;
    let stored = domain::company::stored(db).await?;
    match command {
        CompanyCommand::Show => {
            let calendar = stored.unwrap_or(settings.calendar);
            println!("timezone {}", calendar.tz);
            println!("cadence  {}", calendar.cadence);
            if stored.is_none() {
                eprintln!(
                    "(not stored yet: the first command that uses the calendar stores these)"
                );
            }
        }
        CompanyCommand::Set => {
            if settings.given_tz.is_none() && settings.given_cadence.is_none() {
                return Err(usage("give the new --timezone and/or --cadence"));
            }
            let base = stored.unwrap_or(settings.calendar);
            let to = Calendar::new(
                settings.given_cadence.unwrap_or(base.cadence),
                settings.given_tz.unwrap_or(base.tz),
            );
            if stored == Some(to) {
                eprintln!(
                    "the company already uses {} and {}; nothing changed",
                    to.tz, to.cadence
                );
                return Ok(());
            }
            let changed = domain::company::change(
                db,
                &domain::auth::Principal::System,
                to,
                chrono::Utc::now(),
            )
            .await?;
            println!("timezone {}", to.tz);
            println!("cadence  {}", to.cadence);
            match changed.next {
                Some(next) => eprintln!(
                    "from the next period on: it runs {} to {}, from {} to {}",
                    next.dates.starts_on,
                    next.dates.ends_on,
                    next.starts_at.to_rfc3339(),
                    next.ends_at.to_rfc3339()
                ),
                None => eprintln!("no period exists yet; the first one follows these settings"),
            }
            eprintln!("restart every zeroboard process with these settings");
        }
    }
    Ok(())
}

async fn backup(settings: &Settings, file: &std::path::Path) -> anyhow::Result<()> {
    if !settings.database_url.starts_with("sqlite:") {
        anyhow::bail!(
            "PostgreSQL is backed up with its own tool; run: pg_dump --format=custom --file={} '{}'",
            file.display(),
            redact(&settings.database_url)
        );
    }
    if file.exists() {
        return Err(usage(format!(
            "{} exists already; give a new file",
            file.display()
        )));
    }
    let db = open(settings).await?;
    domain::db::backup_sqlite(&db, file)
        .await
        .map_err(|e| anyhow::anyhow!("cannot write the backup to {}: {e}", file.display()))?;
    close(db).await?;
    eprintln!("backup written to {}", file.display());
    Ok(())
}

/// Resolves on ctrl-c or, on Unix, SIGTERM: how a process manager stops the scheduler.
/// The handlers are installed when this is called, not when it is first awaited, so a
/// signal that arrives in between is not lost to the default action (which kills).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let handlers = {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::terminate())
            .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)))
            .ok()
    };
    async move {
        #[cfg(unix)]
        if let Some((mut term, mut interrupt)) = handlers {
            tokio::select! { _ = term.recv() => {}, _ = interrupt.recv() => {} }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn report_demo(loaded: fixtures::Loaded) {
    match loaded {
        fixtures::Loaded::Created {
            employees,
            assignments,
        } => {
            eprintln!("company loaded: {employees} employees, {assignments} assignments")
        }
        fixtures::Loaded::AlreadyPresent => {
            eprintln!("the database already has employees; nothing was loaded")
        }
    }
}

/// Where `serve --demo` keeps its demo tokens' secrets so that it prints the same ones on
/// every start: next to a SQLite file, or in the working directory for PostgreSQL (one file
/// per database name). An in-memory database keeps none.
fn demo_tokens_file(url: &str) -> Option<std::path::PathBuf> {
    let without_query = url.split('?').next().unwrap_or(url);
    if let Some(rest) = without_query.strip_prefix("sqlite:") {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.is_empty() || path.contains(":memory:") || url.contains("mode=memory") {
            return None;
        }
        return Some(std::path::PathBuf::from(format!("{path}.demo-tokens")));
    }
    let name = without_query
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && !n.contains('@'))?;
    Some(std::path::PathBuf::from(format!(
        "zeroboard-demo-tokens.{name}"
    )))
}

/// Prints one token per demo role, to paste into GraphiQL's headers: the ones kept from an
/// earlier start while they are still valid and belong to the same owner, else new ones
/// (which are then kept, in a file only its owner may read).
async fn print_demo_tokens(
    db: &domain::db::DatabaseConnection,
    url: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    use fixtures::demo::{DEMO_ADMIN, DEMO_EMPLOYEE, DEMO_MANAGER, email_of};
    let file = demo_tokens_file(url);
    let kept: std::collections::HashMap<String, String> = file
        .as_ref()
        .and_then(|f| std::fs::read_to_string(f).ok())
        .map(|text| {
            text.lines()
                .filter_map(|l| l.split_once(' '))
                .map(|(role, secret)| (role.to_owned(), secret.trim().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let mut roles: Vec<(&str, TokenOwner, String)> = Vec::new();
    for (role, name) in [
        ("employee", DEMO_EMPLOYEE),
        ("manager", DEMO_MANAGER),
        ("admin", DEMO_ADMIN),
    ] {
        let email = email_of(name);
        let Some(id) = domain::directory::employee_id_by_email(db, &email).await? else {
            continue;
        };
        roles.push((role, TokenOwner::Employee(id), format!("{name}, {email}")));
    }
    roles.push((
        "payroll",
        TokenOwner::Service {
            name: "payroll".into(),
            scopes: vec![Scope::PayrollRead],
        },
        "payroll service".into(),
    ));
    println!("Demo tokens (send as `Authorization: Bearer <token>`):");
    let mut lines = String::new();
    for (role, owner, who) in roles {
        let reusable = match kept.get(role) {
            Some(secret) => domain::tokens::usable_token(db, secret, now)
                .await?
                .filter(|t| match &owner {
                    TokenOwner::Employee(id) => t.employee_id == Some(*id),
                    TokenOwner::Service { name, .. } => t.service.as_deref() == Some(name.as_str()),
                }),
            None => None,
        };
        let secret = match (reusable, kept.get(role)) {
            (Some(_), Some(secret)) => secret.clone(),
            _ => {
                domain::tokens::create_token(
                    db,
                    &domain::auth::Principal::System,
                    owner,
                    "demo",
                    None,
                    now,
                )
                .await?
                .1
            }
        };
        println!("  {role:<9} {secret}   ({who})");
        lines.push_str(&format!("{role} {secret}\n"));
    }
    if let Some(file) = file
        && let Err(e) = write_private(&file, &lines)
    {
        tracing::warn!(file = %file.display(), error = %e, "cannot keep the demo tokens; the next start prints new ones");
    }
    Ok(())
}

/// Prints a one-time sign-in link to the board per demo person: employee, manager, admin and
/// the payroll clerk. New links on every start; each works once, for `login_link_minutes`.
async fn print_demo_links(
    db: &domain::db::DatabaseConnection,
    company: &domain::Company,
    settings: &Settings,
    public_url: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    use fixtures::demo::{DEMO_ADMIN, DEMO_EMPLOYEE, DEMO_MANAGER, DEMO_PAYROLL, email_of};
    let minutes = settings.http.sessions.link_ttl.num_minutes();
    println!("Demo sign-in links (each works once, within {minutes} minutes):");
    for (role, name) in [
        ("employee", DEMO_EMPLOYEE),
        ("manager", DEMO_MANAGER),
        ("admin", DEMO_ADMIN),
        ("payroll", DEMO_PAYROLL),
    ] {
        let email = email_of(name);
        let Some((link, _)) =
            new_login_link(db, company, settings, public_url, &email, now).await?
        else {
            continue;
        };
        println!("  {role:<9} {link}   ({name}, {email})");
    }
    Ok(())
}

/// Writes a file only its owner may read.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}
