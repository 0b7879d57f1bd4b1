//! Test harness: a fresh database of each kind, the real server (built by
//! `zeroboard::App::build`, as `zeroboard serve` builds it) on port 0 with a fixed clock, and
//! a small GraphQL client.
//!
//! `ZEROBOARD_TEST_DATABASES` picks the kinds (`sqlite,postgres` by default);
//! `ZEROBOARD_TEST_PG_URL` is the PostgreSQL server's admin URL
//! (default `postgres://postgres@127.0.0.1:5432/postgres`). A test for a kind that is not
//! selected is compiled as ignored (see `build.rs`), so it reports itself skipped; a
//! selected kind that cannot be reached fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use chrono::{DateTime, TimeZone, Utc};
use domain::Company;
use domain::calendar::{Cadence, Calendar};
use domain::clock::Clock;
use domain::db::DatabaseConnection;
use serde_json::{Value, json};
use zeroboard::config::Settings;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

pub fn pg_admin_url() -> String {
    std::env::var("ZEROBOARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// With `TEST_LOG` set (e.g. `TEST_LOG=1`, or a filter like `TEST_LOG=api=debug`), the
/// servers' logs go to the test's output, which the harness shows for a failing test.
fn test_log() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            let filter = if filter == "1" {
                "info".to_owned()
            } else {
                filter
            };
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}

/// A fresh, empty database, removed when dropped.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    pub async fn new(kind: Kind) -> TestDb {
        match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("zb.db").display());
                TestDb {
                    url,
                    _dir: Some(dir),
                    pg_name: None,
                }
            }
            Kind::Postgres => {
                let name = format!(
                    "zb_test_{}_{}_{}",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::Relaxed),
                    Utc::now().timestamp_subsec_micros()
                );
                let admin = pg_admin_url();
                let conn = domain::db::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e}"));
                use sea_orm::ConnectionTrait;
                conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                conn.close().await.ok();
                let url = format!(
                    "{}/{}",
                    admin
                        .rsplit_once('/')
                        .map(|(base, _)| base)
                        .unwrap_or(&admin),
                    name
                );
                TestDb {
                    url,
                    _dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// A connection to the migrated database.
    pub async fn connect(&self) -> DatabaseConnection {
        let db = domain::db::connect(&self.url).await.expect("connect");
        domain::db::migrate(&db).await.expect("migrate");
        db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside async code; a short-lived runtime on its own thread removes the database.
        let admin = pg_admin_url();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                use sea_orm::ConnectionTrait;
                if let Ok(conn) = domain::db::connect(&admin).await {
                    let _ = conn
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    conn.close().await.ok();
                }
            })
        })
        .join();
    }
}

