//! The e-mail reminders' rules. Pure: `now`, the zone and the settings are arguments.
//!
//! Once a day, at a configured local time in the company's time zone ([`due_day`]), each
//! employee with overdue work gets one message listing it, and each controller one listing
//! the submissions waiting for them ([`lists`], oldest first), in the employee's language
//! ([`compose`]). Overdue is the debtors report's rule (`transition::is_overdue`, the SQL
//! form of which is `read::reports::overdue_condition`); waiting is the `toAccept` tile's.
//! A failed send is retried a few times the same day ([`retry_at`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use entity::enums::{AssignmentStatus, Language};

use crate::explain::say::{Lang, count};
use crate::transition::is_overdue;

/// The default local time of the day's reminders.
pub const DEFAULT_TIME: NaiveTime = match NaiveTime::from_hms_opt(9, 0, 0) {
    Some(t) => t,
    None => panic!("09:00 is a time"),
};

/// Attempts made at one reminder before it is given up.
pub const MAX_ATTEMPTS: i32 = 5;

/// What a reminder is about; each employee gets at most one of each kind a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Their own work past its due date.
    Overdue,
    /// Submissions waiting for them as the controller.
    ToAccept,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Overdue => "overdue",
            Kind::ToAccept => "to_accept",
        }
    }
}

/// The language a stored employee reads.
pub fn lang(language: Language) -> Lang {
    match language {
        Language::En => Lang::En,
        Language::Ru => Lang::Ru,
    }
}

/// The local day whose reminders are due at `now`: today in `tz` once the local clock
/// reads `at` or later, else none (yesterday's are not sent late; today's are sent however
/// late the scheduler comes up). On a day whose clocks jump over `at`, the first instant
/// after the gap is at or after it; on a day that repeats `at`, the first pass counts (and
/// the day is prepared once anyway).
pub fn due_day(now: DateTime<Utc>, tz: Tz, at: NaiveTime) -> Option<NaiveDate> {
    let local = now.with_timezone(&tz).naive_local();
    (local.time() >= at).then_some(local.date())
}

/// An assignment as the reminders see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Work {
    pub id: i64,
    pub assignee_id: i64,
    pub controller_id: i64,
    pub status: AssignmentStatus,
    pub title: String,
    pub due_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
}

/// One line of a message: a title, its instant (due, or submitted) and, for a controller,
/// whose submission it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub assignment_id: i64,
    pub title: String,
    pub at: DateTime<Utc>,
    pub from: Option<i64>,
}

/// Who gets which reminder at `now`, from the open periods' work: each assignee's overdue
/// work (earliest due first) and each controller's waiting submissions (earliest
/// submitted first); ties by id. Employees without any are absent.
pub fn lists(work: &[Work], now: DateTime<Utc>) -> BTreeMap<(i64, Kind), Vec<Line>> {
    let mut out: BTreeMap<(i64, Kind), Vec<Line>> = BTreeMap::new();
    for w in work {
        if is_overdue(w.status, w.due_at, now) {
            out.entry((w.assignee_id, Kind::Overdue))
                .or_default()
                .push(Line {
                    assignment_id: w.id,
                    title: w.title.clone(),
                    at: w.due_at,
                    from: None,
                });
        }
        if w.status == AssignmentStatus::Submitted {
            out.entry((w.controller_id, Kind::ToAccept))
                .or_default()
                .push(Line {
                    assignment_id: w.id,
                    title: w.title.clone(),
                    // A submission always has its instant; the due date stands in otherwise.
                    at: w.submitted_at.unwrap_or(w.due_at),
                    from: Some(w.assignee_id),
                });
        }
    }
    for lines in out.values_mut() {
        lines.sort_by_key(|l| (l.at, l.assignment_id));
    }
    out
}

/// A message: its subject and plain-text body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub body: String,
}

