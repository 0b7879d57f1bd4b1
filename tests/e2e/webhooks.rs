//! Webhooks end to end: changes write outbox events in their own transactions, the
//! dispatcher (driven round by round at fixed instants) delivers them signed, and a real
//! receiver verifies each signature with the `standardwebhooks` package from PyPI
//! (`tests/webhooks/receiver.py`, in the virtual environment of `common::python`).

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use ::scheduler::dispatch::{Dispatcher, DispatcherConfig};
use chrono::{DateTime, Duration, TimeZone, Utc};
use entity::{outbox_event, webhook_delivery};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use super::*;
use crate::on_both;

/// The webhook receiver (`tests/webhooks/receiver.py`, verifying with `standardwebhooks`),
/// one JSON value per request.
struct Receiver;

impl Receiver {
    /// Starts it on `port`, answering 503 to the first `fail` requests.
    fn start(port: u16, secret: &str, now: DateTime<Utc>, fail: usize) -> Peer {
        let args = [
            "--secret".to_owned(),
            secret.to_owned(),
            "--now".to_owned(),
            now.timestamp().to_string(),
            "--fail".to_owned(),
            fail.to_string(),
            "--port".to_owned(),
            port.to_string(),
        ];
        Peer::start("tests/webhooks/receiver.py", &args)
    }
}

fn config(retry_for_secs: i64, disable_after_secs: i64) -> DispatcherConfig {
    DispatcherConfig {
        timeout: StdDuration::from_secs(5),
        retry_for: Duration::seconds(retry_for_secs),
        disable_after: Duration::seconds(disable_after_secs),
        ..DispatcherConfig::default()
    }
}

/// Registers a webhook through GraphQL; its id and secret.
async fn create_webhook(
    app: &TestApp,
    admin: &str,
    url: &str,
    events: &[&str],
) -> (String, String) {
    let d = app
        .gql(admin, "mutation($u: String!, $e: [String!]!) { createWebhook(input: {url: $u, events: $e}) { webhook { id url events enabled } secret } }", json!({ "u": url, "e": events }))
        .await;
    let created = &d["createWebhook"];
    assert_eq!(created["webhook"]["url"], url);
    assert_eq!(created["webhook"]["enabled"], true);
    (
        created["webhook"]["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    )
}

/// A duty of the demo with a controller, still to do; its global id, raw id and assignee's token.
async fn a_duty(app: &TestApp, admin: &str, skip: usize) -> (String, i64, String) {
    let q = "{ assignments(first: 100, filter: {status: TODO, kind: DUTY}) { nodes { id assignee { email } controller { email } } } }";
    let nodes = app.gql(admin, q, json!({})).await["assignments"]["nodes"]
        .as_array()
        .unwrap()
        .clone();
    let duty = nodes
        .iter()
        .filter(|n| !n["controller"].is_null())
        .nth(skip)
        .expect("a duty")
        .clone();
    let id = duty["id"].as_str().unwrap().to_owned();
    let raw = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &id).unwrap(),
    )
    .unwrap();
    let raw: i64 = raw.rsplit(':').next().unwrap().parse().unwrap();
    let worker = app
        .token_for_email(duty["assignee"]["email"].as_str().unwrap())
        .await;
    (id, raw, worker)
}

async fn submit(app: &TestApp, worker: &str, id: &str) {
    app.gql(
        worker,
        "mutation($id: ID!) { submitAssignment(id: $id) { status } }",
        json!({ "id": id }),
    )
    .await;
}

async fn deliveries(app: &TestApp, admin: &str, webhook: &str) -> Vec<Value> {
    let q = "query($w: ID!) { deliveries(webhookId: $w, first: 100) { totalCount nodes { id eventId eventType body status attempts lastResponseCode lastError lastAttemptAt nextAttemptAt deliveredAt } } }";
    app.gql(admin, q, json!({ "w": webhook })).await["deliveries"]["nodes"]
        .as_array()
        .unwrap()
        .clone()
}