/// The Python of the tests' real peers: a virtual environment under the build directory,
/// made once, with the pinned PyPI packages they use (`standardwebhooks` for the webhook
/// receiver, `aiosmtpd` for the reminders' SMTP sink). Needs `python3` with `venv` and
/// PyPI the first time.
pub fn python() -> &'static str {
    const PACKAGES: [&str; 2] = ["standardwebhooks==1.1.0", "aiosmtpd==1.4.6"];
    static PYTHON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| {
        use std::process::{Command, Stdio};
        let venv = concat!(env!("CARGO_TARGET_TMPDIR"), "/peers-venv");
        let python = format!("{venv}/bin/python");
        let ready = |python: &str| {
            Command::new(python)
                .args(["-c", "import standardwebhooks, aiosmtpd"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ready(&python) {
            let made = Command::new("python3")
                .args(["-m", "venv", venv])
                .status()
                .expect("python3");
            assert!(made.success(), "python3 -m venv {venv}");
            let installed = Command::new(format!("{venv}/bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .args(PACKAGES)
                .status()
                .expect("pip");
            assert!(installed.success(), "pip install {PACKAGES:?}");
            assert!(ready(&python), "{PACKAGES:?} import");
        }
        python
    })
}

/// A free port on loopback: bound, then released, so nothing answers there until a peer
/// takes it.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real peer the product talks to (a webhook receiver, an SMTP sink): a Python script of
/// `tests/`, run in [`python`]'s environment, that prints `{"listening": …}` once it listens
/// and then one JSON value per request it receives. Killed when dropped.
pub struct Peer {
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl Peer {
    /// Starts `script` (relative to the repository) with `args`; returns once it listens.
    pub fn start(script: &str, args: &[String]) -> Peer {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let path = format!("{}/{script}", env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new(python())
            .arg(&path)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {script}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (listening, ready) = std::sync::mpsc::channel();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if value.get("listening").is_some() {
                    let _ = listening.send(());
                } else {
                    sink.lock().unwrap().push(value);
                }
            }
        });
        ready
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{script} listens"));
        Peer { child, lines }
    }

    /// What it has received, once at least `n` values arrived or 10 s passed (the product
    /// had its answers before its round returned; their lines may still be in the pipe),
    /// then `linger` more for anything beyond `n` that should not be there.
    pub fn received(&self, n: usize, linger: std::time::Duration) -> Vec<Value> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if self.lines.lock().unwrap().len() >= n || std::time::Instant::now() > deadline {
                std::thread::sleep(linger);
                return self.lines.lock().unwrap().clone();
            }
            std::thread::yield_now();
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 2026-11-20 10:00 UTC: inside the semi-monthly period 16–30 November.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap()
}

pub fn utc_company() -> Company {
    Company {
        calendar: Calendar::new(Cadence::SemiMonthly, chrono_tz::UTC),
    }
}

/// The real server on a free port, over a fresh database, with a fixed clock.
pub struct TestApp {
    pub db: DatabaseConnection,
    pub base: String,
    pub clock: Clock,
    pub company: Company,
    pub http: reqwest::Client,
    /// Every SQL statement the app's pool runs bumps this.
    pub statements: Arc<AtomicUsize>,
    _server: tokio::task::JoinHandle<()>,
    _test_db: TestDb,
}

impl TestApp {
    pub async fn start(kind: Kind) -> TestApp {
        Self::start_with(kind, utc_company(), t0(), api::Limits::default()).await
    }

    pub async fn start_with(
        kind: Kind,
        company: Company,
        now: DateTime<Utc>,
        limits: api::Limits,
    ) -> TestApp {
        Self::start_full(kind, company, now, limits, api::HttpOptions::default()).await
    }

    /// The real server with every option, built as `zeroboard serve` builds it
    /// ([`zeroboard::App::build`]: bind, migrate, settle the company's calendar); `TEST_LOG=1`
    /// shows its log (through the test harness's capture, so only a failing test prints it).
    pub async fn start_full(
        kind: Kind,
        company: Company,
        now: DateTime<Utc>,
        limits: api::Limits,
        http: api::HttpOptions,
    ) -> TestApp {
        test_log();
        let test_db = TestDb::new(kind).await;
        let mut settings = Settings::new(test_db.url.clone(), "127.0.0.1:0", company.calendar);
        settings.limits = limits;
        settings.http = http;
        let clock = Clock::fixed(now);
        let mut app = zeroboard::App::build(&settings, clock.clone())
            .await
            .expect("build the app");
        let statements = Arc::new(AtomicUsize::new(0));
        let counter = statements.clone();
        app.db.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let (db, company) = (app.db.clone(), app.company);
        let base = format!("http://{}", app.addr().expect("addr"));
        let server = tokio::spawn(async move {
            app.serve_until(api::Readiness::ready(), std::future::pending())
                .await
                .expect("serve");
        });
        TestApp {
            db,
            base,
            clock,
            company,
            http: reqwest::Client::new(),
            statements,
            _server: server,
            _test_db: test_db,
        }
    }

    /// Another API replica on this app's database (its own pool, hub and listener), built
    /// as `serve --no-scheduler` builds it, with these options; it serves until `stop`
    /// resolves. Returns its base URL and its task.
    pub async fn replica(
        &self,
        http: api::HttpOptions,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> (String, tokio::task::JoinHandle<()>) {
        let mut settings = Settings::new(
            self._test_db.url.clone(),
            "127.0.0.1:0",
            self.company.calendar,
        );
        settings.http = http;
        let app = zeroboard::App::build(&settings, self.clock.clone())
            .await
            .expect("build a replica");
        let base = format!("http://{}", app.addr().expect("addr"));
        let task = tokio::spawn(async move {
            app.serve_until(api::Readiness::ready(), stop)
                .await
                .expect("serve a replica");
        });
        (base, task)
    }

    /// The URL of the app's database.
    pub fn url(&self) -> &str {
        &self._test_db.url
    }

    /// Loads the demo company at the clock's now.
    pub async fn demo(&self) {
        fixtures::demo::load(&self.db, &self.company, self.clock.now())
            .await
            .expect("demo");
    }

    pub async fn token_for_email(&self, email: &str) -> String {
        let id = domain::directory::employee_id_by_email(&self.db, email)
            .await
            .unwrap()
            .expect("employee");
        self.token(domain::tokens::TokenOwner::Employee(id)).await
    }

    pub async fn service_token(&self, scope: domain::auth::Scope) -> String {
        self.token(domain::tokens::TokenOwner::Service {
            name: "tests".into(),
            scopes: vec![scope],
        })
        .await
    }

    /// A new token's secret, made as the operator's `token create` makes it.
    async fn token(&self, owner: domain::tokens::TokenOwner) -> String {
        domain::tokens::create_token(
            &self.db,
            &domain::auth::Principal::System,
            owner,
            "test",
            None,
            self.clock.now(),
        )
        .await
        .unwrap()
        .1
    }

    pub async fn admin(&self) -> String {
        self.service_token(domain::auth::Scope::Admin).await
    }

    /// POSTs a GraphQL request and returns the status and the JSON body.
    pub async fn post(&self, token: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}/graphql", self.base))
            .header(
                "accept",
                "application/graphql-response+json, application/json",
            )
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// How many SQL statements one request costs (requests must not overlap). The query
    /// runs once first, so the token's `last_used_at` write (once a minute) is not counted.
    pub async fn statements_for(&self, token: &str, query: &str) -> usize {
        self.gql(token, query, json!({})).await;
        let before = self.statements.load(Ordering::SeqCst);
        self.gql(token, query, json!({})).await;
        self.statements.load(Ordering::SeqCst) - before
    }

    /// Runs a query that must succeed and returns its `data`.
    pub async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(Some(token), query, variables).await;
        assert!(body.get("errors").is_none(), "errors from {query}: {body}");
        assert_eq!(status, 200, "status for {query}: {body}");
        body["data"].clone()
    }
}

/// The `extensions.code` of every error in a response.
pub fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Declares one test per database kind: `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both {
    ($(#[$meta:meta])* async fn $name:ident($kind:ident: Kind) $body:block) => {
        mod $name {
            use super::*;
            async fn run($kind: Kind) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(zb_skip_sqlite, ignore = "sqlite is not in ZEROBOARD_TEST_DATABASES")]
            async fn sqlite() {
                run(Kind::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(zb_skip_postgres, ignore = "postgres is not in ZEROBOARD_TEST_DATABASES")]
            async fn postgres() {
                run(Kind::Postgres).await
            }
        }
    };
}

/// Inserts an assignment in its final state, as the transitions would have left it, straight
/// into the table: (kind, title), (assignee, controller), weight, due, and (status,
/// submitted, decided).
pub async fn insert_assignment(
    db: &DatabaseConnection,
    period_id: i64,
    (kind, title): (entity::enums::AssignmentKind, &str),
    (assignee, controller): (i64, i64),
    weight: f64,
    due_at: DateTime<Utc>,
    (status, submitted_at, decided_at): (
        entity::enums::AssignmentStatus,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
    ),
) {
    use sea_orm::{ActiveModelTrait, Set};
    entity::assignment::ActiveModel {
        kind: Set(kind),
        template_id: Set(None),
        period_id: Set(period_id),
        assignee_id: Set(assignee),
        controller_id: Set(controller),
        title: Set(title.into()),
        description: Set(String::new()),
        weight: Set(weight),
        due_at: Set(due_at),
        status: Set(status),
        submitted_at: Set(submitted_at),
        decided_at: Set(decided_at),
        created_at: Set(due_at - chrono::Duration::days(10)),
        created_by: Set(None),
        version: Set(1),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
}

/// A department, inserted straight into the table.
pub async fn add_department(db: &DatabaseConnection, name: &str) -> i64 {
    use sea_orm::{ActiveModelTrait, Set};
    entity::department::ActiveModel {
        name: Set(name.into()),
        created_at: Set(Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap()),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap()
    .id
}

/// An employee, inserted straight into the table: an admin without a manager, else an
/// employee; the e-mail made from the name.
pub async fn add_employee(
    db: &DatabaseConnection,
    name: &str,
    department_id: i64,
    manager_id: Option<i64>,
    hired_on: chrono::NaiveDate,
    left_on: Option<chrono::NaiveDate>,
) -> entity::employee::Model {
    use sea_orm::{ActiveModelTrait, Set};
    entity::employee::ActiveModel {
        department_id: Set(department_id),
        manager_id: Set(manager_id),
        name: Set(name.into()),
        email: Set(format!(
            "{}@example.com",
            name.to_lowercase().replace(' ', ".")
        )),
        role: Set(if manager_id.is_none() {
            entity::enums::Role::Admin
        } else {
            entity::enums::Role::Employee
        }),
        hired_on: Set(hired_on),
        left_on: Set(left_on),
        created_at: Set(Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap()),
        payroll: Set(false),
        language: Set(entity::enums::Language::En),
        reminders: Set(true),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap()
}

/// Moves the clock past the demo's current period's close (2 Dec 2026, noon) and ticks once;
/// the period it closed (`id`, `startsOn`).
pub async fn close_the_current_period(app: &TestApp, admin: &str) -> Value {
    let current = app
        .gql(admin, "{ currentPeriod { id startsOn } }", json!({}))
        .await["currentPeriod"]
        .clone();
    let later = Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap();
    app.clock.set(later);
    domain::tick::tick(
        &app.db,
        &domain::auth::Principal::System,
        &app.company,
        later,
    )
    .await
    .unwrap();
    current
}
