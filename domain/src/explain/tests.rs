use chrono::{Duration, TimeZone};
use proptest::prelude::*;

use super::say::{Lang, advice, explanation};
use super::*;
use crate::kpi::ObligationKind::{Acceptance, Additional, Duty, Reading, Vote};
use crate::kpi::Outcome::{Late, Missed, OnTime};

/// Hours after 2026-03-01T00:00Z.
fn h(hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + Duration::hours(hours)
}

fn pol() -> Policy {
    Policy::default()
}

/// An obligation of weight `w` (before the policy's), about subject `id`, due at hour 100.
fn owes(id: i64, kind: ObligationKind, w: f64, outcome: Outcome) -> Owed {
    let p = pol();
    let obligation = match kind {
        Duty => Obligation::duty(w, outcome, &p),
        Additional => Obligation::additional(w, outcome, &p),
        Acceptance => Obligation::acceptance(outcome, &p),
        Vote => Obligation::vote(outcome, &p),
        Reading => Obligation::reading(outcome, &p),
    };
    Owed {
        employee_id: 1,
        obligation,
        deadline: h(100),
        fulfilled: outcome != Missed,
        subject: id,
        met_at: (outcome != Missed).then(|| h(if outcome == Late { 110 } else { 90 })),
    }
}

fn target(id: i64, metric: &str, target: f64, actual: Option<f64>) -> kpi_target::Model {
    kpi_target::Model {
        id,
        period_id: 1,
        employee_id: 1,
        metric: metric.into(),
        target_value: target,
        actual_value: actual,
        weight: 1.0,
        recorded_at: actual.map(|_| h(200)),
        recorded_by: None,
        created_at: h(0),
    }
}

fn items_of(owed: &[Owed], targets: &[kpi_target::Model]) -> (Evaluation, Vec<Item>) {
    let rows = PeriodRows::default();
    let targets: Vec<&kpi_target::Model> = targets.iter().collect();
    let scores: Vec<TargetScore> = targets.iter().map(|t| score(t)).collect();
    let obligations: Vec<Obligation> = owed.iter().map(|o| o.obligation).collect();
    let e = evaluate(&obligations, &scores, &pol());
    let items = itemize(owed, &targets, &Titles::of(&rows), &pol(), e.kpi_x100);
    (e, items)
}

/// (kind, outcome, displayed points in hundredths, points lost in hundredths)
fn shown(items: &[Item]) -> Vec<(ItemKind, ItemOutcome, i64, i64)> {
    items
        .iter()
        .map(|i| (i.kind, i.outcome, i.points_x100, round_half(i.points_lost)))
        .collect()
}

fn round_half(x: f64) -> i64 {
    kpi::round_half_away(x, 100.0)
}

/// DESIGN section 4's employee A: duties 3 on time and 1 late, additional work (w 2) on time,
/// a vote cast, one article read in a day and one never, a target of 5 reached with 6.
fn employee_a() -> (Vec<Owed>, Vec<kpi_target::Model>) {
    (
        vec![
            owes(1, Duty, 1.0, OnTime),
            owes(2, Duty, 1.0, OnTime),
            owes(3, Duty, 1.0, OnTime),
            owes(4, Duty, 1.0, Late),
            owes(5, Additional, 2.0, OnTime),
            owes(6, Vote, 1.0, OnTime),
            owes(7, Reading, 1.0, OnTime),
            owes(8, Reading, 1.0, Missed),
        ],
        vec![target(9, "extra services", 5.0, Some(6.0))],
    )
}

