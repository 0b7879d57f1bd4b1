//! The demo's past: the real scheduler run over simulated time through the periods before
//! the current one, with seeded, deterministic behaviour of the people in it.
//!
//! Time moves a local day at a time; each day starts with a scheduler tick (which opens,
//! generates and closes exactly as in production), then the people act through the real
//! transitions at the instants planned for them. Most duties are submitted on time, some
//! late, some after a return, a few never; controllers decide most submissions within the
//! acceptance SLA, some later, a few not at all. Each period also gets a proposal, a
//! mandatory article, votes, reads, and sales targets, so every kind of obligation occurs.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::enums::{PeriodStatus, VoteChoice};
use entity::{assignment, department, employee, kpi_target, period};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::db::Db;
use crate::transition::Action;
use crate::{Company, DomainResult, assignments, close, tick};

/// How many closed periods the demo shows.
pub const PERIODS: usize = 6;

/// The seed of the demo's behaviour.
pub const SEED: u64 = 0x5eed_2026;

/// How much history to act out, and with which seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Closed periods before the current one.
    pub periods: usize,
    pub seed: u64,
}

/// A tiny seeded generator (splitmix64): the same demo on every run, and no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn percent(&mut self) -> u64 {
        self.below(100)
    }

    /// A duration in `[from, to)` minutes.
    fn minutes(&mut self, from: i64, to: i64) -> Duration {
        Duration::minutes(from + self.below((to - from).max(1) as u64) as i64)
    }
}

/// One planned transition.
struct Move {
    assignment_id: i64,
    by: i64,
    action: Action,
    comment: Option<&'static str>,
}

/// The first day of the history: `periods` periods before the one containing `today`.
pub fn first_day(company: &Company, today: NaiveDate, periods: usize) -> NaiveDate {
    let mut p = company.calendar.period_containing(today);
    for _ in 0..periods {
        p = company
            .calendar
            .period_containing(p.starts_on.pred_opt().unwrap_or(p.starts_on));
    }
    p.starts_on
}

/// Runs the scheduler from the first day of the history up to `now`, acting out the
/// people's behaviour in the past periods, and ends with a tick at `now`. A past period
/// still inside its close delay at `now` is closed by an admin's `close_period`, so the
/// demo starts with exactly one open period.
pub async fn run(
    db: &impl Db,
    company: &Company,
    departments: &[department::Model],
    people: &[employee::Model],
    span: Span,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let calendar = &company.calendar;
    let today = calendar.local_date(now);
    let current = calendar.period_containing(today);
    let mut rng = Rng(span.seed);
    let mut planned: BTreeMap<(DateTime<Utc>, u32), Move> = BTreeMap::new();
    let mut seq = 0_u32;
    let mut day = first_day(company, today, span.periods);
    while day <= today {
        let at = calendar.day_start(day);
        if at >= now {
            break;
        }
        play_until(db, people, &mut planned, at).await?;
        let report = tick::tick(db, company, at).await?;
        for opened in &report.opened {
            if opened.starts_on >= current.starts_on {
                continue;
            }
            let p = period::Entity::find_by_id(opened.id)
                .one(db)
                .await?
                .ok_or(crate::DomainError::NotFound("period"))?;
            let close_by = p.ends_at + Duration::hours(23);
            add_additional(db, &p, people, &mut rng).await?;
            let work = assignment::Entity::find()
                .filter(assignment::Column::PeriodId.eq(p.id))
                .order_by_asc(assignment::Column::Id)
                .all(db)
                .await?;
            for a in &work {
                for (when, m) in behaviour(a, &p, close_by, &mut rng) {
                    seq += 1;
                    planned.insert((when, seq), m);
                }
            }
            add_participation(db, &p, departments, people, &mut rng, now).await?;
        }
        day = day.succ_opt().unwrap_or(day);
    }
    play_until(db, people, &mut planned, now).await?;
    tick::tick(db, company, now).await?;
    // Moves planned after `now` would be in the future: they simply have not happened.
    let still_open = period::Entity::find()
        .filter(period::Column::Status.eq(PeriodStatus::Open))
        .filter(period::Column::StartsOn.lt(current.starts_on))
        .all(db)
        .await?;
    for p in still_open {
        close::close_period(db, company, p.id, now).await?;
    }
    Ok(())
}