fn instant(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

on_both! {
    async fn a_submission_reaches_a_receiver_that_is_down_then_up_once_and_signed(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        // A minute after the demo: the webhook is not sent what happened before it existed.
        app.clock.set(app.clock.now() + Duration::minutes(1));
        let admin = app.admin().await;
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}/hooks/zeroboard");
        let (hook, secret) = create_webhook(&app, &admin, &url, &["assignment.submitted", "period.closed"]).await;
        assert!(secret.starts_with("whsec_"));
        assert_eq!(domain::delivery::key_of(&secret).unwrap().len(), 32);
        let (duty, raw_id, worker) = a_duty(&app, &admin, 0).await;
        submit(&app, &worker, &duty).await;

        let dispatcher = Dispatcher::new(app.db.clone(), config(3600, 86_400)).unwrap();
        let t = app.clock.now();
        // Down: nothing listens on the port.
        let round = dispatcher.run_once(t).await.unwrap();
        assert_eq!((round.sent, round.failed), (1, 1), "{round:?}");
        let d = deliveries(&app, &admin, &hook).await;
        assert_eq!(d.len(), 1, "only the submission, not the demo's earlier events: {d:?}");
        assert_eq!((d[0]["status"].as_str(), d[0]["attempts"].as_i64(), &d[0]["lastResponseCode"]), (Some("PENDING"), Some(1), &Value::Null));
        assert!(d[0]["lastError"].as_str().unwrap().contains("connect"), "{}", d[0]);
        let next = instant(&d[0]["nextAttemptAt"]);
        assert!(next > t && next <= t + Duration::seconds(5), "the first retry within 5 s: {next}");
        // Not due yet: nothing is sent.
        assert_eq!(dispatcher.run_once(t + Duration::seconds(1)).await.unwrap().sent, 0);

        // Up, but failing once, then well.
        let receiver = Receiver::start(port, &secret, t, 1);
        let round = dispatcher.run_once(next).await.unwrap();
        assert_eq!((round.sent, round.failed), (1, 1), "{round:?}");
        let d = deliveries(&app, &admin, &hook).await;
        assert_eq!((d[0]["attempts"].as_i64(), d[0]["lastResponseCode"].as_i64()), (Some(2), Some(503)));
        let next = instant(&d[0]["nextAttemptAt"]);
        let round = dispatcher.run_once(next).await.unwrap();
        assert_eq!((round.sent, round.delivered), (1, 1), "{round:?}");
        // Later rounds send nothing more.
        assert_eq!(dispatcher.run_once(next + Duration::hours(2)).await.unwrap().sent, 0);

        let got = receiver.received(2, StdDuration::ZERO);
        assert_eq!(got.len(), 2, "{got:?}");
        for line in &got {
            assert_eq!(line["verified"], true, "verified by the standardwebhooks package: {line}");
            assert_eq!(line["type"], "assignment.submitted");
            assert_eq!(line["data"]["assignment"]["id"], raw_id);
            assert_eq!(line["data"]["assignment"]["status"], "submitted");
        }
        assert_eq!(got[0]["id"], got[1]["id"], "every attempt carries the event's id");
        let accepted: Vec<&Value> = got.iter().filter(|l| l["status"] == 204).collect();
        assert_eq!(accepted.len(), 1, "accepted exactly once: {got:?}");
        let d = deliveries(&app, &admin, &hook).await;
        assert_eq!((d[0]["status"].as_str(), d[0]["attempts"].as_i64(), d[0]["lastResponseCode"].as_i64()), (Some("DELIVERED"), Some(3), Some(204)));
        assert_eq!(d[0]["eventId"], got[0]["id"]);
        assert!(d[0]["eventId"].as_str().unwrap().starts_with("evt_"));
        assert!(d[0]["nextAttemptAt"].is_null() && d[0]["lastError"].is_null());

        // An admin sends it again: the same event id, a fresh signature.
        let again = app.gql(&admin, "mutation($d: ID!) { redeliver(deliveryId: $d) { status eventId } }", json!({ "d": d[0]["id"] })).await;
        assert_eq!(again["redeliver"]["status"], "PENDING");
        let later = next + Duration::seconds(30);
        assert_eq!(dispatcher.run_once(later).await.unwrap().delivered, 1);
        let got = receiver.received(3, StdDuration::ZERO);
        assert_eq!((got[2]["id"].clone(), got[2]["verified"].clone()), (got[0]["id"].clone(), json!(true)));
        assert_eq!(got[2]["timestamp"], later.timestamp().to_string());
    }
}

