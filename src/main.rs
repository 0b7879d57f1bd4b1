//! `zeroboard`: wires the crates into one binary. Each command parses settings, connects,
//! and calls a service of `domain`, `api` or `scheduler`; no rules live here.

mod config;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use config::{Settings, SettingsArgs};
use domain::Company;
use domain::auth::{Scope, TokenOwner};
use domain::clock::Clock;

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
    /// Migrate, then serve GraphQL (and GraphiQL at /) and run the scheduler.
    Serve {
        /// Load the demo company first when the database is empty, and print demo tokens.
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
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
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
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
            eprintln!("zeroboard: {e:#}");
            ExitCode::FAILURE
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

async fn connect(settings: &Settings) -> anyhow::Result<domain::db::DatabaseConnection> {
    let db = domain::db::connect(&settings.database_url)
        .await
        .with_context(|| {
            format!(
                "cannot open the database at {}",
                redact(&settings.database_url)
            )
        })?;
    domain::db::migrate(&db)
        .await
        .context("migrations failed")?;
    Ok(db)
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}@{}", &url[..scheme], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    let company = Company {
        calendar: settings.calendar,
    };
    let clock = Clock::System;
    match command {
        Command::Schema => {
            print!("{}", api::sdl());
            Ok(())
        }
        Command::Migrate => {
            connect(&settings).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Demo => {
            let db = connect(&settings).await?;
            report_demo(domain::demo::load(&db, &company, clock.now()).await?);
            Ok(())
        }
        Command::Seed {
            employees,
            periods,
            seed,
        } => {
            let db = connect(&settings).await?;
            let spec = domain::demo::SeedSpec {
                employees,
                periods,
                seed,
            };
            report_demo(domain::demo::seed(&db, &company, spec, clock.now()).await?);
            Ok(())
        }
        Command::Token {
            command:
                TokenCommand::Create {
                    employee,
                    service,
                    scope,
                    name,
                },
        } => {
            let db = connect(&settings).await?;
            let owner = match (employee, service) {
                (Some(email), _) => {
                    let id = domain::directory::employee_id_by_email(&db, &email)
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
                    anyhow::bail!("give --employee EMAIL or --service NAME --scope SCOPE")
                }
            };
            let label = name.unwrap_or_else(|| "cli".into());
            let (_, secret) =
                domain::auth::create_token(&db, owner, &label, None, clock.now()).await?;
            println!("{secret}");
            Ok(())
        }
        Command::Serve { demo, no_scheduler } => {
            let db = connect(&settings).await?;
            if demo {
                report_demo(domain::demo::load(&db, &company, clock.now()).await?);
            }
            // The scheduler's start-up tick opens the current period before the API answers.
            let scheduler = if no_scheduler {
                None
            } else {
                Some(
                    scheduler::start(
                        db.clone(),
                        company,
                        clock.clone(),
                        settings.scheduler.clone(),
                    )
                    .await?,
                )
            };
            let listener = tokio::net::TcpListener::bind(&settings.bind)
                .await
                .with_context(|| format!("cannot listen on {}", settings.bind))?;
            let addr = listener.local_addr()?;
            println!(
                "Zeroboard is serving GraphiQL at http://{addr}/ and GraphQL at http://{addr}/graphql"
            );
            if demo {
                print_demo_tokens(&db, clock.now()).await?;
            }
            let state = api::AppState::new(db, company, clock, settings.limits)
                .with_http(settings.http.clone());
            let served = api::serve(state, listener).await;
            if let Some(scheduler) = scheduler {
                scheduler.shutdown().await?;
            }
            served?;
            Ok(())
        }
        Command::Scheduler => {
            let db = connect(&settings).await?;
            let stop = shutdown_signal();
            let running = scheduler::start(db, company, clock, settings.scheduler.clone()).await?;
            eprintln!(
                "scheduler running on `{}`; stop with ctrl-c or SIGTERM",
                settings.scheduler.cron
            );
            stop.await;
            running.shutdown().await
        }
        Command::Tick { now } => {
            let db = connect(&settings).await?;
            let report =
                domain::tick::tick(&db, &company, now.unwrap_or_else(|| clock.now())).await?;
            print!("{report}");
            Ok(())
        }
        Command::Export {
            command: ExportCommand::Bonus { period, format },
        } => {
            let db = connect(&settings).await?;
            let rows = domain::export::bonus_rows(&db, period).await?;
            match format {
                ExportFormat::Csv => print!("{}", domain::export::to_csv(&rows)),
                ExportFormat::Json => println!("{:#}", domain::export::to_json(&rows)),
            }
            Ok(())
        }
    }
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

fn report_demo(loaded: domain::demo::Loaded) {
    match loaded {
        domain::demo::Loaded::Created {
            employees,
            assignments,
        } => {
            eprintln!("company loaded: {employees} employees, {assignments} assignments")
        }
        domain::demo::Loaded::AlreadyPresent => {
            eprintln!("the database already has employees; nothing was loaded")
        }
    }
}

/// Creates and prints one fresh token per demo role, to paste into GraphiQL's headers.
async fn print_demo_tokens(
    db: &domain::db::DatabaseConnection,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    use domain::demo::{DEMO_ADMIN, DEMO_EMPLOYEE, DEMO_MANAGER, email_of};
    println!("Demo tokens (send as `Authorization: Bearer <token>`):");
    for (role, name) in [
        ("employee", DEMO_EMPLOYEE),
        ("manager", DEMO_MANAGER),
        ("admin", DEMO_ADMIN),
    ] {
        let email = email_of(name);
        let Some(id) = domain::directory::employee_id_by_email(db, &email).await? else {
            continue;
        };
        let (_, secret) =
            domain::auth::create_token(db, TokenOwner::Employee(id), "demo", None, now).await?;
        println!("  {role:<9} {secret}   ({name}, {email})");
    }
    let payroll = TokenOwner::Service {
        name: "payroll".into(),
        scopes: vec![Scope::PayrollRead],
    };
    let (_, secret) = domain::auth::create_token(db, payroll, "demo", None, now).await?;
    println!("  {:<9} {secret}   (payroll service)", "payroll");
    Ok(())
}