/// The message of one reminder. `names` gives the names of the lines' `from`; `board` is
/// the board's address when a public URL is configured. Times are local to `tz`.
pub fn compose(
    kind: Kind,
    lang: Lang,
    name: &str,
    lines: &[Line],
    names: &dyn Fn(i64) -> String,
    tz: Tz,
    board: Option<&str>,
) -> Message {
    let n = lines.len();
    let what = match kind {
        Kind::Overdue => count(
            lang,
            n,
            ("overdue task", "overdue tasks"),
            (
                "просроченная задача",
                "просроченные задачи",
                "просроченных задач",
            ),
        ),
        Kind::ToAccept => count(
            lang,
            n,
            ("submission to accept", "submissions to accept"),
            ("работа на приёмке", "работы на приёмке", "работ на приёмке"),
        ),
    };
    let lead = match lang {
        Lang::En => format!("You have {what}, oldest first:"),
        Lang::Ru => format!("У вас {what}, сначала самые давние:"),
    };
    let when = |at: DateTime<Utc>| {
        let local = at.with_timezone(&tz);
        match lang {
            Lang::En => local.format("%Y-%m-%d %H:%M").to_string(),
            Lang::Ru => local.format("%d.%m.%Y %H:%M").to_string(),
        }
    };
    let mut body = match lang {
        Lang::En => format!("Hello, {name}.\n\n{lead}\n\n"),
        Lang::Ru => format!("Здравствуйте, {name}.\n\n{lead}\n\n"),
    };
    for line in lines {
        let item = match (kind, lang) {
            (Kind::Overdue, Lang::En) => format!("- {}: due {}", line.title, when(line.at)),
            (Kind::Overdue, Lang::Ru) => format!("- {}: срок {}", line.title, when(line.at)),
            (Kind::ToAccept, Lang::En) => format!(
                "- {} (from {}): submitted {}",
                line.title,
                line.from.map(names).unwrap_or_default(),
                when(line.at)
            ),
            (Kind::ToAccept, Lang::Ru) => format!(
                "- {} (от {}): сдано {}",
                line.title,
                line.from.map(names).unwrap_or_default(),
                when(line.at)
            ),
        };
        body.push_str(&item);
        body.push('\n');
    }
    if let Some(board) = board {
        body.push('\n');
        body.push_str(&match lang {
            Lang::En => format!("Your board: {board}\n"),
            Lang::Ru => format!("Ваша доска: {board}\n"),
        });
    }
    body.push_str(match lang {
        Lang::En => {
            "\nZeroboard sends this once a day while something waits for you. \
             You can turn these reminders off in your profile.\n"
        }
        Lang::Ru => {
            "\nZeroboard присылает это письмо раз в день, пока вас что-то ждёт. \
             Напоминания можно отключить в профиле.\n"
        }
    });
    Message {
        subject: format!("Zeroboard: {what}"),
        body,
    }
}

