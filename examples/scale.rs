//! Performance at company scale: seeds a company with the release `zeroboard` (10,000 people
//! and 6 closed periods by default) on SQLite and on PostgreSQL, runs `VACUUM` and `ANALYZE`,
//! serves it with `zeroboard serve`, and runs each main request for a fixed time at a fixed
//! concurrency, rotating over many employees' tokens. For each it prints requests per
//! second, p50 and p99 latency, SQL statements per request (from the server's
//! `zeroboard_db_statements_total`, over a sequential sample) and the server's peak resident
//! memory during that request's run (VmHWM of the child process, reset before each run).
//!
//! Beside "my tiles" it runs the floor: one hand-written statement computing the same tile
//! counts (`bench/tile_floor.sql`), prepared and executed directly with the same
//! concurrency and rotation; it is first checked against the API's answers. With
//! `--postgraphile` (PostgreSQL only; needs node and npm) it serves the same database with
//! PostGraphile 4 (`bench/postgraphile/`) and runs the equivalent pages interleaved with ours.
//!
//! ```sh
//! cargo run --release --example scale -- --help
//! cargo run --release --example scale -- --employees 1000 --duration 3 --databases sqlite
//! ```
//!
//! Before measuring, it shapes the seeded company through the API (as an admin) where the
//! seed has nothing to measure: it moves people into one department (`--department-size`,
//! all under that department's manager) for the reports, and has people submit current
//! work to `--controllers` managers so their queues are not empty, then runs `zeroboard tick`
//! as the scheduler would (the people moved get their new department's duties). The server
//! runs with `--no-scheduler` (no tick lands inside a measurement) and `--public-metrics`
//! (reading the counter costs no token lookup).

use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, Utc};
use clap::{Parser, ValueEnum};
use sea_orm::sqlx::{self, Row};
use sea_orm::{ConnectionTrait, DatabaseConnection, QueryResult, Statement};
use serde_json::{Value, json};

/// The floor's SQL, written for PostgreSQL's `$n` placeholders.
const FLOOR_SQL: &str = include_str!("../bench/tile_floor.sql");

const TILES: &str = "{ me { summary { toAccept { count } \
    duties { total done awaitingAcceptance remaining overdue } \
    additional { total done awaitingAcceptance remaining overdue } \
    knowledgeBaseNew { count } proposalsToVote { count } averageKpi currentKpi } } }";

/// The same tiles without `currentKpi`: exactly what the floor computes.
const TILES_COUNTS: &str = "{ me { summary { toAccept { count } \
    duties { total done awaitingAcceptance remaining overdue } \
    additional { total done awaitingAcceptance remaining overdue } \
    knowledgeBaseNew { count } proposalsToVote { count } averageKpi } } }";

/// The smallest request about oneself: what every request costs before its fields.
const ME_ID: &str = "{ me { id } }";

/// A page of the directory with departments, managers and tile counts.
const PAGE: &str = "query($n: Int!, $after: String) { employees(first: $n, after: $after) { \
    edges { node { name department { name } manager { name } summary { toAccept { count } \
    duties { total remaining overdue } additional { total remaining overdue } \
    knowledgeBaseNew { count } proposalsToVote { count } averageKpi } } } } }";

/// The page with every employee's live KPI as well.
const PAGE_LIVE_KPI: &str = "query($n: Int!, $after: String) { employees(first: $n, after: $after) { \
    edges { node { name department { name } manager { name } summary { toAccept { count } \
    duties { total remaining overdue } additional { total remaining overdue } \
    knowledgeBaseNew { count } proposalsToVote { count } averageKpi currentKpi } } } } }";

/// What PostGraphile's page answers: names, department, manager, duties by status.
const PAGE_DUTIES: &str = "query($n: Int!, $after: String) { employees(first: $n, after: $after) { \
    edges { node { name department { name } manager { name } \
    summary { duties { total done awaitingAcceptance remaining } } } } } }";

/// The same page in PostGraphile's schema: the duties of the current period, grouped by
/// status with pg-aggregates (the client passes the current period's id).
const POSTGRAPHILE_PAGE: &str = "query($n: Int!, $after: Cursor, $period: BigInt!) { \
    allEmployees(first: $n, after: $after, orderBy: PRIMARY_KEY_ASC) { edges { node { name \
    departmentByDepartmentId { name } employeeByManagerId { name } \
    assignmentsByAssigneeId(condition: { periodId: $period, kind: \"duty\" }) { \
    groupedAggregates(groupBy: [STATUS]) { keys distinctCount { id } } } } } } }";

const REPORT_ASSIGNEE: &str = "query($d: ID!) { assignmentReport(by: ASSIGNEE, departmentId: $d) { \
    employee { name } total done awaitingAcceptance remaining overdue missed oldestDueAt } }";
const REPORT_CONTROLLER: &str = "query($d: ID!) { assignmentReport(by: CONTROLLER, departmentId: $d) { \
    employee { name } total awaitingAcceptance awaitingFrom { employee { name } count } } }";
const REPORT_DEBTORS: &str = "query($d: ID!) { assignmentReport(by: DEBTORS, departmentId: $d) { \
    employee { name department { name } } overdue oldestDueAt } }";

const REPORTS: [(&str, &str); 3] = [
    ("ASSIGNEE", REPORT_ASSIGNEE),
    ("CONTROLLER", REPORT_CONTROLLER),
    ("DEBTORS", REPORT_DEBTORS),
];

const QUEUE: &str = "{ me { summary { toAccept { count items(first: 20) { edges { node { \
    id title submittedAt assignee { name } } } } } } } }";

/// How many submissions each chosen controller gets waiting (a full page of the queue).
const WAITING_PER_CONTROLLER: usize = 20;

