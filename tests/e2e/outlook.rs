//! The outlook of an open period (`Summary.outlook`): taken just before the close instant
//! and at it, it is what the close then stores, item by item; its advice names what is
//! still owed; its cost does not grow with the page.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use domain::auth::Principal;
use domain::db::DatabaseConnection;
use domain::explain::{ItemKind, ItemOutcome};
use domain::results::Projection;
use entity::enums::{AssignmentKind, AssignmentStatus, PeriodStatus, VoteChoice};
use entity::{article, article_read, kpi_item, kpi_result, kpi_target, period, proposal, vote};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{Value, json};

use super::*;
use crate::on_both;

fn old() -> NaiveDate {
    NaiveDate::from_ymd_opt(2020, 1, 1).unwrap()
}

/// An assignment as the transitions would have left it: (assignee, controller), due, status,
/// submitted, decided.
async fn add_assignment(
    db: &DatabaseConnection,
    period_id: i64,
    work: (AssignmentKind, &str),
    people: (i64, i64),
    due_at: DateTime<Utc>,
    state: (
        AssignmentStatus,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
    ),
) {
    insert_assignment(db, period_id, work, people, 1.0, due_at, state).await;
}

/// The people of the scenario and the period they work in.
struct Scenario {
    period: period::Model,
    boss: i64,
    /// The employee with a mix of everything.
    mixed: i64,
    /// A colleague whose submission `mixed` must still decide on.
    helper: i64,
}

