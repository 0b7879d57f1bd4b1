//! The documented range of every number and date a client can send, in one place.
//!
//! Everything that reaches the KPI formula is bounded, so every figure it computes is
//! finite and small (see `kpi::evaluate` and its property test):
//!
//! | input | range |
//! |---|---|
//! | assignment, template and KPI-target `weight` | 0 < w ≤ [`WEIGHT_MAX`] (1,000) |
//! | KPI `target` and `actual` | 0 ≤ x ≤ [`VALUE_MAX`] (10¹²) |
//! | policy `dutyWeight`, `additionalWeight`, `acceptanceWeight`, `voteWeight`, `readingWeight` | 0 ≤ w ≤ [`POLICY_WEIGHT_MAX`] (100) |
//! | policy `lateCredit`, `disciplineShare` | 0 ≤ x ≤ 1 |
//! | policy `targetCap` | 0 < x ≤ [`TARGET_CAP_MAX`] (10) |
//! | policy `bonusMinKpi`, `bonusCapKpi` | 0 ≤ x ≤ [`KPI_MAX`] (1,000) |
//! | policy `acceptanceSlaHours`, `readingSlaHours` | 0 ≤ h ≤ [`SLA_HOURS_MAX`] (8,760, a year) |
//! | policy `closeAfterHours` | 0 ≤ h ≤ [`CLOSE_AFTER_HOURS_MAX`] (720, 30 days) |
//! | policy `maxLateDuties` | 0 ≤ n ≤ [`MAX_LATE_DUTIES_MAX`] (1,000) |
//! | policy `averageWindow` | 1 ≤ n ≤ [`AVERAGE_WINDOW_MAX`] (120) |
//! | template `everyNPeriods` | [`EVERY_N_PERIODS`] (1–24) |
//! | template `dueOffsetDays` | [`DUE_OFFSET_DAYS`] (0–62) |
//! | adjustment `delta` | −[`ADJUSTMENT_MAX`] ≤ d ≤ [`ADJUSTMENT_MAX`] (1,000 KPI points) |
//! | dates (`hiredOn`, `leftOn`, `startsOn`) and instants (`publishedAt`, `opensAt`, `closesAt`) | [`earliest_date`] (1900-01-01) to [`latest_date`] (2200-12-31) |
//!
//! What the formula then gives (for any inputs in these ranges): discipline 0–100, targets
//! score 0–100 × `targetCap` (≤ 1,000), KPI 0–[`KPI_MAX`], bonus factor 0–`bonusCapKpi`/100
//! (≤ 10); stored in hundredths (ten-thousandths for the factor) they stay below 10⁵.

use std::ops::RangeInclusive;

use chrono::{DateTime, NaiveDate, Utc};

use crate::{DomainError, DomainResult};

/// The heaviest assignment, template or KPI target.
pub const WEIGHT_MAX: f64 = 1_000.0;
/// The largest KPI target or actual value.
pub const VALUE_MAX: f64 = 1e12;
/// The heaviest per-kind weight of the policy.
pub const POLICY_WEIGHT_MAX: f64 = 100.0;
/// The highest cap on a target's ratio of actual to target.
pub const TARGET_CAP_MAX: f64 = 10.0;
/// The highest KPI any policy in range can give (all targets at the highest cap), and so
/// the highest sensible bonus threshold and bonus cap.
pub const KPI_MAX: f64 = 100.0 * TARGET_CAP_MAX;
/// The longest acceptance or reading SLA, in hours (a year).
pub const SLA_HOURS_MAX: i64 = 24 * 365;
/// The longest wait between a period's end and its close, in hours (30 days).
pub const CLOSE_AFTER_HOURS_MAX: i64 = 24 * 30;
/// The most late duties a policy may allow with the bonus still paid.
pub const MAX_LATE_DUTIES_MAX: u32 = 1_000;
/// The most closed periods the running average may span.
pub const AVERAGE_WINDOW_MAX: u32 = 120;
/// How often a template may recur, in periods.
pub const EVERY_N_PERIODS: RangeInclusive<i32> = 1..=24;
/// How many days after a period starts a generated duty may be due.
pub const DUE_OFFSET_DAYS: RangeInclusive<i32> = 0..=62;
/// The largest correction one adjustment may make, in KPI points either way.
pub const ADJUSTMENT_MAX: f64 = 1_000.0;