#[derive(Parser, Debug)]
#[command(about = "Zeroboard at company scale: seed, serve, and measure the main requests")]
struct Args {
    /// People in the seeded company.
    #[arg(long, default_value_t = 10_000)]
    employees: usize,
    /// Closed periods of history before the current one.
    #[arg(long, default_value_t = 6)]
    periods: usize,
    /// Seconds each request runs (after a warm-up of a fifth of it, at most 3 s).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Requests in flight at once (default 16; 32 with --soak-minutes).
    #[arg(long)]
    concurrency: Option<usize>,
    /// The databases to run on, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "sqlite,postgres"
    )]
    databases: Vec<Kind>,
    /// Employees whose tokens "my tiles" rotate over (also the pages' starting points).
    #[arg(long, default_value_t = 256)]
    rotation: usize,
    /// Managers given submissions to accept; the queue rotates over them.
    #[arg(long, default_value_t = 32)]
    controllers: usize,
    /// People in the department the reports are run for (as its manager).
    #[arg(long, default_value_t = 300)]
    department_size: usize,
    /// Sequential requests per query for the statements-per-request figure.
    #[arg(long, default_value_t = 20)]
    sample: usize,
    /// Also serve the PostgreSQL database with PostGraphile 4 (bench/postgraphile; needs
    /// node and npm) and compare the pages.
    #[arg(long)]
    postgraphile: bool,
    /// The PostgreSQL server; the run creates a database there and drops it afterwards.
    #[arg(
        long,
        env = "ZEROBOARD_TEST_PG_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pg_url: String,
    /// Use this PostgreSQL database (created if missing, seeded if empty) and keep it.
    #[arg(long)]
    pg_database: Option<String>,
    /// Use this SQLite file (created if missing, seeded if empty) and keep it.
    #[arg(long)]
    sqlite_file: Option<PathBuf>,
    /// The `zeroboard` binary; default: `cargo build --release --bin zeroboard`'s.
    #[arg(long)]
    zeroboard: Option<PathBuf>,
    /// Instead of measuring each request, run a mix of them (tiles, pages of 5/20/100,
    /// reports, queue) for this many minutes, printing the server's resident memory.
    #[arg(long)]
    soak_minutes: Option<f64>,
    /// Measure only these requests: `tiles` (my tiles, the floor and the fixed cost of a
    /// request), `pages`, `reports`, `queue` (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Group>,
}

impl Args {
    /// Whether a group of requests is measured.
    fn measures(&self, group: Group) -> bool {
        self.only.is_empty() || self.only.contains(&group)
    }

    fn concurrency(&self) -> usize {
        self.concurrency
            .unwrap_or(if self.soak_minutes.is_some() { 32 } else { 16 })
    }
}