/// 16–30 November 2026 (UTC), seen at `t0()` (the 20th, 10:00): the mixed employee has
/// duties on time, late, done late and not submitted (one due on the 25th at 18:00), an
/// additional assignment in progress, a submission of the helper's to decide on and one
/// decided, a vote cast and one not, two mandatory articles (one read, one not), and two
/// targets (one recorded, one not).
async fn scenario(app: &TestApp) -> Scenario {
    let db = &app.db;
    let k = add_department(db, "Control").await;
    let d = add_department(db, "Sales").await;
    let boss = add_employee(db, "Kay Boss", k, None, old(), None).await.id;
    let mixed = add_employee(db, "Mia Mixed", d, Some(boss), old(), None)
        .await
        .id;
    let helper = add_employee(db, "Hal Helper", d, Some(boss), old(), None)
        .await
        .id;
    domain::periods::open_due(db, &Principal::System, &app.company, t0())
        .await
        .unwrap();
    let period = period::Entity::find()
        .one(db)
        .await
        .unwrap()
        .expect("the period");
    let h = |hours: i64| period.starts_at + Duration::hours(hours);
    let at = |day: u32, hour: u32| Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap();
    use AssignmentKind::{Additional, Duty};
    use AssignmentStatus::{Accepted, InProgress, Submitted, Todo};
    let p = period.id;
    add_assignment(
        db,
        p,
        (Duty, "Daily checklist"),
        (mixed, boss),
        at(18, 18),
        (Accepted, Some(at(18, 9)), Some(at(18, 12))),
    )
    .await;
    add_assignment(
        db,
        p,
        (Duty, "Stock count"),
        (mixed, boss),
        at(17, 18),
        (Accepted, Some(at(19, 9)), Some(at(19, 12))),
    )
    .await;
    add_assignment(
        db,
        p,
        (Duty, "Monthly sales report"),
        (mixed, boss),
        at(25, 18),
        (Todo, None, None),
    )
    .await;
    add_assignment(
        db,
        p,
        (Duty, "Client calls"),
        (mixed, boss),
        at(28, 18),
        (Submitted, Some(at(19, 8)), None),
    )
    .await;
    add_assignment(
        db,
        p,
        (Additional, "Trade fair stand"),
        (mixed, boss),
        at(27, 12),
        (InProgress, None, None),
    )
    .await;
    // The helper's submissions: one waits for the mixed employee's decision, one was decided.
    add_assignment(
        db,
        p,
        (Duty, "Helper's report"),
        (helper, mixed),
        at(26, 18),
        (Submitted, Some(at(20, 8)), None),
    )
    .await;
    add_assignment(
        db,
        p,
        (Duty, "Helper's checklist"),
        (helper, mixed),
        at(18, 18),
        (Accepted, Some(at(17, 8)), Some(at(17, 20))),
    )
    .await;
    for (title, closes, voted) in [
        ("Four-day week", at(22, 12), Some(at(19, 12))),
        ("New coffee machine", at(29, 12), None),
    ] {
        let pr = proposal::ActiveModel {
            title: Set(title.into()),
            body: Set(String::new()),
            author_id: Set(Some(boss)),
            department_id: Set(Some(d)),
            opens_at: Set(h(1)),
            closes_at: Set(closes),
            created_at: Set(h(1)),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
        if let Some(at) = voted {
            vote::ActiveModel {
                proposal_id: Set(pr.id),
                employee_id: Set(mixed),
                choice: Set(VoteChoice::For),
                voted_at: Set(at),
                ..Default::default()
            }
            .insert(db)
            .await
            .unwrap();
        }
    }
    for (title, read) in [("Safety rules", Some(h(30))), ("Returns policy", None)] {
        let art = article::ActiveModel {
            title: Set(title.into()),
            link: Set(None),
            body: Set(Some("b".into())),
            author_id: Set(Some(boss)),
            department_id: Set(Some(d)),
            mandatory: Set(true),
            published_at: Set(h(10)),
            created_at: Set(h(10)),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
        if let Some(at) = read {
            article_read::ActiveModel {
                article_id: Set(art.id),
                employee_id: Set(mixed),
                read_at: Set(at),
                ..Default::default()
            }
            .insert(db)
            .await
            .unwrap();
        }
    }
    for (metric, actual) in [("extra_services_sold", Some(6.0)), ("new_clients", None)] {
        kpi_target::ActiveModel {
            period_id: Set(p),
            employee_id: Set(mixed),
            metric: Set(metric.into()),
            target_value: Set(5.0),
            actual_value: Set(actual),
            weight: Set(1.0),
            recorded_at: Set(actual.map(|_| h(40))),
            recorded_by: Set(actual.map(|_| boss)),
            created_at: Set(h(0)),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
    }
    Scenario {
        period,
        boss,
        mixed,
        helper,
    }
}

/// An item as the close stores it: (kind, subject, title, due, met, outcome, ratio, weight,
/// credit, points, points in hundredths, points lost).
type Row = (
    String,
    Option<i64>,
    String,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    String,
    Option<f64>,
    f64,
    f64,
    f64,
    i64,
    f64,
);

fn projected_rows(p: &Projection) -> Vec<Row> {
    p.outlook
        .items()
        .map(|i| {
            (
                i.kind.code().to_owned(),
                i.subject_id,
                i.title.clone(),
                i.due_at,
                i.met_at,
                i.outcome.code().to_owned(),
                i.ratio,
                i.weight,
                i.credit,
                i.points,
                i.points_x100,
                i.points_lost,
            )
        })
        .collect()
}

async fn stored(
    db: &DatabaseConnection,
    period_id: i64,
    who: i64,
) -> (kpi_result::Model, Vec<Row>) {
    let result = kpi_result::Entity::find()
        .filter(kpi_result::Column::PeriodId.eq(period_id))
        .filter(kpi_result::Column::EmployeeId.eq(who))
        .one(db)
        .await
        .unwrap()
        .expect("a result");
    let rows = kpi_item::Entity::find()
        .filter(kpi_item::Column::ResultId.eq(result.id))
        .order_by_asc(kpi_item::Column::Position)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|i| {
            (
                i.kind,
                i.subject_id,
                i.title,
                i.due_at,
                i.met_at,
                i.outcome,
                i.ratio,
                i.weight,
                i.credit,
                i.points,
                i.points_x100,
                i.points_lost,
            )
        })
        .collect();
    (result, rows)
}

const OUTLOOK: &str = "{ me { summary { outlook {
    asOf closesAt kpiIfAllOnTime kpiIfNothingMore eligibleNow eligibleIfNothingMore reasonsIfAllOnTime reasonsIfNothingMore stillOwed
    items(first: 100) { totalCount nodes { kind subjectId title dueAt metAt outcome ratio weight credit points pointsLost stillPossible pointsIfDone } }
    en: advice(lang: EN) ru: advice(lang: RU) advice } } } }";

/// A timestamp as the API writes it.
fn rfc3339(at: Option<DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, |at| json!(at.to_rfc3339()))
}

