//! Who owes which obligation in a period, judged from the period's rows: pure rules, with
//! the policy, the company's time zone and the instant to judge at as arguments.
//!
//! The close writes one result per employee from [`owed`]; the live "current KPI"
//! (`results::live_evaluations`) judges the same obligations as of now. The rows are read
//! by `PeriodRows::load` (in `periods`, a handful of queries whatever the number of
//! employees), so this module does no I/O.
//!
//! Decisions where DESIGN is silent:
//! - An assignment that ends `missed` is a missed obligation even if it was submitted and
//!   returned earlier: the return said that submission was not the work.
//! - The decision on the last submission is `decided_at` unless the assignment is still
//!   `submitted`. `submitted_at` and `decided_at` are stamped by the same conditional
//!   update that writes the transition's event, so they are the last submission and its
//!   decision without reading the event log.
//! - Cancelled assignments owe nothing, to the assignee or to the controller.
//! - Vote and reading audiences are the employees of the audience's department (or all)
//!   active on the local date of the proposal's `closes_at` or the article's
//!   `published_at`.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use entity::enums::{AssignmentKind, AssignmentStatus};
use entity::{article, article_read, assignment, employee, kpi_target, proposal, vote};
use sea_orm::DerivePartialModel;

use crate::kpi::{self, Obligation, Policy, TargetScore};

/// The rows a period's obligations are built from.
#[derive(Clone, Debug, Default)]
pub struct PeriodRows {
    /// The period's assignments.
    pub assignments: Vec<Assigned>,
    /// Proposals whose `closes_at` falls in the period.
    pub proposals: Vec<proposal::Model>,
    /// Votes on those proposals.
    pub votes: Vec<vote::Model>,
    /// Mandatory articles published in the period.
    pub articles: Vec<article::Model>,
    /// Reads of those articles.
    pub reads: Vec<article_read::Model>,
    pub employees: Vec<Member>,
    /// The period's KPI targets.
    pub targets: Vec<kpi_target::Model>,
}

/// An assignment as its obligations are judged: the columns the rules and the items read,
/// and no more (a close reads every assignment of the period, and on SQLite each column
/// of each row is a value copied, allocated and decoded).
#[derive(Clone, Debug, PartialEq, DerivePartialModel)]
#[sea_orm(entity = "assignment::Entity", from_query_result)]
pub struct Assigned {
    pub id: i64,
    pub kind: AssignmentKind,
    pub assignee_id: i64,
    pub controller_id: i64,
    pub title: String,
    pub weight: f64,
    pub due_at: DateTime<Utc>,
    pub status: AssignmentStatus,
    pub submitted_at: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// An employee as a period's obligations see them: who, in which department, employed
/// when (a close reads every employee; see [`Assigned`] for why only these columns).
#[derive(Clone, Copy, Debug, PartialEq, Eq, DerivePartialModel)]
#[sea_orm(entity = "employee::Entity", from_query_result)]
pub struct Member {
    pub id: i64,
    pub department_id: i64,
    pub hired_on: NaiveDate,
    pub left_on: Option<NaiveDate>,
}

/// Someone employed from a hire date to an optional last day.
pub trait Employed {
    fn hired_on(&self) -> NaiveDate;
    fn left_on(&self) -> Option<NaiveDate>;
}

impl<E: Employed> Employed for &E {
    fn hired_on(&self) -> NaiveDate {
        (*self).hired_on()
    }
    fn left_on(&self) -> Option<NaiveDate> {
        (*self).left_on()
    }
}

impl Employed for Member {
    fn hired_on(&self) -> NaiveDate {
        self.hired_on
    }
    fn left_on(&self) -> Option<NaiveDate> {
        self.left_on
    }
}

impl Employed for employee::Model {
    fn hired_on(&self) -> NaiveDate {
        self.hired_on
    }
    fn left_on(&self) -> Option<NaiveDate> {
        self.left_on
    }
}

impl PeriodRows {
    /// An employee's targets; with `recorded_only`, those with a recorded actual.
    pub(crate) fn targets_of(&self, employee_id: i64, recorded_only: bool) -> Vec<TargetScore> {
        self.targets
            .iter()
            .filter(|t| {
                t.employee_id == employee_id && (!recorded_only || t.actual_value.is_some())
            })
            .map(|t| TargetScore {
                weight: t.weight,
                target: t.target_value,
                actual: t.actual_value,
            })
            .collect()
    }
}

/// One judged obligation with who owes it, when it falls due, and whether it is done.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Owed {
    pub employee_id: i64,
    pub obligation: Obligation,
    /// The instant after which an unfulfilled obligation is overdue: the assignment's
    /// `due_at`, the acceptance SLA after the last submission, the proposal's `closes_at`,
    /// the reading SLA after publication.
    pub deadline: DateTime<Utc>,
    pub fulfilled: bool,
    /// What it is about: the assignment (duty, additional, acceptance), proposal (vote) or
    /// article (reading), by id.
    pub subject: i64,
    /// When it was met, as far as `as_of` knows: the last submission, the decision on it, the
    /// vote, the read. `None` if not (yet) done.
    pub met_at: Option<DateTime<Utc>>,
}