/// The groups of requests `--only` picks from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Group {
    Tiles,
    Pages,
    Reports,
    Queue,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Kind {
    Sqlite,
    Postgres,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Sqlite => "SQLite",
            Kind::Postgres => "PostgreSQL",
        })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(args.concurrency() >= 1, "--concurrency must be at least 1");
    ensure!(
        args.soak_minutes.is_none_or(|m| m > 0.0),
        "--soak-minutes must be positive"
    );
    ensure!(args.duration > 0.0, "--duration must be positive");
    ensure!(
        args.rotation >= 1 && args.sample >= 1,
        "--rotation and --sample must be at least 1"
    );
    let zeroboard = binary(&args)?;
    let what = match args.soak_minutes {
        Some(minutes) => format!("a mix of requests for {minutes} min"),
        None => format!("each request {} s", args.duration),
    };
    println!(
        "Zeroboard at company scale: {} employees, {} closed periods; {what} at concurrency {}; {} cores; load average {}",
        args.employees,
        args.periods,
        args.concurrency(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    for kind in args.databases.clone() {
        run(&args, &zeroboard, kind).await?;
    }
    Ok(())
}

/// The release binary: the one given, or cargo's (built now, so it is never stale).
fn binary(args: &Args) -> anyhow::Result<PathBuf> {
    if let Some(path) = &args.zeroboard {
        return Ok(std::path::absolute(path)?);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--bin", "zeroboard"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .context("running cargo build")?;
    ensure!(
        status.success(),
        "cargo build --release --bin zeroboard failed"
    );
    // This example runs from <target>/release/examples/.
    let exe = std::env::current_exe()?;
    let release = exe
        .parent()
        .and_then(Path::parent)
        .context("where is the target directory?")?;
    Ok(release.join("zeroboard"))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Where a run's database lives, and what to remove afterwards.
struct Target {
    url: String,
    drop_database: Option<(String, String)>,
}

async fn run(args: &Args, zeroboard: &Path, kind: Kind) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let target = match kind {
        Kind::Sqlite => {
            let file = args
                .sqlite_file
                .clone()
                .unwrap_or_else(|| dir.path().join("scale.db"));
            let file = std::path::absolute(file)?;
            Target {
                url: format!("sqlite://{}?mode=rwc", file.display()),
                drop_database: None,
            }
        }
        Kind::Postgres => {
            let keep = args.pg_database.is_some();
            let name = args
                .pg_database
                .clone()
                .unwrap_or_else(|| format!("zb_scale_{}", std::process::id()));
            let admin = sea_orm::Database::connect(&args.pg_url).await?;
            let exists = admin
                .query_one_raw(Statement::from_sql_and_values(
                    admin.get_database_backend(),
                    "SELECT 1 FROM pg_database WHERE datname = $1",
                    [name.clone().into()],
                ))
                .await?
                .is_some();
            if !exists {
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await?;
            }
            admin.close().await?;
            let base = args
                .pg_url
                .rsplit_once('/')
                .map_or(args.pg_url.as_str(), |(b, _)| b);
            Target {
                url: format!("{base}/{name}"),
                drop_database: (!keep).then(|| (args.pg_url.clone(), name)),
            }
        }
    };
    let result = bench(args, zeroboard, kind, &target.url, dir.path()).await;
    if let Some((admin, name)) = target.drop_database {
        let admin = sea_orm::Database::connect(&admin).await?;
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await?;
        admin.close().await?;
    }
    result
}

/// A `zeroboard` command on the run's database, in a directory without a `zeroboard.toml`.
fn zeroboard_cmd(zeroboard: &Path, url: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(zeroboard);
    cmd.env("ZEROBOARD_DATABASE_URL", url)
        .env("ZEROBOARD_LOG", "warn")
        .env_remove("ZEROBOARD_CONFIG")
        .current_dir(dir);
    cmd
}

/// Runs a `zeroboard` command to its end; its stdout (its log only when it fails).
fn cli(zeroboard: &Path, url: &str, dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = zeroboard_cmd(zeroboard, url, dir)
        .args(args)
        .output()
        .with_context(|| format!("running zeroboard {}", args.join(" ")))?;
    ensure!(
        out.status.success(),
        "zeroboard {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn bench(
    args: &Args,
    zeroboard: &Path,
    kind: Kind,
    url: &str,
    dir: &Path,
) -> anyhow::Result<()> {
    println!("\n== {kind} (load average {}) ==", load_average());
    let started = Instant::now();
    let employees = args.employees.to_string();
    let periods = args.periods.to_string();
    cli(
        zeroboard,
        url,
        dir,
        &["seed", "--employees", &employees, "--periods", &periods],
    )?;
    let seeded = started.elapsed();
    // A kept database may be behind the calendar; this is what the scheduler would do.
    cli(zeroboard, url, dir, &["tick"])?;
    let admin = cli(
        zeroboard,
        url,
        dir,
        &["token", "create", "--service", "scale", "--scope", "admin"],
    )?
    .trim()
    .to_owned();
    let db = Db::connect(kind, url).await?;
    println!(
        "seed: {:.0} s; the database holds {} employees, {} assignments, {} closed periods",
        seeded.as_secs_f64(),
        db.count("SELECT COUNT(*) FROM employee", vec![]).await?,
        db.count("SELECT COUNT(*) FROM assignment", vec![]).await?,
        db.count(
            "SELECT COUNT(*) FROM period WHERE status = 'closed'",
            vec![]
        )
        .await?
    );

    let closes = close_times(&db).await?;
    if !closes.is_empty() {
        println!(
            "close step of the seeded periods (scheduler_run, wall clock): {} ms",
            closes
                .iter()
                .map(|ms| format!("{ms:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let started = Instant::now();
    let server = Server::start(zeroboard, url, dir)?;
    let api = Api::new(&server.base);
    let plan = prepare(args, &api, &db, &admin).await?;
    server.stop()?;
    // The scheduler's next tick gives the people moved their new department's duties.
    cli(zeroboard, url, dir, &["tick"])?;
    println!(
        "prepared in {:.0} s: {} people in the reports' department, {} submissions waiting for {} controllers, {} employees in the rotation",
        started.elapsed().as_secs_f64(),
        plan.department_size,
        plan.waiting,
        plan.controllers.len(),
        plan.rotation.len()
    );

    let started = Instant::now();
    match kind {
        Kind::Postgres => db.execute("VACUUM ANALYZE").await?,
        Kind::Sqlite => {
            db.execute("VACUUM").await?;
            db.execute("ANALYZE").await?;
        }
    }
    println!(
        "VACUUM and ANALYZE: {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let server = Server::start(zeroboard, url, dir)?;
    let api = Api::new(&server.base);
    if let Some(minutes) = args.soak_minutes {
        let concurrency = args.concurrency();
        soak(&api, &server, &plan, concurrency, minutes).await?;
        server.stop()?;
        println!("(load average {})", load_average());
        return Ok(());
    }
    let floor = Floor::connect(kind, url).await?;
    let checked = check_floor(&api, &floor, &plan).await?;
    println!(
        "the floor statement gives the API's numbers for {checked} employees; server pool: {} connections",
        match kind {
            Kind::Sqlite => 8,
            Kind::Postgres => 16,
        }
    );
    let postgraphile = if args.postgraphile && kind == Kind::Postgres {
        Some(PostGraphile::start(url, &db, &plan).await?)
    } else {
        if args.postgraphile {
            println!("(PostGraphile runs on PostgreSQL only)");
        }
        None
    };

    let bench = Bench {
        args,
        api: &api,
        server: &server,
        pg_database: (kind == Kind::Postgres)
            .then(|| url.rsplit('/').next().unwrap_or_default().to_owned()),
    };
    println!(
        "\n{:<50} {:>8} {:>9} {:>9} {:>8} {:>10}",
        "request", "req/s", "p50 ms", "p99 ms", "SQL/req", "peak MiB"
    );
    if args.measures(Group::Tiles) {
        let tiles = bench
            .graphql(
                &format!("my tiles ({} employees)", plan.rotation.len()),
                plan.me(TILES),
            )
            .await?;
        let counts = bench
            .graphql("my tiles without currentKpi", plan.me(TILES_COUNTS))
            .await?;
        let floor_stats = bench.floor(&floor, &plan).await?;
        for (name, s) in [("my tiles", &tiles), ("without currentKpi", &counts)] {
            println!(
                "  server/floor, {name}: throughput {:.3}, p50 {:.1}, p99 {:.1}",
                s.rps / floor_stats.rps,
                s.p50 / floor_stats.p50,
                s.p99 / floor_stats.p99
            );
        }
        // The fixed cost of any request: HTTP, the token's lookup, a GraphQL document.
        bench
            .graphql("fixed cost: { me { id } }", plan.me(ME_ID))
            .await?;
    }

    if args.measures(Group::Pages) {
        for n in [5, 20, 100] {
            bench
                .graphql(
                    &format!("page of {n} with tile counts"),
                    plan.pages(PAGE, n),
                )
                .await?;
        }
        if let Some(pg) = &postgraphile {
            pg.check(&api, &plan).await?;
            for n in [5, 20, 100] {
                let ours = bench
                    .graphql(
                        &format!("page of {n}, duties by status"),
                        plan.pages(PAGE_DUTIES, n),
                    )
                    .await?;
                let theirs = bench.postgraphile(pg, n).await?;
                println!(
                    "  Zeroboard/PostGraphile, page of {n}: throughput {:.2}, p50 {:.2}, p99 {:.2}",
                    ours.rps / theirs.rps,
                    ours.p50 / theirs.p50,
                    ours.p99 / theirs.p99
                );
            }
        }
    }

    if args.measures(Group::Reports) {
        for (by, q) in REPORTS {
            bench
                .graphql(
                    &format!("report {by}, department of {}", plan.department_size),
                    plan.report(q),
                )
                .await?;
        }
    }
    if args.measures(Group::Queue) {
        bench
            .graphql(
                &format!(
                    "controller's queue ({} controllers)",
                    plan.controllers.len()
                ),
                plan.queue(),
            )
            .await?;
    }

    // Last: it holds the most memory, which the server keeps, and a peak is only ever
    // measured from what the process already holds.
    if args.measures(Group::Pages) {
        bench
            .graphql(
                "page of 20 with tile counts and currentKpi",
                plan.pages(PAGE_LIVE_KPI, 20),
            )
            .await?;
    }

    if let Some(pg) = postgraphile {
        pg.stop();
    }
    server.stop()?;
    floor.close().await;
    println!("(load average {})", load_average());
    Ok(())
}

/// How long each close that wrote results took, in ms, oldest first, from the scheduler's
/// log (a kept database's earlier runs included).
async fn close_times(db: &Db) -> anyhow::Result<Vec<f64>> {
    let rows = db
        .rows(
            "SELECT started_at, finished_at FROM scheduler_run \
             WHERE step = 'close' AND outcome = 'ok' AND finished_at IS NOT NULL AND counts LIKE '%\"results\"%' \
             ORDER BY started_at",
            vec![],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let started: DateTime<Utc> = r.try_get_by_index(0).ok()?;
            let finished: DateTime<Utc> = r.try_get_by_index(1).ok()?;
            Some((finished - started).num_microseconds()? as f64 / 1000.0)
        })
        .collect())
}

/// The run's own reads of the database: the plan's ids, the maintenance commands.
struct Db {
    conn: DatabaseConnection,
    kind: Kind,
}

impl Db {
    async fn connect(kind: Kind, url: &str) -> anyhow::Result<Db> {
        Ok(Db {
            conn: sea_orm::Database::connect(url).await?,
            kind,
        })
    }

    /// Rows of a query written with `$n` placeholders.
    async fn rows(
        &self,
        sql: &str,
        values: Vec<sea_orm::Value>,
    ) -> anyhow::Result<Vec<QueryResult>> {
        let sql = match self.kind {
            Kind::Sqlite => sql.replace('$', "?"),
            Kind::Postgres => sql.to_owned(),
        };
        Ok(self
            .conn
            .query_all_raw(Statement::from_sql_and_values(
                self.conn.get_database_backend(),
                sql,
                values,
            ))
            .await?)
    }

    async fn count(&self, sql: &str, values: Vec<sea_orm::Value>) -> anyhow::Result<usize> {
        let rows = self.rows(sql, values).await?;
        let row = rows.first().context("a count")?;
        Ok(row.try_get_by_index::<i64>(0)? as usize)
    }

    async fn execute(&self, sql: &str) -> anyhow::Result<()> {
        self.conn.execute_unprepared(sql).await?;
        Ok(())
    }
}

/// A GraphQL request body.
fn body(query: &str, variables: Value) -> String {
    json!({ "query": query, "variables": variables }).to_string()
}

/// GraphQL over HTTP.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: Arc<str>,
    graphql: Arc<str>,
}

impl Api {
    fn new(base: &str) -> Api {
        Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("an HTTP client"),
            base: base.into(),
            graphql: format!("{base}/graphql").into(),
        }
    }

    /// Sends a prepared body (with the token, if any); the answer's bytes, or an error for
    /// a failed request.
    async fn send(&self, token: &str, body: String) -> anyhow::Result<Vec<u8>> {
        let mut req = self.http.post(&*self.graphql);
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        let resp = req
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        // No field of the schema is named "errors": the key appears only in a failed answer.
        if !status.is_success() || bytes.windows(8).any(|w| w == b"\"errors\"") {
            bail!("{status}: {}", String::from_utf8_lossy(&bytes));
        }
        Ok(bytes.to_vec())
    }

    /// A request that must succeed; its `data`.
    async fn data(&self, token: &str, query: &str, variables: Value) -> anyhow::Result<Value> {
        let bytes = self.send(token, body(query, variables)).await?;
        let mut answer: Value = serde_json::from_slice(&bytes)?;
        Ok(answer["data"].take())
    }

    /// The server's SQL statements so far (`/metrics` is public on the bench's server).
    async fn statements(&self) -> anyhow::Result<f64> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await?
            .text()
            .await?;
        text.lines()
            .find_map(|l| l.strip_prefix("zeroboard_db_statements_total "))
            .and_then(|v| v.trim().parse().ok())
            .context("no zeroboard_db_statements_total in /metrics")
    }
}

/// A running `zeroboard serve`.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(zeroboard: &Path, url: &str, dir: &Path) -> anyhow::Result<Server> {
        let mut child = zeroboard_cmd(zeroboard, url, dir)
            .args([
                "serve",
                "--no-scheduler",
                "--public-metrics",
                "true",
                "--bind",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting zeroboard serve")?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let mut base = None;
        for line in lines.by_ref() {
            let line = line?;
            if let Some(at) = line.find("http://") {
                let url = line[at..].split_whitespace().next().unwrap_or_default();
                base = Some(url.trim_end_matches('/').to_owned());
                break;
            }
        }
        // Keep reading, so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let Some(base) = base else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("zeroboard serve stopped before it printed its URL");
        };
        Ok(Server { child, base })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then the exit, within 30 s.
    fn stop(mut self) -> anyhow::Result<()> {
        terminate(&mut self.child, Duration::from_secs(30))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Stops a child this program started: SIGTERM, then SIGKILL after `grace`.
fn terminate(child: &mut Child, grace: Duration) -> anyhow::Result<()> {
    if child.try_wait()?.is_some() {
        return Ok(());
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    let until = Instant::now() + grace;
    while Instant::now() < until {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill()?;
    child.wait()?;
    bail!("process {} did not stop within {grace:?}", child.id())
}

/// The peak resident memory of processes since `reset_peak`, in KiB (VmHWM).
fn peak_kib(pids: &[u32]) -> Option<u64> {
    pids.iter().map(|&pid| status_kib(pid, "VmHWM")).sum()
}

/// A figure in KiB from a process's `/proc/PID/status` (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Resets the processes' peak resident memory to their current one (Linux 4.0+).
fn reset_peak(pids: &[u32]) {
    for pid in pids {
        let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    }
}

/// Who the requests act as, and on what.
struct Plan {
    /// Employees' ids and tokens for "my tiles" (and the floor).
    rotation: Vec<(i64, String)>,
    /// Controllers with submissions waiting: ids and tokens.
    controllers: Vec<(i64, String)>,
    waiting: usize,
    /// The admin employee's token, for the pages.
    chief: String,
    /// Where the pages start: after how many people of the directory, spread over it.
    starts: Vec<usize>,
    /// Our cursors for those starts (`None`: the beginning).
    cursors: Vec<Option<String>>,
    /// The reports' department (global id), its size and its manager's token.
    department: String,
    department_size: usize,
    manager: String,
}

/// The requests of a run, each over its rotation: (token, body).
impl Plan {
    /// A request about the token's own employee, for each employee of the rotation.
    fn me(&self, query: &str) -> Vec<(String, String)> {
        as_each(&self.rotation, query)
    }

    /// Pages of `n` employees from each starting point, as the admin employee.
    fn pages(&self, query: &str, n: usize) -> Vec<(String, String)> {
        self.cursors
            .iter()
            .map(|after| {
                (
                    self.chief.clone(),
                    body(query, json!({ "n": n, "after": after })),
                )
            })
            .collect()
    }

    /// A report on the department, as its manager.
    fn report(&self, query: &str) -> Vec<(String, String)> {
        vec![(
            self.manager.clone(),
            body(query, json!({ "d": self.department })),
        )]
    }

    /// Each controller's queue.
    fn queue(&self) -> Vec<(String, String)> {
        as_each(&self.controllers, QUEUE)
    }
}

/// A request without variables, with each of these tokens.
fn as_each(who: &[(i64, String)], query: &str) -> Vec<(String, String)> {
    who.iter()
        .map(|(_, token)| (token.clone(), body(query, json!({}))))
        .collect()
}

/// One person of the directory, as the API lists them.
struct Person {
    id: String,
    email: String,
    role: String,
    department: String,
    cursor: String,
}

async fn directory(api: &Api, admin: &str) -> anyhow::Result<Vec<Person>> {
    let mut people = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = api
            .data(
                admin,
                "query($after: String) { employees(first: 100, after: $after) { \
                 edges { cursor node { id email role department { id } } } \
                 pageInfo { hasNextPage endCursor } } }",
                json!({ "after": after }),
            )
            .await?;
        let page = &data["employees"];
        for edge in page["edges"].as_array().context("edges")? {
            let node = &edge["node"];
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            people.push(Person {
                id: text(&node["id"]),
                email: text(&node["email"]),
                role: text(&node["role"]),
                department: text(&node["department"]["id"]),
                cursor: text(&edge["cursor"]),
            });
        }
        if page["pageInfo"]["hasNextPage"].as_bool() != Some(true) {
            return Ok(people);
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
}

/// Every `len / n`-th of `len` positions: `n` of them, spread evenly.
fn spread(len: usize, n: usize) -> Vec<usize> {
    let n = n.min(len);
    (0..n).map(|k| k * len / n.max(1)).collect()
}

/// How many people work in a manager's department.
async fn department_size(db: &Db, manager: i64) -> anyhow::Result<usize> {
    db.count(
        "SELECT COUNT(*) FROM employee WHERE department_id = \
         (SELECT department_id FROM employee WHERE id = $1)",
        vec![manager.into()],
    )
    .await
}

/// Shapes the seeded company for the measurements (through the API, as an admin) and mints
/// the tokens; a second run on a kept database adds nothing it already has.
async fn prepare(args: &Args, api: &Api, db: &Db, admin: &str) -> anyhow::Result<Plan> {
    let people = directory(api, admin).await?;
    let ids: HashMap<String, i64> = {
        let rows = db.rows("SELECT id, email FROM employee", vec![]).await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get_by_index::<String>(1)?,
                    r.try_get_by_index::<i64>(0)?,
                ))
            })
            .collect::<anyhow::Result<_>>()?
    };
    let raw = |p: &Person| ids.get(&p.email).copied().context("an employee id");
    let mut tokens: HashMap<String, String> = HashMap::new();
    let mut token_for = async |gid: &str| -> anyhow::Result<String> {
        if let Some(t) = tokens.get(gid) {
            return Ok(t.clone());
        }
        let data = api
            .data(
                admin,
                "mutation($e: ID!) { createToken(input: { employeeId: $e, name: \"scale\" }) { secret } }",
                json!({ "e": gid }),
            )
            .await?;
        let secret = data["createToken"]["secret"]
            .as_str()
            .context("a secret")?
            .to_owned();
        tokens.insert(gid.to_owned(), secret.clone());
        Ok(secret)
    };

    // The reports' department: the first manager's, grown to the size asked for by moving
    // employees of other departments into it, under that manager.
    let manager = people
        .iter()
        .find(|p| p.role == "MANAGER")
        .context("a manager")?;
    let manager_id = raw(manager)?;
    let size = department_size(db, manager_id).await?;
    let wanted = args.department_size.min(people.len() / 2);
    for p in people
        .iter()
        .filter(|p| p.role == "EMPLOYEE" && p.department != manager.department)
        .take(wanted.saturating_sub(size))
    {
        api.data(
            admin,
            "mutation($id: ID!, $d: ID!, $m: ID!) { \
             updateEmployee(id: $id, input: { departmentId: $d, managerId: $m }) { id } }",
            json!({ "id": p.id, "d": manager.department, "m": manager.id }),
        )
        .await?;
    }
    let department_size = department_size(db, manager_id).await?;

    // Controllers with a page of submissions waiting: current work of the people they
    // control, submitted by those people.
    let mut controllers = Vec::new();
    let mut waiting = 0;
    for c in people
        .iter()
        .filter(|p| p.role == "MANAGER")
        .take(args.controllers)
    {
        let id = raw(c)?;
        let already = db
            .count(
                "SELECT COUNT(*) FROM assignment WHERE controller_id = $1 AND status = 'submitted' \
                 AND period_id IN (SELECT id FROM period WHERE status = 'open')",
                vec![id.into()],
            )
            .await?;
        let mut submitted = 0;
        if already < WAITING_PER_CONTROLLER {
            let data = api
                .data(
                    admin,
                    "query($c: ID!, $n: Int!) { assignments(first: $n, \
                     filter: { controllerId: $c, status: TODO }) { nodes { id assignee { id } } } }",
                    json!({ "c": c.id, "n": WAITING_PER_CONTROLLER - already }),
                )
                .await?;
            for node in data["assignments"]["nodes"].as_array().context("nodes")? {
                let assignee = node["assignee"]["id"].as_str().context("an assignee")?;
                let token = token_for(assignee).await?;
                api.data(
                    &token,
                    "mutation($id: ID!) { submitAssignment(id: $id) { status } }",
                    json!({ "id": node["id"] }),
                )
                .await?;
                submitted += 1;
            }
        }
        if already + submitted > 0 {
            waiting += already + submitted;
            controllers.push((id, token_for(&c.id).await?));
        }
    }

    // The rotation: employees spread over the whole directory.
    let staff: Vec<&Person> = people.iter().filter(|p| p.role == "EMPLOYEE").collect();
    let mut rotation = Vec::new();
    for k in spread(staff.len(), args.rotation) {
        rotation.push((raw(staff[k])?, token_for(&staff[k].id).await?));
    }
    let chief = people
        .iter()
        .find(|p| p.role == "ADMIN")
        .context("an admin employee")?;
    let chief = token_for(&chief.id).await?;
    let manager_token = token_for(&manager.id).await?;
    // Pages start anywhere a full page of 100 still fits.
    let starts = people.len().saturating_sub(100).max(1);
    let starts = spread(starts, args.rotation);
    let cursors = starts
        .iter()
        .map(|&k| (k > 0).then(|| people[k - 1].cursor.clone()))
        .collect();
    Ok(Plan {
        rotation,
        controllers,
        waiting,
        chief,
        starts,
        cursors,
        department: manager.department.clone(),
        department_size,
        manager: manager_token,
    })
}

/// A request of the load: the i-th of the run.
type Call =
    Arc<dyn Fn(usize) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> + Send + Sync>;

/// A run's figures; latencies in milliseconds.
struct Stats {
    rps: f64,
    p50: f64,
    p99: f64,
    /// CPU time per request of the processes involved, as a line to print.
    cpu: String,
}

/// Runs `call` from `concurrency` tasks for the warm-up, then for the duration.
async fn load(
    call: Call,
    concurrency: usize,
    duration: Duration,
    cpu: impl Fn() -> Cpu,
) -> anyhow::Result<Stats> {
    let next = Arc::new(AtomicUsize::new(0));
    let warm_up = (duration / 5).min(Duration::from_secs(3));
    phase(&call, &next, concurrency, warm_up).await?;
    let before = cpu();
    let (mut latencies, elapsed) = phase(&call, &next, concurrency, duration).await?;
    let cpu = cpu().per_request(&before, latencies.len() as f64);
    latencies.sort_unstable();
    let at = |q: f64| {
        let rank = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
        latencies[rank - 1].as_secs_f64() * 1000.0
    };
    Ok(Stats {
        rps: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
        cpu,
    })
}

async fn phase(
    call: &Call,
    next: &Arc<AtomicUsize>,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let started = Instant::now();
    let until = started + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (call, next) = (call.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let t = Instant::now();
                    call(i).await?;
                    latencies.push(t.elapsed());
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let elapsed = started.elapsed();
    ensure!(!all.is_empty(), "no request finished");
    Ok((all, elapsed))
}

struct Bench<'a> {
    args: &'a Args,
    api: &'a Api,
    server: &'a Server,
    /// The PostgreSQL database's name, whose server processes' CPU time is counted.
    pg_database: Option<String>,
}

/// CPU time (user and system) in clock ticks from a `/proc/.../stat` file.
fn stat_ticks(path: &Path) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name is in parentheses and may hold spaces; the fields follow it.
    let (head, tail) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_owned();
    let fields: Vec<&str> = tail.split_whitespace().collect();
    // utime and stime are the 14th and 15th fields; `tail` starts at the 3rd.
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((comm, ticks))
}

/// CPU time so far, in clock ticks: the server's, its SQLite worker threads' (part of the
/// server's), this process's, and the PostgreSQL processes serving `pg_database`.
#[derive(Clone, Copy, Default)]
struct Cpu {
    server: u64,
    sqlite: u64,
    client: u64,
    postgres: u64,
}

impl Cpu {
    fn now(server: u32, pg_database: Option<&str>) -> Cpu {
        let mut cpu = Cpu {
            server: stat_ticks(Path::new(&format!("/proc/{server}/stat"))).map_or(0, |s| s.1),
            client: stat_ticks(Path::new("/proc/self/stat")).map_or(0, |s| s.1),
            ..Cpu::default()
        };
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{server}/task")) {
            for task in tasks.flatten() {
                if let Some((comm, ticks)) = stat_ticks(&task.path().join("stat"))
                    && comm.starts_with("sqlx-sqlite")
                {
                    cpu.sqlite += ticks;
                }
            }
        }
        if let (Some(db), Ok(procs)) = (pg_database, std::fs::read_dir("/proc")) {
            for p in procs.flatten() {
                let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
                let cmdline = String::from_utf8_lossy(&cmdline);
                // A backend names itself "postgres: [CLUSTER: ]USER DATABASE HOST ...".
                if cmdline.starts_with("postgres: ")
                    && cmdline.split_whitespace().any(|w| w == db)
                    && let Some((_, ticks)) = stat_ticks(&p.path().join("stat"))
                {
                    cpu.postgres += ticks;
                }
            }
        }
        cpu
    }

    /// CPU milliseconds per request since `before`.
    fn per_request(&self, before: &Cpu, requests: f64) -> String {
        if self.server == 0 && self.client == 0 {
            return String::new();
        }
        let hz = 100.0; // USER_HZ on Linux
        let ms = |a: u64, b: u64| (a.saturating_sub(b)) as f64 * 1000.0 / hz / requests;
        let mut out = format!(
            "  CPU ms per request: server {:.3}",
            ms(self.server, before.server)
        );
        if self.sqlite > before.sqlite {
            out += &format!(" (SQLite threads {:.3})", ms(self.sqlite, before.sqlite));
        }
        if self.postgres > before.postgres {
            out += &format!(", PostgreSQL {:.3}", ms(self.postgres, before.postgres));
        }
        out + &format!(", client {:.3}", ms(self.client, before.client))
    }
}

impl Bench<'_> {
    fn cpu(&self) -> Cpu {
        Cpu::now(self.server.pid(), self.pg_database.as_deref())
    }

    fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.args.duration)
    }

    /// One GraphQL request over its rotation of (token, body): statements per request
    /// from a sequential sample, then the load, with the server's peak memory during it.
    async fn graphql(&self, name: &str, requests: Vec<(String, String)>) -> anyhow::Result<Stats> {
        let requests = Arc::new(requests);
        let sample = self.args.sample;
        // Once first, so each token's once-a-minute `last_used_at` write is not counted.
        for i in 0..sample {
            let (token, body) = &requests[i % requests.len()];
            self.api.send(token, body.clone()).await?;
        }
        let before = self.api.statements().await?;
        for i in 0..sample {
            let (token, body) = &requests[i % requests.len()];
            self.api.send(token, body.clone()).await?;
        }
        let statements = (self.api.statements().await? - before) / sample as f64;
        let api = self.api.clone();
        let call: Call = Arc::new(move |i| {
            let (api, requests) = (api.clone(), requests.clone());
            Box::pin(async move {
                let (token, body) = &requests[i % requests.len()];
                api.send(token, body.clone()).await.map(drop)
            })
        });
        let pids = [self.server.pid()];
        reset_peak(&pids);
        let stats = load(call, self.args.concurrency(), self.duration(), || {
            self.cpu()
        })
        .await
        .with_context(|| format!("running {name}"))?;
        row(name, &stats, &format!("{statements:.1}"), peak_kib(&pids));
        Ok(stats)
    }

    /// The floor statement, over the same rotation of employees.
    async fn floor(&self, floor: &Floor, plan: &Plan) -> anyhow::Result<Stats> {
        let ids: Arc<Vec<i64>> = Arc::new(plan.rotation.iter().map(|(id, _)| *id).collect());
        let floor = Arc::new(floor.clone());
        let call: Call = Arc::new(move |i| {
            let (floor, ids) = (floor.clone(), ids.clone());
            Box::pin(async move { floor.tiles(ids[i % ids.len()], Utc::now()).await.map(drop) })
        });
        let stats = load(call, self.args.concurrency(), self.duration(), || {
            self.cpu()
        })
        .await?;
        row("floor: one prepared SQL statement", &stats, "1", None);
        Ok(stats)
    }

    async fn postgraphile(&self, pg: &PostGraphile, n: usize) -> anyhow::Result<Stats> {
        let bodies: Arc<Vec<String>> = Arc::new(
            pg.cursors
                .iter()
                .map(|after| {
                    body(
                        POSTGRAPHILE_PAGE,
                        json!({ "n": n, "after": after, "period": pg.period }),
                    )
                })
                .collect(),
        );
        let api = pg.api.clone();
        let call: Call = Arc::new(move |i| {
            let (api, bodies) = (api.clone(), bodies.clone());
            Box::pin(async move {
                api.send("", bodies[i % bodies.len()].clone())
                    .await
                    .map(drop)
            })
        });
        reset_peak(&pg.pids);
        let stats = load(call, self.args.concurrency(), self.duration(), Cpu::default).await?;
        row(
            &format!("PostGraphile: page of {n}, duties by status"),
            &stats,
            "-",
            peak_kib(&pg.pids),
        );
        Ok(stats)
    }
}

