//! The real binary: demo idempotence, tokens on stdout, bad settings, `serve --demo`, schema drift.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use sea_orm::{EntityTrait, PaginatorTrait, QueryOrder};

use super::*;
use crate::on_both;

pub(crate) fn zeroboard(url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zeroboard"));
    cmd.env("ZEROBOARD_DATABASE_URL", url)
        .env_remove("ZEROBOARD_CONFIG")
        .current_dir(std::env::temp_dir());
    cmd
}

async fn counts(db: &domain::db::DatabaseConnection) -> [u64; 5] {
    [
        entity::employee::Entity::find().count(db).await.unwrap(),
        entity::assignment::Entity::find().count(db).await.unwrap(),
        entity::assignment_event::Entity::find()
            .count(db)
            .await
            .unwrap(),
        entity::article::Entity::find().count(db).await.unwrap(),
        entity::vote::Entity::find().count(db).await.unwrap(),
    ]
}

on_both! {
    async fn demo_twice_changes_nothing_and_tokens_print_alone(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        let out = zeroboard(&test_db.url).arg("demo").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let db = test_db.connect().await;
        let first = counts(&db).await;
        assert!(first[0] >= 20 && first[1] > 0 && first[3] > 0 && first[4] > 0, "{first:?}");
        let out = zeroboard(&test_db.url).arg("demo").output().unwrap();
        assert!(out.status.success());
        assert_eq!(counts(&db).await, first, "a second demo changed something");

        let out = zeroboard(&test_db.url).args(["token", "create", "--employee", "PAVEL.Lebedev@zeroboard.demo"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let token = String::from_utf8(out.stdout).unwrap();
        assert!(token.starts_with("zb_") && token.trim_end().lines().count() == 1 && !token.trim().contains(' '), "{token:?}");
        let out = zeroboard(&test_db.url).args(["token", "create", "--service", "payroll", "--scope", "payroll:read"]).output().unwrap();
        assert!(out.status.success());
        let out = zeroboard(&test_db.url).args(["token", "create", "--service", "x", "--scope", "root"]).output().unwrap();
        assert!(!out.status.success() && out.stdout.is_empty());
        let out = zeroboard(&test_db.url).args(["token", "create", "--employee", "nobody@nowhere"]).output().unwrap();
        assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("nobody@nowhere"));
    }
}

#[test]
fn a_bad_setting_stops_with_one_line_naming_it() {
    for (var, value, setting) in [
        ("ZEROBOARD_TIMEZONE", "Mars/Olympus", "timezone"),
        ("ZEROBOARD_CADENCE", "fortnightly", "cadence"),
        ("ZEROBOARD_BIND", "nowhere", "bind"),
        ("ZEROBOARD_SCHEDULER_CRON", "* * * * *", "scheduler_cron"),
    ] {
        let out = zeroboard("sqlite::memory:")
            .env(var, value)
            .arg("migrate")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&format!("`{setting}`")), "{stderr}");
    }
}

#[test]
fn schema_graphql_is_what_the_code_generates() {
    let out = zeroboard("sqlite::memory:").arg("schema").output().unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    let checked_in = include_str!("../../schema.graphql");
    assert_eq!(printed, api::sdl());
    assert!(
        printed == checked_in,
        "schema.graphql is stale: run `cargo run -q -- schema > schema.graphql` and commit it"
    );
}

/// A running `serve --demo`: its URL, the printed tokens (role, secret), and its log lines.
struct Served {
    child: std::process::Child,
    url: String,
    tokens: Vec<(String, String)>,
    links: Vec<(String, String)>,
    log: std::io::Lines<BufReader<std::process::ChildStderr>>,
}