/// Judges every obligation of a period's rows as of `as_of`: something recorded after it
/// did not happen in time. Pure; the rows' statuses are taken as they are.
pub fn owed(rows: &PeriodRows, policy: &Policy, tz: Tz, as_of: DateTime<Utc>) -> Vec<Owed> {
    let mut out = Vec::new();
    for a in &rows.assignments {
        if a.status == AssignmentStatus::Cancelled {
            continue;
        }
        let submitted = kpi::as_of(a.submitted_at, as_of);
        // Submitted or accepted (by `as_of`) is done; anything else (unfinished, or missed at
        // close) is not.
        let done = submitted.is_some()
            && matches!(
                a.status,
                AssignmentStatus::Submitted | AssignmentStatus::Accepted
            );
        let outcome = if done {
            kpi::submission_outcome(submitted, a.due_at)
        } else {
            kpi::Outcome::Missed
        };
        let obligation = match a.kind {
            AssignmentKind::Duty => Obligation::duty(a.weight, outcome, policy),
            AssignmentKind::Additional => Obligation::additional(a.weight, outcome, policy),
        };
        out.push(Owed {
            employee_id: a.assignee_id,
            obligation,
            deadline: a.due_at,
            fulfilled: done,
            subject: a.id,
            met_at: submitted.filter(|_| done),
        });
        if let Some(submitted) = submitted {
            // A still-submitted assignment awaits a decision on its last submission; in any
            // other status `decided_at` is that decision (an accept, or the return that
            // sent it back).
            let decided = match a.status {
                AssignmentStatus::Submitted => None,
                _ => kpi::as_of(a.decided_at, as_of),
            };
            out.push(Owed {
                employee_id: a.controller_id,
                obligation: Obligation::acceptance(
                    kpi::acceptance_outcome(submitted, decided, policy),
                    policy,
                ),
                deadline: after_hours(submitted, policy.acceptance_sla_hours),
                fulfilled: decided.is_some(),
                subject: a.id,
                met_at: decided,
            });
        }
    }
    let votes: HashMap<(i64, i64), DateTime<Utc>> = rows
        .votes
        .iter()
        .map(|v| ((v.proposal_id, v.employee_id), v.voted_at))
        .collect();
    for p in &rows.proposals {
        for e in audience(&rows.employees, p.department_id, p.closes_at, tz) {
            let voted = kpi::as_of(votes.get(&(p.id, e.id)).copied(), as_of);
            let outcome = kpi::vote_outcome(voted, p.closes_at);
            out.push(Owed {
                employee_id: e.id,
                obligation: Obligation::vote(outcome, policy),
                deadline: p.closes_at,
                fulfilled: outcome == kpi::Outcome::OnTime,
                subject: p.id,
                met_at: voted,
            });
        }
    }
    let reads: HashMap<(i64, i64), DateTime<Utc>> = rows
        .reads
        .iter()
        .map(|r| ((r.article_id, r.employee_id), r.read_at))
        .collect();
    let mandatory = rows.articles.iter().filter(|a| a.mandatory);
    for a in mandatory {
        for e in audience(&rows.employees, a.department_id, a.published_at, tz) {
            let read = kpi::as_of(reads.get(&(a.id, e.id)).copied(), as_of);
            out.push(Owed {
                employee_id: e.id,
                obligation: Obligation::reading(
                    kpi::reading_outcome(a.published_at, read, policy),
                    policy,
                ),
                deadline: after_hours(a.published_at, policy.reading_sla_hours),
                fulfilled: read.is_some(),
                subject: a.id,
                met_at: read,
            });
        }
    }
    out
}