fn row(name: &str, s: &Stats, statements: &str, peak: Option<u64>) {
    println!(
        "{name:<50} {:>8.0} {:>9.2} {:>9.2} {statements:>8} {:>10}",
        s.rps,
        s.p50,
        s.p99,
        peak.map_or("-".into(), |kib| format!("{:.1}", kib as f64 / 1024.0))
    );
    if !s.cpu.is_empty() {
        println!("{}", s.cpu);
    }
}

/// The soak: a mix of the requests (tiles, pages of 5, 20 and 100, the reports, the queue,
/// each in turn, each over its rotation) from `concurrency` tasks for `minutes`, printing
/// every 30 s the requests served and the server's resident memory (VmRSS) and its peak.
async fn soak(
    api: &Api,
    server: &Server,
    plan: &Plan,
    concurrency: usize,
    minutes: f64,
) -> anyhow::Result<()> {
    let mut mix = vec![plan.me(TILES)];
    mix.extend([5, 20, 100].map(|n| plan.pages(PAGE, n)));
    mix.extend(REPORTS.map(|(_, q)| plan.report(q)));
    mix.push(plan.queue());
    let mix = Arc::new(mix);
    let served = Arc::new(AtomicUsize::new(0));
    let call: Call = {
        let (api, served) = (api.clone(), served.clone());
        Arc::new(move |i| {
            let (api, mix, served) = (api.clone(), mix.clone(), served.clone());
            Box::pin(async move {
                let requests = &mix[i % mix.len()];
                let (token, body) = &requests[i / mix.len() % requests.len()];
                api.send(token, body.clone()).await?;
                served.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })
        })
    };
    let pid = server.pid();
    let mib = |field| status_kib(pid, field).map_or(f64::NAN, |kib| kib as f64 / 1024.0);
    println!(
        "\nsoak: {minutes} min at concurrency {concurrency}, requests in turn: tiles, pages of 5/20/100, 3 reports, queue"
    );
    println!(
        "{:>6} {:>10} {:>8} {:>9} {:>9}",
        "min", "requests", "req/s", "RSS MiB", "peak MiB"
    );
    let started = Instant::now();
    let mut run = tokio::spawn(load(
        call,
        concurrency,
        Duration::from_secs_f64(minutes * 60.0),
        Cpu::default,
    ));
    let mut last = (Duration::ZERO, 0);
    let stats = loop {
        let tick = tokio::time::sleep(Duration::from_secs(30));
        tokio::select! {
            stats = &mut run => break stats??,
            () = tick => {
                let (at, n) = (started.elapsed(), served.load(Ordering::Relaxed));
                println!(
                    "{:>6.1} {n:>10} {:>8.0} {:>9.1} {:>9.1}",
                    at.as_secs_f64() / 60.0,
                    (n - last.1) as f64 / (at - last.0).as_secs_f64(),
                    mib("VmRSS"),
                    mib("VmHWM")
                );
                last = (at, n);
            }
        }
    };
    println!(
        "mix over the run (after its warm-up): {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms; RSS at the end {:.1} MiB",
        stats.rps,
        stats.p50,
        stats.p99,
        mib("VmRSS")
    );
    Ok(())
}