#[test]
#[rustfmt::skip]
fn worked_examples_item_by_item() {
    use ItemKind as K;
    use ItemOutcome as O;
    // A: Σw = 6.75, discipline 88.89 is half the KPI; a duty on time is 0.5 × 100 / 6.75 =
    // 7.407… points, shown 7.41 (the three largest remainders take the three hundredths the
    // floors leave), so the shown points add up to 104.44.
    let (a, targets) = employee_a();
    let (e, items) = items_of(&a, &targets);
    assert_eq!(e.kpi_x100, 10444);
    assert_eq!(shown(&items), [
        (K::Duty, O::OnTime, 741, 0), (K::Duty, O::OnTime, 741, 0), (K::Duty, O::OnTime, 741, 0),
        (K::Duty, O::Late, 370, 370),
        (K::Additional, O::OnTime, 1481, 0),
        (K::Reading, O::OnTime, 185, 0), (K::Reading, O::Missed, 0, 185),
        (K::Vote, O::OnTime, 185, 0),
        (K::Target, O::Scored, 6000, 0), // above its target: nothing lost
    ]);
    assert_eq!(items.last().map(|t| (t.ratio, t.credit, t.title.as_str())), Some((Some(1.2), 1.2, "extra services")));

    // B: controller of 6 submissions (4 decided in time, 1 after three days, 1 pending) and
    // 2 duties on time. Σw = 5, no targets: an acceptance on time is 100 × 0.5 / 5 = 10.
    let b = [
        owes(1, Acceptance, 1.0, OnTime), owes(2, Acceptance, 1.0, OnTime), owes(3, Acceptance, 1.0, OnTime),
        owes(4, Acceptance, 1.0, OnTime), owes(5, Acceptance, 1.0, Late), owes(6, Acceptance, 1.0, Missed),
        owes(7, Duty, 1.0, OnTime), owes(8, Duty, 1.0, OnTime),
    ];
    let (e, items) = items_of(&b, &[]);
    assert_eq!(e.kpi_x100, 8500);
    assert_eq!(shown(&items), [
        (K::Duty, O::OnTime, 2000, 0), (K::Duty, O::OnTime, 2000, 0),
        (K::Acceptance, O::OnTime, 1000, 0), (K::Acceptance, O::OnTime, 1000, 0),
        (K::Acceptance, O::OnTime, 1000, 0), (K::Acceptance, O::OnTime, 1000, 0),
        (K::Acceptance, O::Late, 500, 500), (K::Acceptance, O::Missed, 0, 1000),
    ]);

    // C owes nothing: perfect discipline, carried by one item so that the items add up.
    let (e, items) = items_of(&[], &[]);
    assert_eq!(e.kpi_x100, 10000);
    assert_eq!(shown(&items), [(K::NothingOwed, O::OnTime, 10000, 0)]);

    // Only targets: nothing owed carries the discipline half; an unrecorded target scores 0.
    let (e, items) = items_of(&[], &[target(1, "calls", 10.0, Some(5.0)), target(2, "sales", 4.0, None)]);
    assert_eq!(e.kpi_x100, 6250);
    assert_eq!(shown(&items), [
        (K::NothingOwed, O::OnTime, 5000, 0),
        (K::Target, O::Scored, 1250, 1250), (K::Target, O::Missed, 0, 2500),
    ]);
}

#[test]
fn shown_points_always_add_up_to_the_stored_kpi() {
    // Three equal thirds: 33.333… each, shown 33.34, 33.33, 33.33.
    let thirds = [
        owes(1, Duty, 1.0, OnTime),
        owes(2, Duty, 1.0, OnTime),
        owes(3, Duty, 1.0, OnTime),
    ];
    let (e, items) = items_of(&thirds, &[]);
    assert_eq!(
        items.iter().map(|i| i.points_x100).collect::<Vec<_>>(),
        [3334, 3333, 3333]
    );
    assert_eq!(e.kpi_x100, 10000);
}

#[test]
#[rustfmt::skip]
fn apportioning() {
    assert_eq!(kpi::apportion(&[], 0), Vec::<i64>::new());
    assert_eq!(kpi::apportion(&[33.333, 33.333, 33.334], 10000), [3333, 3333, 3334]);
    assert_eq!(kpi::apportion(&[0.004, 0.004, 0.004], 1), [1, 0, 0]); // ties go to the earlier
    assert_eq!(kpi::apportion(&[50.0, 50.0], 9999), [5000, 4999]); // a clamp took a hundredth: taken from the last
    assert_eq!(kpi::apportion(&[0.0, 0.0], 0), [0, 0]);
}

