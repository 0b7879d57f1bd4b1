//! The scheduler's steps over simulated time, with a fixed clock and no sleeps: a year ticked
//! hourly, the daylight-saving weekends, downtime, a failed close, two schedulers at once,
//! and the design's worked examples realised as rows.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use domain::Company;
use domain::calendar::{Cadence, Calendar, PeriodDates};
use domain::db::DatabaseConnection;
use entity::enums::{AssignmentKind, AssignmentStatus, PeriodStatus};
use entity::{
    article, article_read, assignment, assignment_event, duty_template, employee, kpi_item,
    kpi_result, kpi_target, period, proposal, scheduler_run, vote,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

use super::*;
use crate::on_both;

fn berlin() -> Company {
    Company {
        calendar: Calendar::new(Cadence::SemiMonthly, chrono_tz::Europe::Berlin),
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

/// A template's target and recurrence: (employee, department, controller, every n, starts on, offset days).
type TemplateSpec = (
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i32,
    NaiveDate,
    Option<i32>,
);

async fn add_template(
    db: &DatabaseConnection,
    title: &str,
    spec: TemplateSpec,
) -> duty_template::Model {
    let (employee_id, department_id, controller_id, every_n, starts_on, offset) = spec;
    duty_template::ActiveModel {
        title: Set(title.into()),
        description: Set(String::new()),
        weight: Set(1.0),
        controller_id: Set(controller_id),
        employee_id: Set(employee_id),
        department_id: Set(department_id),
        every_n_periods: Set(every_n),
        due_offset_days: Set(offset),
        active: Set(true),
        starts_on: Set(starts_on),
        created_at: Set(utc(2020, 1, 1, 0)),
        updated_at: Set(utc(2020, 1, 1, 0)),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap()
}

/// A small company: two departments with templates, hires and leavers in 2026, and a boss
/// with no manager (so a template of the boss's own department would have no controller).
struct Org {
    employees: Vec<employee::Model>,
    templates: Vec<duty_template::Model>,
}

async fn seed_org(db: &DatabaseConnection) -> Org {
    let board = add_department(db, "Board").await;
    let ops = add_department(db, "Operations").await;
    let sales = add_department(db, "Sales").await;
    let old = date(2020, 1, 1);
    let boss = add_employee(db, "Bea Boss", board, None, old, None).await;
    let ops_lead = add_employee(db, "Otto Lead", ops, Some(boss.id), old, None).await;
    let sales_lead = add_employee(db, "Sara Lead", sales, Some(boss.id), old, None).await;
    let mut employees = vec![boss.clone(), ops_lead.clone(), sales_lead.clone()];
    for (name, dept, manager, hired, left) in [
        ("Oleg Early", ops, &ops_lead, old, None),
        ("Olga March", ops, &ops_lead, date(2026, 3, 10), None), // hired mid-period
        ("Oscar August", ops, &ops_lead, old, Some(date(2026, 8, 20))), // leaves mid-period
        ("Sam June", sales, &sales_lead, date(2026, 6, 1), None), // hired on a period's first day
        (
            "Sophie May",
            sales,
            &sales_lead,
            old,
            Some(date(2026, 5, 15)),
        ), // leaves on a period's last day
        ("Stan Steady", sales, &sales_lead, old, None),
    ] {
        employees.push(add_employee(db, name, dept, Some(manager.id), hired, left).await);
    }
    let sam = employees.iter().find(|e| e.name == "Sam June").unwrap().id;
    let templates = vec![
        add_template(
            db,
            "Ops checklist",
            (None, Some(ops), None, 1, date(2026, 1, 1), Some(7)),
        )
        .await,
        add_template(
            db,
            "Sales report",
            (None, Some(sales), None, 2, date(2026, 2, 1), None),
        )
        .await,
        add_template(
            db,
            "Board minutes",
            (None, Some(board), None, 1, date(2026, 1, 1), None),
        )
        .await, // no controller: skipped
        add_template(
            db,
            "Lead review",
            (
                Some(ops_lead.id),
                None,
                Some(sales_lead.id),
                3,
                date(2026, 1, 1),
                None,
            ),
        )
        .await,
        add_template(
            db,
            "Onboarding diary",
            (Some(sam), None, None, 1, date(2026, 7, 10), Some(3)),
        )
        .await, // starts mid-period
    ];
    Org {
        employees,
        templates,
    }
}

/// The duties the design promises for a period, counted independently of the domain:
/// every template due in it (every n-th period from the first that reaches `starts_on`)
/// times its targets active on the period's first day that have a controller.
fn expected_duties(org: &Org, periods: &[PeriodDates], index: usize) -> usize {
    let p = periods[index];
    let mut count = 0;
    for t in &org.templates {
        let reaching: Vec<_> = periods
            .iter()
            .filter(|q| q.ends_on >= t.starts_on)
            .collect();
        let Some(position) = reaching.iter().position(|q| **q == p) else {
            continue;
        };
        if position % t.every_n_periods as usize != 0 {
            continue;
        }
        count += org
            .employees
            .iter()
            .filter(|e| {
                t.employee_id == Some(e.id)
                    || (t.employee_id.is_none() && t.department_id == Some(e.department_id))
            })
            .filter(|e| e.hired_on <= p.starts_on && e.left_on.is_none_or(|l| l >= p.starts_on))
            .filter(|e| t.controller_id.or(e.manager_id).is_some_and(|c| c != e.id))
            .count();
    }
    count
}

fn active_in(e: &employee::Model, p: PeriodDates) -> bool {
    e.hired_on <= p.ends_on && e.left_on.is_none_or(|l| l >= p.starts_on)
}

async fn periods(db: &DatabaseConnection) -> Vec<period::Model> {
    period::Entity::find()
        .order_by_asc(period::Column::StartsOn)
        .all(db)
        .await
        .unwrap()
}

async fn tick(
    db: &DatabaseConnection,
    company: &Company,
    at: DateTime<Utc>,
) -> domain::tick::TickReport {
    domain::tick::tick(db, &domain::auth::Principal::System, company, at)
        .await
        .unwrap_or_else(|e| panic!("tick at {at}: {e}"))
}

on_both! {
    async fn a_simulated_year_ticked_hourly(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        let db = test_db.connect().await;
        let company = berlin();
        let org = seed_org(&db).await;
        // Local midnight starting 2026 in Berlin, then every hour of the year.
        let start = company.calendar.day_start(date(2026, 1, 1));
        let end = company.calendar.day_start(date(2027, 1, 1));
        let began = Instant::now();
        let mut at = start;
        let mut ticks = 0;
        while at < end {
            tick(&db, &company, at).await;
            at += Duration::hours(1);
            ticks += 1;
        }
        eprintln!("{kind:?}: {ticks} hourly ticks in {:.1} s", began.elapsed().as_secs_f64());
        assert_eq!(ticks, 8760);

        let stored = periods(&db).await;
        assert_eq!(stored.len(), 24, "one period per half month of 2026");
        let dates: Vec<PeriodDates> = stored.iter().map(|p| PeriodDates { starts_on: p.starts_on, ends_on: p.ends_on }).collect();
        assert_eq!(dates.first().unwrap().starts_on, date(2026, 1, 1));
        assert_eq!(dates.last().unwrap().ends_on, date(2026, 12, 31));
        assert_eq!(stored.iter().filter(|p| p.status == PeriodStatus::Closed).count(), 23, "the last closes a day after the year");
        // Every boundary was crossed once, at the first tick on or after it.
        for p in &stored {
            assert_eq!(p.opened_at, p.starts_at, "{} opened at its start", p.starts_on);
            if p.status == PeriodStatus::Closed {
                assert_eq!(p.closed_at, Some(p.ends_at + Duration::hours(24)), "{} closed a day after its end", p.starts_on);
            }
        }

        // One more tick, after the last close time of 2026: it opens 2027's first period.
        tick(&db, &company, end + Duration::hours(24)).await;
        let stored = periods(&db).await;
        assert_eq!(stored.iter().filter(|p| p.status == PeriodStatus::Closed).count(), 24);

        let assignments = assignment::Entity::find().all(&db).await.unwrap();
        let mut total_expected = 0;
        for (i, p) in stored.iter().take(24).enumerate() {
            let expected = expected_duties(&org, &dates, i);
            let actual = assignments.iter().filter(|a| a.period_id == p.id).count();
            assert_eq!(actual, expected, "duties of {}", p.starts_on);
            total_expected += expected;
        }
        let of_2026: BTreeSet<i64> = stored.iter().take(24).map(|p| p.id).collect();
        let assignments: Vec<_> = assignments.into_iter().filter(|a| of_2026.contains(&a.period_id)).collect();
        assert_eq!(assignments.len(), total_expected);
        assert!(total_expected > 100, "the year generated {total_expected} duties");
        // Nobody did anything, so every duty was missed, with a system event each.
        assert!(assignments.iter().all(|a| a.status == AssignmentStatus::Missed));
        let missed_events = assignment_event::Entity::find()
            .filter(assignment_event::Column::ToStatus.eq(AssignmentStatus::Missed))
            .filter(assignment_event::Column::ActorId.is_null())
            .count(&db)
            .await
            .unwrap();
        assert_eq!(missed_events as usize, total_expected);

        let results = kpi_result::Entity::find().all(&db).await.unwrap();
        for (p, d) in stored.iter().zip(&dates) {
            let got: BTreeSet<i64> = results.iter().filter(|r| r.period_id == p.id).map(|r| r.employee_id).collect();
            let want: BTreeSet<i64> = org.employees.iter().filter(|e| active_in(e, *d)).map(|e| e.id).collect();
            assert_eq!(got, want, "results of {}", p.starts_on);
        }
        // A leaver's last period: Sophie left on 15 May, so she has a result for 1–15 May
        // and none after; Olga, hired on 10 March, has one for 1–15 March.
        let name = |n: &str| org.employees.iter().find(|e| e.name == n).unwrap().id;
        let has = |who: i64, starts_on: NaiveDate| {
            let p = stored.iter().find(|p| p.starts_on == starts_on).unwrap();
            results.iter().any(|r| r.employee_id == who && r.period_id == p.id)
        };
        assert!(has(name("Sophie May"), date(2026, 5, 1)) && !has(name("Sophie May"), date(2026, 5, 16)));
        assert!(has(name("Olga March"), date(2026, 3, 1)) && !has(name("Olga March"), date(2026, 2, 16)));
    }
}

async fn first_due(db: &DatabaseConnection, period_id: i64) -> Option<DateTime<Utc>> {
    assignment::Entity::find()
        .filter(assignment::Column::PeriodId.eq(period_id))
        .one(db)
        .await
        .unwrap()
        .map(|a| a.due_at)
}

on_both! {
    async fn daylight_saving_weekends_cross_each_boundary_once(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        let db = test_db.connect().await;
        let company = berlin();
        let ops = add_department(&db, "Operations").await;
        let lead = add_employee(&db, "Otto Lead", ops, None, date(2020, 1, 1), None).await;
        let worker = add_employee(&db, "Oleg Worker", ops, Some(lead.id), date(2020, 1, 1), None).await;
        add_template(&db, "Fortnight check", (Some(worker.id), None, None, 1, date(2026, 1, 1), Some(14))).await;
        // Every half hour over the two daylight-saving weekends of 2026 and the boundaries
        // after them (Berlin's midnights fall on whole UTC hours, so a tick lands on each);
        // the scheduler is down in between.
        let windows = [(utc(2026, 3, 27, 0), utc(2026, 4, 3, 0)), (utc(2026, 10, 23, 0), utc(2026, 11, 3, 0))];
        for (from, to) in windows {
            let mut at = from;
            while at < to {
                tick(&db, &company, at).await;
                at += Duration::minutes(30);
            }
        }
        let stored = periods(&db).await;
        let berlin_tz = chrono_tz::Europe::Berlin;
        for pair in stored.windows(2) {
            assert_eq!(pair[0].ends_at, pair[1].starts_at, "no gap or overlap after {}", pair[0].starts_on);
            assert_eq!(pair[1].starts_on, pair[0].ends_on.succ_opt().unwrap());
        }
        for p in &stored {
            let local = p.starts_at.with_timezone(&berlin_tz);
            assert_eq!((local.date_naive(), local.time()), (p.starts_on, NaiveTime::MIN), "{} starts at local midnight", p.starts_on);
        }
        let by_start = |d: NaiveDate| stored.iter().find(|p| p.starts_on == d).unwrap_or_else(|| panic!("period {d}"));
        // 16–31 March loses an hour on 29 March; 16–31 October gains one on 25 October.
        let march = by_start(date(2026, 3, 16));
        assert_eq!((march.starts_at, march.ends_at), (utc(2026, 3, 15, 23), utc(2026, 3, 31, 22)));
        assert_eq!(march.ends_at - march.starts_at, Duration::hours(16 * 24 - 1));
        let october = by_start(date(2026, 10, 16));
        assert_eq!((october.starts_at, october.ends_at), (utc(2026, 10, 15, 22), utc(2026, 10, 31, 23)));
        assert_eq!(october.ends_at - october.starts_at, Duration::hours(16 * 24 + 1));
        // Each boundary inside a window was crossed once, at the first tick at or after it.
        assert_eq!(by_start(date(2026, 4, 1)).opened_at, utc(2026, 3, 31, 22));
        assert_eq!(march.closed_at, Some(utc(2026, 4, 1, 22)));
        assert_eq!(by_start(date(2026, 11, 1)).opened_at, utc(2026, 10, 31, 23));
        assert_eq!(october.closed_at, Some(utc(2026, 11, 1, 23)));
        let opened: i64 = scheduler_run::Entity::find()
            .filter(scheduler_run::Column::Step.eq("open"))
            .all(&db)
            .await
            .unwrap()
            .iter()
            .map(|r| serde_json::from_str::<serde_json::Value>(&r.counts).unwrap()["opened"].as_i64().unwrap())
            .sum();
        assert_eq!(opened as usize, stored.len(), "no period was opened twice");
        let closes = scheduler_run::Entity::find().filter(scheduler_run::Column::Step.eq("close")).filter(scheduler_run::Column::PeriodId.is_not_null()).count(&db).await.unwrap();
        assert_eq!(closes as usize, stored.iter().filter(|p| p.status == PeriodStatus::Closed).count(), "no period was closed twice");
        // A 14-day offset counts local days: due at local midnight of 30 March, after the
        // clocks went forward (22:00 UTC, not 23:00), and of 30 October, after they went back.
        assert_eq!(first_due(&db, march.id).await, Some(utc(2026, 3, 29, 22)));
        assert_eq!(first_due(&db, october.id).await, Some(utc(2026, 10, 29, 23)));
        // Periods opened after their end, during the downtime, have no duties.
        assert_eq!(first_due(&db, by_start(date(2026, 6, 1)).id).await, None);
    }
}

on_both! {
    async fn forty_days_of_downtime_then_one_tick(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        let db = test_db.connect().await;
        let company = utc_company();
        let org = seed_org(&db).await;
        let first = tick(&db, &company, t0()).await;
        assert_eq!(first.opened.iter().map(|p| p.starts_on).collect::<Vec<_>>(), [date(2026, 11, 16)]);
        assert!(first.generated.created > 0);

        let later = t0() + Duration::days(40); // 30 December
        let report = tick(&db, &company, later).await;
        let starts = |ps: &[NaiveDate]| ps.to_vec();
        assert_eq!(report.opened.iter().map(|p| p.starts_on).collect::<Vec<_>>(), starts(&[date(2026, 12, 1), date(2026, 12, 16)]));
        assert_eq!(report.closed.iter().map(|c| c.starts_on).collect::<Vec<_>>(), starts(&[date(2026, 11, 16), date(2026, 12, 1)]), "closed oldest first");
        let closes: Vec<Option<i64>> = scheduler_run::Entity::find()
            .filter(scheduler_run::Column::Step.eq("close"))
            .filter(scheduler_run::Column::TickAt.eq(later))
            .order_by_asc(scheduler_run::Column::Id)
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.period_id)
            .collect();
        assert_eq!(closes, report.closed.iter().map(|c| Some(c.period_id)).collect::<Vec<_>>(), "each close is logged, in order");

        let stored = periods(&db).await;
        let count = |p: &period::Model| assignment::Entity::find().filter(assignment::Column::PeriodId.eq(p.id)).count(&db);
        assert!(count(&stored[0]).await.unwrap() > 0);
        assert_eq!(count(&stored[1]).await.unwrap(), 0, "a period opened after its end gets no duties");
        assert!(count(&stored[2]).await.unwrap() > 0, "the current period gets its duties");
        // Due dates that had passed by the catch-up (the 7-day offset) moved to the period's end.
        let current = assignment::Entity::find().filter(assignment::Column::PeriodId.eq(stored[2].id)).all(&db).await.unwrap();
        assert!(current.iter().all(|a| a.due_at == stored[2].ends_at), "past due dates move to ends_at");
        for p in &stored[..2] {
            assert_eq!(p.status, PeriodStatus::Closed);
            let d = PeriodDates { starts_on: p.starts_on, ends_on: p.ends_on };
            let results = kpi_result::Entity::find().filter(kpi_result::Column::PeriodId.eq(p.id)).count(&db).await.unwrap();
            assert_eq!(results as usize, org.employees.iter().filter(|e| active_in(e, d)).count());
        }
        assert_eq!(stored[2].status, PeriodStatus::Open);
        // The same tick again changes nothing.
        let again = tick(&db, &company, later).await;
        assert!(!again.did_something(), "{again}");
    }
}

/// Makes the database refuse the rows of `table` that match `condition` (on `NEW`): a
/// failure injected from outside the product, by a trigger.
pub async fn refuse_inserts(db: &DatabaseConnection, kind: Kind, table: &str, condition: &str) {
    use sea_orm::ConnectionTrait;
    let statements = match kind {
        Kind::Sqlite => vec![format!(
            "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} WHEN {condition} \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )],
        Kind::Postgres => vec![
            format!(
                "CREATE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF {condition} THEN RAISE EXCEPTION 'injected failure'; END IF; \
                 RETURN NEW; END $$"
            ),
            format!(
                "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_{table}()"
            ),
        ],
    };
    for statement in statements {
        db.execute_unprepared(&statement).await.unwrap();
    }
}

/// Removes what [`refuse_inserts`] installed on `table`.
pub async fn accept_inserts_again(db: &DatabaseConnection, kind: Kind, table: &str) {
    use sea_orm::ConnectionTrait;
    let statements = match kind {
        Kind::Sqlite => vec![format!("DROP TRIGGER refuse_{table}")],
        Kind::Postgres => vec![
            format!("DROP TRIGGER refuse_{table} ON {table}"),
            format!("DROP FUNCTION refuse_{table}()"),
        ],
    };
    for statement in statements {
        db.execute_unprepared(&statement).await.unwrap();
    }
}

on_both! {
    async fn a_close_that_fails_midway_leaves_nothing_and_the_next_tick_finishes_it(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        let db = test_db.connect().await;
        let company = utc_company();
        let org = seed_org(&db).await;
        tick(&db, &company, t0()).await;
        let p = periods(&db).await.remove(0);
        let duties = assignment::Entity::find().filter(assignment::Column::PeriodId.eq(p.id)).count(&db).await.unwrap();
        let events_before = assignment_event::Entity::find().count(&db).await.unwrap();
        let close_time = p.ends_at + Duration::hours(24);
        let d = PeriodDates { starts_on: p.starts_on, ends_on: p.ends_on };

        // The close writes results by employee id, after marking the unfinished duties
        // missed: the database refuses the fourth, as a crash or a lost connection would.
        let ids: BTreeSet<i64> = org.employees.iter().filter(|e| active_in(e, d)).map(|e| e.id).collect();
        let fourth = *ids.iter().nth(3).unwrap();
        refuse_inserts(&db, kind, "kpi_result", &format!("NEW.employee_id = {fourth}")).await;
        let failed = domain::close::close_if_due(&db, &company, p.id, close_time).await;
        assert!(failed.as_ref().is_err_and(|e| e.to_string().contains("injected failure")), "the injected failure surfaces: {failed:?}");
        let p_after = period::Entity::find_by_id(p.id).one(&db).await.unwrap().unwrap();
        assert_eq!((p_after.status, p_after.closed_at), (PeriodStatus::Open, None));
        assert_eq!(kpi_result::Entity::find().count(&db).await.unwrap(), 0, "no result of the failed close is left");
        assert_eq!(assignment_event::Entity::find().count(&db).await.unwrap(), events_before, "no missed event is left");
        let todo = assignment::Entity::find().filter(assignment::Column::Status.eq(AssignmentStatus::Todo)).count(&db).await.unwrap();
        assert_eq!(todo, duties, "no assignment was marked missed");

        accept_inserts_again(&db, kind, "kpi_result").await;

        // The items are written in the same transaction: refusing one takes every result
        // back with it.
        refuse_inserts(&db, kind, "kpi_item", "NEW.position = 2").await;
        let failed = domain::close::close_if_due(&db, &company, p.id, close_time).await;
        assert!(failed.is_err(), "the injected failure surfaces: {failed:?}");
        assert_eq!(kpi_result::Entity::find().count(&db).await.unwrap(), 0, "no result without its items");
        assert_eq!(kpi_item::Entity::find().count(&db).await.unwrap(), 0);
        accept_inserts_again(&db, kind, "kpi_item").await;

        let report = tick(&db, &company, close_time).await;
        assert_eq!(report.closed.len(), 1);
        let active = org.employees.iter().filter(|e| active_in(e, d)).count();
        assert_eq!(report.closed[0].results as usize, active);
        assert_eq!(report.closed[0].missed as u64, duties);
        assert_eq!(kpi_result::Entity::find().count(&db).await.unwrap() as usize, active);
        // Every result is itemized, and its items' shown points add up to its KPI.
        let items = kpi_item::Entity::find().all(&db).await.unwrap();
        let results = kpi_result::Entity::find().all(&db).await.unwrap();
        // No foreign key says so (migration `m20261129_000001_kpi_item_key`): every item
        // belongs to a result of this close.
        let ids: std::collections::HashSet<i64> = results.iter().map(|r| r.id).collect();
        assert!(items.iter().all(|i| ids.contains(&i.result_id)), "an item without its result");
        for r in results {
            assert!(r.itemized);
            let points: i64 = items.iter().filter(|i| i.result_id == r.id).map(|i| i.points_x100).sum();
            assert_eq!(points, r.kpi_x100, "the items of {} add up to its KPI", r.employee_id);
        }
        assert!(items.iter().any(|i| i.kind == "duty" && i.outcome == "missed"), "the missed duties are items");
        let missed = assignment_event::Entity::find().filter(assignment_event::Column::ToStatus.eq(AssignmentStatus::Missed)).count(&db);
        assert_eq!(missed.await.unwrap(), duties, "one system event per missed duty");
        assert_eq!(period::Entity::find_by_id(p.id).one(&db).await.unwrap().unwrap().status, PeriodStatus::Closed);
        // An admin's close of a closed period is a conflict; of an unknown one, not found.
        let again = domain::close::close_period(&db, &domain::auth::Principal::System, &company, p.id, close_time).await;
        assert!(matches!(again, Err(domain::DomainError::Conflict(_))), "{again:?}");
        let none = domain::close::close_period(&db, &domain::auth::Principal::System, &company, 999_999, close_time).await;
        assert!(matches!(none, Err(domain::DomainError::NotFound(_))), "{none:?}");
    }
}

/// The rows of the domain tables, without ids or anything a second instance could not
/// reproduce, keyed by natural keys: what two schedulers must agree on.
async fn domain_rows(db: &DatabaseConnection) -> Vec<String> {
    let periods = periods(db).await;
    let start_of: BTreeMap<i64, NaiveDate> = periods.iter().map(|p| (p.id, p.starts_on)).collect();
    let mut rows: Vec<String> = periods
        .iter()
        .map(|p| {
            format!(
                "period {} {} {} {} {:?} v{} {} {:?}",
                p.starts_on,
                p.ends_on,
                p.starts_at,
                p.ends_at,
                p.status,
                p.policy_version,
                p.opened_at,
                p.closed_at
            )
        })
        .collect();
    let assignments = assignment::Entity::find().all(db).await.unwrap();
    let key: BTreeMap<i64, String> = assignments
        .iter()
        .map(|a| {
            (
                a.id,
                format!(
                    "{} {:?} {} {}",
                    start_of[&a.period_id], a.template_id, a.assignee_id, a.title
                ),
            )
        })
        .collect();
    rows.extend(assignments.iter().map(|a| {
        format!(
            "assignment {} {} {:?} {} {:?} {:?} {:?} {} v{}",
            key[&a.id],
            a.controller_id,
            a.kind,
            a.due_at,
            a.status,
            a.submitted_at,
            a.decided_at,
            a.created_at,
            a.version
        )
    }));
    rows.extend(
        assignment_event::Entity::find()
            .all(db)
            .await
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "event {} {:?} {:?} {:?} {:?} {}",
                    key[&e.assignment_id], e.actor_id, e.from_status, e.to_status, e.comment, e.at
                )
            }),
    );
    let results = kpi_result::Entity::find().all(db).await.unwrap();
    let result_key: BTreeMap<i64, String> = results
        .iter()
        .map(|r| {
            (
                r.id,
                format!("{} {}", start_of[&r.period_id], r.employee_id),
            )
        })
        .collect();
    rows.extend(
        kpi_item::Entity::find()
            .all(db)
            .await
            .unwrap()
            .iter()
            .map(|i| {
                format!(
                    "item {} {} {} {:?} {} {:?} {:?} {} {:?} {} {} {} {} {}",
                    result_key[&i.result_id],
                    i.position,
                    i.kind,
                    i.subject_id
                        .map(|id| key.get(&id).cloned().unwrap_or(id.to_string())),
                    i.title,
                    i.due_at,
                    i.met_at,
                    i.outcome,
                    i.ratio,
                    i.weight,
                    i.credit,
                    i.points,
                    i.points_x100,
                    i.points_lost
                )
            }),
    );
    rows.extend(results.iter().map(|r| {
        format!(
            "result {} {} v{} {} {} {:?} {} {} {} {} {} {} {}",
            start_of[&r.period_id],
            r.employee_id,
            r.policy_version,
            r.kpi_x100,
            r.discipline_x100,
            r.targets_x100,
            r.eligible,
            r.bonus_factor_x10000,
            r.reasons,
            r.duties_missed,
            r.duties_late,
            r.obligations,
            r.computed_at
        )
    }));
    rows.sort();
    rows
}

on_both! {
    async fn two_schedulers_ticking_together_write_what_one_writes(kind: Kind) {
        // Every six hours for ten weeks, with a four-week outage in the middle so catch-up
        // races too.
        let mut instants: Vec<DateTime<Utc>> = (0..4 * 30).map(|i| t0() + Duration::hours(6 * i)).collect();
        let after_outage = *instants.last().unwrap() + Duration::days(28);
        instants.extend((0..4 * 14).map(|i| after_outage + Duration::hours(6 * i)));
        let company = utc_company();

        let alone_db = TestDb::new(kind).await;
        let alone = alone_db.connect().await;
        seed_org(&alone).await;
        for at in &instants {
            tick(&alone, &company, *at).await;
        }

        let shared_db = TestDb::new(kind).await;
        let first = shared_db.connect().await;
        seed_org(&first).await;
        // Separate pools, as two processes would have.
        let second = domain::db::connect(&shared_db.url).await.unwrap();
        for at in &instants {
            let (a, b) = tokio::join!(domain::tick::tick(&first, &domain::auth::Principal::System, &company, *at), domain::tick::tick(&second, &domain::auth::Principal::System, &company, *at));
            a.unwrap_or_else(|e| panic!("first scheduler at {at}: {e}"));
            b.unwrap_or_else(|e| panic!("second scheduler at {at}: {e}"));
        }

        let expected = domain_rows(&alone).await;
        assert!(expected.iter().any(|r| r.starts_with("result")), "the run closed periods");
        assert_eq!(domain_rows(&first).await, expected);
    }
}

/// Inserts an assignment in its final state, as the transitions would have left it.
#[expect(
    clippy::too_many_arguments,
    reason = "a row literal; each argument is a column"
)]
async fn add_assignment(
    db: &DatabaseConnection,
    period_id: i64,
    kind: AssignmentKind,
    assignee: i64,
    controller: i64,
    weight: f64,
    due_at: DateTime<Utc>,
    status: AssignmentStatus,
    submitted_at: Option<DateTime<Utc>>,
    decided_at: Option<DateTime<Utc>>,
) {
    let state = (status, submitted_at, decided_at);
    insert_assignment(
        db,
        period_id,
        (kind, "work"),
        (assignee, controller),
        weight,
        due_at,
        state,
    )
    .await;
}