/// The earliest date or instant accepted: 1900-01-01.
pub fn earliest_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// The latest date or instant accepted: 2200-12-31.
pub fn latest_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2200, 12, 31).unwrap_or(NaiveDate::MAX)
}

/// A weight: finite, above 0 and at most [`WEIGHT_MAX`].
pub fn weight(field: &'static str, value: f64) -> DomainResult<f64> {
    if value.is_finite() && value > 0.0 && value <= WEIGHT_MAX {
        Ok(value)
    } else {
        Err(DomainError::invalid(
            field,
            format!("must be a number above 0 and at most {WEIGHT_MAX}, got {value}"),
        ))
    }
}

/// A KPI target or actual value: finite, from 0 to [`VALUE_MAX`].
pub fn value(field: &'static str, value: f64) -> DomainResult<f64> {
    if value.is_finite() && (0.0..=VALUE_MAX).contains(&value) {
        Ok(value)
    } else {
        Err(DomainError::invalid(
            field,
            format!("must be a number from 0 to {VALUE_MAX:e}, got {value}"),
        ))
    }
}

/// A date between [`earliest_date`] and [`latest_date`].
pub fn date(field: &'static str, value: NaiveDate) -> DomainResult<NaiveDate> {
    within(field, earliest_date()..=latest_date(), value)
}

/// An instant whose UTC date is between [`earliest_date`] and [`latest_date`].
pub fn instant(field: &'static str, value: DateTime<Utc>) -> DomainResult<DateTime<Utc>> {
    date(field, value.date_naive()).map(|_| value)
}

/// A whole number within `range`.
pub fn whole(field: &'static str, range: RangeInclusive<i32>, value: i32) -> DomainResult<i32> {
    within(field, range, value)
}

/// A value within `range`, or bad input on `field` naming the range (a predicate).
fn within<T: PartialOrd + std::fmt::Display>(
    field: &'static str,
    range: RangeInclusive<T>,
    value: T,
) -> DomainResult<T> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(DomainError::invalid(
            field,
            format!(
                "must be between {} and {}, got {value}",
                range.start(),
                range.end()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    #[rustfmt::skip]
    fn number_ranges() {
        for (x, ok) in [(1.0, true), (0.001, true), (WEIGHT_MAX, true), (0.0, false), (-1.0, false), (1000.001, false), (1e308, false), (f64::INFINITY, false), (f64::NAN, false), (f64::MIN_POSITIVE, true)] {
            assert_eq!(weight("weight", x).is_ok(), ok, "weight {x}");
        }
        for (x, ok) in [(0.0, true), (5.0, true), (VALUE_MAX, true), (-0.0, true), (-1.0, false), (1.000_001e12, false), (1e308, false), (f64::NAN, false), (f64::NEG_INFINITY, false)] {
            assert_eq!(value("actual", x).is_ok(), ok, "value {x}");
        }
        assert_eq!(whole("every_n_periods", EVERY_N_PERIODS, 24).ok(), Some(24));
        assert!(whole("every_n_periods", EVERY_N_PERIODS, 0).is_err());
        assert!(whole("due_offset_days", DUE_OFFSET_DAYS, 63).is_err());
        let err = weight("weight", 1e308).unwrap_err();
        assert!(matches!(err, DomainError::BadInput { field: "weight", .. }), "{err:?}");
    }

    #[test]
    #[rustfmt::skip]
    fn date_ranges() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        for (x, ok) in [(d(1900, 1, 1), true), (d(2026, 11, 20), true), (d(2200, 12, 31), true), (d(1, 1, 1), false), (d(1899, 12, 31), false), (d(9999, 12, 31), false), (d(2201, 1, 1), false)] {
            assert_eq!(date("hired_on", x).is_ok(), ok, "{x}");
        }
        assert!(instant("published_at", Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()).is_ok());
        assert!(instant("published_at", Utc.with_ymd_and_hms(9999, 12, 31, 23, 0, 0).unwrap()).is_err());
        let err = date("left_on", d(2201, 1, 1)).unwrap_err();
        assert_eq!(err.to_string(), "`left_on` must be between 1900-01-01 and 2200-12-31, got 2201-01-01");
    }
}