/// When a reminder whose attempt number `attempts` failed is tried again: after 5, 10, 20
/// and 40 minutes, never after a permanent refusal (the server said the message or the
/// address is wrong), after [`MAX_ATTEMPTS`], or past the end of its local `day` (a
/// reminder is about its day).
pub fn retry_at(
    attempts: i32,
    permanent: bool,
    now: DateTime<Utc>,
    day_ends_at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if permanent || attempts >= MAX_ATTEMPTS {
        return None;
    }
    let wait = Duration::minutes(5 << attempts.clamp(1, MAX_ATTEMPTS).saturating_sub(1));
    Some(now + wait).filter(|at| *at < day_ends_at)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use AssignmentStatus::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }
    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }
    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    #[rustfmt::skip]
    fn the_days_reminders_are_due_from_the_local_time_on() {
        use chrono_tz::{America::Santiago, Europe::Berlin, Europe::Moscow, UTC};
        let cases: [(DateTime<Utc>, Tz, NaiveTime, Option<NaiveDate>); 10] = [
            (utc(2026, 11, 20, 8, 59), UTC, t(9, 0), None),
            (utc(2026, 11, 20, 9, 0), UTC, t(9, 0), Some(day(2026, 11, 20))),
            (utc(2026, 11, 20, 23, 59), UTC, t(9, 0), Some(day(2026, 11, 20))),
            // Moscow is UTC+3: 06:00Z is 09:00 there.
            (utc(2026, 11, 20, 5, 59), Moscow, t(9, 0), None),
            (utc(2026, 11, 20, 6, 0), Moscow, t(9, 0), Some(day(2026, 11, 20))),
            // 22:30Z on the 20th is already the 21st in Moscow, after 01:00.
            (utc(2026, 11, 20, 22, 30), Moscow, t(1, 0), Some(day(2026, 11, 21))),
            // Berlin springs forward at 02:00 on 2026-03-29: 02:30 never happens; 03:00
            // local (01:00Z) is after it.
            (utc(2026, 3, 29, 0, 59), Berlin, t(2, 30), None),
            (utc(2026, 3, 29, 1, 0), Berlin, t(2, 30), Some(day(2026, 3, 29))),
            // Berlin falls back on 2026-10-25: 02:30 happens twice; the first counts.
            (utc(2026, 10, 25, 0, 30), Berlin, t(2, 30), Some(day(2026, 10, 25))),
            // Santiago's midnight does not exist on 2026-09-06 (24:00 → 01:00).
            (utc(2026, 9, 6, 4, 0), Santiago, t(0, 30), Some(day(2026, 9, 6))),
        ];
        for (now, tz, at, want) in cases {
            assert_eq!(due_day(now, tz, at), want, "{now} in {tz} at {at}");
        }
    }

    fn work(
        id: i64,
        assignee: i64,
        controller: i64,
        status: AssignmentStatus,
        due: DateTime<Utc>,
        submitted: Option<DateTime<Utc>>,
    ) -> Work {
        Work {
            id,
            assignee_id: assignee,
            controller_id: controller,
            status,
            title: format!("T{id}"),
            due_at: due,
            submitted_at: submitted,
        }
    }

    #[test]
    #[rustfmt::skip]
    fn debtors_get_their_overdue_work_and_controllers_their_queue_oldest_first() {
        let now = utc(2026, 11, 20, 9, 0);
        let rows = [
            work(1, 10, 90, Todo, utc(2026, 11, 19, 18, 0), None),
            work(2, 10, 90, Returned, utc(2026, 11, 18, 18, 0), None),
            work(3, 10, 90, InProgress, utc(2026, 11, 20, 18, 0), None), // not yet due
            work(4, 10, 90, Submitted, utc(2026, 11, 17, 18, 0), Some(utc(2026, 11, 19, 8, 0))),
            work(5, 11, 90, Submitted, utc(2026, 11, 21, 18, 0), Some(utc(2026, 11, 18, 8, 0))),
            work(6, 11, 91, Accepted, utc(2026, 11, 1, 18, 0), None),
            work(7, 12, 91, Cancelled, utc(2026, 11, 1, 18, 0), None),
            work(8, 12, 91, Todo, utc(2026, 11, 20, 9, 0), None), // due exactly now: not overdue
            work(9, 13, 91, Todo, utc(2026, 11, 19, 18, 0), None),
        ];
        let got: Vec<((i64, Kind), Vec<i64>)> = lists(&rows, now)
            .into_iter()
            .map(|(k, lines)| (k, lines.iter().map(|l| l.assignment_id).collect()))
            .collect();
        assert_eq!(got, [
            ((10, Kind::Overdue), vec![2, 1]),
            ((13, Kind::Overdue), vec![9]),
            ((90, Kind::ToAccept), vec![5, 4]),
        ]);
        // The same rule as the debtors report: exactly those with overdue counts.
        let facts: Vec<_> = rows.iter().map(|w| (w.assignee_id, w.controller_id, w.status, w.due_at)).collect();
        let debtors: Vec<i64> = crate::read::reports::fold(crate::read::reports::By::Debtors, &facts, now)
            .iter().map(|r| r.employee_id).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        assert_eq!(debtors, [10, 13]);
    }

    fn line(id: i64, at: DateTime<Utc>, from: Option<i64>) -> Line {
        Line {
            assignment_id: id,
            title: format!("Report {id}"),
            at,
            from,
        }
    }

    #[test]
    fn messages_in_english_and_russian() {
        let names = |id: i64| format!("Person {id}");
        let lines = [
            line(2, utc(2026, 11, 18, 15, 0), None),
            line(1, utc(2026, 11, 19, 15, 0), None),
        ];
        let tz = chrono_tz::Europe::Moscow;
        let m = compose(
            Kind::Overdue,
            Lang::En,
            "Anna",
            &lines,
            &names,
            tz,
            Some("https://board.example.com/"),
        );
        assert_eq!(m.subject, "Zeroboard: 2 overdue tasks");
        assert!(
            m.body.starts_with(
                "Hello, Anna.\n\nYou have 2 overdue tasks, oldest first:\n\n\
                 - Report 2: due 2026-11-18 18:00\n- Report 1: due 2026-11-19 18:00\n\n\
                 Your board: https://board.example.com/\n"
            ),
            "{}",
            m.body
        );
        let m = compose(
            Kind::Overdue,
            Lang::Ru,
            "Анна",
            &lines[..1],
            &names,
            tz,
            None,
        );
        assert_eq!(m.subject, "Zeroboard: 1 просроченная задача");
        assert!(m.body.contains("У вас 1 просроченная задача, сначала самые давние:\n\n- Report 2: срок 18.11.2026 18:00\n"));
        assert!(!m.body.contains("http"));
        let queue = [line(5, utc(2026, 11, 18, 5, 0), Some(11))];
        let m = compose(Kind::ToAccept, Lang::En, "Boss", &queue, &names, tz, None);
        assert_eq!(m.subject, "Zeroboard: 1 submission to accept");
        assert!(
            m.body
                .contains("- Report 5 (from Person 11): submitted 2026-11-18 08:00\n")
        );
        let m = compose(Kind::ToAccept, Lang::Ru, "Босс", &queue, &names, tz, None);
        assert!(
            m.body
                .contains("- Report 5 (от Person 11): сдано 18.11.2026 08:00\n")
        );
        assert!(m.body.contains("в профиле"));
    }

    #[test]
    fn russian_counts_agree_with_their_number() {
        let names = |_: i64| String::new();
        let subject = |n: usize, kind: Kind| {
            let lines: Vec<Line> = (0..n as i64)
                .map(|i| line(i, utc(2026, 11, 18, 5, 0), Some(1)))
                .collect();
            compose(kind, Lang::Ru, "", &lines, &names, chrono_tz::UTC, None).subject
        };
        for (n, want) in [
            (1, "1 просроченная задача"),
            (2, "2 просроченные задачи"),
            (4, "4 просроченные задачи"),
            (5, "5 просроченных задач"),
            (11, "11 просроченных задач"),
            (12, "12 просроченных задач"),
            (21, "21 просроченная задача"),
            (22, "22 просроченные задачи"),
            (111, "111 просроченных задач"),
        ] {
            assert_eq!(subject(n, Kind::Overdue), format!("Zeroboard: {want}"));
        }
        assert_eq!(subject(3, Kind::ToAccept), "Zeroboard: 3 работы на приёмке");
        assert_eq!(subject(5, Kind::ToAccept), "Zeroboard: 5 работ на приёмке");
        assert_eq!(subject(1, Kind::ToAccept), "Zeroboard: 1 работа на приёмке");
    }

    #[test]
    #[rustfmt::skip]
    fn failed_sends_are_retried_a_few_times_the_same_day() {
        let now = utc(2026, 11, 20, 9, 0);
        let ends = utc(2026, 11, 21, 0, 0);
        type Case = (i32, bool, DateTime<Utc>, Option<DateTime<Utc>>);
        let cases: [Case; 7] = [
            (1, false, ends, Some(utc(2026, 11, 20, 9, 5))),
            (2, false, ends, Some(utc(2026, 11, 20, 9, 10))),
            (3, false, ends, Some(utc(2026, 11, 20, 9, 20))),
            (4, false, ends, Some(utc(2026, 11, 20, 9, 40))),
            (MAX_ATTEMPTS, false, ends, None),
            (1, true, ends, None),
            (1, false, utc(2026, 11, 20, 9, 4), None),
        ];
        for (attempts, permanent, day_ends, want) in cases {
            assert_eq!(retry_at(attempts, permanent, now, day_ends), want, "{attempts} {permanent}");
        }
    }
}