on_both! {
    async fn a_receiver_that_always_fails_ends_dead_then_its_endpoint_is_disabled(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        // A minute after the demo: the webhook is not sent what happened before it existed.
        app.clock.set(app.clock.now() + Duration::minutes(1));
        let admin = app.admin().await;
        let port = free_port();
        let (hook, secret) = create_webhook(&app, &admin, &format!("http://127.0.0.1:{port}/"), &["assignment.submitted"]).await;
        let t = app.clock.now();
        let receiver = Receiver::start(port, &secret, t, usize::MAX >> 1);
        let (duty, _, worker) = a_duty(&app, &admin, 0).await;
        submit(&app, &worker, &duty).await;
        // Retried for 60 s; the endpoint is disabled after 100 s of failures.
        let dispatcher = Dispatcher::new(app.db.clone(), config(60, 100)).unwrap();
        let mut at = t;
        let mut rounds = 0;
        loop {
            let round = dispatcher.run_once(at).await.unwrap();
            assert_eq!(round.sent, 1, "one attempt per due round at {at}: {round:?}");
            rounds += 1;
            let row = webhook_delivery::Entity::find().one(&app.db).await.unwrap().unwrap();
            match row.next_attempt_at {
                Some(next) => {
                    assert!(next > at && next <= t + Duration::seconds(60), "retries stay in the window: {next}");
                    at = next;
                }
                None => break,
            }
            assert!(rounds < 20, "the window ends");
        }
        let d = deliveries(&app, &admin, &hook).await;
        assert_eq!(d[0]["status"], "DEAD", "{}", d[0]);
        assert_eq!(d[0]["attempts"].as_i64(), Some(rounds));
        assert_eq!((d[0]["lastResponseCode"].as_i64(), d[0]["lastError"].as_str()), (Some(503), Some("HTTP 503")));
        assert_eq!(instant(&d[0]["lastAttemptAt"]), t + Duration::seconds(60), "the last attempt at the window's end");
        assert!(rounds >= 4, "back-off 5, 15, 45 s … within a minute: {rounds} attempts");
        assert_eq!(receiver.received(rounds as usize, StdDuration::ZERO).len(), rounds as usize, "every attempt reached the receiver");
        assert_eq!(dispatcher.run_once(at + Duration::hours(1)).await.unwrap().sent, 0, "a dead delivery is not tried");

        // Still failing 100 s after its first failure: disabled, and admins see why.
        let hooks = app.gql(&admin, "{ webhooks { id enabled failingSince disabledReason } }", json!({})).await;
        assert_eq!(hooks["webhooks"][0]["enabled"], true);
        assert_eq!(instant(&hooks["webhooks"][0]["failingSince"]), t);
        let later = t + Duration::seconds(120);
        app.clock.set(later);
        let (duty, _, worker) = a_duty(&app, &admin, 1).await;
        submit(&app, &worker, &duty).await;
        let round = dispatcher.run_once(later).await.unwrap();
        assert_eq!((round.sent, round.disabled), (1, 1), "{round:?}");
        let hooks = app.gql(&admin, "{ webhooks { id enabled disabledAt disabledReason } }", json!({})).await;
        let h = &hooks["webhooks"][0];
        assert_eq!((h["enabled"].as_bool(), instant(&h["disabledAt"])), (Some(false), later));
        assert!(h["disabledReason"].as_str().unwrap().contains("HTTP 503"), "{h}");
        let pending = webhook_delivery::Entity::find().filter(webhook_delivery::Column::Status.eq("pending")).one(&app.db).await.unwrap().unwrap();
        let next = pending.next_attempt_at.unwrap();
        assert_eq!(dispatcher.run_once(next).await.unwrap().sent, 0, "a disabled endpoint is not sent to");
        // Enabled again, its waiting delivery goes out.
        let on = app.gql(&admin, "mutation($id: ID!) { setWebhookEnabled(id: $id, enabled: true) { enabled disabledReason failingSince } }", json!({ "id": hook })).await;
        assert_eq!(on["setWebhookEnabled"], json!({ "enabled": true, "disabledReason": null, "failingSince": null }));
        assert_eq!(dispatcher.run_once(next).await.unwrap().sent, 1);
    }
}

