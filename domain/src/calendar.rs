//! The period calendar.
//!
//! The company's work is cut into consecutive periods of local dates
//! `[starts_on, ends_on]` in the company time zone. A period's instants are the
//! local midnight that starts `starts_on` and the local midnight after
//! `ends_on`, both in UTC, so consecutive periods share a boundary instant and
//! never overlap or leave a gap.
//!
//! Periods that would cross the edges of chrono's representable range (about
//! ±262,000 years) are clipped to it instead of panicking, because no caller
//! can meaningfully hold such dates and a panic in a scheduler is worse than a
//! short first or last period.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// The Monday that anchors biweekly periods when the configuration names none.
// The date is a compile-time constant, so a failure here would be a build
// error rather than a runtime panic.
pub const DEFAULT_BIWEEKLY_ANCHOR: NaiveDate = match NaiveDate::from_ymd_opt(2024, 1, 1) {
    Some(date) => date,
    None => panic!("2024-01-01 is a valid date"),
};

/// How long a period is and where its boundaries fall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cadence {
    /// Monday to Sunday.
    Weekly,
    /// Two weeks, counted in both directions from `anchor` (which should be a
    /// Monday; parsing enforces it).
    Biweekly { anchor: NaiveDate },
    /// The 1st to the 15th, and the 16th to the last day of the month.
    SemiMonthly,
    /// The 1st to the last day of the month.
    Monthly,
}

/// Why a cadence could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error(
        "unknown cadence {0:?}: expected one of \"weekly\", \"biweekly\", \
         \"biweekly:YYYY-MM-DD\" (the anchor Monday), \"semi-monthly\", \"monthly\""
    )]
    UnknownCadence(String),
    #[error("invalid biweekly anchor {0:?}: expected \"biweekly:YYYY-MM-DD\" with a real date")]
    InvalidAnchor(String),
    #[error("biweekly anchor {0} is a {1}, but it must be a Monday")]
    AnchorNotMonday(NaiveDate, chrono::Weekday),
}

impl FromStr for Cadence {
    type Err = CalendarError;

    /// Parses the configuration spelling. Surrounding whitespace is ignored
    /// because the value often comes from environment variables and TOML.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s {
            "weekly" => return Ok(Self::Weekly),
            "biweekly" => {
                return Ok(Self::Biweekly {
                    anchor: DEFAULT_BIWEEKLY_ANCHOR,
                });
            }
            "semi-monthly" => return Ok(Self::SemiMonthly),
            "monthly" => return Ok(Self::Monthly),
            _ => {}
        }
        let Some(anchor) = s.strip_prefix("biweekly:") else {
            return Err(CalendarError::UnknownCadence(s.to_owned()));
        };
        let anchor = NaiveDate::parse_from_str(anchor, "%Y-%m-%d")
            .map_err(|_| CalendarError::InvalidAnchor(anchor.to_owned()))?;
        if anchor.weekday() != chrono::Weekday::Mon {
            return Err(CalendarError::AnchorNotMonday(anchor, anchor.weekday()));
        }
        Ok(Self::Biweekly { anchor })
    }
}

impl fmt::Display for Cadence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Weekly => f.write_str("weekly"),
            // The anchor is always written out, even when it is the default,
            // so that the stored value does not change meaning if the default
            // ever does.
            Self::Biweekly { anchor } => write!(f, "biweekly:{}", anchor.format("%Y-%m-%d")),
            Self::SemiMonthly => f.write_str("semi-monthly"),
            Self::Monthly => f.write_str("monthly"),
        }
    }
}

/// A period as a closed range of local dates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeriodDates {
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
}

/// A period's dates with the instants it starts and ends at (end exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub dates: PeriodDates,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// A cadence in a time zone: everything needed to turn dates into periods and
/// periods into instants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Calendar {
    pub cadence: Cadence,
    pub tz: Tz,
}

impl Calendar {
    pub fn new(cadence: Cadence, tz: Tz) -> Self {
        Self { cadence, tz }
    }