/// Plays every planned move before `until`, in time order.
async fn play_until(
    db: &impl Db,
    people: &[employee::Model],
    planned: &mut BTreeMap<(DateTime<Utc>, u32), Move>,
    until: DateTime<Utc>,
) -> DomainResult<()> {
    while let Some(entry) = planned.first_entry() {
        if entry.key().0 >= until {
            break;
        }
        let ((at, _), m) = entry.remove_entry();
        assignments::act(
            db,
            &super::principal(people, m.by),
            m.assignment_id,
            m.action,
            m.comment,
            at,
        )
        .await?;
    }
    Ok(())
}

/// What the assignee and the controller of one assignment will do, and when. Every move
/// is before `close_by`, the last instant before the period's close, and after the last.
fn behaviour(
    a: &assignment::Model,
    p: &period::Model,
    close_by: DateTime<Utc>,
    rng: &mut Rng,
) -> Vec<(DateTime<Utc>, Move)> {
    let mv = |by: i64, action: Action, comment: Option<&'static str>| Move {
        assignment_id: a.id,
        by,
        action,
        comment,
    };
    let start = a.created_at.max(p.starts_at);
    let window = (a.due_at - start).num_minutes().max(120);
    let roll = rng.percent();
    // The submission (and for some a return and a resubmission), or nothing at all.
    let mut moves = match roll {
        0..68 => vec![(
            start + rng.minutes(60, window - 30),
            mv(a.assignee_id, Action::Submit, None),
        )],
        68..80 => vec![(
            a.due_at + rng.minutes(60, 20 * 60),
            mv(a.assignee_id, Action::Submit, None),
        )],
        80..88 => {
            let first = start + rng.minutes(60, window / 3);
            let returned = first + rng.minutes(120, 24 * 60);
            let again = returned + rng.minutes(180, 48 * 60);
            vec![
                (first, mv(a.assignee_id, Action::Submit, None)),
                (
                    returned,
                    mv(
                        a.controller_id,
                        Action::Return,
                        Some("Please add the numbers for last week."),
                    ),
                ),
                (again, mv(a.assignee_id, Action::Submit, None)),
            ]
        }
        88..93 => vec![(
            start + rng.minutes(30, window / 2),
            mv(a.assignee_id, Action::Start, None),
        )],
        _ => Vec::new(),
    };
    if let Some((submitted, _)) = moves.last().filter(|(_, m)| m.action == Action::Submit) {
        let decision = match rng.percent() {
            0..78 => Some(*submitted + rng.minutes(30, 40 * 60)),
            78..92 => Some(*submitted + rng.minutes(50 * 60, 90 * 60)),
            _ => None,
        };
        if let Some(at) = decision {
            moves.push((at, mv(a.controller_id, Action::Accept, None)));
        }
    }
    // Squeeze the moves before the close, keeping their order a minute apart.
    let n = moves.len() as i32;
    for (i, (at, _)) in moves.iter_mut().enumerate() {
        let latest = close_by - Duration::minutes(i64::from(n - i as i32));
        *at = (*at).min(latest);
    }
    moves
}

/// Two additional assignments from a manager to one of their people, due ten days in.
async fn add_additional(
    db: &impl Db,
    p: &period::Model,
    people: &[employee::Model],
    rng: &mut Rng,
) -> DomainResult<()> {
    let staff: Vec<&employee::Model> = people
        .iter()
        .filter(|e| e.manager_id.is_some() && crate::obligations::active_on(e, p.starts_on))
        .collect();
    for title in ["Prepare the client workshop", "Clean up the shared drive"] {
        let Some(who) = staff.get(rng.below(staff.len() as u64) as usize) else {
            continue;
        };
        let Some(manager) = who.manager_id else {
            continue;
        };
        let due = (p.starts_at + Duration::days(10)).min(p.ends_at);
        let task = super::Task {
            period_id: p.id,
            assignee_id: who.id,
            controller_id: manager,
            title,
            weight: 1.0,
            due_at: due,
        };
        super::add_additional(db, task, p.starts_at + Duration::hours(1)).await?;
    }
    Ok(())
}