impl Served {
    fn start(db_url: &str) -> Served {
        let mut child = zeroboard(db_url)
            .args(["serve", "--demo", "--bind", "127.0.0.1:0"])
            .env("ZEROBOARD_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut url = None;
        let mut tokens = Vec::new();
        let mut links = Vec::new();
        // The payroll token comes last (a seeded company has no demo people, only it).
        while tokens
            .last()
            .is_none_or(|(role, _): &(String, String)| role != "payroll")
        {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some(at) = line.find("http://").filter(|_| url.is_none()) {
                url.get_or_insert_with(|| line[at..].split_whitespace().next().unwrap().to_owned());
            }
            // A sign-in link per demo person comes before the tokens.
            if let Some(link) = line.split_whitespace().find(|w| w.contains("/login/")) {
                links.push((
                    line.split_whitespace().next().unwrap().to_owned(),
                    link.to_owned(),
                ));
            }
            if let Some(t) = line.split_whitespace().find(|w| w.starts_with("zb_")) {
                tokens.push((
                    line.split_whitespace().next().unwrap().to_owned(),
                    t.to_owned(),
                ));
            }
        }
        // Whatever stdout says later is read too, so the server never writes to a closed pipe.
        std::thread::spawn(move || for _ in lines {});
        let log = BufReader::new(child.stderr.take().unwrap()).lines();
        Served {
            child,
            url: url.expect("a URL"),
            tokens,
            links,
            log,
        }
    }

    /// Waits for the log line that follows the start-up tick.
    fn wait_for_scheduler(&mut self) {
        for line in self.log.by_ref() {
            if line.unwrap().contains("scheduler started") {
                return;
            }
        }
        panic!("the server stopped before its scheduler started");
    }

    /// SIGTERM, and the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        // Drain the log so the server never blocks on a full pipe while stopping.
        for _ in self.log.by_ref() {}
        self.child.wait().unwrap()
    }
}