proptest! {
    /// Whatever the obligations and targets, the displayed points add up to the stored KPI,
    /// none is negative, and each is within a hundredth of its exact contribution.
    #[test]
    fn items_add_up(raw in prop::collection::vec((0u8..5, 0.0f64..10.0, 0u8..3), 0..30),
                    targets in prop::collection::vec((0.0f64..100.0, prop::option::of(0.0f64..200.0)), 0..4)) {
        let kinds = [Duty, Additional, Acceptance, Vote, Reading];
        let outcomes = [OnTime, Late, Missed];
        let owed: Vec<Owed> = raw.iter().enumerate()
            .map(|(i, (k, w, o))| owes(i as i64, kinds[*k as usize], *w, outcomes[*o as usize]))
            .collect();
        let targets: Vec<kpi_target::Model> = targets.iter().enumerate()
            .map(|(i, (t, a))| target(i as i64, "m", *t, *a))
            .collect();
        let (e, items) = items_of(&owed, &targets);
        prop_assert_eq!(items.iter().map(|i| i.points_x100).sum::<i64>(), e.kpi_x100);
        let exact: f64 = items.iter().map(|i| i.points).sum();
        prop_assert!((exact - e.kpi).abs() < 1e-9, "{} vs {}", exact, e.kpi);
        for i in &items {
            prop_assert!(i.points_x100 >= 0);
            prop_assert!((i.points_x100 as f64 - i.points * 100.0).abs() < 1.0 + 1e-6);
        }
    }
}

/// An outlook at hour `now` of a period that closes at hour 400, over obligations judged as
/// of `now`.
fn outlook_at(owed: &[Owed], targets: &[kpi_target::Model], now: i64) -> Outlook {
    let rows = PeriodRows::default();
    let targets: Vec<&kpi_target::Model> = targets.iter().collect();
    outlook(owed, &targets, &Titles::of(&rows), &pol(), h(now), h(400))
}

#[test]
fn the_outlook_at_the_close_instant_is_the_close() {
    let (a, targets) = employee_a();
    let o = outlook_at(&a, &targets, 400);
    let (e, items) = items_of(&a, &targets);
    assert_eq!(o.if_nothing_more, e);
    assert_eq!(o.if_all_on_time, e, "nothing can change any more");
    assert_eq!(o.items().cloned().collect::<Vec<_>>(), items);
    assert!(o.items.iter().all(|i| i.still.is_none()));
}

#[test]
fn the_outlook_before_the_close() {
    // Hour 50: a duty due at 100 not yet submitted, a reading unread (due 100), a vote not
    // cast (closes at 100), a target not recorded; one duty already done late.
    let mut late = owes(4, Duty, 1.0, Late);
    late.deadline = h(40);
    let owed = [
        owes(1, Duty, 1.0, Missed),
        late,
        owes(7, Reading, 1.0, Missed),
        owes(6, Vote, 1.0, Missed),
    ];
    let targets = [target(9, "sales", 5.0, None)];
    let o = outlook_at(&owed, &targets, 50);
    // Nothing more: Σw 2.5, earned 0.5 (the late duty); half of 20 = 10; targets 0.
    assert_eq!(o.if_nothing_more.kpi_x100, 1000);
    // All on time: 2.0 of 2.5 = 80 discipline, target at 100: KPI 90, but a duty was late.
    assert_eq!(o.if_all_on_time.kpi_x100, 9000);
    assert_eq!(o.if_all_on_time.reasons, [kpi::Reason::DutyLate]);
    let still: Vec<(ItemKind, Option<ItemOutcome>)> =
        o.items.iter().map(|i| (i.item.kind, i.still)).collect();
    assert_eq!(
        still,
        [
            (ItemKind::Duty, None), // already done late (due at 40)
            (ItemKind::Duty, Some(ItemOutcome::OnTime)),
            (ItemKind::Reading, Some(ItemOutcome::OnTime)),
            (ItemKind::Vote, Some(ItemOutcome::OnTime)),
            (ItemKind::Target, Some(ItemOutcome::Scored)),
        ]
    );
    // The gains add up to the difference between the two KPIs.
    let gain: f64 = o
        .items
        .iter()
        .filter_map(|i| i.points_if_done.map(|p| p - i.item.points))
        .sum();
    assert!((gain - (o.if_all_on_time.kpi - o.if_nothing_more.kpi)).abs() < 1e-9);

    // At hour 150, past every deadline: the duty and the reading can still be done late,
    // the vote cannot.
    let o = outlook_at(&owed, &targets, 150);
    let still: Vec<Option<ItemOutcome>> = o.items.iter().map(|i| i.still).collect();
    assert_eq!(
        still,
        [
            None,
            Some(ItemOutcome::Late),
            Some(ItemOutcome::Late),
            None,
            Some(ItemOutcome::Scored)
        ]
    );
}