/// The GraphQL items against the stored rows: every field the API shows of them.
fn assert_api_items_are(api: &Value, rows: &[Row]) {
    let nodes = api["items"]["nodes"].as_array().unwrap();
    assert_eq!(api["items"]["totalCount"], rows.len(), "{api}");
    assert_eq!(nodes.len(), rows.len(), "{api}");
    for (node, row) in nodes.iter().zip(rows) {
        let (kind, _, title, due, met, outcome, ratio, weight, credit, _, x100, _) = row;
        assert_eq!(node["kind"], kind.to_uppercase(), "{node}");
        assert_eq!(node["title"], title.as_str(), "{node}");
        assert_eq!(node["dueAt"], rfc3339(*due), "{node}");
        assert_eq!(node["metAt"], rfc3339(*met), "{node}");
        assert_eq!(node["outcome"], outcome.to_uppercase(), "{node}");
        assert_eq!(
            node["ratio"],
            ratio.map_or(Value::Null, |r| json!(r)),
            "{node}"
        );
        assert_eq!(
            (node["weight"].as_f64(), node["credit"].as_f64()),
            (Some(*weight), Some(*credit)),
            "{node}"
        );
        assert_eq!(
            node["points"].as_f64(),
            Some(*x100 as f64 / 100.0),
            "{node}"
        );
    }
}

on_both! {
    async fn the_outlook_just_before_the_close_is_what_the_close_stores(kind: Kind) {
        let app = TestApp::start(kind).await;
        let s = scenario(&app).await;
        let version = domain::policy::by_version(&app.db, s.period.policy_version).await.unwrap();
        let close = domain::periods::close_time(&s.period, &version);
        let tz = app.company.calendar.tz;
        let everyone = [s.boss, s.mixed, s.helper];
        let before = close - Duration::minutes(1);
        let just_before = domain::results::outlooks(&app.db, tz, &s.period, None, &everyone, before).await.unwrap();
        let at_close = domain::results::outlooks(&app.db, tz, &s.period, None, &everyone, close).await.unwrap();

        // Through the API, as the mixed employee sees it, before and at the close instant.
        let token = app.token_for_email("mia.mixed@example.com").await;
        let period_id = app.gql(&token, "{ me { summary { period { id } } } }", json!({})).await["me"]["summary"]["period"]["id"].clone();
        app.clock.set(before);
        let api_before = app.gql(&token, OUTLOOK, json!({})).await["me"]["summary"]["outlook"].clone();
        app.clock.set(close + Duration::hours(5));
        let api_late = app.gql(&token, OUTLOOK, json!({})).await["me"]["summary"]["outlook"].clone();
        assert_eq!(api_late["asOf"], json!(close.to_rfc3339()), "judged at the close instant however late: {api_late}");

        // Before the close some items can still change: the duty past due can still be done
        // late, the unread article read late, the unrecorded target recorded; the vote
        // whose proposal closed cannot.
        let mixed = &just_before[&s.mixed];
        let still: Vec<(ItemKind, String, Option<ItemOutcome>)> = mixed.outlook.items.iter().map(|i| (i.item.kind, i.item.title.clone(), i.still)).collect();
        assert!(still.contains(&(ItemKind::Duty, "Monthly sales report".into(), Some(ItemOutcome::Late))), "{still:?}");
        assert!(still.contains(&(ItemKind::Reading, "Returns policy".into(), Some(ItemOutcome::Late))), "{still:?}");
        assert!(still.contains(&(ItemKind::Target, "new_clients".into(), Some(ItemOutcome::Scored))), "{still:?}");
        assert!(still.contains(&(ItemKind::Vote, "New coffee machine".into(), None)), "{still:?}");
        assert!(still.contains(&(ItemKind::Acceptance, "Helper's report".into(), Some(ItemOutcome::Late))), "{still:?}");
        assert!(mixed.outlook.if_all_on_time.kpi_x100 > mixed.outlook.if_nothing_more.kpi_x100);
        assert_eq!(api_before["stillOwed"], mixed.outlook.items.iter().filter(|i| i.still.is_some()).count());
        assert!(at_close[&s.mixed].outlook.items.iter().all(|i| i.still.is_none()), "nothing changes at the close instant");

        // The scheduler closes the period at its close instant.
        let report = domain::tick::tick(&app.db, &Principal::System, &app.company, close).await.unwrap();
        assert_eq!(report.closed.len(), 1, "{report:?}");
        let closed = period::Entity::find_by_id(s.period.id).one(&app.db).await.unwrap().unwrap();
        assert_eq!(closed.status, PeriodStatus::Closed);
        let reproduced = domain::results::outlooks(&app.db, tz, &closed, None, &everyone, close + Duration::days(30)).await.unwrap();

        for who in everyone {
            let (result, rows) = stored(&app.db, s.period.id, who).await;
            assert!(result.itemized);
            for (when, outlook) in [("just before", &just_before[&who]), ("at", &at_close[&who]), ("reproduced after", &reproduced[&who])] {
                assert_eq!(projected_rows(outlook), rows, "{who}: the outlook {when} the close instant, item by item");
                let e = &outlook.outlook.if_nothing_more;
                assert_eq!((e.kpi_x100, e.eligible, e.bonus_factor_x10000), (result.kpi_x100, result.eligible, result.bonus_factor_x10000), "{who} {when}");
                assert_eq!(domain::stored::reasons(&e.reasons), result.reasons, "{who} {when}");
            }
            assert_eq!(reproduced[&who].outlook.if_all_on_time, reproduced[&who].outlook.if_nothing_more);
            if who == s.mixed {
                assert!(rows.len() >= 12, "a mix of every kind: {rows:?}");
                for api in [&api_before, &api_late] {
                    assert_eq!(api["kpiIfNothingMore"].as_f64(), Some(result.kpi_x100 as f64 / 100.0), "{api}");
                    assert_eq!(api["eligibleIfNothingMore"], result.eligible);
                    assert_api_items_are(api, &rows);
                }
                let kinds: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
                assert_eq!(kinds.into_iter().collect::<Vec<_>>(), ["acceptance", "additional", "duty", "reading", "target", "vote"]);
                let sum: i64 = rows.iter().map(|r| r.10).sum();
                assert_eq!(sum, result.kpi_x100, "the points add up to the KPI");
            }
        }
        // A closed period's summary has no outlook: its stored result is the answer.
        let after = app.gql(&token, "query($p: ID) { me { summary(periodId: $p) { outlook { kpiIfNothingMore } } } }", json!({ "p": period_id })).await;
        assert_eq!(after["me"]["summary"]["outlook"], Value::Null, "{after}");
    }
}