on_both! {
    async fn two_dispatchers_never_send_the_same_attempt_twice(kind: Kind) {
        let app = TestApp::start(kind).await;
        let admin = app.admin().await;
        let port = free_port();
        let (_, secret) = create_webhook(&app, &admin, &format!("http://127.0.0.1:{port}/"), &["kpi_result.adjusted"]).await;
        let t = app.clock.now();
        let receiver = Receiver::start(port, &secret, t, 0);
        let events: Vec<domain::outbox::Event> = (0..300)
            .map(|n| domain::outbox::Event::new(domain::outbox::EventType::KpiResultAdjusted, json!({ "n": n })))
            .collect();
        domain::outbox::record(&app.db, events, t).await.unwrap();
        // Separate pools, as two processes would have.
        let other = domain::db::connect(app.url()).await.unwrap();
        let small = DispatcherConfig { batch: 25, ..config(3600, 86_400) };
        let first = Dispatcher::new(app.db.clone(), small.clone()).unwrap();
        let second = Dispatcher::new(other, small).unwrap();
        let (a, b) = tokio::join!(first.drain(t), second.drain(t));
        let (mut a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.fanned_out + b.fanned_out, 300, "each event fanned out once: {a:?} {b:?}");
        // An attempt that failed (a refused connection under load) is retried later.
        if a.delivered + b.delivered < 300 {
            let late = first.drain(t + Duration::hours(3)).await.unwrap();
            a.sent += late.sent;
            a.delivered += late.delivered;
        }
        assert_eq!(a.delivered + b.delivered, 300, "{a:?} {b:?}");
        let rows = webhook_delivery::Entity::find().all(&app.db).await.unwrap();
        assert_eq!(rows.len(), 300);
        assert!(rows.iter().all(|d| d.status == "delivered"));
        let attempts: i32 = rows.iter().map(|d| d.attempts).sum();
        assert_eq!(a.sent + b.sent, attempts as usize, "each attempt made by one dispatcher: {a:?} {b:?}");
        let got = receiver.received(attempts as usize, StdDuration::ZERO);
        let mut per_id: BTreeMap<String, usize> = BTreeMap::new();
        for line in &got {
            assert_eq!(line["verified"], true, "{line}");
            if line["status"] == 204 {
                *per_id.entry(line["id"].as_str().unwrap().to_owned()).or_default() += 1;
            }
        }
        assert_eq!(per_id.len(), 300);
        assert!(per_id.values().all(|n| *n == 1), "each event accepted once");
        assert!(got.len() <= attempts as usize, "no request beyond the counted attempts");
        // Ended deliveries and their events are pruned once old; new events stay.
        domain::outbox::record(&app.db, vec![domain::outbox::Event::new(domain::outbox::EventType::KpiResultAdjusted, json!({}))], t).await.unwrap();
        assert_eq!(domain::webhooks::prune(&app.db, t).await.unwrap(), (0, 0), "nothing is older than t");
        let pruned = domain::webhooks::prune(&app.db, t + Duration::days(91)).await.unwrap();
        assert_eq!(pruned, (300, 300), "the new event is not fanned out yet, so it stays");
        assert_eq!(outbox_event::Entity::find().count(&app.db).await.unwrap(), 1);
    }
}

