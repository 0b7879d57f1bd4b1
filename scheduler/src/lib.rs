//! The background scheduler: the only crate that knows cron.
//!
//! The cron expression decides only *when* a tick runs. What a tick does — which periods
//! open, which duties are generated, which periods close — is decided by
//! `domain::tick::tick` from the domain calendar and the tick's instant, so a late, early,
//! missed or repeated tick changes nothing but timing. A tick runs once at start-up, then
//! on the cron. Ticks never overlap within one process (a tick still running when the next
//! is due makes the next one skip); across processes the domain's locks and unique keys
//! keep them apart. A failing tick is logged, once per distinct error, and the next tick
//! retries.
//!
//! Beside the ticks runs the webhook dispatcher ([`dispatch`]), which polls the outbox and
//! sends what the ticks and the API's changes recorded there, and, when an SMTP host is set,
//! the e-mail reminders' sender ([`reminders`]).

pub mod dispatch;
pub mod reminders;

use std::sync::Arc;

use anyhow::Context;
use domain::Company;
use domain::clock::Clock;
use domain::db::DatabaseConnection;
use tokio::sync::Mutex;
use tokio_cron_scheduler::{Job, JobScheduler};

/// Every minute, at second 0.
pub const DEFAULT_CRON: &str = "0 * * * * *";

/// How many days of `scheduler_run` rows the scheduler keeps (about 4,300 rows a day per
/// instance on the default cron).
pub const DEFAULT_RUN_RETENTION_DAYS: u32 = 30;

/// How the scheduler runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// A cron expression with seconds: `sec min hour day-of-month month day-of-week`.
    pub cron: String,
    /// After each tick, log rows of runs that started more than this many days ago (by the
    /// wall clock) are deleted.
    pub run_retention_days: u32,
    /// The webhook dispatcher's settings.
    pub webhooks: dispatch::DispatcherConfig,
    /// The e-mail reminders' settings; none sends no reminders.
    pub reminders: Option<reminders::ReminderConfig>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            cron: DEFAULT_CRON.into(),
            run_retention_days: DEFAULT_RUN_RETENTION_DAYS,
            webhooks: dispatch::DispatcherConfig::default(),
            reminders: None,
        }
    }
}

/// Checks a cron expression the way the scheduler will parse it.
pub fn validate_cron(expr: &str) -> Result<(), String> {
    Job::new_async(expr, |_, _| Box::pin(async {}))
        .map(|_| ())
        .map_err(|_| {
            format!(
                "`{expr}` is not a cron expression with seconds, like `0 * * * * *` (every minute)"
            )
        })
}

/// What every tick needs, shared by the start-up tick and the cron job.
struct Ticker {
    db: DatabaseConnection,
    company: Company,
    clock: Clock,
    /// Held while a tick runs, so ticks of this process never overlap.
    running: Mutex<()>,
    /// The last failure logged, so a failure that repeats every minute is logged once.
    last_error: std::sync::Mutex<Option<String>>,
    run_retention_days: u32,
}

impl Ticker {
    async fn tick(&self) {
        let Ok(_running) = self.running.try_lock() else {
            tracing::warn!("the previous tick is still running; this one is skipped");
            return;
        };
        let now = self.clock.now();
        let started = std::time::Instant::now();
        let outcome = domain::tick::tick(
            &self.db,
            &domain::auth::Principal::System,
            &self.company,
            now,
        )
        .await;
        let duration_ms = started.elapsed().as_millis();
        let horizon =
            chrono::Utc::now() - chrono::Duration::days(i64::from(self.run_retention_days));
        match domain::tick::prune_runs(&self.db, horizon).await {
            Ok(0) => {}
            Ok(pruned) => tracing::debug!(pruned, "old scheduler runs removed"),
            Err(e) => tracing::warn!(error = %e, "cannot remove old scheduler runs"),
        }
        match domain::sessions::prune(&self.db, horizon).await {
            Ok((0, 0)) => {}
            Ok((links, sessions)) => {
                tracing::debug!(links, sessions, "old sign-in links and sessions removed")
            }
            Err(e) => tracing::warn!(error = %e, "cannot remove old sign-in links and sessions"),
        }
        let label = if outcome.is_ok() { "ok" } else { "failed" };
        metrics::counter!("zeroboard_scheduler_ticks_total", "outcome" => label).increment(1);
        metrics::histogram!("zeroboard_scheduler_tick_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        let mut last_error = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Ok(report) => {
                metrics::gauge!("zeroboard_scheduler_last_success_timestamp_seconds")
                    .set(now.timestamp() as f64);
                if last_error.take().is_some() {
                    tracing::info!(tick.at = %now, "the scheduler recovered");
                }
                if report.did_something() {
                    // One line; the steps logged their own events with their ids.
                    tracing::info!(
                        tick.at = %now,
                        duration_ms,
                        periods.opened = report.opened.len(),
                        duties.generated = report.generated.created,
                        duties.skipped = report.generated.skipped_no_controller,
                        periods.closed = report.closed.len(),
                        "tick"
                    );
                } else {
                    tracing::debug!(tick.at = %now, duration_ms, "tick: nothing to do");
                }
            }
            Err(e) => {
                let message = e.to_string();
                if last_error.as_deref() == Some(message.as_str()) {
                    tracing::debug!(tick.at = %now, error = %message, "tick failed again; the next tick retries");
                } else {
                    tracing::error!(tick.at = %now, error = %message, "tick failed; the next tick retries");
                    *last_error = Some(message);
                }
            }
        }
    }
}