on_both! {
    async fn the_advice_names_what_is_still_owed_and_by_when(kind: Kind) {
        let app = TestApp::start(kind).await;
        let s = scenario(&app).await;
        let token = app.token_for_email("mia.mixed@example.com").await;
        let o = app.gql(&token, OUTLOOK, json!({})).await["me"]["summary"]["outlook"].clone();
        let sentences = |v: &Value| -> Vec<String> { v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect() };
        let (en, ru, default) = (sentences(&o["en"]), sentences(&o["ru"]), sentences(&o["advice"]));
        assert_eq!(default, en, "English without a language");
        // The report is due on the 25th at 18:00 (UTC, the company's zone), not submitted.
        assert!(en.iter().any(|s| s.contains("Submit “Monthly sales report” by 25 Nov 18:00")), "{en:?}");
        assert!(ru.iter().any(|s| s.contains("Сдайте «Monthly sales report» до 25 ноя 18:00")), "{ru:?}");
        // A late duty stays late: the bonus is out of reach, and both languages say so.
        assert_eq!(o["eligibleNow"], false, "{o}");
        assert_eq!(o["reasonsIfAllOnTime"], json!(["DUTY_LATE"]), "{o}");
        assert!(en[0].starts_with("The bonus is out of reach"), "{en:?}");
        assert!(ru[0].starts_with("Премии не будет"), "{ru:?}");
        assert!(en.iter().any(|s| s.starts_with("1 duty is already late")), "{en:?}");
        // The report is worth points if done, and still possible on time.
        let items = o["items"]["nodes"].as_array().unwrap();
        let report = items.iter().find(|i| i["title"] == "Monthly sales report").unwrap();
        assert_eq!((report["outcome"].as_str(), report["stillPossible"].as_str()), (Some("MISSED"), Some("ON_TIME")), "{report}");
        assert!(report["pointsIfDone"].as_f64().unwrap() > report["points"].as_f64().unwrap(), "{report}");
        let _ = s;
    }
}