/// The tile counts of one employee, as the floor statement or the API gives them.
#[derive(Debug, PartialEq, Eq)]
struct Tiles {
    to_accept: i64,
    duties: [i64; 5],
    additional: [i64; 5],
    knowledge_base_new: i64,
    proposals_to_vote: i64,
    average_kpi_x100: Option<i64>,
}

/// The floor's connection pool: as many connections as the server's.
#[derive(Clone)]
enum Floor {
    Postgres(sqlx::PgPool, &'static str),
    Sqlite(sqlx::SqlitePool, &'static str),
}

impl Floor {
    async fn connect(kind: Kind, url: &str) -> anyhow::Result<Floor> {
        Ok(match kind {
            Kind::Postgres => Floor::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(16)
                    .connect(url)
                    .await?,
                FLOOR_SQL,
            ),
            Kind::Sqlite => {
                use std::str::FromStr;
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(30));
                Floor::Sqlite(
                    sqlx::sqlite::SqlitePoolOptions::new()
                        .max_connections(8)
                        .connect_with(options)
                        .await?,
                    // Made once per run and kept: sqlx takes only 'static SQL text.
                    FLOOR_SQL.replace("$1", "?1").replace("$2", "?2").leak(),
                )
            }
        })
    }

    async fn tiles(&self, employee: i64, now: DateTime<Utc>) -> anyhow::Result<Tiles> {
        match self {
            Floor::Postgres(pool, sql) => {
                let row = sqlx::query(*sql)
                    .bind(employee)
                    .bind(now)
                    .fetch_one(pool)
                    .await?;
                Self::decode(|i| row.try_get::<Option<i64>, _>(i))
            }
            Floor::Sqlite(pool, sql) => {
                let row = sqlx::query(*sql)
                    .bind(employee)
                    .bind(now)
                    .fetch_one(pool)
                    .await?;
                Self::decode(|i| row.try_get::<Option<i64>, _>(i))
            }
        }
    }

