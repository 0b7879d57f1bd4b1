//! E-mail reminders end to end: the day's reminders are prepared once at the local reminder
//! time, sent over SMTP to a real server, aiosmtpd from PyPI (`tests/reminders/smtp_sink.py`,
//! in the virtual environment of `common::python`), by the real mailer driven round by round
//! at fixed instants; two schedulers at once, repeated rounds and a restart send each
//! reminder once; a server that is down is retried the same day.

use std::time::Duration as StdDuration;

use ::scheduler::reminders::{Mailer, ReminderConfig, SmtpTls};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use domain::Company;
use domain::calendar::{Cadence, Calendar};
use entity::enums::{AssignmentKind, AssignmentStatus};
use entity::reminder;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Value, json};

use super::*;
use crate::on_both;

/// The SMTP sink (`tests/reminders/smtp_sink.py`, aiosmtpd), one JSON value per message.
struct Sink;

impl Sink {
    fn start(port: u16) -> Peer {
        Peer::start(
            "tests/reminders/smtp_sink.py",
            &["--port".to_owned(), port.to_string()],
        )
    }
}

fn moscow() -> Company {
    Company {
        calendar: Calendar::new(Cadence::SemiMonthly, chrono_tz::Europe::Moscow),
    }
}

/// An instant in Moscow's local time (UTC+3 all year).
fn msk(day: u32, h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, h, m, 0).unwrap() - Duration::hours(3)
}

fn config(port: u16) -> ReminderConfig {
    let mut config = ReminderConfig::new(
        "127.0.0.1",
        port,
        SmtpTls::None,
        "Zeroboard <zeroboard@example.com>",
    );
    config.at = NaiveTime::from_hms_opt(9, 0, 0).unwrap();
    config.board = Some("https://board.example.com/".into());
    config.timeout = StdDuration::from_secs(10);
    config
}

/// The sink's messages by recipient.
fn by_recipient(got: &[Value]) -> std::collections::BTreeMap<String, Value> {
    let mut out = std::collections::BTreeMap::new();
    for line in got {
        let to = line["to"].as_array().unwrap();
        assert_eq!(to.len(), 1, "one recipient per message: {line}");
        let previous = out.insert(to[0].as_str().unwrap().to_owned(), line.clone());
        assert!(previous.is_none(), "one message per recipient: {got:#?}");
    }
    out
}

