//! The real binary: demo idempotence, tokens on stdout, bad settings, `serve --demo`, schema drift.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use sea_orm::{EntityTrait, PaginatorTrait};

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

on_both! {
    async fn serve_demo_prints_the_url_and_one_token_per_role(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        let mut child = zeroboard(&test_db.url)
            .args(["serve", "--demo", "--bind", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut url = None;
        let mut tokens = Vec::new();
        while tokens.len() < 4 {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some(at) = line.find("http://") {
                url.get_or_insert_with(|| line[at..].split_whitespace().next().unwrap().to_owned());
            }
            if let Some(t) = line.split_whitespace().find(|w| w.starts_with("zb_")) {
                tokens.push((line.split_whitespace().next().unwrap().to_owned(), t.to_owned()));
            }
        }
        let url = url.expect("a URL");
        let roles: Vec<&str> = tokens.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(roles, ["employee", "manager", "admin", "payroll"]);
        let client = reqwest::Client::new();
        let page = client.get(&url).send().await.unwrap().text().await.unwrap();
        assert!(page.to_lowercase().contains("graphiql"));
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
        assert_eq!(client.get(format!("{url}readyz")).send().await.unwrap().status(), 200);
        child.kill().ok();
        child.wait().ok();
    }
}