    fn decode(get: impl Fn(usize) -> Result<Option<i64>, sqlx::Error>) -> anyhow::Result<Tiles> {
        let n = |i| -> anyhow::Result<i64> { get(i)?.context("a count") };
        Ok(Tiles {
            to_accept: n(0)?,
            duties: [n(1)?, n(2)?, n(3)?, n(4)?, n(5)?],
            additional: [n(6)?, n(7)?, n(8)?, n(9)?, n(10)?],
            knowledge_base_new: n(11)?,
            proposals_to_vote: n(12)?,
            average_kpi_x100: get(13)?,
        })
    }

    async fn close(self) {
        match self {
            Floor::Postgres(pool, _) => pool.close().await,
            Floor::Sqlite(pool, _) => pool.close().await,
        }
    }
}

/// The API's tiles of the token's employee.
async fn api_tiles(api: &Api, token: &str) -> anyhow::Result<Tiles> {
    let data = api.data(token, TILES_COUNTS, json!({})).await?;
    let s = &data["me"]["summary"];
    let n = |v: &Value| v.as_i64().context("a count");
    let work = |tile: &Value| -> anyhow::Result<[i64; 5]> {
        Ok([
            n(&tile["total"])?,
            n(&tile["done"])?,
            n(&tile["awaitingAcceptance"])?,
            n(&tile["remaining"])?,
            n(&tile["overdue"])?,
        ])
    };
    Ok(Tiles {
        to_accept: n(&s["toAccept"]["count"])?,
        duties: work(&s["duties"])?,
        additional: work(&s["additional"])?,
        knowledge_base_new: n(&s["knowledgeBaseNew"]["count"])?,
        proposals_to_vote: n(&s["proposalsToVote"]["count"])?,
        average_kpi_x100: s["averageKpi"].as_f64().map(|k| (k * 100.0).round() as i64),
    })
}