#[test]
fn advice_names_what_keeps_the_bonus() {
    let mut duty = owes(1, Duty, 1.0, Missed);
    duty.deadline = Utc.with_ymd_and_hms(2026, 12, 10, 15, 0, 0).unwrap();
    let reading = owes(2, Reading, 1.0, Late);
    let rows = PeriodRows {
        assignments: vec![],
        ..Default::default()
    };
    let mut titles = Titles::of(&rows);
    titles.assignments.insert(1, "Monthly sales report");
    titles.articles.insert(2, "Safety rules");
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    let closes = Utc.with_ymd_and_hms(2026, 12, 20, 0, 0, 0).unwrap();
    let o = outlook(&[duty, reading], &[], &titles, &pol(), now, closes);
    let tz: Tz = "Europe/Moscow".parse().unwrap();
    let en = advice(&o, &pol(), tz, Lang::En);
    assert!(
        en.iter()
            .any(|s| s == "Submit “Monthly sales report” by 10 Dec 18:00 to keep the bonus."),
        "{en:?}"
    );
    assert!(
        en.iter()
            .any(|s| s == "1 reading is already late: −10.00 points."),
        "{en:?}"
    );
    let ru = advice(&o, &pol(), tz, Lang::Ru);
    assert!(
        ru.iter()
            .any(|s| s == "Сдайте «Monthly sales report» до 10 дек 18:00, чтобы сохранить премию."),
        "{ru:?}"
    );
}

use chrono_tz::Tz;

fn stored_result(e: &Evaluation, itemized: bool) -> entity::kpi_result::Model {
    entity::kpi_result::Model {
        id: 1,
        period_id: 1,
        employee_id: 1,
        policy_version: 1,
        kpi_x100: e.kpi_x100,
        discipline_x100: e.discipline_x100,
        targets_x100: e.targets_x100,
        eligible: e.eligible,
        bonus_factor_x10000: e.bonus_factor_x10000,
        reasons: crate::stored::reasons(&e.reasons),
        duties_missed: e.duties_missed as i32,
        duties_late: e.duties_late as i32,
        obligations: crate::stored::tally(&e.tally),
        computed_at: h(400),
        itemized,
    }
}

#[test]
fn explanations_in_both_languages() {
    let (a, targets) = employee_a();
    let (e, mut items) = items_of(&a, &targets);
    items[3].title = "Weekly report".into();
    let r = stored_result(&e, true);
    assert_eq!(
        explanation(&r, &items, &pol(), Lang::En),
        "KPI 104.44 combines discipline 88.89 over 8 obligations and targets 120.00 (50% and 50%). \
         Most points were lost on “Weekly report” (duty, late: −3.70), reading (reading, missed: −1.85); \
         5.56 points were lost in all. No bonus: 1 duty was late, and at most 0 may be."
    );
    assert_eq!(
        explanation(&r, &items, &pol(), Lang::Ru),
        "KPI 104,44 складывается из дисциплины 88,89 (обязательств: 8) и целей 120,00 (50% и 50%). \
         Больше всего баллов потеряно на: «Weekly report» (обязанность, с опозданием: −3,70), прочтение (прочтение, не выполнено: −1,85); \
         всего потеряно 5,56. Премии нет: обязанностей с опозданием: 1, а допускается не больше 0."
    );
    let old = stored_result(&e, false);
    assert!(
        explanation(&old, &[], &pol(), Lang::En)
            .contains("closed before Zeroboard stored obligations one by one")
    );
}