    /// The period of this cadence that contains the local date.
    pub fn period_containing(&self, date: NaiveDate) -> PeriodDates {
        match self.cadence {
            Cadence::Weekly => {
                let starts_on = add_days(date, -i64::from(date.weekday().num_days_from_monday()));
                PeriodDates {
                    starts_on,
                    ends_on: add_days(starts_on, 6),
                }
            }
            Cadence::Biweekly { anchor } => {
                // Euclidean division keeps dates before the anchor in
                // fortnights that end the day before a multiple of 14 days
                // from it, instead of rounding toward the anchor.
                let offset = date.signed_duration_since(anchor).num_days();
                let starts_on = add_days(anchor, offset.div_euclid(14) * 14);
                PeriodDates {
                    starts_on,
                    ends_on: add_days(starts_on, 13),
                }
            }
            Cadence::SemiMonthly if date.day() <= 15 => PeriodDates {
                starts_on: with_day(date, 1),
                ends_on: with_day(date, 15),
            },
            Cadence::SemiMonthly => PeriodDates {
                starts_on: with_day(date, 16),
                ends_on: last_of_month(date),
            },
            Cadence::Monthly => PeriodDates {
                starts_on: with_day(date, 1),
                ends_on: last_of_month(date),
            },
        }
    }

    /// The period that follows a period ending on `prev_ends_on`: it starts
    /// the next day and ends at the next boundary of *this* cadence. This is
    /// the cadence-change rule; with an unchanged cadence it is simply the
    /// next period.
    pub fn next_after(&self, prev_ends_on: NaiveDate) -> PeriodDates {
        let starts_on = add_days(prev_ends_on, 1);
        PeriodDates {
            starts_on,
            ends_on: self.period_containing(starts_on).ends_on,
        }
    }

    /// The period that follows a stored one which ended on the local date `prev_ends_on` at
    /// the instant `prev_ends_at`, possibly cut by another cadence or time zone: the rule for
    /// a change of either. It starts exactly where the previous one ended (no gap, no
    /// overlap, whatever zone cut it) on the next day's date, and ends at this calendar's
    /// next boundary that lies after that instant. With an unchanged calendar it is simply
    /// the next period.
    pub fn following(&self, prev_ends_on: NaiveDate, prev_ends_at: DateTime<Utc>) -> Span {
        let mut dates = self.next_after(prev_ends_on);
        // Only a zone far east of the old one can put this calendar's boundary before the
        // old end (a one-day period of a weekly cadence, say); the period then runs on to
        // the boundary after.
        while self.ends_at(dates) <= prev_ends_at && dates.ends_on < NaiveDate::MAX {
            dates.ends_on = self.period_containing(add_days(dates.ends_on, 1)).ends_on;
        }
        Span {
            dates,
            starts_at: prev_ends_at,
            ends_at: self.ends_at(dates),
        }
    }

    /// A period of this calendar with its instants.
    pub fn span(&self, dates: PeriodDates) -> Span {
        Span {
            dates,
            starts_at: self.starts_at(dates),
            ends_at: self.ends_at(dates),
        }
    }

    /// The local date of an instant in the company time zone.
    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    /// The UTC instant of the local midnight that starts `date`.
    ///
    /// Where local midnight does not exist because a daylight-saving gap
    /// swallows it (America/Santiago today; America/Havana and Asia/Beirut
    /// historically), the day starts at the first instant after the gap.
    /// Where midnight happens twice, the day starts at the earlier one, so
    /// that the repeated hour belongs to the day it is labelled with.
    pub fn day_start(&self, date: NaiveDate) -> DateTime<Utc> {
        let midnight = date.and_time(NaiveTime::MIN);
        match self.tz.from_local_datetime(&midnight).earliest() {
            Some(at) => at.with_timezone(&Utc),
            None => self.end_of_gap(midnight),
        }
    }

    /// The instant a period starts: the start of its first day.
    pub fn starts_at(&self, p: PeriodDates) -> DateTime<Utc> {
        self.day_start(p.starts_on)
    }

    /// The instant a period ends, exclusive: the start of the day after its
    /// last day, which is also the next period's `starts_at`.
    pub fn ends_at(&self, p: PeriodDates) -> DateTime<Utc> {
        self.day_start(add_days(p.ends_on, 1))
    }