on_both! {
    async fn a_close_retried_after_a_failure_tells_period_closed_once(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        let current = app.gql(&admin, "{ currentPeriod { id startsOn } }", json!({})).await["currentPeriod"].clone();
        let closed_before = outbox_event::Entity::find().filter(outbox_event::Column::EventType.eq("period.closed")).count(&app.db).await.unwrap();
        assert!(closed_before > 0, "the demo's history closed periods, each told of");
        let port = free_port();
        let (hook, secret) = create_webhook(&app, &admin, &format!("http://127.0.0.1:{port}/"), &["period.closed"]).await;
        // The close fails at its last write, the event itself, as a crash would stop it.
        crate::scheduler::refuse_inserts(&app.db, kind, "outbox_event", "NEW.event_type = 'period.closed'").await;
        let later = Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap();
        app.clock.set(later);
        let failed = domain::tick::tick(&app.db, &domain::auth::Principal::System, &app.company, later).await;
        assert!(failed.is_err(), "{failed:?}");
        let period = app.gql(&admin, "query($id: ID!) { node(id: $id) { ... on Period { status } } }", json!({ "id": current["id"] })).await;
        assert_eq!(period["node"]["status"], "OPEN", "the failed close left nothing");
        crate::scheduler::accept_inserts_again(&app.db, kind, "outbox_event").await;
        // The next tick closes it; more ticks change nothing.
        for _ in 0..3 {
            domain::tick::tick(&app.db, &domain::auth::Principal::System, &app.company, later).await.unwrap();
        }
        let told = outbox_event::Entity::find().filter(outbox_event::Column::EventType.eq("period.closed")).order_by_asc(outbox_event::Column::Id).all(&app.db).await.unwrap();
        assert_eq!(told.len() as u64, closed_before + 1, "one period.closed for the close");
        let body: Value = serde_json::from_str(&told.last().unwrap().body).unwrap();
        let data = &body["data"];
        assert_eq!(data["period"]["starts_on"], current["startsOn"]);
        assert_eq!(data["period"]["status"], "closed");
        assert_eq!(data["period"]["export"], format!("/export/bonus.csv?period={}", current["startsOn"].as_str().unwrap()));
        // The summary agrees with the stored results.
        let period_id = data["period"]["id"].as_i64().unwrap();
        let results = entity::kpi_result::Entity::find().filter(entity::kpi_result::Column::PeriodId.eq(period_id)).all(&app.db).await.unwrap();
        assert_eq!(data["results"].as_u64(), Some(results.len() as u64));
        assert_eq!(data["eligible"].as_u64(), Some(results.iter().filter(|r| r.eligible).count() as u64));
        let mean = results.iter().map(|r| r.kpi_x100).sum::<i64>() as f64 / results.len() as f64 / 100.0;
        assert!((data["average_kpi"].as_f64().unwrap() - mean).abs() < 0.006, "{data}");

        // Delivered once, to a receiver that checks the signature.
        let receiver = Receiver::start(port, &secret, later, 0);
        let dispatcher = Dispatcher::new(app.db.clone(), config(3600, 86_400)).unwrap();
        assert_eq!(dispatcher.drain(later).await.unwrap().delivered, 1);
        let got = receiver.received(1, StdDuration::ZERO);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0]["type"].as_str(), got[0]["verified"].as_bool()), (Some("period.closed"), Some(true)));
        assert_eq!(deliveries(&app, &admin, &hook).await.len(), 1);
    }
}

on_both! {
    async fn each_change_writes_its_event_and_a_refused_one_writes_none(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        let count = |t: &'static str| {
            let db = app.db.clone();
            async move { outbox_event::Entity::find().filter(outbox_event::Column::EventType.eq(t)).count(&db).await.unwrap() }
        };
        assert!(count("period.opened").await >= 7, "the demo's periods were opened by ticks");
        let submitted = count("assignment.submitted").await;
        assert!(submitted > 0);
        // A submission, then a return with its comment.
        let (duty, raw_id, worker) = a_duty(&app, &admin, 0).await;
        submit(&app, &worker, &duty).await;
        assert_eq!(count("assignment.submitted").await, submitted + 1);
        // Submitting again is a conflict, and writes no event.
        let (_, body) = app.post(Some(&worker), "mutation($id: ID!) { submitAssignment(id: $id) { status } }", json!({ "id": duty })).await;
        assert_eq!(codes(&body), ["CONFLICT"]);
        assert_eq!(count("assignment.submitted").await, submitted + 1);
        app.gql(&admin, "mutation($id: ID!) { returnAssignment(id: $id, comment: \"the figures are missing\") { status } }", json!({ "id": duty })).await;
        let returned = outbox_event::Entity::find().filter(outbox_event::Column::EventType.eq("assignment.returned")).order_by_desc(outbox_event::Column::Id).one(&app.db).await.unwrap().unwrap();
        let body: Value = serde_json::from_str(&returned.body).unwrap();
        assert_eq!((body["data"]["assignment"]["id"].as_i64(), body["data"]["comment"].as_str()), (Some(raw_id), Some("the figures are missing")));
        assert_eq!(body["timestamp"], "2026-11-20T10:00:00Z");
        // An adjustment of a closed result.
        let results = app.gql(&admin, "{ employees(first: 1) { nodes { kpiHistory(first: 1) { nodes { id } } } } }", json!({})).await;
        let result = results["employees"]["nodes"][0]["kpiHistory"]["nodes"][0]["id"].clone();
        app.gql(&admin, "mutation($r: ID!) { adjustKpiResult(resultId: $r, delta: -2.5, reason: \"a late report\") { kpi } }", json!({ "r": result })).await;
        let adjusted = outbox_event::Entity::find().filter(outbox_event::Column::EventType.eq("kpi_result.adjusted")).order_by_desc(outbox_event::Column::Id).one(&app.db).await.unwrap().unwrap();
        let body: Value = serde_json::from_str(&adjusted.body).unwrap();
        assert_eq!((body["data"]["adjustment"]["delta"].as_f64(), body["data"]["adjustment"]["reason"].as_str()), (Some(-2.5), Some("a late report")));
        // Work past its due date is told of once per due date, by the tick.
        let overdue = count("assignment.overdue").await;
        let tick_at = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
        let report = domain::tick::tick(&app.db, &domain::auth::Principal::System, &app.company, tick_at).await.unwrap();
        assert!(report.overdue > 0, "{report}");
        assert_eq!(count("assignment.overdue").await, overdue + u64::from(report.overdue));
        let again = domain::tick::tick(&app.db, &domain::auth::Principal::System, &app.company, tick_at + Duration::minutes(1)).await.unwrap();
        assert_eq!(again.overdue, 0, "told once");
        // Every event id is unique.
        let all = outbox_event::Entity::find().all(&app.db).await.unwrap();
        let ids: std::collections::BTreeSet<&str> = all.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(ids.len(), all.len());
    }
}