/// Checks the floor against the API for some of the rotation and the controllers; how many.
async fn check_floor(api: &Api, floor: &Floor, plan: &Plan) -> anyhow::Result<usize> {
    let mut checked = 0;
    for (id, token) in plan
        .rotation
        .iter()
        .take(8)
        .chain(plan.controllers.iter().take(4))
    {
        let now = Utc::now();
        let theirs = api_tiles(api, token).await?;
        let ours = floor.tiles(*id, now).await?;
        ensure!(
            theirs == ours,
            "the floor statement disagrees with the API for employee {id}:\n  API   {theirs:?}\n  floor {ours:?}"
        );
        checked += 1;
    }
    Ok(checked)
}

/// PostGraphile 4 serving the run's PostgreSQL database, one worker per core.
struct PostGraphile {
    child: Child,
    api: Api,
    pids: Vec<u32>,
    /// The current period's id, which its page takes as a variable.
    period: String,
    /// Where its pages start: the same employees as ours.
    cursors: Vec<Option<String>>,
}

impl PostGraphile {
    async fn start(url: &str, db: &Db, plan: &Plan) -> anyhow::Result<PostGraphile> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/postgraphile");
        if !dir.join("node_modules").exists() {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .status()
                .context("running npm ci (is npm installed?)")?;
            ensure!(status.success(), "npm ci failed in {}", dir.display());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut child = Command::new("node")
            .arg("serve.js")
            .current_dir(&dir)
            .env("DATABASE_URL", url)
            .env("PORT", port.to_string())
            .env("POOL_SIZE", "16")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting node (is it installed?)")?;
        let mut pids = vec![child.id()];
        let mut ready = false;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        for line in lines.by_ref() {
            let line = line?;
            if let Some(pid) = line.strip_prefix("worker ") {
                pids.push(pid.trim().parse()?);
            }
            if line.starts_with("ready ") {
                ready = true;
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        if !ready {
            let _ = terminate(&mut child, Duration::from_secs(5));
            bail!("PostGraphile stopped before it was ready");
        }
        let api = Api::new(&format!("http://127.0.0.1:{port}"));
        let period = db
            .rows(
                "SELECT id FROM period WHERE starts_at <= $1 ORDER BY starts_on DESC LIMIT 1",
                vec![Utc::now().into()],
            )
            .await?
            .first()
            .context("a current period")?
            .try_get_by_index::<i64>(0)?
            .to_string();
        let mut pg = PostGraphile {
            child,
            api,
            pids,
            period,
            cursors: Vec::new(),
        };
        println!(
            "PostGraphile 4 with pg-aggregates: {} worker processes, 16 connections in all",
            pg.pids.len() - 1
        );
        let all = pg.directory().await?;
        pg.cursors = plan
            .starts
            .iter()
            .map(|&k| all.get(k).cloned().flatten())
            .collect();
        Ok(pg)
    }

    /// Its cursor after each employee, in id order (as ours), with `None` for the start.
    async fn directory(&self) -> anyhow::Result<Vec<Option<String>>> {
        let mut cursors = vec![None];
        let mut after: Option<String> = None;
        loop {
            let data = self
                .api
                .data(
                    "",
                    "query($after: Cursor) { allEmployees(first: 100, after: $after, orderBy: PRIMARY_KEY_ASC) { \
                     edges { cursor } pageInfo { hasNextPage endCursor } } }",
                    json!({ "after": after }),
                )
                .await?;
            let page = &data["allEmployees"];
            for edge in page["edges"].as_array().context("edges")? {
                cursors.push(edge["cursor"].as_str().map(str::to_owned));
            }
            if page["pageInfo"]["hasNextPage"].as_bool() != Some(true) {
                return Ok(cursors);
            }
            after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
    }

    /// Takes the same starting points as ours, and checks that its first page of 20 says
    /// what ours says.
    async fn check(&self, api: &Api, plan: &Plan) -> anyhow::Result<()> {
        let ours = api
            .data(&plan.chief, PAGE_DUTIES, json!({ "n": 20, "after": null }))
            .await?;
        let theirs = self
            .api
            .data(
                "",
                POSTGRAPHILE_PAGE,
                json!({ "n": 20, "after": null, "period": self.period }),
            )
            .await?;
        let ours = ours["employees"]["edges"].as_array().context("edges")?;
        let theirs = theirs["allEmployees"]["edges"]
            .as_array()
            .context("edges")?;
        ensure!(ours.len() == theirs.len(), "pages of different lengths");
        for (o, t) in ours.iter().zip(theirs) {
            let (o, t) = (&o["node"], &t["node"]);
            let mut by_status: HashMap<&str, i64> = HashMap::new();
            for group in t["assignmentsByAssigneeId"]["groupedAggregates"]
                .as_array()
                .context("groups")?
            {
                let status = group["keys"][0].as_str().unwrap_or_default();
                let n = group["distinctCount"]["id"]
                    .as_str()
                    .and_then(|n| n.parse().ok())
                    .context("a count")?;
                by_status.insert(status, n);
            }
            let count = |statuses: &[&str]| {
                statuses
                    .iter()
                    .map(|s| by_status.get(s).unwrap_or(&0))
                    .sum::<i64>()
            };
            let duties = &o["summary"]["duties"];
            let same = o["name"] == t["name"]
                && o["department"]["name"] == t["departmentByDepartmentId"]["name"]
                && o["manager"]["name"] == t["employeeByManagerId"]["name"]
                && duties["total"].as_i64()
                    == Some(count(&[
                        "todo",
                        "in_progress",
                        "submitted",
                        "accepted",
                        "returned",
                        "missed",
                    ]))
                && duties["done"].as_i64() == Some(count(&["accepted"]))
                && duties["awaitingAcceptance"].as_i64() == Some(count(&["submitted"]))
                && duties["remaining"].as_i64()
                    == Some(count(&["todo", "in_progress", "returned"]));
            ensure!(
                same,
                "PostGraphile's page differs from ours:\n  ours   {o}\n  theirs {t}"
            );
        }
        Ok(())
    }

    fn stop(mut self) {
        let _ = terminate(&mut self.child, Duration::from_secs(10));
    }
}

impl Drop for PostGraphile {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = terminate(&mut self.child, Duration::from_secs(10));
        }
    }
}