    /// The period containing an instant: the one containing its local date.
    pub fn period_at(&self, at: DateTime<Utc>) -> PeriodDates {
        self.period_containing(self.local_date(at))
    }

    /// The first instant whose local time is at or after `local`, for a
    /// `local` that falls in a gap.
    ///
    /// chrono-tz does not expose its transition table, so the transition is
    /// found by bisection over UTC seconds. Any UTC offset is strictly within
    /// a day, so the instant one day before `local`-read-as-UTC is locally
    /// earlier than `local` and the instant one day after is locally later.
    /// Bisection keeps that invariant, so it ends on an instant just after a
    /// forward jump across `local`, which is the end of the gap, even if
    /// local time is not monotonic in the window. Offsets are whole seconds,
    /// so second granularity finds the transition exactly.
    fn end_of_gap(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let as_utc = local.and_utc().timestamp();
        let (mut before, mut after) = (as_utc - 86_400, as_utc + 86_400);
        while after - before > 1 {
            let mid = before + (after - before) / 2;
            match DateTime::from_timestamp(mid, 0) {
                Some(at) if at.with_timezone(&self.tz).naive_local() >= local => after = mid,
                Some(_) => before = mid,
                // Only reachable at the very edges of chrono's range; which
                // edge it is tells on which side of `local` the instant lies.
                None if mid < as_utc => before = mid,
                None => after = mid,
            }
        }
        // `after` is out of range only if the gap runs past the end of
        // chrono's range, and then the latest instant is the honest answer.
        DateTime::from_timestamp(after, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// `date` moved by `days`, clipped to chrono's representable range.
fn add_days(date: NaiveDate, days: i64) -> NaiveDate {
    let edge = if days < 0 {
        NaiveDate::MIN
    } else {
        NaiveDate::MAX
    };
    TimeDelta::try_days(days)
        .and_then(|delta| date.checked_add_signed(delta))
        .unwrap_or(edge)
}

/// `date` with its day of month replaced by `day`, which must exist in that
/// month.
fn with_day(date: NaiveDate, day: u32) -> NaiveDate {
    // Every caller passes 1, 15, 16 or the month's own length, all of which
    // exist in every month, so the fallback is never taken.
    date.with_day(day).unwrap_or(date)
}

fn last_of_month(date: NaiveDate) -> NaiveDate {
    with_day(date, u32::from(date.num_days_in_month()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }
    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    fn p(starts_on: &str, ends_on: &str) -> PeriodDates {
        PeriodDates {
            starts_on: d(starts_on),
            ends_on: d(ends_on),
        }
    }
    fn cal(cadence: Cadence) -> Calendar {
        Calendar::new(cadence, Tz::UTC)
    }
    fn biweekly(anchor: &str) -> Cadence {
        Cadence::Biweekly { anchor: d(anchor) }
    }
    fn containing(cadence: Cadence, date: &str) -> PeriodDates {
        cal(cadence).period_containing(d(date))
    }
    fn next(cadence: Cadence, prev_ends_on: &str) -> PeriodDates {
        cal(cadence).next_after(d(prev_ends_on))
    }
    fn hours(tz: Tz, cadence: Cadence, date: &str) -> i64 {
        let c = Calendar::new(cadence, tz);
        let period = c.period_containing(d(date));
        (c.ends_at(period) - c.starts_at(period)).num_hours()
    }

    use Cadence::{Monthly, SemiMonthly, Weekly};

    #[test]
    #[rustfmt::skip]
    fn parse_and_display() {
        assert_eq!("weekly".parse(), Ok(Weekly));
        assert_eq!("semi-monthly".parse(), Ok(SemiMonthly));
        assert_eq!("monthly".parse(), Ok(Monthly));
        assert_eq!(" monthly\n".parse(), Ok(Monthly));
        assert_eq!("biweekly".parse(), Ok(biweekly("2024-01-01")));
        assert_eq!("biweekly:2026-03-16".parse(), Ok(biweekly("2026-03-16")));
        assert_eq!("biweekly:2026-03-17".parse::<Cadence>(), Err(CalendarError::AnchorNotMonday(d("2026-03-17"), chrono::Weekday::Tue)));
        assert_eq!("biweekly:2026-02-30".parse::<Cadence>(), Err(CalendarError::InvalidAnchor("2026-02-30".into())));
        assert_eq!("biweekly:".parse::<Cadence>(), Err(CalendarError::InvalidAnchor(String::new())));
        assert_eq!("Weekly".parse::<Cadence>(), Err(CalendarError::UnknownCadence("Weekly".into())));
        assert_eq!("semimonthly".parse::<Cadence>(), Err(CalendarError::UnknownCadence("semimonthly".into())));
        assert_eq!("".parse::<Cadence>(), Err(CalendarError::UnknownCadence(String::new())));
    }

    #[test]
    fn display_round_trips() {
        for cadence in [
            Weekly,
            SemiMonthly,
            Monthly,
            biweekly("2024-01-01"),
            biweekly("1999-12-27"),
        ] {
            assert_eq!(cadence.to_string().parse(), Ok(cadence), "{cadence}");
        }
        assert_eq!(biweekly("2024-01-01").to_string(), "biweekly:2024-01-01");
        assert_eq!(SemiMonthly.to_string(), "semi-monthly");
    }

    #[test]
    fn error_lists_accepted_values() {
        let message = "fortnightly".parse::<Cadence>().unwrap_err().to_string();
        for accepted in [
            "weekly",
            "biweekly",
            "biweekly:YYYY-MM-DD",
            "semi-monthly",
            "monthly",
        ] {
            assert!(message.contains(accepted), "{message}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn a_zone_or_cadence_change_starts_where_the_last_period_ended() {
        use chrono_tz::{America::Los_Angeles, Asia::Tokyo, Pacific::{Kiritimati, Pago_Pago}};
        // (old calendar, new calendar, last period's last day, expected dates, expected end)
        let cases: [(Calendar, Calendar, &str, PeriodDates, &str); 7] = [
            (cal(SemiMonthly), cal(SemiMonthly), "2026-11-30", p("2026-12-01", "2026-12-15"), "2026-12-16T00:00:00Z"),
            (cal(SemiMonthly), Calendar::new(SemiMonthly, Tokyo), "2026-11-30", p("2026-12-01", "2026-12-15"), "2026-12-15T15:00:00Z"),
            (cal(SemiMonthly), Calendar::new(SemiMonthly, Los_Angeles), "2026-11-30", p("2026-12-01", "2026-12-15"), "2026-12-16T08:00:00Z"),
            (cal(SemiMonthly), cal(Weekly), "2026-11-30", p("2026-12-01", "2026-12-06"), "2026-12-07T00:00:00Z"),
            (cal(SemiMonthly), cal(Monthly), "2026-11-15", p("2026-11-16", "2026-11-30"), "2026-12-01T00:00:00Z"),
            (cal(Weekly), cal(SemiMonthly), "2026-12-06", p("2026-12-07", "2026-12-15"), "2026-12-16T00:00:00Z"),
            // A period cut in UTC-11 that ends on a Saturday leaves a weekly cadence in UTC+14
            // one day, whose end lies before the old end: the new period runs to the boundary after.
            (Calendar::new(SemiMonthly, Pago_Pago), Calendar::new(Weekly, Kiritimati), "2026-10-31", p("2026-11-01", "2026-11-08"), "2026-11-08T10:00:00Z"),
        ];
        for (old, new, last_day, dates, ends_at) in cases {
            let last = old.period_containing(d(last_day));
            assert_eq!(last.ends_on, d(last_day), "the case's last day ends a period of the old calendar");
            let prev_ends_at = old.ends_at(last);
            let next = new.following(last.ends_on, prev_ends_at);
            assert_eq!(next.dates, dates, "{old:?} -> {new:?}");
            assert_eq!(next.starts_at, prev_ends_at, "no gap and no overlap");
            assert_eq!(next.ends_at, utc(ends_at), "{old:?} -> {new:?}");
            assert!(next.ends_at > next.starts_at);
            // From then on the new calendar's own periods follow, back to back.
            let after = new.following(next.dates.ends_on, next.ends_at);
            assert_eq!(after, new.span(new.next_after(next.dates.ends_on)));
        }
    }

    #[test]
    fn default_anchor_is_a_monday() {
        assert_eq!(DEFAULT_BIWEEKLY_ANCHOR, d("2024-01-01"));
        assert_eq!(DEFAULT_BIWEEKLY_ANCHOR.weekday(), chrono::Weekday::Mon);
    }

    #[test]
    #[rustfmt::skip]
    fn semi_monthly_periods() {
        assert_eq!(containing(SemiMonthly, "2026-03-01"), p("2026-03-01", "2026-03-15"));
        assert_eq!(containing(SemiMonthly, "2026-03-15"), p("2026-03-01", "2026-03-15"));
        assert_eq!(containing(SemiMonthly, "2026-03-16"), p("2026-03-16", "2026-03-31"));
        assert_eq!(containing(SemiMonthly, "2026-03-31"), p("2026-03-16", "2026-03-31"));
        assert_eq!(containing(SemiMonthly, "2026-04-30"), p("2026-04-16", "2026-04-30"));
        assert_eq!(containing(SemiMonthly, "2026-02-20"), p("2026-02-16", "2026-02-28"));
        assert_eq!(containing(SemiMonthly, "2024-02-29"), p("2024-02-16", "2024-02-29"));
        assert_eq!(containing(SemiMonthly, "2100-02-28"), p("2100-02-16", "2100-02-28"));
        assert_eq!(containing(SemiMonthly, "2000-02-29"), p("2000-02-16", "2000-02-29"));
        assert_eq!(containing(SemiMonthly, "2026-12-31"), p("2026-12-16", "2026-12-31"));
        assert_eq!(containing(SemiMonthly, "2027-01-01"), p("2027-01-01", "2027-01-15"));
    }

    #[test]
    #[rustfmt::skip]
    fn monthly_periods() {
        assert_eq!(containing(Monthly, "2026-01-15"), p("2026-01-01", "2026-01-31"));
        assert_eq!(containing(Monthly, "2026-02-01"), p("2026-02-01", "2026-02-28"));
        assert_eq!(containing(Monthly, "2024-02-29"), p("2024-02-01", "2024-02-29"));
        assert_eq!(containing(Monthly, "2026-04-30"), p("2026-04-01", "2026-04-30"));
        assert_eq!(containing(Monthly, "2026-12-31"), p("2026-12-01", "2026-12-31"));
    }

    #[test]
    #[rustfmt::skip]
    fn weekly_periods() {
        assert_eq!(containing(Weekly, "2026-03-16"), p("2026-03-16", "2026-03-22")); // Monday
        assert_eq!(containing(Weekly, "2026-03-22"), p("2026-03-16", "2026-03-22")); // Sunday
        assert_eq!(containing(Weekly, "2026-03-18"), p("2026-03-16", "2026-03-22"));
        assert_eq!(containing(Weekly, "2026-01-01"), p("2025-12-29", "2026-01-04")); // across the year end
        assert_eq!(containing(Weekly, "2024-02-29"), p("2024-02-26", "2024-03-03"));
    }

    #[test]
    #[rustfmt::skip]
    fn biweekly_periods() {
        let anchored = biweekly("2024-01-01");
        assert_eq!(containing(anchored, "2024-01-01"), p("2024-01-01", "2024-01-14"));
        assert_eq!(containing(anchored, "2024-01-14"), p("2024-01-01", "2024-01-14"));
        assert_eq!(containing(anchored, "2024-01-15"), p("2024-01-15", "2024-01-28"));
        assert_eq!(containing(anchored, "2023-12-31"), p("2023-12-18", "2023-12-31")); // the day before the anchor
        assert_eq!(containing(anchored, "2023-12-18"), p("2023-12-18", "2023-12-31"));
        assert_eq!(containing(anchored, "2023-12-17"), p("2023-12-04", "2023-12-17"));
        assert_eq!(containing(anchored, "2026-03-18"), p("2026-03-09", "2026-03-22")); // 57 fortnights on
        assert_eq!(containing(biweekly("2026-03-16"), "2026-03-18"), p("2026-03-16", "2026-03-29")); // the other parity
        assert_eq!(containing(biweekly("2026-03-16"), "2020-01-01"), p("2019-12-30", "2020-01-12")); // 162 fortnights back
    }

    #[test]
    #[rustfmt::skip]
    fn next_after_same_cadence() {
        assert_eq!(next(SemiMonthly, "2026-02-15"), p("2026-02-16", "2026-02-28"));
        assert_eq!(next(SemiMonthly, "2026-02-28"), p("2026-03-01", "2026-03-15"));
        assert_eq!(next(SemiMonthly, "2026-12-31"), p("2027-01-01", "2027-01-15"));
        assert_eq!(next(Monthly, "2024-01-31"), p("2024-02-01", "2024-02-29"));
        assert_eq!(next(Weekly, "2026-03-22"), p("2026-03-23", "2026-03-29"));
        assert_eq!(next(biweekly("2024-01-01"), "2023-12-31"), p("2024-01-01", "2024-01-14"));
    }

    #[test]
    #[rustfmt::skip]
    fn next_after_cadence_change() {
        assert_eq!(next(Weekly, "2026-03-15"), p("2026-03-16", "2026-03-22")); // semi-monthly then weekly: Mon–Sun
        assert_eq!(next(SemiMonthly, "2026-01-31"), p("2026-02-01", "2026-02-15")); // monthly then semi-monthly
        assert_eq!(next(Monthly, "2026-03-08"), p("2026-03-09", "2026-03-31")); // weekly ending Sunday then monthly
        assert_eq!(next(Weekly, "2026-03-31"), p("2026-04-01", "2026-04-05")); // a short first week, Wed–Sun
        assert_eq!(next(SemiMonthly, "2026-03-22"), p("2026-03-23", "2026-03-31")); // weekly then semi-monthly
        assert_eq!(next(Monthly, "2026-03-30"), p("2026-03-31", "2026-03-31")); // a one-day period
        assert_eq!(next(biweekly("2026-03-16"), "2026-03-15"), p("2026-03-16", "2026-03-29"));
        assert_eq!(next(biweekly("2026-03-09"), "2026-03-15"), p("2026-03-16", "2026-03-22")); // mid-fortnight
    }

    #[test]
    #[rustfmt::skip]
    fn instants_in_utc() {
        let c = cal(SemiMonthly);
        let period = p("2026-03-01", "2026-03-15");
        assert_eq!(c.starts_at(period), utc("2026-03-01T00:00:00Z"));
        assert_eq!(c.ends_at(period), utc("2026-03-16T00:00:00Z"));
        assert_eq!(c.period_at(utc("2026-03-15T23:59:59Z")), period);
        assert_eq!(c.period_at(utc("2026-03-16T00:00:00Z")), p("2026-03-16", "2026-03-31"));
    }

    #[test]
    #[rustfmt::skip]
    fn instants_in_other_zones() {
        let moscow = Calendar::new(SemiMonthly, chrono_tz::Europe::Moscow);
        assert_eq!(moscow.starts_at(p("2026-03-01", "2026-03-15")), utc("2026-02-28T21:00:00Z"));
        assert_eq!(moscow.period_at(utc("2026-02-28T21:00:00Z")), p("2026-03-01", "2026-03-15"));
        assert_eq!(moscow.period_at(utc("2026-02-28T20:59:59Z")), p("2026-02-16", "2026-02-28"));
        let new_york = Calendar::new(Monthly, chrono_tz::America::New_York);
        assert_eq!(new_york.local_date(utc("2026-04-01T03:59:59Z")), d("2026-03-31"));
        assert_eq!(new_york.ends_at(p("2026-03-01", "2026-03-31")), utc("2026-04-01T04:00:00Z"));
        let kolkata = Calendar::new(Weekly, chrono_tz::Asia::Kolkata);
        assert_eq!(kolkata.day_start(d("2026-03-16")), utc("2026-03-15T18:30:00Z"));
    }

    #[test]
    #[rustfmt::skip]
    fn daylight_saving_days() {
        let berlin = chrono_tz::Europe::Berlin;
        assert_eq!(hours(berlin, SemiMonthly, "2026-03-29"), 16 * 24 - 1); // 2026-03-16..31, spring forward
        assert_eq!(hours(berlin, SemiMonthly, "2026-10-25"), 16 * 24 + 1); // 2026-10-16..31, fall back
        assert_eq!(hours(berlin, SemiMonthly, "2026-03-01"), 15 * 24);
        assert_eq!(hours(berlin, Weekly, "2026-03-29"), 7 * 24 - 1);
        let c = Calendar::new(SemiMonthly, berlin);
        assert_eq!((c.day_start(d("2026-03-30")) - c.day_start(d("2026-03-29"))).num_hours(), 23);
        assert_eq!((c.day_start(d("2026-10-26")) - c.day_start(d("2026-10-25"))).num_hours(), 25);
        let lord_howe = chrono_tz::Australia::Lord_Howe;
        assert_eq!(hours(lord_howe, Weekly, "2026-04-05"), 7 * 24); // half an hour back, not a whole hour
        let c = Calendar::new(Weekly, lord_howe);
        assert_eq!((c.day_start(d("2026-04-06")) - c.day_start(d("2026-04-05"))).num_minutes(), 24 * 60 + 30);
    }

    #[test]
    #[rustfmt::skip]
    fn midnight_in_a_gap() {
        // Chile springs forward from 24:00 to 01:00 on the first Sunday of
        // September, so 2026-09-06 00:00 never happens in Santiago.
        let santiago = Calendar::new(SemiMonthly, chrono_tz::America::Santiago);
        assert!(santiago.tz.from_local_datetime(&d("2026-09-06").and_time(NaiveTime::MIN)).earliest().is_none());
        assert_eq!(santiago.day_start(d("2026-09-06")), utc("2026-09-06T04:00:00Z")); // 01:00 -03
        assert_eq!(santiago.day_start(d("2026-09-06")).with_timezone(&santiago.tz).to_rfc3339(), "2026-09-06T01:00:00-03:00");
        assert_eq!(santiago.day_start(d("2026-09-05")), utc("2026-09-05T04:00:00Z")); // 00:00 -04
        assert_eq!(santiago.day_start(d("2026-09-07")), utc("2026-09-07T03:00:00Z")); // 00:00 -03
        assert_eq!(santiago.local_date(utc("2026-09-06T03:59:59Z")), d("2026-09-05"));
        assert_eq!(santiago.local_date(utc("2026-09-06T04:00:00Z")), d("2026-09-06"));
        assert_eq!(hours(santiago.tz, SemiMonthly, "2026-09-06"), 15 * 24 - 1);
        // Chile falls back from 24:00 to 23:00, so midnight of 2026-04-05
        // happens once, after the repeated hour of 2026-04-04.
        assert_eq!(santiago.day_start(d("2026-04-05")), utc("2026-04-05T04:00:00Z"));
        assert_eq!((santiago.day_start(d("2026-04-05")) - santiago.day_start(d("2026-04-04"))).num_hours(), 25);
    }

    #[test]
    #[rustfmt::skip]
    fn midnight_in_other_gaps() {
        let start = |tz: Tz, date: &str| Calendar::new(Monthly, tz).day_start(d(date));
        assert_eq!(start(chrono_tz::America::Havana, "2026-03-08"), utc("2026-03-08T05:00:00Z")); // 01:00 -04
        assert_eq!(start(chrono_tz::Asia::Beirut, "2023-03-26"), utc("2023-03-25T22:00:00Z")); // 01:00 +03
        // One second earlier is still the previous local day, so the bisection
        // found the transition itself and not some instant after it.
        let santiago = Calendar::new(Monthly, chrono_tz::America::Santiago);
        assert_eq!(santiago.local_date(start(santiago.tz, "2026-09-06") - TimeDelta::seconds(1)), d("2026-09-05"));
    }

    #[test]
    #[rustfmt::skip]
    fn midnight_ambiguous_takes_the_earlier() {
        // Cuba fell back from 01:00 to 00:00 on 2026-11-01, so midnight
        // happened twice: first at -04:00 (04:00 UTC), then at -05:00.
        let havana = Calendar::new(Monthly, chrono_tz::America::Havana);
        let local = havana.tz.from_local_datetime(&d("2026-11-01").and_time(NaiveTime::MIN));
        assert!(matches!(local, chrono::LocalResult::Ambiguous(..)), "{local:?}");
        assert_eq!(havana.day_start(d("2026-11-01")), utc("2026-11-01T04:00:00Z"));
    }

    #[test]
    #[rustfmt::skip]
    fn extreme_dates_do_not_panic() {
        let c = Calendar::new(biweekly("2024-01-01"), chrono_tz::Pacific::Kiritimati);
        assert_eq!(c.next_after(NaiveDate::MAX).starts_on, NaiveDate::MAX);
        assert_eq!(c.period_containing(NaiveDate::MIN).starts_on, NaiveDate::MIN);
        assert_eq!(Calendar::new(Weekly, Tz::UTC).period_containing(NaiveDate::MAX).ends_on, NaiveDate::MAX);
        let _ = c.ends_at(c.period_containing(NaiveDate::MAX));
        let _ = c.starts_at(c.period_containing(NaiveDate::MIN));
    }

    const ZONES: [Tz; 6] = [
        Tz::UTC,
        chrono_tz::Europe::Moscow,
        chrono_tz::Europe::Berlin,
        chrono_tz::America::New_York,
        chrono_tz::Asia::Kolkata,
        chrono_tz::Australia::Lord_Howe,
    ];

    /// The periods from the one containing 2020-01-01 through the one
    /// containing 2029-12-31, checking on the way that each follows the
    /// previous without a gap or overlap, in dates and in instants.
    fn walk(c: Calendar) -> Vec<PeriodDates> {
        let end = d("2030-01-01");
        let mut periods = vec![c.period_containing(d("2020-01-01"))];
        loop {
            let last = periods[periods.len() - 1];
            assert!(last.starts_on <= last.ends_on, "{last:?}");
            assert!(c.ends_at(last) > c.starts_at(last), "{last:?} in {}", c.tz);
            assert_eq!(c.period_containing(last.starts_on), last, "{c:?}");
            assert_eq!(c.period_containing(last.ends_on), last, "{c:?}");
            if last.ends_on >= end.pred_opt().unwrap() {
                return periods;
            }
            let next = c.next_after(last.ends_on);
            assert_eq!(next.starts_on, last.ends_on.succ_opt().unwrap(), "{c:?}");
            assert_eq!(c.starts_at(next), c.ends_at(last), "{c:?}");
            periods.push(next);
        }
    }

    fn check_walk_and_instant(cadence: Cadence, zone: usize, fraction: f64) {
        let c = Calendar::new(cadence, ZONES[zone]);
        let periods = walk(c);
        let (first, last) = (
            c.starts_at(periods[0]),
            c.ends_at(periods[periods.len() - 1]),
        );
        let span = (last - first).num_seconds();
        let at = first + TimeDelta::seconds((span as f64 * fraction) as i64);
        let holding: Vec<_> = periods
            .iter()
            .filter(|&&p| c.starts_at(p) <= at && at < c.ends_at(p))
            .collect();
        assert_eq!(holding, vec![&c.period_at(at)], "{at} in {c:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn weekly_walk(zone in 0..ZONES.len(), fraction in 0.0..1.0f64) {
            check_walk_and_instant(Weekly, zone, fraction);
        }

        #[test]
        fn biweekly_walk(zone in 0..ZONES.len(), fraction in 0.0..1.0f64, weeks in -600i64..600) {
            check_walk_and_instant(Cadence::Biweekly { anchor: add_days(DEFAULT_BIWEEKLY_ANCHOR, weeks * 7) }, zone, fraction);
        }

        #[test]
        fn semi_monthly_walk(zone in 0..ZONES.len(), fraction in 0.0..1.0f64) {
            check_walk_and_instant(SemiMonthly, zone, fraction);
        }

        #[test]
        fn monthly_walk(zone in 0..ZONES.len(), fraction in 0.0..1.0f64) {
            check_walk_and_instant(Monthly, zone, fraction);
        }
    }

    #[test]
    fn ten_years_of_periods() {
        for tz in ZONES {
            assert_eq!(walk(Calendar::new(SemiMonthly, tz)).len(), 240, "{tz}");
            assert_eq!(walk(Calendar::new(Monthly, tz)).len(), 120, "{tz}");
            assert_eq!(walk(Calendar::new(Weekly, tz)).len(), 523, "{tz}"); // 2019-12-30 ..= 2030-01-06 is 3661 days
        }
    }
}