/// The members of an audience (a department, or everyone with `None`) active on the local
/// date of `at`.
pub fn audience(
    employees: &[Member],
    department: Option<i64>,
    at: DateTime<Utc>,
    tz: Tz,
) -> impl Iterator<Item = &Member> {
    let date = at.with_timezone(&tz).date_naive();
    employees
        .iter()
        .filter(move |e| department.is_none_or(|d| d == e.department_id) && active_on(e, date))
}

fn after_hours(at: DateTime<Utc>, hours: i64) -> DateTime<Utc> {
    Duration::try_hours(hours)
        .and_then(|h| at.checked_add_signed(h))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Whether an employee is active on a local date.
pub fn active_on(employee: &impl Employed, date: NaiveDate) -> bool {
    employee.hired_on() <= date && employee.left_on().is_none_or(|left| left >= date)
}

/// Whether an employee is active on any day of `[starts_on, ends_on]`.
pub fn active_in(e: &impl Employed, starts_on: NaiveDate, ends_on: NaiveDate) -> bool {
    e.hired_on() <= ends_on && e.left_on().is_none_or(|left| left >= starts_on)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::kpi::ObligationKind::{Acceptance, Additional, Duty, Reading, Vote};
    use crate::kpi::Outcome::{Late, Missed, OnTime};
    use crate::kpi::{ObligationKind, Outcome};
    use AssignmentStatus::{Accepted, Cancelled, Missed as MissedStatus, Submitted, Todo};

    /// Hours after 2026-03-01T00:00Z, the start of the period in these tests.
    fn h(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + Duration::hours(hours)
    }
    fn person(id: i64, department_id: i64, hired: (u32, u32)) -> Member {
        Member {
            id,
            department_id,
            hired_on: NaiveDate::from_ymd_opt(2026, hired.0, hired.1).unwrap(),
            left_on: None,
        }
    }
    /// An assignment of weight 1 due at hour 100: (id, kind, assignee, controller, status, submitted, decided).
    fn work(
        id: i64,
        kind: AssignmentKind,
        who: (i64, i64),
        status: AssignmentStatus,
        submitted: Option<i64>,
        decided: Option<i64>,
    ) -> Assigned {
        Assigned {
            id,
            kind,
            assignee_id: who.0,
            controller_id: who.1,
            title: String::new(),
            weight: 1.0,
            due_at: h(100),
            status,
            submitted_at: submitted.map(h),
            decided_at: decided.map(h),
        }
    }
    fn proposal(id: i64, department_id: Option<i64>, closes: i64) -> proposal::Model {
        proposal::Model {
            id,
            title: String::new(),
            body: String::new(),
            author_id: None,
            department_id,
            opens_at: h(0),
            closes_at: h(closes),
            created_at: h(0),
        }
    }
    fn article(
        id: i64,
        department_id: Option<i64>,
        published: i64,
        mandatory: bool,
    ) -> article::Model {
        article::Model {
            id,
            title: String::new(),
            link: None,
            body: None,
            author_id: None,
            department_id,
            mandatory,
            published_at: h(published),
            created_at: h(0),
        }
    }

    /// The judged obligations as (employee, kind, outcome, fulfilled), sorted.
    fn judged(rows: &PeriodRows, as_of: i64) -> Vec<(i64, ObligationKind, Outcome, bool)> {
        let mut out: Vec<_> = owed(rows, &Policy::default(), chrono_tz::UTC, h(as_of))
            .into_iter()
            .map(|o| {
                (
                    o.employee_id,
                    o.obligation.kind,
                    o.obligation.outcome,
                    o.fulfilled,
                )
            })
            .collect();
        out.sort_by_key(|(e, k, o, f)| (*e, *k, *o, *f));
        out
    }

    #[test]
    #[rustfmt::skip]
    fn assignments_owe_the_assignee_and_the_controller() {
        let (a, k) = (1, 2);
        let case = |row: Assigned| judged(&PeriodRows { assignments: vec![row], ..Default::default() }, 400);
        assert_eq!(case(work(1, AssignmentKind::Duty, (a, k), Accepted, Some(90), Some(120))), [(a, Duty, OnTime, true), (k, Acceptance, OnTime, true)]);
        assert_eq!(case(work(1, AssignmentKind::Duty, (a, k), Accepted, Some(100), Some(149))), [(a, Duty, OnTime, true), (k, Acceptance, Late, true)]); // at due_at is on time; 49 h to decide is late
        assert_eq!(case(work(1, AssignmentKind::Duty, (a, k), Submitted, Some(101), None)), [(a, Duty, Late, true), (k, Acceptance, Missed, false)]); // still submitted at close
        assert_eq!(case(work(1, AssignmentKind::Duty, (a, k), MissedStatus, Some(50), Some(60))), [(a, Duty, Missed, false), (k, Acceptance, OnTime, true)]); // returned, never resubmitted
        assert_eq!(case(work(1, AssignmentKind::Duty, (a, k), Submitted, Some(80), Some(60))), [(a, Duty, OnTime, true), (k, Acceptance, Missed, false)]); // resubmitted: the earlier return decided nothing of it
        assert_eq!(case(work(1, AssignmentKind::Duty, (a, k), Cancelled, Some(50), None)), []); // cancelled owes nothing, to anyone
        assert_eq!(case(work(1, AssignmentKind::Additional, (a, k), Todo, None, None)), [(a, Additional, Missed, false)]);
        assert_eq!(case(work(1, AssignmentKind::Duty, (a, k), Accepted, Some(90), Some(500))), [(a, Duty, OnTime, true), (k, Acceptance, Missed, false)]); // decided after as_of: not in time
        assert_eq!(case(work(1, AssignmentKind::Duty, (a, k), Submitted, Some(450), None)), [(a, Duty, Missed, false)]); // submitted after as_of: not in time, nothing to decide
    }

    #[test]
    #[rustfmt::skip]
    fn votes_and_readings_owe_the_audience() {
        let (x, y, newcomer, other) = (1, 2, 3, 4);
        let rows = PeriodRows {
            employees: vec![person(x, 10, (1, 1)), person(y, 10, (1, 1)), person(newcomer, 10, (3, 10)), person(other, 20, (1, 1))],
            proposals: vec![proposal(1, Some(10), 100)], // closes on 5 March: the newcomer joins on the 10th
            votes: vec![vote::Model { id: 1, proposal_id: 1, employee_id: x, choice: entity::enums::VoteChoice::For, voted_at: h(99) }],
            articles: vec![article(1, None, 240, true), article(2, None, 240, false)], // published on 11 March, to everyone
            reads: vec![
                article_read::Model { id: 1, article_id: 1, employee_id: x, read_at: h(240 + 72) },
                article_read::Model { id: 2, article_id: 1, employee_id: y, read_at: h(240 + 73) },
                article_read::Model { id: 3, article_id: 2, employee_id: y, read_at: h(241) },
            ],
            ..Default::default()
        };
        assert_eq!(judged(&rows, 400), [
            (x, Vote, OnTime, true), (x, Reading, OnTime, true),
            (y, Vote, Missed, false), (y, Reading, Late, true),
            (newcomer, Reading, Missed, false), // hired before publication, after the vote closed
            (other, Reading, Missed, false), // everyone's article, not department 10's proposal
        ]);
        // Before the reads happened, nothing was read.
        assert_eq!(judged(&rows, 300).iter().filter(|o| o.1 == Reading && o.3).count(), 0);
    }

    #[test]
    fn activity_in_a_period() {
        let starts = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let ends = NaiveDate::from_ymd_opt(2026, 3, 15).unwrap();
        let mut e = person(1, 1, (3, 15));
        assert!(active_in(&e, starts, ends), "hired on the last day");
        e.hired_on = NaiveDate::from_ymd_opt(2026, 3, 16).unwrap();
        assert!(!active_in(&e, starts, ends));
        e.hired_on = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
        e.left_on = Some(starts);
        assert!(active_in(&e, starts, ends), "left on the first day");
        e.left_on = starts.pred_opt();
        assert!(!active_in(&e, starts, ends));
    }

    #[test]
    #[rustfmt::skip]
    fn activity_on_a_date() {
        let d = |m: u32, day: u32| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        let e = |hired: NaiveDate, left: Option<NaiveDate>| employee::Model {
            id: 1, department_id: 1, manager_id: None, name: "E".into(), email: "e@x".into(), email_key: "e@x".into(), role: entity::enums::Role::Employee,
            hired_on: hired, left_on: left, created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(), payroll: false, language: Default::default(), reminders: true,
        };
        assert!(active_on(&e(d(3, 1), None), d(3, 1))); // from the hire date
        assert!(!active_on(&e(d(3, 2), None), d(3, 1)));
        assert!(active_on(&e(d(1, 1), Some(d(3, 1))), d(3, 1))); // through the last day
        assert!(!active_on(&e(d(1, 1), Some(d(2, 28))), d(3, 1)));
    }
}