/// A proposal and a mandatory article in the period, most of the audience voting and
/// reading (some late, some never), and the sales department's targets.
async fn add_participation(
    db: &impl Db,
    p: &period::Model,
    departments: &[department::Model],
    people: &[employee::Model],
    rng: &mut Rng,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let index = p.starts_on.to_string();
    let audience =
        (rng.percent() < 50).then(|| departments[rng.below(departments.len() as u64) as usize].id);
    let members: Vec<&employee::Model> = people
        .iter()
        .filter(|e| {
            audience.is_none_or(|d| d == e.department_id)
                && crate::obligations::active_on(e, p.starts_on)
        })
        .collect();
    let author = people.first().map(|e| e.id);
    let opens_at = p.starts_at + Duration::days(1);
    let closes_at = p.starts_at + Duration::days(6);
    let poll = super::Poll {
        title: format!("Proposal of the period starting {index}"),
        body: "Vote for, against, or abstain.".into(),
        author_id: author,
        audience,
        opens_at,
        closes_at,
    };
    let proposal = super::add_proposal(db, poll, opens_at).await?;
    let choices = [VoteChoice::For, VoteChoice::Against, VoteChoice::Abstain];
    for e in &members {
        if rng.percent() < 75 {
            let at = opens_at + rng.minutes(10, (closes_at - opens_at).num_minutes());
            let choice = choices[rng.below(3) as usize];
            super::add_vote(db, proposal.id, e.id, choice, at).await?;
        }
    }
    let published_at = p.starts_at + Duration::days(2);
    let post = super::Post {
        title: format!("What changed in the period starting {index}"),
        link: None,
        body: Some("Read this to stay current.".into()),
        author_id: author,
        audience,
        mandatory: true,
        published_at,
    };
    let article = super::add_article(db, post, published_at).await?;
    for e in &members {
        let read_at = match rng.percent() {
            0..70 => Some(published_at + rng.minutes(30, 70 * 60)),
            70..88 => Some(published_at + rng.minutes(80 * 60, 10 * 24 * 60)),
            _ => None,
        };
        if let Some(at) = read_at.filter(|at| *at <= now) {
            super::add_read(db, article.id, e.id, at).await?;
        }
    }
    let sales = departments.get(3).map(|d| d.id);
    for e in people
        .iter()
        .filter(|e| Some(e.department_id) == sales && crate::obligations::active_on(e, p.starts_on))
    {
        let actual = 2 + rng.below(7);
        kpi_target::ActiveModel {
            period_id: Set(p.id),
            employee_id: Set(e.id),
            metric: Set("extra_services_sold".into()),
            target_value: Set(5.0),
            actual_value: Set(Some(actual as f64)),
            weight: Set(1.0),
            recorded_at: Set(Some(p.ends_at - Duration::hours(2))),
            recorded_by: Set(e.manager_id),
            created_at: Set(p.starts_at),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{Cadence, Calendar, PeriodDates};

    /// The dates of the periods the history covers.
    fn periods(company: &Company, today: NaiveDate, count: usize) -> Vec<PeriodDates> {
        let mut out = Vec::new();
        let mut p = company
            .calendar
            .period_containing(first_day(company, today, count));
        let current = company.calendar.period_containing(today);
        while p.starts_on < current.starts_on {
            out.push(p);
            p = company.calendar.next_after(p.ends_on);
        }
        out
    }

    #[test]
    fn the_generator_is_seeded_and_spread() {
        let mut a = Rng(1);
        let mut b = Rng(1);
        let xs: Vec<u64> = (0..1000).map(|_| a.below(10)).collect();
        assert_eq!(xs, (0..1000).map(|_| b.below(10)).collect::<Vec<_>>());
        for digit in 0..10 {
            let n = xs.iter().filter(|x| **x == digit).count();
            assert!((60..140).contains(&n), "{digit}: {n}");
        }
    }

    #[test]
    fn six_periods_before_the_current_one() {
        let company = Company {
            calendar: Calendar::new(Cadence::SemiMonthly, chrono_tz::UTC),
        };
        let today = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let ps = periods(&company, today, PERIODS);
        assert_eq!(ps.len(), PERIODS);
        assert_eq!(
            ps[0].starts_on,
            NaiveDate::from_ymd_opt(2026, 8, 16).unwrap()
        );
        assert_eq!(
            ps[5].ends_on,
            NaiveDate::from_ymd_opt(2026, 11, 15).unwrap()
        );
    }
}