async fn live_kpi(
    db: &DatabaseConnection,
    company: &Company,
    period_id: i64,
    who: i64,
    at: DateTime<Utc>,
) -> domain::kpi::Evaluation {
    domain::results::live_kpi(db, company, period_id, who, at)
        .await
        .unwrap()
        .expect("the period exists")
}

async fn result_of(db: &DatabaseConnection, who: i64) -> kpi_result::Model {
    kpi_result::Entity::find()
        .filter(kpi_result::Column::EmployeeId.eq(who))
        .one(db)
        .await
        .unwrap()
        .expect("a result")
}

on_both! {
    async fn the_worked_examples_as_rows(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        let db = test_db.connect().await;
        let company = utc_company();
        let old = date(2020, 1, 1);
        let dept_a = add_department(&db, "A").await;
        let dept_b = add_department(&db, "B").await;
        let dept_c = add_department(&db, "C").await;
        let dept_k = add_department(&db, "Controllers").await;
        let boss = add_employee(&db, "Kay Control", dept_k, None, old, None).await.id;
        let helper = add_employee(&db, "Hal Helper", dept_k, Some(boss), old, None).await.id;
        let a = add_employee(&db, "Employee A", dept_a, Some(boss), old, None).await.id;
        let b = add_employee(&db, "Employee B", dept_b, Some(boss), old, None).await.id;
        let c = add_employee(&db, "Employee C", dept_c, Some(boss), old, None).await.id;
        domain::periods::open_due(&db, &domain::auth::Principal::System, &company, t0()).await.unwrap();
        let p = periods(&db).await.remove(0); // 16–30 November 2026, UTC
        let h = |hours: i64| p.starts_at + Duration::hours(hours);
        let due = h(24 * 5);

        use AssignmentKind::{Additional, Duty};
        use AssignmentStatus::{Accepted, Submitted};
        // A: four duties, three on time (one exactly at due_at) and one late; an additional
        // assignment of weight 2 on time.
        for submitted in [due - Duration::hours(10), due - Duration::hours(1), due, due + Duration::hours(6)] {
            add_assignment(&db, p.id, Duty, a, boss, 1.0, due, Accepted, Some(submitted), Some(submitted + Duration::hours(1))).await;
        }
        add_assignment(&db, p.id, Additional, a, boss, 2.0, due, Accepted, Some(h(5)), Some(h(6))).await;
        // A votes on a proposal of department A closing in the period.
        let proposal = proposal::ActiveModel {
            title: Set("p".into()),
            body: Set(String::new()),
            author_id: Set(Some(boss)),
            department_id: Set(Some(dept_a)),
            opens_at: Set(h(1)),
            closes_at: Set(h(100)),
            created_at: Set(h(1)),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
        vote::ActiveModel { proposal_id: Set(proposal.id), employee_id: Set(a), choice: Set(entity::enums::VoteChoice::For), voted_at: Set(h(99)), ..Default::default() }
            .insert(&db)
            .await
            .unwrap();
        // Two mandatory articles for department A: one read within a day, one never.
        for read in [Some(h(34)), None] {
            let art = article::ActiveModel {
                title: Set("a".into()),
                link: Set(None),
                body: Set(Some("b".into())),
                author_id: Set(Some(boss)),
                department_id: Set(Some(dept_a)),
                mandatory: Set(true),
                published_at: Set(h(10)),
                created_at: Set(h(10)),
                ..Default::default()
            }
            .insert(&db)
            .await
            .unwrap();
            if let Some(at) = read {
                article_read::ActiveModel { article_id: Set(art.id), employee_id: Set(a), read_at: Set(at), ..Default::default() }
                    .insert(&db)
                    .await
                    .unwrap();
            }
        }
        // A's target: 5 extra services, 6 sold.
        kpi_target::ActiveModel {
            period_id: Set(p.id),
            employee_id: Set(a),
            metric: Set("extra_services_sold".into()),
            target_value: Set(5.0),
            actual_value: Set(Some(6.0)),
            weight: Set(1.0),
            recorded_at: Set(Some(h(200))),
            recorded_by: Set(Some(boss)),
            created_at: Set(h(0)),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
        // B controls six submissions made at hour 10: four decided within 48 hours (one at
        // exactly 48), one after three days, one still pending at close; B's own two duties
        // are on time.
        let submitted = h(10);
        for decided in [Some(1), Some(20), Some(47), Some(48), Some(72), None] {
            let (status, decided_at) = match decided {
                Some(hours) => (Accepted, Some(submitted + Duration::hours(hours))),
                None => (Submitted, None),
            };
            add_assignment(&db, p.id, Duty, helper, b, 1.0, due, status, Some(submitted), decided_at).await;
        }
        for _ in 0..2 {
            add_assignment(&db, p.id, Duty, b, boss, 1.0, due, Accepted, Some(h(1)), Some(h(2))).await;
        }
        // A duty cancelled along the way owes nothing to anyone.
        add_assignment(&db, p.id, Duty, c, boss, 1.0, due, AssignmentStatus::Cancelled, Some(h(3)), None).await;

        // D has a duty done early and one not started, due at the period's end.
        let d = add_employee(&db, "Dee Later", dept_k, Some(boss), old, None).await.id;
        add_assignment(&db, p.id, Duty, d, boss, 1.0, p.ends_at, Submitted, Some(h(20)), None).await;
        add_assignment(&db, p.id, Duty, d, boss, 1.0, p.ends_at, AssignmentStatus::Todo, None, None).await;

        // The live KPI counts what is done or due: at hour 50 the duty not due yet does not
        // count; an hour after the period's end (still open) it counts as missed.
        let live = |who: i64, at: DateTime<Utc>| live_kpi(&db, &company, p.id, who, at);
        let early = live(d, h(50)).await;
        assert_eq!((early.kpi_x100, early.tally.iter().map(|t| t.count).sum::<u32>()), (10000, 1));
        let overdue = live(d, p.ends_at + Duration::hours(1)).await;
        assert_eq!((overdue.kpi_x100, overdue.duties_missed), (5000, 1));
        // Once everything of A's is settled, the live figure is what the close will store.
        assert_eq!(live(a, h(130)).await.kpi_x100, 10444);
        assert!(domain::results::live_kpi(&db, &company, 999_999, a, h(50)).await.unwrap().is_none());

        let close_time = p.ends_at + Duration::hours(24);
        let report = tick(&db, &company, close_time).await;
        assert_eq!(report.closed.len(), 1);
        let result_of = |who: i64| result_of(&db, who);
        let ra = result_of(a).await;
        assert_eq!((ra.discipline_x100, ra.targets_x100, ra.kpi_x100), (8889, Some(12000), 10444));
        assert_eq!((ra.eligible, ra.bonus_factor_x10000, ra.reasons.as_str()), (false, 0, "DUTY_LATE"));
        assert_eq!((ra.duties_missed, ra.duties_late, ra.policy_version), (0, 1, 1));
        let tally: serde_json::Value = serde_json::from_str(&ra.obligations).unwrap();
        assert!(tally.as_array().unwrap().contains(&serde_json::json!({ "kind": "reading", "outcome": "missed", "count": 1, "weight": 0.25 })), "{tally}");
        let rb = result_of(b).await;
        assert_eq!((rb.kpi_x100, rb.eligible, rb.bonus_factor_x10000, rb.reasons.as_str()), (8500, true, 8500, ""));
        let rc = result_of(c).await;
        assert_eq!((rc.kpi_x100, rc.eligible, rc.bonus_factor_x10000), (10000, true, 10000));
        // After the close, the live projection of a closed period is the stored result.
        let after = live(a, close_time + Duration::days(3)).await;
        assert_eq!((after.kpi_x100, after.eligible), (10444, false));
        assert_eq!(live(d, close_time).await.kpi_x100, result_of(d).await.kpi_x100);

        // The export shows the same numbers, and adjustments beside them.
        use domain::auth::{Principal, Scope};
        let payroll_admin = Principal::Service { name: "payroll".into(), scopes: vec![Scope::Admin], token_id: 0 };
        domain::results::adjust(&db, &payroll_admin, ra.id, -150, "late duty was excused", close_time).await.unwrap();
        let manager = Principal::Employee { id: boss, role: entity::enums::Role::Manager, payroll: false, token_id: 0 };
        let refused = domain::results::adjust(&db, &manager, ra.id, 100, "not an admin's", close_time).await;
        assert!(matches!(refused, Err(domain::DomainError::Forbidden(_))), "{refused:?}");
        let blank = domain::results::adjust(&db, &Principal::System, ra.id, 100, "  ", close_time).await;
        assert!(matches!(blank, Err(domain::DomainError::BadInput { field: "reason", .. })), "{blank:?}");
        let rows = domain::export::bonus_rows(&db, &domain::auth::Principal::System, p.starts_on).await.unwrap();
        let row_a = rows.iter().find(|r| r.employee_id == a).unwrap();
        assert_eq!((row_a.kpi_x100, row_a.adjustment_total_x100, row_a.reasons.clone()), (10444, -150, vec!["DUTY_LATE".to_owned()]));
        let csv = domain::export::to_csv(&rows);
        assert!(csv.contains(",104.44,false,0.0000,DUTY_LATE,-1.50,1\n"), "{csv}");
        assert!(csv.contains(",85.00,true,0.8500,,0.00,1\n"), "{csv}");
        assert_eq!(rows.iter().map(|r| r.employee_id).collect::<Vec<_>>(), { let mut ids = rows.iter().map(|r| r.employee_id).collect::<Vec<_>>(); ids.sort(); ids });
        assert_eq!(domain::results::average_kpi_x100(&db, a, 6).await.unwrap(), Some(10444), "results as stored, adjustments beside");
        assert_eq!(domain::results::average_kpi_x100(&db, 999_999, 6).await.unwrap(), None);
        assert!(matches!(domain::export::bonus_rows(&db, &domain::auth::Principal::System, date(2026, 12, 1)).await, Err(domain::export::ExportError::NotClosed(_))));
        assert!(matches!(domain::export::bonus_rows(&db, &domain::auth::Principal::System, date(2027, 1, 1)).await, Err(domain::export::ExportError::NoSuchPeriod(_))));
    }
}

on_both! {
    async fn the_demo_has_six_closed_periods_of_varied_results(kind: Kind) {
        let app = TestApp::start(kind).await;
        let began = Instant::now();
        app.demo().await;
        eprintln!("{kind:?}: demo loaded in {:.2} s", began.elapsed().as_secs_f64());
        let db = &app.db;
        let stored = periods(db).await;
        let closed: Vec<&period::Model> = stored.iter().filter(|p| p.status == PeriodStatus::Closed).collect();
        assert!(closed.len() >= 6, "{} closed", closed.len());
        assert_eq!(stored.iter().filter(|p| p.status == PeriodStatus::Open).count(), 1);
        let last = closed.last().unwrap();
        let results = kpi_result::Entity::find().filter(kpi_result::Column::PeriodId.eq(last.id)).all(db).await.unwrap();
        assert!(results.len() >= 15, "{} results", results.len());
        let kpis: BTreeSet<i64> = results.iter().map(|r| r.kpi_x100).collect();
        assert!(kpis.len() >= 3, "KPI values {kpis:?}");
        let all = kpi_result::Entity::find().all(db).await.unwrap();
        for r in &all {
            assert_eq!(r.eligible, r.bonus_factor_x10000 > 0, "{r:?}");
            assert_eq!(r.eligible, r.reasons.is_empty(), "{r:?}");
        }
        assert!(all.iter().any(|r| r.reasons.contains("DUTY_MISSED")) && all.iter().any(|r| r.reasons.contains("DUTY_LATE")));
        // People hired 40 days ago have no result for the periods before they joined.
        let people = employee::Entity::find().all(db).await.unwrap();
        for r in &all {
            let who = people.iter().find(|e| e.id == r.employee_id).unwrap();
            let p = stored.iter().find(|p| p.id == r.period_id).unwrap();
            assert!(who.hired_on <= p.ends_on, "{} has a result for {} before joining", who.name, p.starts_on);
        }
        assert!(people.iter().any(|e| e.hired_on > closed[0].ends_on), "someone joined during the history");
        // Every obligation kind occurred in the history.
        let kinds: BTreeSet<String> = all
            .iter()
            .flat_map(|r| serde_json::from_str::<serde_json::Value>(&r.obligations).unwrap().as_array().unwrap().clone())
            .map(|t| t["kind"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(kinds.into_iter().collect::<Vec<_>>(), ["acceptance", "additional", "duty", "reading", "vote"]);
        // The average over the history is there for the demo employee.
        let pavel = domain::directory::employee_id_by_email(db, "pavel.lebedev@zeroboard.demo").await.unwrap().unwrap();
        assert!(domain::results::average_kpi_x100(db, pavel, 6).await.unwrap().is_some());

        // Forty days later, twice: the missed periods open and close once.
        let later = app.clock.now() + Duration::days(40);
        tick(db, &app.company, later).await;
        tick(db, &app.company, later).await;
        let after = periods(db).await;
        let starts: BTreeSet<NaiveDate> = after.iter().map(|p| p.starts_on).collect();
        assert_eq!(starts.len(), after.len(), "no duplicate periods");
        assert!(after.iter().filter(|p| p.status == PeriodStatus::Closed).count() >= closed.len() + 2);
        assert_eq!(after.iter().filter(|p| p.status == PeriodStatus::Open).count(), 1);
    }
}

on_both! {
    async fn tick_and_export_through_the_binary(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        let db = test_db.connect().await;
        seed_org(&db).await;
        let run = |args: &[&str]| crate::cli::zeroboard(&test_db.url).args(args).output().unwrap();
        let out = run(&["tick", "--now", "2026-11-20T10:00:00Z"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let printed = String::from_utf8(out.stdout).unwrap();
        assert!(printed.starts_with("tick at 2026-11-20T10:00:00+00:00\n"), "{printed}");
        assert!(printed.contains("opened:    2026-11-16 to 2026-11-30"), "{printed}");
        // Not closed yet: a clear line on stderr and a failing exit code.
        let out = run(&["export", "bonus", "--period", "2026-11-16"]);
        assert!(!out.status.success() && out.stdout.is_empty());
        assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "zeroboard: the period starting on 2026-11-16 is not closed yet");
        let out = run(&["export", "bonus", "--period", "2020-01-01", "--format", "json"]);
        assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "zeroboard: no period starts on 2020-01-01");
        assert!(!out.status.success());
        let out = run(&["tick", "--now", "tomorrow"]);
        assert_eq!(out.status.code(), Some(2), "a bad instant is a usage error");

        let out = run(&["tick", "--now", "2026-12-02T00:00:00Z", "--allow-future"]);
        assert!(String::from_utf8(out.stdout).unwrap().contains("closed:    2026-11-16 to 2026-11-30"));
        let csv = String::from_utf8(run(&["export", "bonus", "--period", "2026-11-16", "--format", "csv"]).stdout).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&run(&["export", "bonus", "--period", "2026-11-16", "--format", "json"]).stdout).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], domain::export::COLUMNS.join(","));
        let json = json.as_array().unwrap();
        assert_eq!(lines.len() - 1, json.len());
        assert!(json.len() >= 5);
        // The same numbers in both: kpi, eligibility, factor, reasons.
        for (line, row) in lines[1..].iter().zip(json) {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields[0], row["employee_id"].to_string());
            assert_eq!(fields[6].parse::<f64>().unwrap(), row["kpi"].as_f64().unwrap());
            assert_eq!(fields[7], row["eligible"].to_string());
            assert_eq!(fields[8].parse::<f64>().unwrap(), row["bonus_factor"].as_f64().unwrap());
            let reasons: Vec<String> = row["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_owned()).collect();
            assert_eq!(fields[9], reasons.join(";"));
        }
    }
}

on_both! {
    async fn a_new_policy_version_applies_to_periods_opened_afterwards(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        let db = test_db.connect().await;
        let company = utc_company();
        seed_org(&db).await;
        tick(&db, &company, t0()).await; // opens 16–30 November under version 1
        let bad = domain::kpi::Policy { late_credit: 1.5, ..Default::default() };
        let refused = domain::policy::create_version(&db, &domain::auth::Principal::System, bad, None, t0()).await;
        assert!(matches!(refused, Err(domain::DomainError::BadInput { field: "late_credit", .. })), "{refused:?}");
        assert_eq!(domain::policy::current(&db).await.unwrap().version, 1, "nothing written");
        let strict = domain::kpi::Policy { close_after_hours: 48, bonus_min_kpi: 90.0, ..Default::default() };
        let v2 = domain::policy::create_version(&db, &domain::auth::Principal::System, strict, Some("stricter".into()), t0()).await.unwrap();
        assert_eq!((v2.version, v2.note.as_deref()), (2, Some("stricter")));
        assert_eq!(domain::policy::rules(&domain::policy::by_version(&db, 2).await.unwrap()).bonus_min_kpi, 90.0);

        // The open period keeps version 1 and closes a day after its end; the next one,
        // opened under version 2, closes two days after.
        let report = tick(&db, &company, utc(2026, 12, 2, 0)).await;
        assert_eq!(report.closed.len(), 1);
        let stored = periods(&db).await;
        assert_eq!((stored[0].policy_version, stored[1].policy_version), (1, 2));
        let results = kpi_result::Entity::find().filter(kpi_result::Column::PeriodId.eq(stored[0].id)).all(&db).await.unwrap();
        assert!(!results.is_empty() && results.iter().all(|r| r.policy_version == 1));
        assert!(tick(&db, &company, utc(2026, 12, 17, 0)).await.closed.is_empty(), "version 2 waits 48 hours");
        assert_eq!(tick(&db, &company, utc(2026, 12, 18, 0)).await.closed.len(), 1);
        let results = kpi_result::Entity::find().filter(kpi_result::Column::PeriodId.eq(stored[1].id)).all(&db).await.unwrap();
        assert!(!results.is_empty() && results.iter().all(|r| r.policy_version == 2));
    }
}

on_both! {
    async fn the_scheduler_process_ticks_at_start_and_stops_on_sigterm(kind: Kind) {
        use std::io::{BufRead, BufReader};
        let test_db = TestDb::new(kind).await;
        let db = test_db.connect().await;
        seed_org(&db).await;
        let mut child = crate::cli::zeroboard(&test_db.url)
            .arg("scheduler")
            .env("ZEROBOARD_LOG", "warn")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The line is printed after the start-up tick, so the current period exists by then.
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut line = lines.next().unwrap().unwrap();
        // On SQLite a scheduler apart from the server first warns that live subscribers
        // of a server in another process will not hear it.
        if kind == Kind::Sqlite {
            assert!(line.contains("WARN") && line.contains("live subscribers"), "{line}");
            line = lines.next().unwrap().unwrap();
        }
        assert!(line.starts_with("scheduler running on `0 * * * * *`"), "{line}");
        assert_eq!(periods(&db).await.len(), 1);
        let runs = scheduler_run::Entity::find().count(&db).await.unwrap();
        assert!(runs >= 3, "the start-up tick was logged: {runs} runs");
        let status = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        assert!(child.wait().unwrap().success(), "a clean exit on SIGTERM");
    }
}

on_both! {
    async fn seed_builds_the_same_company_from_the_same_seed(kind: Kind) {
        let spec = fixtures::seed::SeedSpec { employees: 60, periods: 2, seed: 42 };
        let mut rows = Vec::new();
        for _ in 0..2 {
            let test_db = TestDb::new(kind).await;
            let db = test_db.connect().await;
            let loaded = fixtures::seed::seed(&db, &utc_company(), spec, t0()).await.unwrap();
            assert!(matches!(loaded, fixtures::Loaded::Created { employees: 60, .. }), "{loaded:?}");
            let stored = periods(&db).await;
            assert_eq!(stored.iter().map(|p| p.status).collect::<Vec<_>>(), [PeriodStatus::Closed, PeriodStatus::Closed, PeriodStatus::Open]);
            let results = kpi_result::Entity::find().filter(kpi_result::Column::PeriodId.eq(stored[1].id)).count(&db).await.unwrap();
            assert!(results > 50, "{results} results");
            assert_eq!(fixtures::seed::seed(&db, &utc_company(), spec, t0()).await.unwrap(), fixtures::Loaded::AlreadyPresent);
            rows.push(domain_rows(&db).await);
        }
        assert_eq!(rows[0], rows[1]);
        let test_db = TestDb::new(kind).await;
        let db = test_db.connect().await;
        let tiny = fixtures::seed::SeedSpec { employees: 1, ..spec };
        assert!(matches!(fixtures::seed::seed(&db, &utc_company(), tiny, t0()).await, Err(domain::DomainError::BadInput { field: "employees", .. })));
    }
}

on_both! {
    async fn seeded_history_acts_before_the_close_its_policy_sets(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        let db = test_db.connect().await;
        // No delay between a period's end and its close: every move of the history must come
        // before the end itself, or the service refuses it and the seed fails.
        domain::policy::amend(&db, &domain::auth::Principal::System, |p| p.close_after_hours = 0, None, t0()).await.unwrap();
        let spec = fixtures::seed::SeedSpec { employees: 40, periods: 2, seed: 7 };
        let loaded = fixtures::seed::seed(&db, &utc_company(), spec, t0()).await.unwrap();
        assert!(matches!(loaded, fixtures::Loaded::Created { employees: 40, .. }), "{loaded:?}");
        let stored = periods(&db).await;
        assert_eq!(stored.iter().map(|p| (p.status, p.policy_version)).collect::<Vec<_>>(), [(PeriodStatus::Closed, 2), (PeriodStatus::Closed, 2), (PeriodStatus::Open, 2)]);
        let ends: BTreeMap<i64, DateTime<Utc>> = stored.iter().map(|p| (p.id, p.ends_at)).collect();
        let period_of: BTreeMap<i64, i64> = assignment::Entity::find().all(&db).await.unwrap().into_iter().map(|a| (a.id, a.period_id)).collect();
        let moves = assignment_event::Entity::find().filter(assignment_event::Column::ActorId.is_not_null()).all(&db).await.unwrap();
        assert!(moves.len() > 100, "{} moves", moves.len());
        let late: Vec<_> = moves.iter().filter(|e| e.at >= ends[&period_of[&e.assignment_id]]).collect();
        assert!(late.is_empty(), "moves at or after their period's end: {late:?}");
    }
}

on_both! {
    async fn a_batch_of_transitions_writes_what_they_write_one_at_a_time(kind: Kind) {
        use domain::DomainError;
        use domain::assignments::{Act, act, act_many};
        use domain::auth::Principal;
        use domain::transition::Action;
        use entity::enums::Role;
        let company = utc_company();
        let stores = [TestDb::new(kind).await, TestDb::new(kind).await];
        let mut dbs = Vec::new();
        for store in &stores {
            let db = store.connect().await;
            seed_org(&db).await;
            tick(&db, &company, t0()).await;
            dbs.push(db);
        }
        let people = employee::Entity::find().all(&dbs[0]).await.unwrap();
        let as_person = |id: i64| {
            let role = people.iter().find(|e| e.id == id).map_or(Role::Employee, |e| e.role);
            Principal::Employee { id, role, payroll: false, token_id: 0 }
        };
        let boss = people.iter().find(|e| e.role == Role::Admin).unwrap().id;
        let work = assignment::Entity::find().order_by_asc(assignment::Column::Id).all(&dbs[0]).await.unwrap();
        let apart = |x: &assignment::Model| x.assignee_id != boss && x.controller_id != boss;
        let mut apart_work = work.iter().filter(|x| apart(x));
        let (a, b, c) = (apart_work.next().unwrap(), apart_work.next().unwrap(), apart_work.next().unwrap());
        let at = |minutes: i64| t0() + Duration::minutes(minutes);
        let step = |x: &assignment::Model, by: i64, action: Action, comment: Option<&str>, minutes: i64| Act {
            who: as_person(by),
            assignment_id: x.id,
            action,
            comment: comment.map(str::to_owned),
            at: at(minutes),
        };
        let acts = vec![
            step(a, a.assignee_id, Action::Submit, None, 10),
            step(b, b.assignee_id, Action::Start, None, 20),
            step(a, a.controller_id, Action::Return, Some("Add the numbers."), 30),
            step(a, a.assignee_id, Action::Submit, None, 40),
            step(b, b.assignee_id, Action::Submit, None, 50),
            step(a, a.controller_id, Action::Accept, None, 60),
            step(c, boss, Action::Cancel, Some("Not needed this time."), 70),
        ];
        for m in &acts {
            act(&dbs[0], &m.who, m.assignment_id, m.action, m.comment.as_deref(), m.at).await.unwrap();
        }
        assert_eq!(act_many(&dbs[1], &acts).await.unwrap(), acts.len());
        let outbox = async |db: &DatabaseConnection| -> Vec<(String, Option<String>, String, DateTime<Utc>)> {
            entity::outbox_event::Entity::find().order_by_asc(entity::outbox_event::Column::Id).all(db).await.unwrap()
                .into_iter().map(|e| (e.event_type, e.dedupe_key, e.body, e.created_at)).collect()
        };
        let events = async |db: &DatabaseConnection| assignment_event::Entity::find().order_by_asc(assignment_event::Column::Id).all(db).await.unwrap();
        let all_work = async |db: &DatabaseConnection| assignment::Entity::find().order_by_asc(assignment::Column::Id).all(db).await.unwrap();
        let one_at_a_time = (all_work(&dbs[0]).await, events(&dbs[0]).await, outbox(&dbs[0]).await);
        let batched = (all_work(&dbs[1]).await, events(&dbs[1]).await, outbox(&dbs[1]).await);
        assert_eq!(batched, one_at_a_time);
        let status = |rows: &[assignment::Model], id: i64| rows.iter().find(|x| x.id == id).unwrap().status;
        assert_eq!([a.id, b.id, c.id].map(|id| status(&batched.0, id)), [AssignmentStatus::Accepted, AssignmentStatus::Submitted, AssignmentStatus::Cancelled]);
        assert_eq!(batched.2.iter().filter(|e| e.0 == "assignment.submitted").count(), 3);

        // All or nothing: the first refused transition refuses the batch, with act's error.
        let refused = act_many(&dbs[1], &[step(b, b.controller_id, Action::Accept, None, 80), step(a, a.assignee_id, Action::Submit, None, 90)]).await;
        assert!(matches!(refused, Err(DomainError::Conflict(_))), "{refused:?}");
        let stranger = people.iter().find(|e| people.iter().all(|r| r.manager_id != Some(e.id)) && e.id != b.assignee_id).unwrap().id;
        let unseen = act_many(&dbs[1], &[step(b, stranger, Action::Accept, None, 80)]).await;
        assert!(matches!(unseen, Err(DomainError::NotFound("assignment"))), "{unseen:?}");
        let bare = act_many(&dbs[1], &[step(b, b.controller_id, Action::Return, None, 80)]).await;
        assert!(matches!(bare, Err(DomainError::BadInput { field: "comment", .. })), "{bare:?}");
        let late = act_many(&dbs[1], &[step(b, b.controller_id, Action::Accept, None, 60 * 24 * 14)]).await;
        assert!(matches!(late, Err(DomainError::Conflict(ref m)) if m.contains("due to close")), "{late:?}");
        assert_eq!((all_work(&dbs[1]).await, events(&dbs[1]).await, outbox(&dbs[1]).await), batched, "nothing of a refused batch is written");
    }
}

on_both! {
    async fn a_failing_step_is_logged_and_the_next_tick_retries_it(kind: Kind) {
        use sea_orm::ConnectionTrait;
        let test_db = TestDb::new(kind).await;
        let db = test_db.connect().await;
        let company = utc_company();
        seed_org(&db).await;
        tick(&db, &company, t0()).await;
        let close_time = utc(2026, 12, 2, 0);
        // Take the results table away, so the close fails where it writes them.
        db.execute_unprepared("ALTER TABLE kpi_result RENAME TO kpi_result_away").await.unwrap();
        let failed = domain::tick::tick(&db, &domain::auth::Principal::System, &company, close_time).await;
        assert!(failed.is_err());
        let runs = scheduler_run::Entity::find().filter(scheduler_run::Column::TickAt.eq(close_time)).order_by_asc(scheduler_run::Column::Id).all(&db).await.unwrap();
        let steps: Vec<(&str, &str)> = runs.iter().map(|r| (r.step.as_str(), r.outcome.as_str())).collect();
        assert_eq!(steps, [("open", "ok"), ("generate", "ok"), ("close", "failed")]);
        let failure = runs.last().unwrap();
        assert!(failure.period_id.is_some() && failure.error.as_deref().is_some_and(|e| e.contains("kpi_result")), "{failure:?}");
        assert!(failure.finished_at.is_some_and(|f| f >= failure.started_at));
        assert_eq!(periods(&db).await[0].status, PeriodStatus::Open, "the failed close left nothing");

        db.execute_unprepared("ALTER TABLE kpi_result_away RENAME TO kpi_result").await.unwrap();
        let retried = tick(&db, &company, close_time + Duration::minutes(1)).await;
        assert_eq!(retried.closed.len(), 1);
        assert_eq!(periods(&db).await[0].status, PeriodStatus::Closed);
    }
}

/// Every stored period starts exactly where the one before it ends.
fn assert_back_to_back(stored: &[period::Model]) {
    for pair in stored.windows(2) {
        assert_eq!(
            pair[1].starts_at, pair[0].ends_at,
            "gap or overlap between {} and {}",
            pair[0].starts_on, pair[1].starts_on
        );
        assert_eq!(pair[1].starts_on, pair[0].ends_on.succ_opt().unwrap());
    }
    assert!(stored.iter().all(|p| p.ends_at > p.starts_at));
}

on_both! {
    async fn a_zone_or_cadence_change_applies_from_the_next_boundary_without_gap_or_overlap(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        let db = test_db.connect().await;
        seed_org(&db).await;
        let utc_semi = utc_company();
        tick(&db, &utc_semi, t0()).await; // 16–30 November, UTC
        assert_eq!(domain::company::stored(&db).await.unwrap(), Some(utc_semi.calendar), "the first tick stores the calendar");

        // Tokyo from the next boundary on.
        let tokyo = Company { calendar: Calendar::new(Cadence::SemiMonthly, chrono_tz::Asia::Tokyo) };
        let changed = domain::company::change(&db, &domain::auth::Principal::System, tokyo.calendar, t0()).await.unwrap();
        assert_eq!(changed.from, Some(utc_semi.calendar));
        let next = changed.next.expect("the next period");
        assert_eq!((next.dates.starts_on, next.starts_at, next.ends_at), (date(2026, 12, 1), utc(2026, 12, 1, 0), utc(2026, 12, 15, 15)));
        // A process still configured with UTC opens nothing and says why.
        let stale = domain::tick::tick(&db, &domain::auth::Principal::System, &utc_semi, utc(2026, 12, 1, 1)).await;
        assert!(matches!(&stale, Err(domain::DomainError::Conflict(m)) if m.contains("`timezone`")), "{stale:?}");
        assert_eq!(periods(&db).await.len(), 1);
        // Tokyo's first tick after UTC midnight opens the next period at the old end: no
        // nine hours in two periods, and a proposal closing in them is judged once.
        let report = tick(&db, &tokyo, utc(2026, 12, 1, 0)).await;
        assert_eq!(report.opened.len(), 1);
        let stored = periods(&db).await;
        assert_eq!((stored[1].starts_at, stored[1].ends_at, stored[1].ends_on), (utc(2026, 12, 1, 0), utc(2026, 12, 15, 15), date(2026, 12, 15)));
        tick(&db, &tokyo, utc(2026, 12, 16, 0)).await;
        assert_eq!(periods(&db).await[2].starts_at, utc(2026, 12, 15, 15), "then Tokyo's own midnights");

        // Los Angeles and monthly together: the next period starts at Tokyo's end (no
        // eight-hour gap) and runs to the end of the LA month.
        let la_monthly = Company { calendar: Calendar::new(Cadence::Monthly, chrono_tz::America::Los_Angeles) };
        domain::company::change(&db, &domain::auth::Principal::System, la_monthly.calendar, t0()).await.unwrap();
        tick(&db, &la_monthly, utc(2027, 1, 2, 0)).await;
        tick(&db, &la_monthly, utc(2027, 2, 3, 0)).await;
        let stored = periods(&db).await;
        assert_back_to_back(&stored);
        let dates: Vec<(NaiveDate, NaiveDate, String)> = stored.iter().map(|p| (p.starts_on, p.ends_on, p.cadence.clone())).collect();
        assert_eq!(dates, [
            (date(2026, 11, 16), date(2026, 11, 30), "semi-monthly".to_owned()),
            (date(2026, 12, 1), date(2026, 12, 15), "semi-monthly".to_owned()),
            (date(2026, 12, 16), date(2026, 12, 31), "semi-monthly".to_owned()),
            (date(2027, 1, 1), date(2027, 1, 31), "monthly".to_owned()),
            (date(2027, 2, 1), date(2027, 2, 28), "monthly".to_owned()),
        ]);
        assert_eq!(stored[3].starts_at, utc(2026, 12, 31, 15), "Tokyo's end, not LA's midnight");
        assert_eq!(stored[3].ends_at, utc(2027, 2, 1, 8), "LA's midnight");
    }
}

on_both! {
    async fn a_database_with_periods_but_no_stored_calendar_adopts_only_the_one_that_cut_them(kind: Kind) {
        use sea_orm::ConnectionTrait;
        let test_db = TestDb::new(kind).await;
        let db = test_db.connect().await;
        seed_org(&db).await;
        tick(&db, &utc_company(), t0()).await;
        // As if the periods predated the stored settings.
        db.execute_unprepared("DELETE FROM company").await.unwrap();
        let tokyo = Calendar::new(Cadence::SemiMonthly, chrono_tz::Asia::Tokyo);
        let refused = domain::company::adopt(&db, &tokyo, t0()).await.unwrap().unwrap_err();
        assert_eq!(refused.setting, "timezone");
        let monthly = Calendar::new(Cadence::Monthly, chrono_tz::UTC);
        assert_eq!(domain::company::adopt(&db, &monthly, t0()).await.unwrap().unwrap_err().setting, "cadence");
        assert_eq!(domain::company::stored(&db).await.unwrap(), None, "nothing stored on a refusal");
        assert_eq!(domain::company::adopt(&db, &utc_company().calendar, t0()).await.unwrap(), Ok(()));
        assert_eq!(domain::company::stored(&db).await.unwrap(), Some(utc_company().calendar));
    }
}

on_both! {
    async fn a_dry_run_reports_what_a_tick_would_do_and_writes_nothing(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        let db = test_db.connect().await;
        let company = utc_company();
        seed_org(&db).await;
        tick(&db, &company, t0()).await;
        let before = domain_rows(&db).await;
        let runs = scheduler_run::Entity::find().count(&db).await.unwrap();
        let later = utc(2026, 12, 17, 0);
        let planned = domain::tick::dry_run(&db, &domain::auth::Principal::System, &company, later).await.unwrap();
        assert_eq!(planned.opened.len(), 2);
        assert_eq!(planned.closed.len(), 2, "16–30 November and 1–15 December, a day after its end");
        assert!(planned.generated.created > 0);
        assert_eq!(domain_rows(&db).await, before, "nothing written");
        assert_eq!(scheduler_run::Entity::find().count(&db).await.unwrap(), runs, "not even the log");
        // The real tick then does what was planned.
        let done = tick(&db, &company, later).await;
        let dates = |r: &domain::tick::TickReport| {
            (r.opened.iter().map(|p| (p.starts_on, p.ends_on)).collect::<Vec<_>>(), r.closed.iter().map(|c| (c.starts_on, c.results, c.missed)).collect::<Vec<_>>(), r.generated.clone())
        };
        assert_eq!(dates(&done), dates(&planned));
    }
}

on_both! {
    async fn each_step_is_logged_as_it_commits_and_old_runs_are_pruned(kind: Kind) {
        let test_db = TestDb::new(kind).await;
        let db = test_db.connect().await;
        seed_org(&db).await;
        tick(&db, &utc_company(), t0()).await;
        let runs = scheduler_run::Entity::find().order_by_asc(scheduler_run::Column::Id).all(&db).await.unwrap();
        let steps: Vec<(&str, &str)> = runs.iter().map(|r| (r.step.as_str(), r.outcome.as_str())).collect();
        assert_eq!(steps, [("open", "ok"), ("generate", "ok"), ("close", "ok")]);
        // Each row is written by its step's own transaction: the open row's counts are the
        // open step's, committed before the generate step began.
        assert_eq!(runs[0].counts, r#"{"opened":1}"#);
        assert!(runs[0].finished_at.unwrap() <= runs[1].started_at);

        // An old row (40 days by the wall clock) goes; recent ones stay.
        let old = Utc::now() - Duration::days(40);
        scheduler_run::ActiveModel {
            step: Set("open".into()), period_id: Set(None), tick_at: Set(old), started_at: Set(old), finished_at: Set(Some(old)),
            outcome: Set("ok".into()), counts: Set("{}".into()), error: Set(None), ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
        // Through the binary, whose tick prunes by `scheduler_run_retention_days`.
        let out = crate::cli::zeroboard(&test_db.url).args(["tick", "--now", "2026-11-20T11:00:00Z", "--scheduler-run-retention-days", "30"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let left = scheduler_run::Entity::find().all(&db).await.unwrap();
        assert_eq!(left.len(), 6, "the old row went, the two ticks' rows stayed");
        assert!(left.iter().all(|r| r.started_at > old));
        assert_eq!(domain::tick::prune_runs(&db, Utc::now() + Duration::minutes(1)).await.unwrap(), 6);
    }
}

on_both! {
    async fn readyz_says_starting_until_start_up_work_is_done(kind: Kind) {
        // Built and served as `zeroboard serve` does, with readiness still "starting".
        let test_db = TestDb::new(kind).await;
        let settings = zeroboard::config::Settings::new(test_db.url.clone(), "127.0.0.1:0", utc_company().calendar);
        let app = zeroboard::App::build(&settings, domain::clock::Clock::fixed(t0())).await.unwrap();
        let base = format!("http://{}", app.addr().unwrap());
        let ready = api::Readiness::starting();
        let server = tokio::spawn(app.serve_until(ready.clone(), std::future::pending()));
        let http = reqwest::Client::new();
        let readyz = http.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(readyz.status(), 503);
        assert_eq!(readyz.text().await.unwrap(), "starting");
        assert_eq!(http.get(format!("{base}/healthz")).send().await.unwrap().status(), 200, "alive meanwhile");
        ready.set_ready();
        assert_eq!(http.get(format!("{base}/readyz")).send().await.unwrap().status(), 200);
        server.abort();
    }
}