/// A scheduler that is ticking; stop it with [`RunningScheduler::shutdown`].
pub struct RunningScheduler {
    cron: JobScheduler,
    ticker: Arc<Ticker>,
    stop_dispatcher: tokio::sync::watch::Sender<bool>,
    dispatcher: tokio::task::JoinHandle<()>,
    mailer: Option<tokio::task::JoinHandle<()>>,
}

impl RunningScheduler {
    /// Stops the cron and waits for a tick in progress to finish, so no step is cut off
    /// (a cut-off step would roll back anyway, but finishing it is cheaper).
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.cron
            .shutdown()
            .await
            .context("cannot stop the cron scheduler")?;
        let _idle = self.ticker.running.lock().await;
        // The round under way finishes (its sends have a timeout), so no lease is left behind.
        let _ = self.stop_dispatcher.send(true);
        if let Err(e) = self.dispatcher.await {
            tracing::error!(error = %e, "the webhook dispatcher failed to stop cleanly");
        }
        if let Some(mailer) = self.mailer
            && let Err(e) = mailer.await
        {
            tracing::error!(error = %e, "the reminders' sender failed to stop cleanly");
        }
        Ok(())
    }
}

/// Starts the webhook dispatcher, runs one tick now, then starts ticking on `config.cron`.
pub async fn start(
    db: DatabaseConnection,
    company: Company,
    clock: Clock,
    config: SchedulerConfig,
) -> anyhow::Result<RunningScheduler> {
    validate_cron(&config.cron).map_err(anyhow::Error::msg)?;
    let (stop_dispatcher, stopped) = tokio::sync::watch::channel(false);
    let dispatcher = dispatch::Dispatcher::new(db.clone(), config.webhooks.clone())
        .context("cannot create the webhook dispatcher")?
        .spawn(clock.clone(), stopped.clone());
    let mailer = match config.reminders {
        Some(reminders) => {
            tracing::info!(
                smtp.host = %reminders.host,
                smtp.port = reminders.port,
                reminders.at = %reminders.at,
                "e-mail reminders are on"
            );
            Some(
                reminders::Mailer::new(db.clone(), company, reminders)
                    .context("cannot create the reminders' sender")?
                    .spawn(clock.clone(), stopped),
            )
        }
        None => None,
    };
    let ticker = Arc::new(Ticker {
        db,
        company,
        clock,
        running: Mutex::new(()),
        last_error: std::sync::Mutex::new(None),
        run_retention_days: config.run_retention_days,
    });
    ticker.tick().await;
    let cron = JobScheduler::new()
        .await
        .context("cannot create the cron scheduler")?;
    let job_ticker = ticker.clone();
    let job = Job::new_async(config.cron.as_str(), move |_, _| {
        let ticker = job_ticker.clone();
        Box::pin(async move { ticker.tick().await })
    })
    .map_err(|e| anyhow::anyhow!("cannot schedule `{}`: {e}", config.cron))?;
    cron.add(job).await.context("cannot add the tick job")?;
    cron.start()
        .await
        .context("cannot start the cron scheduler")?;
    tracing::info!(cron = %config.cron, "scheduler started");
    Ok(RunningScheduler {
        cron,
        ticker,
        stop_dispatcher,
        dispatcher,
        mailer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_expressions() {
        assert_eq!(validate_cron(DEFAULT_CRON), Ok(()));
        assert_eq!(validate_cron("*/10 * * * * *"), Ok(()));
        assert_eq!(validate_cron("0 0 * * * Mon-Fri"), Ok(()));
        assert!(
            validate_cron("* * * * *").is_err(),
            "five fields: seconds are required"
        );
        assert!(validate_cron("every minute").is_err());
        assert!(
            validate_cron("0 61 * * * *")
                .unwrap_err()
                .contains("`0 61 * * * *`")
        );
    }
}