on_both! {
    async fn the_days_reminders_reach_each_debtor_and_controller_once(kind: Kind) {
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let app = TestApp::start_with(kind, moscow(), msk(20, 8, 0), api::Limits::default()).await;
        domain::tick::tick(&app.db, &domain::auth::Principal::System, &app.company, msk(20, 8, 0)).await.unwrap();
        let period = domain::read::current_period(&app.db, msk(20, 8, 0)).await.unwrap().expect("the open period").id;
        let dept = add_department(&app.db, "Ops").await;
        let olga = add_employee(&app.db, "Olga Boss", dept, None, day(1), None).await;
        let anna = add_employee(&app.db, "Anna Ivanova", dept, Some(olga.id), day(1), None).await;
        let bob = add_employee(&app.db, "Bob Smith", dept, Some(olga.id), day(1), None).await;
        let carl = add_employee(&app.db, "Carl Quiet", dept, Some(olga.id), day(1), None).await;
        // Dora left on the 19th: no reminders the day after, whatever she left undone.
        let dora = add_employee(&app.db, "Dora Gone", dept, Some(olga.id), day(1), Some(day(19))).await;
        let work = |title: &'static str, who: i64, controller: i64, due: DateTime<Utc>, status: AssignmentStatus, submitted: Option<DateTime<Utc>>| {
            let db = app.db.clone();
            async move {
                insert_assignment(&db, period, (AssignmentKind::Additional, title), (who, controller), 1.0, due, (status, submitted, None)).await
            }
        };
        use AssignmentStatus::*;
        work("Квартальный отчёт", anna.id, olga.id, msk(18, 18, 0), Todo, None).await;
        work("Inventory", anna.id, olga.id, msk(17, 18, 0), Returned, None).await;
        work("Next week", anna.id, olga.id, msk(25, 18, 0), Todo, None).await;
        work("Anna's memo", anna.id, olga.id, msk(25, 18, 0), Submitted, Some(msk(19, 10, 0))).await;
        work("Backup check", bob.id, olga.id, msk(19, 15, 0), InProgress, None).await;
        work("Bob second", bob.id, olga.id, msk(26, 18, 0), Submitted, Some(msk(19, 12, 0))).await;
        work("Bob first", bob.id, olga.id, msk(26, 18, 0), Submitted, Some(msk(18, 11, 0))).await;
        work("Bob to Carl", bob.id, carl.id, msk(26, 18, 0), Submitted, Some(msk(18, 11, 0))).await;
        work("Carl's own", carl.id, olga.id, msk(18, 18, 0), Todo, None).await;
        work("Dora's last", dora.id, olga.id, msk(18, 18, 0), Todo, None).await;
        work("Done", anna.id, olga.id, msk(17, 18, 0), Accepted, Some(msk(16, 18, 0))).await;

        // Anna reads Russian; Carl turns reminders off. Each for themselves, over GraphQL.
        let profile = "mutation($i: ProfileFields!) { updateMyProfile(input: $i) { name language reminders } }";
        let anna_token = app.token_for_email(&anna.email).await;
        let d = app.gql(&anna_token, profile, json!({ "i": { "language": "RU" } })).await;
        assert_eq!(d["updateMyProfile"], json!({ "name": "Anna Ivanova", "language": "RU", "reminders": true }));
        let carl_token = app.token_for_email(&carl.email).await;
        let d = app.gql(&carl_token, profile, json!({ "i": { "reminders": false } })).await;
        assert_eq!(d["updateMyProfile"], json!({ "name": "Carl Quiet", "language": "EN", "reminders": false }));
        let d = app.gql(&carl_token, "{ me { language reminders } }", json!({})).await;
        assert_eq!(d["me"], json!({ "language": "EN", "reminders": false }));
        // Someone else's settings are private; a service has no profile of its own.
        let d = app.gql(&carl_token, "query($id: ID!) { employee(id: $id) { name reminders } }", json!({ "id": d_id(anna.id) })).await;
        assert_eq!(d["employee"], json!({ "name": "Anna Ivanova", "reminders": null }));
        let service = app.service_token(domain::auth::Scope::PayrollRead).await;
        let (_, body) = app.post(Some(&service), profile, json!({ "i": { "reminders": false } })).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");

        let port = free_port();
        let sink = Sink::start(port);
        // Separate pools, as two schedulers in two processes would have.
        let other = domain::db::connect(app.url()).await.unwrap();
        let first = Mailer::new(app.db.clone(), app.company, config(port)).unwrap();
        let second = Mailer::new(other, app.company, config(port)).unwrap();

        // 08:59 in Moscow: not yet.
        let round = first.run_once(msk(20, 8, 59)).await.unwrap();
        assert_eq!((round.prepared, round.attempts), (None, 0), "{round:?}");

        // 09:00: two schedulers at once prepare the day once and send each reminder once.
        let (a, b) = tokio::join!(first.run_once(msk(20, 9, 0)), second.run_once(msk(20, 9, 0)));
        let (a, b) = (a.unwrap(), b.unwrap());
        let prepared: Vec<_> = [a.prepared, b.prepared].into_iter().flatten().collect();
        assert_eq!(prepared.len(), 1, "prepared once: {a:?} {b:?}");
        assert_eq!((prepared[0].day, prepared[0].overdue, prepared[0].to_accept), (day(20), 2, 1));
        assert_eq!(a.attempts + b.attempts, 3, "{a:?} {b:?}");
        assert_eq!(a.settled.sent + b.settled.sent, 3, "{a:?} {b:?}");
        // Later rounds, by either, and a restarted one, send nothing more that day.
        for at in [msk(20, 9, 0), msk(20, 9, 30), msk(20, 23, 59)] {
            assert_eq!(first.run_once(at).await.unwrap().attempts, 0);
            assert_eq!(second.run_once(at).await.unwrap().attempts, 0);
        }
        let restarted = Mailer::new(app.db.clone(), app.company, config(port)).unwrap();
        assert_eq!(restarted.run_once(msk(20, 12, 0)).await.unwrap().attempts, 0);

        let got = sink.received(3, StdDuration::from_millis(200));
        assert_eq!(got.len(), 3, "{got:#?}");
        let mail = by_recipient(&got);
        let recipients: Vec<&str> = mail.keys().map(String::as_str).collect();
        assert_eq!(recipients, ["anna.ivanova@example.com", "bob.smith@example.com", "olga.boss@example.com"]);
        for line in &got {
            assert_eq!(line["from"], "zeroboard@example.com");
            assert_eq!(line["header_from"], "Zeroboard <zeroboard@example.com>");
            assert_eq!((line["content_type"].as_str(), line["charset"].as_str()), (Some("text/plain"), Some("utf-8")));
            assert_eq!(line["auto_submitted"], "auto-generated");
            assert!(line["message_id"].as_str().unwrap().ends_with("@example.com>"), "{line}");
        }
        let anna_mail = &mail["anna.ivanova@example.com"];
        assert_eq!(anna_mail["subject"], "Zeroboard: 2 просроченные задачи");
        assert_eq!(
            anna_mail["body"].as_str().unwrap(),
            "Здравствуйте, Anna Ivanova.\n\n\
             У вас 2 просроченные задачи, сначала самые давние:\n\n\
             - Inventory: срок 17.11.2026 18:00\n\
             - Квартальный отчёт: срок 18.11.2026 18:00\n\n\
             Ваша доска: https://board.example.com/\n\n\
             Zeroboard присылает это письмо раз в день, пока вас что-то ждёт. Напоминания можно отключить в профиле.\n"
        );
        let bob_mail = &mail["bob.smith@example.com"];
        assert_eq!(bob_mail["subject"], "Zeroboard: 1 overdue task");
        let body = bob_mail["body"].as_str().unwrap();
        assert!(body.starts_with("Hello, Bob Smith.\n\nYou have 1 overdue task, oldest first:\n\n- Backup check: due 2026-11-19 15:00\n\nYour board: https://board.example.com/\n"), "{body}");
        let olga_mail = &mail["olga.boss@example.com"];
        assert_eq!(olga_mail["subject"], "Zeroboard: 3 submissions to accept");
        let body = olga_mail["body"].as_str().unwrap();
        assert!(body.contains(
            "You have 3 submissions to accept, oldest first:\n\n\
             - Bob first (from Bob Smith): submitted 2026-11-18 11:00\n\
             - Anna's memo (from Anna Ivanova): submitted 2026-11-19 10:00\n\
             - Bob second (from Bob Smith): submitted 2026-11-19 12:00\n\n"
        ), "{body}");
        assert!(body.contains("turn these reminders off in your profile"));

        let rows = reminder::Entity::find().order_by_asc(reminder::Column::Id).all(&app.db).await.unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| r.status == "sent" && r.attempts == 1 && r.day == day(20)), "{rows:#?}");

        // The next day, the server is down at 09:00: each reminder fails, and is retried.
        drop(sink);
        let round = first.run_once(msk(21, 9, 0)).await.unwrap();
        assert_eq!((round.attempts, round.settled.retrying), (3, 3), "{round:?}");
        assert_eq!(first.run_once(msk(21, 9, 1)).await.unwrap().attempts, 0, "not before its retry");
        let rows = reminder::Entity::find().order_by_asc(reminder::Column::Id).all(&app.db).await.unwrap();
        let failed: Vec<&reminder::Model> = rows.iter().filter(|r| r.day == day(21)).collect();
        assert_eq!(failed.len(), 3);
        assert!(failed.iter().all(|r| r.status == "pending" && r.attempts == 1 && r.last_error.is_some()), "{failed:#?}");
        let retry = failed[0].next_attempt_at.unwrap();
        assert_eq!(retry, msk(21, 9, 5));
        // Up again: the retries go out, once, from whichever scheduler.
        let sink = Sink::start(port);
        let (a, b) = tokio::join!(first.run_once(retry), second.run_once(retry));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.settled.sent + b.settled.sent, 3, "{a:?} {b:?}");
        assert_eq!(first.run_once(msk(21, 10, 0)).await.unwrap().attempts, 0);
        let got = sink.received(3, StdDuration::from_millis(200));
        assert_eq!(got.len(), 3, "{got:#?}");
        let mail = by_recipient(&got);
        assert_eq!(mail.keys().collect::<Vec<_>>(), recipients, "the same people, still behind");
        let rows = reminder::Entity::find().all(&app.db).await.unwrap();
        assert!(rows.iter().filter(|r| r.day == day(21)).all(|r| r.status == "sent" && r.attempts == 2), "{rows:#?}");
        // Each message has its own id.
        let ids: std::collections::BTreeSet<&str> = got.iter().map(|l| l["message_id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 3);

        // The day after, a scheduler claims one reminder and dies before saying how it went:
        // the others go out; that one is abandoned once its lease is over, never sent twice.
        let at = NaiveTime::from_hms_opt(9, 0, 0).unwrap();
        let prepared = domain::reminding::prepare(&app.db, &app.company, at, None, msk(22, 9, 0)).await.unwrap();
        assert_eq!(prepared.map(|p| p.day), Some(day(22)));
        let lost = domain::reminding::claim(&app.db, msk(22, 9, 0), Duration::minutes(1), 1).await.unwrap();
        assert_eq!(lost.len(), 1);
        let round = first.run_once(msk(22, 9, 0)).await.unwrap();
        assert_eq!((round.prepared, round.settled.sent), (None, 2), "{round:?}");
        assert_eq!(first.run_once(msk(22, 9, 2)).await.unwrap().attempts, 0, "the dead claim is not retried");
        let row = reminder::Entity::find_by_id(lost[0].id).one(&app.db).await.unwrap().unwrap();
        assert_eq!((row.status.as_str(), row.attempts, row.sent_at), ("abandoned", 1, None), "{row:?}");
        assert_eq!(sink.received(5, StdDuration::from_millis(200)).len(), 5, "two more on the 22nd, not the abandoned one");
    }
}

/// An employee's global id.
fn d_id(id: i64) -> String {
    base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        format!("Employee:{id}"),
    )
}