#[test]
#[rustfmt::skip]
fn accept_language() {
    for (header, lang) in [
        ("ru-RU,ru;q=0.9,en;q=0.8", Lang::Ru), ("en-US,en;q=0.9,ru;q=0.8", Lang::En),
        ("de-DE, ru;q=0.5", Lang::Ru), ("de", Lang::En), ("", Lang::En),
        ("en;q=0.2, ru;q=0.7", Lang::Ru), ("ru;q=0", Lang::En), ("RU", Lang::Ru),
    ] {
        assert_eq!(Lang::from_accept_language(header), lang, "{header}");
    }
}

#[test]
fn advice_lists_what_is_owed_soonest_first_and_targets_last() {
    // Out of reach (a duty already late), so every obligation still owed is listed by its
    // deadline; the unrecorded target, due only at the close, comes after them.
    let mut late = owes(1, Duty, 1.0, Late);
    late.deadline = h(10);
    let mut soon = owes(2, Reading, 1.0, Missed);
    soon.deadline = h(60);
    let later = owes(3, Duty, 1.0, Missed);
    let rows = PeriodRows::default();
    let mut titles = Titles::of(&rows);
    titles.articles.insert(2, "Safety rules");
    titles.assignments.insert(3, "Monthly sales report");
    let targets = [target(9, "new_clients", 5.0, None)];
    let targets: Vec<&kpi_target::Model> = targets.iter().collect();
    let o = outlook(
        &[late, soon, later],
        &targets,
        &titles,
        &pol(),
        h(50),
        h(400),
    );
    assert!(!o.if_all_on_time.eligible);
    let en = advice(&o, &pol(), chrono_tz::UTC, Lang::En);
    let at = |needle: &str| {
        en.iter()
            .position(|s| s.contains(needle))
            .unwrap_or_else(|| panic!("{needle}: {en:?}"))
    };
    assert!(
        at("Read “Safety rules” by 3 Mar 12:00")
            < at("Submit “Monthly sales report” by 5 Mar 04:00"),
        "{en:?}"
    );
    assert!(
        at("Monthly sales report") < at("Record the actual of “new_clients”"),
        "{en:?}"
    );
}

#[test]
fn advice_counts_what_it_does_not_list() {
    let owed: Vec<Owed> = (1..=6).map(|id| owes(id, Reading, 1.0, Missed)).collect();
    let o = outlook(
        &owed,
        &[],
        &Titles::of(&PeriodRows::default()),
        &pol(),
        h(50),
        h(400),
    );
    let en = advice(&o, &pol(), chrono_tz::UTC, Lang::En);
    assert!(en.iter().any(|s| s == "…and 2 more obligations."), "{en:?}");
    let o = outlook(
        &owed[..5],
        &[],
        &Titles::of(&PeriodRows::default()),
        &pol(),
        h(50),
        h(400),
    );
    let en = advice(&o, &pol(), chrono_tz::UTC, Lang::En);
    assert!(en.iter().any(|s| s == "…and 1 more obligation."), "{en:?}");
    let ru = advice(&o, &pol(), chrono_tz::UTC, Lang::Ru);
    assert!(ru.iter().any(|s| s == "…и ещё обязательств: 1."), "{ru:?}");
}

#[test]
fn a_stored_item_reads_back_as_itself() {
    use entity::kpi_item;
    let row = |kind: &str, outcome: &str| kpi_item::Model {
        result_id: 2,
        position: 1,
        kind: kind.into(),
        subject_id: Some(3),
        title: "Weekly report".into(),
        due_at: None,
        met_at: None,
        outcome: outcome.into(),
        ratio: Some(0.5),
        weight: 1.0,
        credit: 0.5,
        points: 12.5,
        points_x100: 1250,
        points_lost: 12.5,
    };
    for kind in ItemKind::ALL {
        for outcome in ItemOutcome::ALL {
            let item = Item::of_row(&row(kind.code(), outcome.code())).unwrap();
            assert_eq!(
                (item.kind, item.outcome, item.points_x100),
                (kind, outcome, 1250)
            );
        }
    }
    let err = Item::of_row(&row("bribe", "on_time")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "KPI item 1 of result 2 has an unknown kind `bribe`"
    );
    assert!(Item::of_row(&row("duty", "someday")).is_err());
}