on_both! {
    async fn webhooks_are_for_admins_and_their_input_is_checked(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        let create = "mutation($u: String!, $e: [String!]!) { createWebhook(input: {url: $u, events: $e}) { secret } }";
        let field = |body: &Value| body["errors"][0]["extensions"]["field"].as_str().map(str::to_owned);
        for (url, events, bad) in [
            ("ftp://payroll.example.com/in", json!(["period.closed"]), "input.url"),
            ("javascript:alert(1)", json!(["period.closed"]), "input.url"),
            ("https://payroll.example.com/in", json!(["period.reopened"]), "input.events"),
            ("https://payroll.example.com/in", json!([]), "input.events"),
        ] {
            let (_, body) = app.post(Some(&admin), create, json!({ "u": url, "e": events })).await;
            assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{url} {events}: {body}");
            assert_eq!(field(&body).as_deref(), Some(bad), "{body}");
        }
        let (_, body) = app.post(Some(&admin), create, json!({ "u": "https://x.example/in", "e": ["payroll.done"] })).await;
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("`payroll.done` is not one of period.opened, period.closed"), "{body}");
        // Not for employees, nor for payroll.
        let employee = app.token_for_email("pavel.lebedev@zeroboard.demo").await;
        let payroll = app.service_token(domain::auth::Scope::PayrollRead).await;
        for token in [&employee, &payroll] {
            let (_, body) = app.post(Some(token), create, json!({ "u": "https://x.example/in", "e": ["period.closed"] })).await;
            assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
            let (_, body) = app.post(Some(token), "{ webhooks { id } }", json!({})).await;
            assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        }
        // A rotation returns a new secret once; for a day both sign.
        let (hook, secret) = create_webhook(&app, &admin, "https://payroll.example.com/in", &["period.closed", "period.closed"]).await;
        let listed = app.gql(&admin, "{ webhooks { id events } }", json!({})).await;
        assert_eq!(listed["webhooks"], json!([{ "id": hook, "events": ["period.closed"] }]));
        let rotated = app.gql(&admin, "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret webhook { previousSecretUntil } } }", json!({ "id": hook })).await;
        let new_secret = rotated["rotateWebhookSecret"]["secret"].as_str().unwrap();
        assert_ne!(new_secret, secret);
        assert_eq!(instant(&rotated["rotateWebhookSecret"]["webhook"]["previousSecretUntil"]), app.clock.now() + Duration::hours(24));
        let row = entity::webhook::Entity::find().one(&app.db).await.unwrap().unwrap();
        assert_eq!(domain::delivery::signing_secrets(&row.secret, row.previous_secret.as_deref(), row.previous_secret_until, app.clock.now()), [new_secret, secret.as_str()]);
        // Updated, then deleted.
        let updated = app.gql(&admin, "mutation($id: ID!) { updateWebhook(id: $id, input: {events: [\"assignment.overdue\"]}) { events } }", json!({ "id": hook })).await;
        assert_eq!(updated["updateWebhook"]["events"], json!(["assignment.overdue"]));
        let deleted = app.gql(&admin, "mutation($id: ID!) { deleteWebhook(id: $id) }", json!({ "id": hook })).await;
        assert_eq!(deleted["deleteWebhook"], hook);
        assert_eq!(app.gql(&admin, "{ webhooks { id } }", json!({})).await["webhooks"], json!([]));
        let (_, body) = app.post(Some(&admin), "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }", json!({ "id": hook })).await;
        assert_eq!(codes(&body), ["NOT_FOUND"]);
    }
}