on_both! {
    async fn serve_demo_prints_the_url_and_one_token_per_role(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        let mut served = Served::start(&test_db.url);
        let url = served.url.clone();
        let tokens = served.tokens.clone();
        let roles: Vec<&str> = tokens.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(roles, ["employee", "manager", "admin", "payroll"]);
        let client = reqwest::Client::new();
        let page = client.get(format!("{url}graphiql")).send().await.unwrap().text().await.unwrap();
        assert!(page.to_lowercase().contains("graphiql"));
        let board = client.get(&url).send().await.unwrap().text().await.unwrap();
        assert!(board.contains("<title>Zeroboard</title>"), "{board}");
        // A sign-in link per demo person, each signing that person in.
        let roles: Vec<&str> = served.links.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(roles, ["employee", "manager", "admin", "payroll"]);
        let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        for (role, link) in &served.links {
            assert!(link.starts_with(&format!("{url}login/")), "{link}");
            let resp = no_redirects.get(link).send().await.unwrap();
            assert_eq!(resp.status(), 303, "{role}");
            let cookie = resp.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
            let body: serde_json::Value = client
                .post(format!("{url}graphql"))
                .header("cookie", cookie)
                .header("accept", "application/graphql-response+json")
                .json(&serde_json::json!({ "query": "{ me { role payroll } }" }))
                .send().await.unwrap().json().await.unwrap();
            // The payroll clerk is an employee with the payroll grant.
            let (shown, payroll) = if role == "payroll" { ("employee", true) } else { (role.as_str(), false) };
            assert_eq!(body["data"]["me"]["role"].as_str().map(str::to_lowercase).as_deref(), Some(shown), "{body}");
            assert_eq!(body["data"]["me"]["payroll"], payroll, "{role}: {body}");
        }
        let graphql = format!("{}graphql", url);
        for (role, token) in &tokens[..3] {
            let body: serde_json::Value = client
                .post(&graphql)
                .bearer_auth(token)
                .json(&serde_json::json!({ "query": "{ me { role } }" }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(body["data"]["me"]["role"].as_str().map(str::to_lowercase).as_deref(), Some(role.as_str()), "{body}");
        }
        // The server counts its SQL statements, so a request's cost can be read from outside.
        let statements = async || {
            let text = client.get(format!("{url}metrics")).bearer_auth(&tokens[2].1).send().await.unwrap().text().await.unwrap();
            let value = text.lines().find_map(|l| l.strip_prefix("zeroboard_db_statements_total "));
            value.and_then(|v| v.trim().parse::<f64>().ok()).expect("zeroboard_db_statements_total")
        };
        let before = statements().await;
        client.post(&graphql).bearer_auth(&tokens[0].1).json(&serde_json::json!({ "query": "{ me { summary { duties { total } } } }" })).send().await.unwrap();
        assert!(statements().await > before, "the statements of a request are counted");
        served.wait_for_scheduler();
        assert_eq!(client.get(format!("{url}readyz")).send().await.unwrap().status(), 200);
        assert!(served.stop().success(), "a clean exit on SIGTERM");

        if kind == Kind::Sqlite {
            // Everything is in the database file: copying it alone copies the data.
            let file = test_db.url.trim_start_matches("sqlite://").split('?').next().unwrap().to_owned();
            let wal = std::fs::metadata(format!("{file}-wal")).map(|m| m.len()).unwrap_or(0);
            assert_eq!(wal, 0, "the write-ahead log was checkpointed");
            let dir = tempfile::tempdir().unwrap();
            let copy = dir.path().join("copy.db");
            std::fs::copy(&file, &copy).unwrap();
            let copied = domain::db::connect(&format!("sqlite://{}?mode=rwc", copy.display())).await.unwrap();
            assert!(counts(&copied).await[0] >= 20);
        }

        // A restart prints the same tokens and mints none.
        let db = test_db.connect().await;
        let minted = entity::api_token::Entity::find().count(&db).await.unwrap();
        assert_eq!(minted, 4);
        let served = Served::start(&test_db.url);
        assert_eq!(served.tokens, tokens, "the same demo tokens");
        assert_eq!(entity::api_token::Entity::find().count(&db).await.unwrap(), minted);
        // A revoked one is replaced, the others kept.
        assert!(served.stop().success());
        let revoked = domain::tokens::usable_token(&db, &tokens[0].1, chrono::Utc::now()).await.unwrap().unwrap();
        domain::tokens::revoke_token(&db, &domain::auth::Principal::System, revoked.id, chrono::Utc::now()).await.unwrap();
        let served = Served::start(&test_db.url);
        assert_ne!(served.tokens[0], tokens[0]);
        assert_eq!(served.tokens[1..], tokens[1..]);
        assert!(served.stop().success());
    }
}

/// The stderr of a run, which must be one line.
fn one_line(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

on_both! {
    async fn a_future_tick_is_refused_unless_allowed_and_a_dry_run_writes_nothing(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        let out = zeroboard(&test_db.url).arg("demo").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let db = test_db.connect().await;
        let future = (chrono::Utc::now() + chrono::Duration::days(40)).to_rfc3339();
        let periods = || async { entity::period::Entity::find().all(&db).await.unwrap() };
        let runs = || async { entity::scheduler_run::Entity::find().count(&db).await.unwrap() };
        let (before, runs_before) = (periods().await, runs().await);

        let out = zeroboard(&test_db.url).args(["tick", "--now", &future]).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(one_line(&out).contains("--allow-future"));
        let out = zeroboard(&test_db.url).args(["tick", "--dry-run", "--now", &future, "--allow-future"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let printed = String::from_utf8(out.stdout).unwrap();
        assert!(printed.starts_with("dry run: nothing was written") && printed.contains("closed:    20"), "{printed}");
        assert_eq!(periods().await, before, "no period opened or closed");
        assert_eq!(runs().await, runs_before, "not even logged");

        // The tiles still answer: the period under way is still open.
        let today = chrono::Utc::now();
        assert!(periods().await.iter().any(|p| p.status == entity::enums::PeriodStatus::Open && p.starts_at <= today && today < p.ends_at));

        let out = zeroboard(&test_db.url).args(["tick", "--now", &future, "--allow-future"]).output().unwrap();
        assert!(out.status.success());
        assert!(periods().await.len() > before.len(), "allowed, it does tick");
    }
}

on_both! {
    async fn a_disagreeing_calendar_stops_with_one_line_and_company_set_changes_it(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        let run = |env: &[(&str, &str)], args: &[&str]| {
            let mut cmd = zeroboard(&test_db.url);
            for (k, v) in env {
                cmd.env(k, v);
            }
            cmd.args(args).output().unwrap()
        };
        let out = run(&[], &["tick", "--now", "2026-11-20T10:00:00Z"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        for (var, value, setting) in [("ZEROBOARD_TIMEZONE", "Asia/Tokyo", "timezone"), ("ZEROBOARD_CADENCE", "monthly", "cadence")] {
            for command in [&["tick"][..], &["demo"], &["scheduler"], &["serve", "--bind", "127.0.0.1:0"], &["seed"]] {
                let out = run(&[(var, value)], command);
                assert_eq!(out.status.code(), Some(2), "{command:?}");
                let line = one_line(&out);
                assert!(line.contains(&format!("`{setting}`")) && line.contains("company set"), "{line}");
            }
        }
        // Unset settings take the database's; the same ones given explicitly are fine.
        assert!(run(&[("ZEROBOARD_TIMEZONE", "UTC")], &["tick", "--now", "2026-11-20T11:00:00Z"]).status.success());
        let out = run(&[], &["company", "show"]);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "timezone UTC\ncadence  semi-monthly\n");

        let out = run(&[], &["company", "set"]);
        assert_eq!(out.status.code(), Some(2), "nothing to set");
        let out = run(&[], &["company", "set", "--timezone", "Asia/Tokyo"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("2026-12-01 to 2026-12-15, from 2026-12-01T00:00:00+00:00 to 2026-12-15T15:00:00+00:00"), "{said}");
        assert_eq!(String::from_utf8_lossy(&run(&[], &["company", "show"]).stdout), "timezone Asia/Tokyo\ncadence  semi-monthly\n", "the cadence was kept");
        let out = run(&[("ZEROBOARD_TIMEZONE", "UTC")], &["tick"]);
        assert_eq!(out.status.code(), Some(2), "the old zone is refused now");
        let out = run(&[], &["tick", "--now", "2026-12-01T00:00:00Z", "--allow-future"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let db = test_db.connect().await;
        let stored = entity::period::Entity::find().order_by_asc(entity::period::Column::StartsOn).all(&db).await.unwrap();
        assert_eq!(stored.len(), 2);
        assert_eq!(stored[1].starts_at, stored[0].ends_at, "no gap, no overlap");
        assert_eq!(stored[1].ends_at.to_rfc3339(), "2026-12-15T15:00:00+00:00");
    }
}

on_both! {
    async fn tokens_expire_list_and_revoke(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        assert!(zeroboard(&test_db.url).arg("demo").output().unwrap().status.success());
        let db = test_db.connect().await;
        let create = |args: &[&str]| {
            let out = zeroboard(&test_db.url).args(["token", "create"]).args(args).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        };
        let now = chrono::Utc::now();
        let service = create(&["--service", "payroll", "--scope", "payroll:read"]);
        let employee = create(&["--employee", "pavel.lebedev@zeroboard.demo", "--expires-in-days", "7", "--name", "laptop"]);
        let forever = create(&["--service", "backup", "--scope", "admin", "--no-expiry"]);
        let db = &db;
        let token = |secret: &str| {
            let secret = secret.to_owned();
            async move { domain::tokens::usable_token(db, &secret, now).await.unwrap().unwrap() }
        };
        let service_row = token(&service).await;
        let days = |row: &entity::api_token::Model| row.expires_at.map(|at| (at - row.created_at).num_days());
        assert_eq!(days(&service_row), Some(domain::tokens::DEFAULT_SERVICE_TOKEN_DAYS), "service tokens expire by default");
        let employee_row = token(&employee).await;
        assert_eq!(days(&employee_row), Some(7));
        assert_eq!(days(&token(&forever).await), None);
        // A week later the employee's token no longer authenticates.
        let later = now + chrono::Duration::days(8);
        assert!(matches!(domain::auth::authenticate(db, &utc_company(), &employee, later).await, Err(domain::DomainError::Unauthenticated)));

        let out = zeroboard(&test_db.url).args(["token", "revoke", &service_row.id.to_string()]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(matches!(domain::auth::authenticate(db, &utc_company(), &service, now).await, Err(domain::DomainError::Unauthenticated)));
        let out = zeroboard(&test_db.url).args(["token", "revoke", "999999"]).output().unwrap();
        assert!(!out.status.success() && one_line(&out).contains("no token with id 999999"));

        let out = zeroboard(&test_db.url).args(["token", "list"]).output().unwrap();
        let listed = String::from_utf8(out.stdout).unwrap();
        assert!(!listed.contains("zb_"), "never a secret: {listed}");
        let line_of = |id: i64| listed.lines().find(|l| l.split_whitespace().next() == Some(&id.to_string())).unwrap_or_else(|| panic!("{id} in {listed}")).to_owned();
        let service_line = line_of(service_row.id);
        assert!(service_line.contains("revoked") && service_line.contains("service payroll (payroll:read)"), "{service_line}");
        let employee_line = line_of(employee_row.id);
        assert!(employee_line.contains("active") && employee_line.contains("laptop") && employee_line.contains("pavel.lebedev@zeroboard.demo"), "{employee_line}");
    }
}

on_both! {
    async fn serve_binds_first_so_a_port_in_use_writes_nothing(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let out = zeroboard(&test_db.url).args(["serve", "--demo", "--bind", &addr]).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(one_line(&out).contains(&format!("cannot listen on {addr}")));
        // Not even migrated.
        let db = domain::db::connect(&test_db.url).await.unwrap();
        use sea_orm::ConnectionTrait;
        let migrated = db.execute_unprepared("SELECT 1 FROM seaql_migrations").await;
        assert!(migrated.is_err(), "nothing was written before binding");
    }
}

on_both! {
    async fn an_unreachable_database_fails_in_seconds_with_one_line(kind: Kind) {
        // A server that accepts connections and never answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = match kind {
            Kind::Postgres => format!("postgres://postgres@{}/zeroboard", silent.local_addr().unwrap()),
            Kind::Sqlite => "sqlite:///nonexistent-dir/zeroboard.db?mode=rwc".to_owned(),
        };
        let started = std::time::Instant::now();
        let out = zeroboard(&url).arg("migrate").output().unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
        assert_eq!(out.status.code(), Some(1));
        assert!(one_line(&out).starts_with("zeroboard: cannot open the database at "));
        drop(silent);
        if kind == Kind::Postgres {
            // A database that does not exist: the server's message, once.
            let test_db = TestDb::new(kind).await;
            let missing = format!("{}_missing", test_db.url);
            let out = zeroboard(&missing).arg("migrate").output().unwrap();
            let line = one_line(&out);
            assert_eq!(line.matches("does not exist").count(), 1, "{line}");
        }
    }
}

on_both! {
    async fn backup_copies_a_database_in_use(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        assert!(zeroboard(&test_db.url).arg("demo").output().unwrap().status.success());
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("copy.db");
        let out = zeroboard(&test_db.url).arg("backup").arg(&copy).output().unwrap();
        if kind == Kind::Postgres {
            assert_eq!(out.status.code(), Some(1));
            assert!(one_line(&out).contains("run: pg_dump --format=custom"));
            assert!(!copy.exists());
            return;
        }
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let original = counts(&test_db.connect().await).await;
        let restored = domain::db::connect(&format!("sqlite://{}?mode=rwc", copy.display())).await.unwrap();
        assert_eq!(counts(&restored).await, original);
        let out = zeroboard(&test_db.url).arg("backup").arg(&copy).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "an existing file is not overwritten");
    }
}

on_both! {
    async fn sigterm_while_the_start_up_tick_may_still_run_stops_cleanly(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        // A bigger company makes the start-up tick (which opens and generates) take a while.
        let out = zeroboard(&test_db.url).args(["seed", "--employees", "400", "--periods", "1"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let served = Served::start(&test_db.url);
        // Served at once, whether or not the start-up tick is done.
        let client = reqwest::Client::new();
        assert_eq!(client.get(format!("{}healthz", served.url)).send().await.unwrap().status(), 200);
        let readyz = client.get(format!("{}readyz", served.url)).send().await.unwrap();
        let (status, text) = (readyz.status().as_u16(), readyz.text().await.unwrap());
        assert!((status, text.as_str()) == (503, "starting") || (status, text.as_str()) == (200, "ready"), "{status} {text}");
        let exit = served.stop();
        assert!(exit.success(), "{exit:?}: not killed by the signal");
    }
}
