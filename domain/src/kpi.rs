//! KPI and bonus, computed at period close under a versioned policy.
//!
//! An obligation is something an employee owed in the period, with a weight
//! and an outcome: on time (credit 1), late (credit `late_credit`) or missed
//! (credit 0).
//!
//! | obligation | whose | weight | on time | late | missed |
//! |---|---|---|---|---|---|
//! | duty | assignee | assignment weight × `duty_weight` | submitted at or before `due_at` | submitted after `due_at` | never submitted |
//! | additional | assignee | assignment weight × `additional_weight` | same | same | same |
//! | acceptance | controller, per submitted assignment | `acceptance_weight` | decided within `acceptance_sla_hours` of the last submission | decided later, before close | still submitted at close |
//! | vote | each audience member, per proposal closing in the period | `vote_weight` | voted at or before `closes_at` | — | not voted |
//! | reading | each audience member hired before publication, per mandatory article | `reading_weight` | read within `reading_sla_hours` | read later, before close | unread at close |
//!
//! Cancelled assignments owe nothing, so callers leave them out. Only the
//! stored results are rounded: KPI figures to hundredths, the bonus factor to
//! ten-thousandths, half away from zero.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::bounds::{KPI_MAX, TARGET_CAP_MAX};

/// Every field of the KPI policy, spelled out once: its type in the rules, its default (the
/// first version), its documented range and what a value outside it is told. `$then!`
/// receives the rows; [`Policy`] and its checks, the stored form (`policy::rules`,
/// `policy::amend`) and the API's object and input are all generated from them, so adding
/// a field is a row here, a column in `entity::kpi_policy` and a migration.
#[macro_export]
macro_rules! policy_fields {
    ($then:path) => {
        $then! {
            /// The credit of a late obligation: from 0 to 1.
            late_credit: f64 = 0.5, 0.0..=1.0, "must be between 0 and 1";
            /// The weight of a duty (times its own weight): from 0 to 100.
            duty_weight: f64 = 1.0, 0.0..=$crate::bounds::POLICY_WEIGHT_MAX, "must be a number from 0 to 100";
            /// The weight of additional work (times its own weight): from 0 to 100.
            additional_weight: f64 = 1.0, 0.0..=$crate::bounds::POLICY_WEIGHT_MAX, "must be a number from 0 to 100";
            /// The weight of an acceptance owed by a controller: from 0 to 100.
            acceptance_weight: f64 = 0.5, 0.0..=$crate::bounds::POLICY_WEIGHT_MAX, "must be a number from 0 to 100";
            /// Hours a controller has to decide on a submission: from 0 to 8760.
            acceptance_sla_hours: i64 = 48, 0..=$crate::bounds::SLA_HOURS_MAX, "must be a whole number of hours from 0 to 8760";
            /// The weight of a vote: from 0 to 100.
            vote_weight: f64 = 0.25, 0.0..=$crate::bounds::POLICY_WEIGHT_MAX, "must be a number from 0 to 100";
            /// The weight of reading a mandatory article: from 0 to 100.
            reading_weight: f64 = 0.25, 0.0..=$crate::bounds::POLICY_WEIGHT_MAX, "must be a number from 0 to 100";
            /// Hours to read a mandatory article: from 0 to 8760.
            reading_sla_hours: i64 = 72, 0..=$crate::bounds::SLA_HOURS_MAX, "must be a whole number of hours from 0 to 8760";
            /// The most a target counts for, as a ratio of actual to target: above 0, at most 10.
            target_cap: f64 = 1.2, f64::MIN_POSITIVE..=$crate::bounds::TARGET_CAP_MAX, "must be a number above 0 and at most 10";
            /// The share of discipline in the KPI when there are targets: from 0 to 1.
            discipline_share: f64 = 0.5, 0.0..=1.0, "must be between 0 and 1";
            /// How many duties may be late with the bonus still paid: from 0 to 1000.
            max_late_duties: u32 = 0, 0..=$crate::bounds::MAX_LATE_DUTIES_MAX, "must be a whole number from 0 to 1000";
            /// The KPI below which no bonus is paid: from 0 to 1000.
            bonus_min_kpi: f64 = 80.0, 0.0..=$crate::bounds::KPI_MAX, "must be a number from 0 to 1000";
            /// The KPI above which the bonus factor stops growing: from 0 to 1000.
            bonus_cap_kpi: f64 = 120.0, 0.0..=$crate::bounds::KPI_MAX, "must be a number from 0 to 1000";
            /// How many closed periods the running average spans: from 1 to 120.
            average_window: u32 = 6, 1..=$crate::bounds::AVERAGE_WINDOW_MAX, "must be a whole number from 1 to 120";
            /// Hours after a period ends before it is closed, so late decisions on the last
            /// day still count: from 0 to 720.
            close_after_hours: i64 = 24, 0..=$crate::bounds::CLOSE_AFTER_HOURS_MAX, "must be a whole number of hours from 0 to 720";
        }
    };
}

/// Defines [`Policy`], its default and its checks from the rows of [`policy_fields!`].
macro_rules! define_policy {
    ($($(#[doc = $doc:literal])* $name:ident: $ty:ty = $default:expr, $range:expr, $rule:literal;)*) => {
        /// The knobs of the KPI and bonus rules. Stored with each evaluation by
        /// `version`, so a report can always be recomputed under the rules it was
        /// made with.
        ///
        /// Missing fields deserialize to their defaults, so a configuration file only
        /// needs to name what it changes.
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(default)]
        pub struct Policy {
            pub version: i32,
            $($(#[doc = $doc])* pub $name: $ty,)*
        }

        impl Default for Policy {
            fn default() -> Self {
                Self {
                    version: 1,
                    $($name: $default,)*
                }
            }
        }

        impl Policy {
            /// Checks every field, reporting the first bad one by name. NaN fails every
            /// range, and every range is finite (they are documented in `bounds`).
            pub fn validate(&self) -> Result<(), PolicyError> {
                if self.version < 1 {
                    return Err(PolicyError { field: "version", rule: "must be at least 1" });
                }
                $(
                    if !($range).contains(&self.$name) {
                        return Err(PolicyError { field: stringify!($name), rule: $rule });
                    }
                )*
                Ok(())
            }
        }
    };
}

policy_fields!(define_policy);

/// A policy field with a value the rules cannot work with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid policy: {field} {rule}")]
pub struct PolicyError {
    pub field: &'static str,
    pub rule: &'static str,
}

impl Policy {
    /// The credit of an outcome, between 0 and 1 even for a policy that was
    /// never validated.
    fn credit(&self, outcome: Outcome) -> f64 {
        match outcome {
            Outcome::OnTime => 1.0,
            Outcome::Late => clamp_finite(self.late_credit, 0.0, 1.0),
            Outcome::Missed => 0.0,
        }
    }

    /// The cap on a target's ratio as the formula applies it: the policy's,
    /// within the documented range.
    fn applied_target_cap(&self) -> f64 {
        clamp_finite(self.target_cap, 0.0, TARGET_CAP_MAX)
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ObligationKind {
    Duty,
    Additional,
    Acceptance,
    Vote,
    Reading,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    OnTime,
    Late,
    Missed,
}

impl Outcome {
    /// The stored and shown name, the same string serde writes.
    pub fn code(self) -> &'static str {
        match self {
            Outcome::OnTime => "on_time",
            Outcome::Late => "late",
            Outcome::Missed => "missed",
        }
    }
}

impl ObligationKind {
    /// The stored and shown name, the same string serde writes.
    pub fn code(self) -> &'static str {
        match self {
            ObligationKind::Duty => "duty",
            ObligationKind::Additional => "additional",
            ObligationKind::Acceptance => "acceptance",
            ObligationKind::Vote => "vote",
            ObligationKind::Reading => "reading",
        }
    }
}

/// One thing an employee owed in the period, already judged.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Obligation {
    pub kind: ObligationKind,
    pub weight: f64,
    pub outcome: Outcome,
}

impl Obligation {
    pub fn duty(assignment_weight: f64, outcome: Outcome, policy: &Policy) -> Self {
        Self {
            kind: ObligationKind::Duty,
            weight: assignment_weight * policy.duty_weight,
            outcome,
        }
    }

    pub fn additional(assignment_weight: f64, outcome: Outcome, policy: &Policy) -> Self {
        Self {
            kind: ObligationKind::Additional,
            weight: assignment_weight * policy.additional_weight,
            outcome,
        }
    }

    pub fn acceptance(outcome: Outcome, policy: &Policy) -> Self {
        Self {
            kind: ObligationKind::Acceptance,
            weight: policy.acceptance_weight,
            outcome,
        }
    }

    pub fn vote(outcome: Outcome, policy: &Policy) -> Self {
        Self {
            kind: ObligationKind::Vote,
            weight: policy.vote_weight,
            outcome,
        }
    }

    pub fn reading(outcome: Outcome, policy: &Policy) -> Self {
        Self {
            kind: ObligationKind::Reading,
            weight: policy.reading_weight,
            outcome,
        }
    }
}

/// The event as far as a period closed at `close` is concerned: something
/// recorded after the close did not happen in time to count, so a later
/// recomputation of the same period gives the same result.
///
/// The outcome functions below take the events as they stood at close; pass
/// them through this when recomputing after the fact.
pub fn as_of(event: Option<DateTime<Utc>>, close: DateTime<Utc>) -> Option<DateTime<Utc>> {
    event.filter(|at| *at <= close)
}

/// A duty or additional assignment: on time if last submitted at or before
/// `due_at`. A returned and resubmitted assignment is judged by its last
/// submission, because that is the work that was finally accepted.
pub fn submission_outcome(
    last_submitted_at: Option<DateTime<Utc>>,
    due_at: DateTime<Utc>,
) -> Outcome {
    match last_submitted_at {
        None => Outcome::Missed,
        Some(at) if at <= due_at => Outcome::OnTime,
        Some(_) => Outcome::Late,
    }
}

/// A controller's decision on a submission: on time within the SLA of the
/// last submission, late after it, missed if still undecided at close.
pub fn acceptance_outcome(
    last_submitted_at: DateTime<Utc>,
    decided_at: Option<DateTime<Utc>>,
    policy: &Policy,
) -> Outcome {
    within_sla(last_submitted_at, decided_at, policy.acceptance_sla_hours)
}

/// A vote: on time at or before `closes_at`. There is no late vote, because
/// a vote after the proposal closed changes nothing; it counts as missed.
pub fn vote_outcome(voted_at: Option<DateTime<Utc>>, closes_at: DateTime<Utc>) -> Outcome {
    match voted_at {
        Some(at) if at <= closes_at => Outcome::OnTime,
        _ => Outcome::Missed,
    }
}

/// A mandatory article: on time if read within the SLA of publication, late
/// after it, missed if unread at close.
pub fn reading_outcome(
    published_at: DateTime<Utc>,
    read_at: Option<DateTime<Utc>>,
    policy: &Policy,
) -> Outcome {
    within_sla(published_at, read_at, policy.reading_sla_hours)
}

fn within_sla(from: DateTime<Utc>, done_at: Option<DateTime<Utc>>, sla_hours: i64) -> Outcome {
    let Some(done_at) = done_at else {
        return Outcome::Missed;
    };
    // An SLA too long to represent is longer than any real delay; validation
    // rejects it anyway, but evaluation must not panic on an unvalidated one.
    let in_time = match Duration::try_hours(sla_hours) {
        Some(sla) => done_at - from <= sla,
        None => sla_hours > 0,
    };
    if in_time {
        Outcome::OnTime
    } else {
        Outcome::Late
    }
}

/// A target set for the period and what was achieved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TargetScore {
    pub weight: f64,
    pub target: f64,
    /// `None` until someone records it; an unrecorded actual counts 0.
    pub actual: Option<f64>,
}

impl TargetScore {
    /// The fraction of the target achieved, between 0 and the cap.
    fn ratio(&self, cap: f64) -> f64 {
        let ratio = match self.actual {
            None => 0.0,
            // Nothing was asked, and something was reported: the target is
            // met, whatever the actual, rather than dividing by zero. A
            // negative target is as meaningless and is treated the same.
            Some(_) if self.target <= 0.0 => 1.0,
            Some(actual) => actual / self.target,
        };
        // `f64::max` returns the other operand for NaN, so a NaN actual counts 0.
        ratio.max(0.0).min(cap)
    }
}

/// Why the bonus is not paid.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    DutyMissed,
    DutyLate,
    KpiBelowThreshold,
}

impl Reason {
    /// The stored code, the same string serde writes.
    pub fn code(self) -> &'static str {
        match self {
            Reason::DutyMissed => "DUTY_MISSED",
            Reason::DutyLate => "DUTY_LATE",
            Reason::KpiBelowThreshold => "KPI_BELOW_THRESHOLD",
        }
    }
}

/// How many obligations of a kind ended with an outcome, and their weight.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tally {
    pub kind: ObligationKind,
    pub outcome: Outcome,
    pub count: u32,
    pub weight: f64,
}

/// The result for one employee and period.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Unrounded, 0 to 100.
    pub discipline: f64,
    /// Unrounded, 0 to 100 × `target_cap`; `None` with no weighted targets.
    pub targets: Option<f64>,
    /// Unrounded.
    pub kpi: f64,
    /// The figures above in hundredths, as stored.
    pub discipline_x100: i64,
    pub targets_x100: Option<i64>,
    pub kpi_x100: i64,
    /// Obligations of kind `Duty` (not `Additional`) that were missed or late.
    pub duties_missed: u32,
    pub duties_late: u32,
    pub eligible: bool,
    /// Every failed bonus rule, in the order of `Reason`.
    pub reasons: Vec<Reason>,
    /// The bonus factor in ten-thousandths: 8500 is a factor of 0.85.
    pub bonus_factor_x10000: i64,
    /// Per (kind, outcome), sorted, only those that occurred.
    pub tally: Vec<Tally>,
}

/// Scores one employee's period.
pub fn evaluate(
    obligations: &[Obligation],
    targets: &[TargetScore],
    policy: &Policy,
) -> Evaluation {
    // Owing nothing is perfect discipline: nobody is marked down for a
    // period in which nothing was asked of them. The weighted means cannot
    // overflow (see `weighted_percent`), and each figure is kept in its range.
    let discipline = weighted_percent(
        obligations
            .iter()
            .map(|o| (o.weight, policy.credit(o.outcome))),
    )
    .map_or(100.0, |percent| clamp_finite(percent, 0.0, 100.0));

    // Targets that carry no weight cannot be averaged, and they are treated
    // as absent rather than as zero so they cannot drag the KPI down.
    let cap = policy.applied_target_cap();
    let targets_score = weighted_percent(targets.iter().map(|t| (t.weight, t.ratio(cap))))
        .map(|percent| clamp_finite(percent, 0.0, 100.0 * cap));

    let kpi = match targets_score {
        None => discipline,
        Some(targets) => {
            let share = clamp_finite(policy.discipline_share, 0.0, 1.0);
            clamp_finite(share * discipline + (1.0 - share) * targets, 0.0, KPI_MAX)
        }
    };

    let count = |outcome: Outcome| {
        let n = obligations
            .iter()
            .filter(|o| o.kind == ObligationKind::Duty && o.outcome == outcome)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    };
    let (duties_missed, duties_late) = (count(Outcome::Missed), count(Outcome::Late));

    // The bonus decision uses the KPI as stored, in hundredths, and the
    // threshold at the same precision, so that a stored 79.995 shown as 80.00
    // is never refused a bonus that the screen says it earned, and vice versa.
    let kpi_x100 = round_half_away(kpi, 100.0);
    let mut reasons = Vec::new();
    if duties_missed > 0 {
        reasons.push(Reason::DutyMissed);
    }
    if duties_late > policy.max_late_duties {
        reasons.push(Reason::DutyLate);
    }
    if kpi_x100 < round_half_away(policy.bonus_min_kpi, 100.0) {
        reasons.push(Reason::KpiBelowThreshold);
    }
    let eligible = reasons.is_empty();
    // The factor is min(kpi, cap) / 100 from the stored KPI. In
    // ten-thousandths that is exactly the capped KPI in hundredths, so it is
    // computed in integers and needs no second rounding.
    let bonus_factor_x10000 = if eligible {
        kpi_x100
            .min(round_half_away(policy.bonus_cap_kpi, 100.0))
            .max(0)
    } else {
        0
    };

    Evaluation {
        discipline,
        targets: targets_score,
        kpi,
        discipline_x100: round_half_away(discipline, 100.0),
        targets_x100: targets_score.map(|t| round_half_away(t, 100.0)),
        kpi_x100,
        duties_missed,
        duties_late,
        eligible,
        reasons,
        bonus_factor_x10000,
        tally: tally(obligations),
    }
}

/// `x` within `lo..=hi`; NaN gives `lo`.
fn clamp_finite(x: f64, lo: f64, hi: f64) -> f64 {
    if x.is_nan() { lo } else { x.clamp(lo, hi) }
}

/// A weight as the formula counts it: NaN and negatives count 0, an infinite
/// one the largest finite weight. Validated inputs are never changed by this.
fn usable_weight(w: f64) -> f64 {
    clamp_finite(w, 0.0, f64::MAX)
}

/// `100 × Σ w·x / Σ w` over `(w, x)` pairs, or `None` when the weights sum to 0.
///
/// Computed so it cannot overflow whatever the weights: they are first
/// multiplied by a power of two that brings the largest to at most 1, so every
/// partial sum is at most the number of pairs (times the largest `x`).
/// Multiplying by a power of two is exact, and both sums scale alike, so for
/// weights that would not have overflowed the result is bit for bit the plain
/// formula's.
fn weighted_percent(pairs: impl Iterator<Item = (f64, f64)> + Clone) -> Option<f64> {
    let scale = unit_scale(pairs.clone())?;
    let (mut total, mut weighted) = (0.0, 0.0);
    for (w, x) in pairs {
        let w = usable_weight(w) * scale;
        total += w;
        weighted += w * x;
    }
    (total > 0.0).then(|| 100.0 * weighted / total)
}

/// The power of two that brings the largest usable weight to at most 1, or `None` when no
/// weight is above 0.
fn unit_scale(pairs: impl Iterator<Item = (f64, f64)>) -> Option<f64> {
    let largest = pairs.map(|(w, _)| usable_weight(w)).fold(0.0, f64::max);
    if largest <= 0.0 {
        return None;
    }
    let (mut scale, mut scaled_largest) = (1.0, largest);
    while scaled_largest > 1.0 {
        scaled_largest *= 0.5;
        scale *= 0.5;
    }
    Some(scale)
}

fn tally(obligations: &[Obligation]) -> Vec<Tally> {
    let mut groups: BTreeMap<(ObligationKind, Outcome), (u32, f64)> = BTreeMap::new();
    for o in obligations {
        let (count, weight) = groups.entry((o.kind, o.outcome)).or_default();
        *count = count.saturating_add(1);
        // Saturating, so a stored tally is always a finite JSON number.
        *weight = (*weight + usable_weight(o.weight)).min(f64::MAX);
    }
    groups
        .into_iter()
        .map(|((kind, outcome), (count, weight))| Tally {
            kind,
            outcome,
            count,
            weight,
        })
        .collect()
}

/// What each obligation and target contributes to the KPI, in points, unrounded: the KPI
/// formula taken apart term by term. An obligation contributes
/// `share × 100 × weight × credit / Σ weight` and a target
/// `(1 − share) × 100 × weight × min(ratio, cap) / Σ target weight`, where `share` is
/// `discipline_share` with weighted targets and 1 without. Owing nothing (no obligation
/// weight) is perfect discipline, which no obligation carries: `nothing_owed` holds its
/// `share × 100`. The terms add up to the unrounded KPI (up to floating-point error); see
/// [`apportion`] for the displayed points, which add up to the stored one exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct Contributions {
    /// One per obligation, in the order given.
    pub obligations: Vec<f64>,
    /// One per target, in the order given; all 0 when the targets carry no weight.
    pub targets: Vec<f64>,
    /// The discipline of a period in which nothing weighed: `share × 100`.
    pub nothing_owed: Option<f64>,
}

/// Splits the KPI of [`evaluate`] into the contribution of each obligation and target.
pub fn contributions(
    obligations: &[Obligation],
    targets: &[TargetScore],
    policy: &Policy,
) -> Contributions {
    let cap = policy.applied_target_cap();
    let target_terms = weighted_terms(targets.iter().map(|t| (t.weight, t.ratio(cap))));
    let share = if target_terms.is_some() {
        clamp_finite(policy.discipline_share, 0.0, 1.0)
    } else {
        1.0
    };
    let duty_terms = weighted_terms(
        obligations
            .iter()
            .map(|o| (o.weight, policy.credit(o.outcome))),
    );
    let scaled = |terms: Option<Vec<f64>>, by: f64, n: usize| match terms {
        Some(terms) => terms.into_iter().map(|t| by * t).collect(),
        None => vec![0.0; n],
    };
    Contributions {
        nothing_owed: duty_terms.is_none().then_some(share * 100.0),
        obligations: scaled(duty_terms, share, obligations.len()),
        targets: scaled(target_terms, 1.0 - share, targets.len()),
    }
}

impl Policy {
    /// The credit an outcome earns under this policy, as the formula counts it.
    pub fn credit_of(&self, outcome: Outcome) -> f64 {
        self.credit(outcome)
    }
}

impl TargetScore {
    /// The credit of a target under a policy: its ratio of actual to target, capped.
    pub fn credit(&self, policy: &Policy) -> f64 {
        self.ratio(policy.applied_target_cap())
    }

    /// Actual / target, uncapped, as the formula reads it (a target of 0 or less is met by
    /// any recorded actual); `None` while no actual is recorded.
    pub fn achieved(&self) -> Option<f64> {
        self.actual.map(|_| self.ratio(f64::INFINITY))
    }
}

/// `100 × w·x / Σ w` for each `(w, x)` pair, or `None` when the weights sum to 0: the terms
/// of [`weighted_percent`], scaled the same way so that they cannot overflow.
fn weighted_terms(pairs: impl Iterator<Item = (f64, f64)> + Clone) -> Option<Vec<f64>> {
    let scale = unit_scale(pairs.clone())?;
    let total: f64 = pairs.clone().map(|(w, _)| usable_weight(w) * scale).sum();
    (total > 0.0).then(|| {
        pairs
            .map(|(w, x)| {
                let term = 100.0 * usable_weight(w) * scale * x / total;
                if term.is_finite() { term } else { 0.0 }
            })
            .collect()
    })
}

/// Rounds contributions to hundredths so that they add up to `total_x100` exactly (the
/// stored KPI): each is rounded down, and the hundredths left over go one each to the
/// largest remainders (ties to the earlier item), the largest-remainder method. Where the
/// unrounded terms do not add up to the total (floating-point error, a clamp), the
/// difference is spread the same way; no result is negative unless the total is.
pub fn apportion(exact: &[f64], total_x100: i64) -> Vec<i64> {
    let mut shares: Vec<i64> = exact
        .iter()
        .map(|x| (x * 100.0).floor().max(0.0) as i64)
        .collect();
    if shares.is_empty() {
        return shares;
    }
    let mut order: Vec<usize> = (0..exact.len()).collect();
    let remainder = |i: usize| exact[i] * 100.0 - shares[i] as f64;
    order.sort_by(|a, b| remainder(*b).total_cmp(&remainder(*a)).then(a.cmp(b)));
    let mut left = total_x100 - shares.iter().sum::<i64>();
    // Add to the largest remainders, round after round, or take from the smallest ones
    // that still have something to give.
    while left > 0 {
        for &i in &order {
            if left == 0 {
                break;
            }
            shares[i] += 1;
            left -= 1;
        }
    }
    while left < 0 {
        let before = left;
        for &i in order.iter().rev() {
            if left == 0 {
                break;
            }
            if shares[i] > 0 {
                shares[i] -= 1;
                left += 1;
            }
        }
        if left == before {
            // Nothing left to take: a negative total goes on the first item.
            shares[0] += left;
            break;
        }
    }
    shares
}

/// `x × scale` rounded to an integer, halves away from zero.
///
/// Decimal halves such as 80.005 are not exact in binary (80.005 is stored a
/// hair below, so 80.005 × 100 comes out as 8000.4999…). Nudging the product
/// away from zero by a few units in the last place before rounding makes such
/// values round as written, while moving genuine non-halves by far less than
/// any figure we store can show. NaN gives 0 and out-of-range values saturate,
/// as `as` casts do.
pub fn round_half_away(x: f64, scale: f64) -> i64 {
    // Eight ulps covers the error of one decimal literal times one multiply,
    // and of a short sum of dyadic weights divided once, with room to spare.
    const NUDGE: f64 = 8.0 * f64::EPSILON;
    let scaled = x * scale;
    let nudged = scaled + scaled * NUDGE;
    // `f64::round` already rounds halves away from zero.
    nudged.round() as i64
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use ObligationKind::{Acceptance, Additional, Duty, Reading, Vote};
    use Outcome::{Late, Missed, OnTime};
    use Reason::{DutyLate, DutyMissed, KpiBelowThreshold};

    /// Hours after the start of a period, 2026-03-01T00:00Z.
    fn h(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + Duration::hours(hours)
    }
    fn pol() -> Policy {
        Policy::default()
    }
    fn duty(outcome: Outcome) -> Obligation {
        Obligation::duty(1.0, outcome, &pol())
    }
    fn extra(weight: f64, outcome: Outcome) -> Obligation {
        Obligation::additional(weight, outcome, &pol())
    }
    fn acceptance(outcome: Outcome) -> Obligation {
        Obligation::acceptance(outcome, &pol())
    }
    fn vote(outcome: Outcome) -> Obligation {
        Obligation::vote(outcome, &pol())
    }
    fn reading(outcome: Outcome) -> Obligation {
        Obligation::reading(outcome, &pol())
    }
    fn target(target: f64, actual: Option<f64>) -> TargetScore {
        TargetScore {
            weight: 1.0,
            target,
            actual,
        }
    }
    fn eval(obligations: &[Obligation], targets: &[TargetScore]) -> Evaluation {
        evaluate(obligations, targets, &pol())
    }

    /// The stored figures, in the order they appear on a report.
    type Stored = (i64, Option<i64>, i64, Vec<Reason>, i64);
    fn stored(e: &Evaluation) -> Stored {
        (
            e.discipline_x100,
            e.targets_x100,
            e.kpi_x100,
            e.reasons.clone(),
            e.bonus_factor_x10000,
        )
    }

    /// Employee A: four duties due at hour 24 (three on time, one of them
    /// exactly at the due instant, and one late), an additional assignment
    /// of weight 2 on time, a vote cast, two mandatory articles (one read
    /// within a day, one never), and 6 extra services against a target of 5.
    fn employee_a() -> (Vec<Obligation>, Vec<TargetScore>) {
        let p = pol();
        let due = h(24);
        let obligations = vec![
            Obligation::duty(1.0, submission_outcome(Some(h(10)), due), &p),
            Obligation::duty(1.0, submission_outcome(Some(h(20)), due), &p),
            Obligation::duty(1.0, submission_outcome(Some(h(24)), due), &p),
            Obligation::duty(1.0, submission_outcome(Some(h(30)), due), &p),
            Obligation::additional(2.0, submission_outcome(Some(h(5)), due), &p),
            Obligation::vote(vote_outcome(Some(h(99)), h(100)), &p),
            Obligation::reading(reading_outcome(h(0), Some(h(24)), &p), &p),
            Obligation::reading(reading_outcome(h(0), None, &p), &p),
        ];
        (obligations, vec![target(5.0, Some(6.0))])
    }

    /// Employee B: controller of six submissions made at hour 0, four decided
    /// within 48 hours (one exactly at 48), one after three days, one still
    /// pending at close; own duties: two on time; no targets.
    fn employee_b() -> Vec<Obligation> {
        let p = pol();
        let decided = [
            Some(h(1)),
            Some(h(20)),
            Some(h(47)),
            Some(h(48)),
            Some(h(72)),
            None,
        ];
        let mut obligations: Vec<_> = decided
            .into_iter()
            .map(|at| Obligation::acceptance(acceptance_outcome(h(0), at, &p), &p))
            .collect();
        obligations.push(Obligation::duty(
            1.0,
            submission_outcome(Some(h(1)), h(2)),
            &p,
        ));
        obligations.push(Obligation::duty(
            1.0,
            submission_outcome(Some(h(2)), h(2)),
            &p,
        ));
        obligations
    }

    #[test]
    #[rustfmt::skip]
    fn worked_examples() {
        let (a, a_targets) = employee_a();
        let a = eval(&a, &a_targets);
        assert_eq!(stored(&a), (8889, Some(12000), 10444, vec![DutyLate], 0));
        assert_eq!((a.duties_missed, a.duties_late, a.eligible), (0, 1, false));
        assert!((a.discipline - 100.0 * 6.0 / 6.75).abs() < 1e-9, "{}", a.discipline);

        let b = eval(&employee_b(), &[]);
        assert_eq!(stored(&b), (8500, None, 8500, vec![], 8500));
        assert!(b.eligible);

        let c = eval(&[], &[]);
        assert_eq!(stored(&c), (10000, None, 10000, vec![], 10000));
        assert!(c.eligible);
    }

    #[test]
    fn tally_of_employee_a() {
        let (a, a_targets) = employee_a();
        let tally = eval(&a, &a_targets).tally;
        let rows: Vec<_> = tally
            .iter()
            .map(|t| (t.kind, t.outcome, t.count, t.weight))
            .collect();
        assert_eq!(
            rows,
            vec![
                (Duty, OnTime, 3, 3.0),
                (Duty, Late, 1, 1.0),
                (Additional, OnTime, 1, 2.0),
                (Vote, OnTime, 1, 0.25),
                (Reading, OnTime, 1, 0.25),
                (Reading, Missed, 1, 0.25),
            ]
        );
    }

    #[test]
    #[rustfmt::skip]
    fn edge_cases() {
        let two_on_time = [duty(OnTime), duty(OnTime)];
        assert_eq!(stored(&eval(&[], &[])), (10000, None, 10000, vec![], 10000)); // owes nothing
        assert_eq!(stored(&eval(&two_on_time, &[target(0.0, Some(0.0))])), (10000, Some(10000), 10000, vec![], 10000)); // zero target, recorded: met
        assert_eq!(stored(&eval(&two_on_time, &[target(0.0, Some(3.0))])), (10000, Some(10000), 10000, vec![], 10000)); // zero target, overshot: still just met
        assert_eq!(stored(&eval(&two_on_time, &[target(0.0, None)])), (10000, Some(0), 5000, vec![KpiBelowThreshold], 0)); // zero target, unrecorded: 0
        assert_eq!(stored(&eval(&two_on_time, &[target(5.0, None)])), (10000, Some(0), 5000, vec![KpiBelowThreshold], 0)); // unrecorded actual
        assert_eq!(stored(&eval(&two_on_time, &[target(5.0, Some(10.0))])), (10000, Some(12000), 11000, vec![], 11000)); // capped at 120
        assert_eq!(stored(&eval(&two_on_time, &[target(4.0, Some(3.0)), target(4.0, Some(4.0))])), (10000, Some(8750), 9375, vec![], 9375));
        assert_eq!(stored(&eval(&two_on_time, &[target(5.0, Some(-1.0))])), (10000, Some(0), 5000, vec![KpiBelowThreshold], 0)); // negative actual counts 0
        assert_eq!(stored(&eval(&two_on_time, &[TargetScore { weight: 0.0, target: 5.0, actual: None }])), (10000, None, 10000, vec![], 10000)); // weightless targets are absent
        assert_eq!(stored(&eval(&[duty(Missed)], &[])), (0, None, 0, vec![DutyMissed, KpiBelowThreshold], 0));
        assert_eq!(stored(&eval(&[duty(OnTime), duty(OnTime), duty(OnTime), duty(OnTime), duty(Missed)], &[])), (8000, None, 8000, vec![DutyMissed], 0));
        assert_eq!(stored(&eval(&[duty(OnTime), duty(Late)], &[])), (7500, None, 7500, vec![DutyLate, KpiBelowThreshold], 0));
        assert_eq!(stored(&eval(&[duty(OnTime), duty(OnTime), duty(OnTime), duty(OnTime), duty(Late)], &[])), (9000, None, 9000, vec![DutyLate], 0));
        assert_eq!(stored(&eval(&[duty(OnTime), extra(1.0, Late)], &[])), (7500, None, 7500, vec![KpiBelowThreshold], 0)); // a late additional is not a late duty
        assert_eq!(stored(&eval(&[duty(OnTime), duty(OnTime), duty(OnTime), extra(1.0, Late)], &[])), (8750, None, 8750, vec![], 8750));
        assert_eq!(stored(&eval(&[duty(OnTime), extra(1.0, Missed)], &[])), (5000, None, 5000, vec![KpiBelowThreshold], 0)); // nor a missed one a missed duty
        assert_eq!(stored(&eval(&[acceptance(Missed), vote(Missed), reading(Late)], &[])), (1250, None, 1250, vec![KpiBelowThreshold], 0));
    }

    #[test]
    #[rustfmt::skip]
    fn thresholds_and_caps() {
        let four_on_time_one_late = [duty(OnTime), duty(OnTime), duty(OnTime), duty(OnTime), duty(Late)];
        let lenient = Policy { max_late_duties: 1, ..pol() };
        assert_eq!(stored(&evaluate(&four_on_time_one_late, &[], &lenient)), (9000, None, 9000, vec![], 9000)); // one late duty allowed
        assert_eq!(stored(&evaluate(&[duty(Late), duty(Late), duty(OnTime), duty(OnTime)], &[], &lenient)), (7500, None, 7500, vec![DutyLate, KpiBelowThreshold], 0));
        let on_time = [duty(OnTime)];
        assert_eq!(stored(&eval(&on_time, &[target(1.0, Some(100.0))])), (10000, Some(12000), 11000, vec![], 11000));
        let targets_heavy = Policy { discipline_share: 0.0, target_cap: 2.0, ..pol() };
        assert_eq!(stored(&evaluate(&on_time, &[target(1.0, Some(1.5))], &targets_heavy)), (10000, Some(15000), 15000, vec![], 12000)); // factor capped at 1.2
        let (a, a_targets) = employee_a();
        assert_eq!(stored(&evaluate(&a, &a_targets, &lenient)), (8889, Some(12000), 10444, vec![], 10444)); // factor 1.0444
        let all_discipline = Policy { discipline_share: 1.0, ..pol() };
        assert_eq!(stored(&evaluate(&on_time, &[target(1.0, None)], &all_discipline)), (10000, Some(0), 10000, vec![], 10000));
    }

    #[test]
    #[rustfmt::skip]
    fn rounded_kpi_decides_eligibility() {
        let on_time = |weight: f64| Obligation { kind: Reading, weight, outcome: OnTime };
        let missed = |weight: f64| Obligation { kind: Reading, weight, outcome: Missed };
        let at_least = |bonus_min_kpi: f64| Policy { bonus_min_kpi, ..pol() };
        // 9 of 11 is 81.8181…, stored as 81.82.
        let nine_of_eleven = [on_time(9.0), missed(2.0)];
        assert_eq!(evaluate(&nine_of_eleven, &[], &at_least(81.82)).reasons, vec![]);
        assert_eq!(evaluate(&nine_of_eleven, &[], &at_least(81.819)).reasons, vec![]); // above the unrounded kpi, but rounds to 81.82
        assert_eq!(evaluate(&nine_of_eleven, &[], &at_least(81.83)).reasons, vec![KpiBelowThreshold]);
        // 7 of 8.75 is exactly 80, the default threshold.
        assert_eq!(stored(&eval(&[on_time(7.0), missed(1.75)], &[])), (8000, None, 8000, vec![], 8000));
        // 79.995 is stored as 80.00 and is paid as 80.00.
        assert_eq!(stored(&eval(&[on_time(79.995), missed(20.005)], &[])), (8000, None, 8000, vec![], 8000));
        assert_eq!(stored(&eval(&[on_time(79.994), missed(20.006)], &[])), (7999, None, 7999, vec![KpiBelowThreshold], 0));
    }

    /// The duties of a period's assignments, as the caller builds them:
    /// each is (last submission hour, cancelled), due at hour 24, and
    /// cancelled ones owe nothing so they are left out.
    fn duties_of(assignments: &[(Option<i64>, bool)]) -> Vec<Obligation> {
        let owed = assignments.iter().filter(|(_, cancelled)| !cancelled);
        owed.map(|(last, _)| duty(submission_outcome(last.map(h), h(24))))
            .collect()
    }

    #[test]
    #[rustfmt::skip]
    fn resubmission_and_cancellation() {
        // Submitted at hour 10, returned, resubmitted: the last submission is judged.
        assert_eq!(submission_outcome(Some(h(30)), h(24)), Late); // resubmitted after due
        assert_eq!(submission_outcome(Some(h(20)), h(24)), OnTime); // resubmitted in time
        assert_eq!(stored(&eval(&duties_of(&[(Some(1), false), (Some(2), false), (Some(30), false)]), &[])), (8333, None, 8333, vec![DutyLate], 0));
        // A cancelled assignment, even one never submitted, changes nothing.
        let three = stored(&eval(&duties_of(&[(Some(1), false), (Some(2), false), (Some(3), false)]), &[]));
        assert_eq!(stored(&eval(&duties_of(&[(Some(1), false), (Some(2), false), (Some(3), false), (None, true)]), &[])), three);
        assert_eq!(three, (10000, None, 10000, vec![], 10000));
    }

    #[test]
    #[rustfmt::skip]
    fn outcomes() {
        let p = pol();
        assert_eq!(submission_outcome(None, h(24)), Missed);
        assert_eq!(submission_outcome(Some(h(24)), h(24)), OnTime); // at due_at is on time
        assert_eq!(submission_outcome(Some(h(24) + Duration::seconds(1)), h(24)), Late);
        assert_eq!(acceptance_outcome(h(0), Some(h(48)), &p), OnTime); // at the SLA is on time
        assert_eq!(acceptance_outcome(h(0), Some(h(48) + Duration::seconds(1)), &p), Late);
        assert_eq!(acceptance_outcome(h(0), None, &p), Missed);
        assert_eq!(acceptance_outcome(h(10), Some(h(5)), &p), OnTime); // clock skew is not late
        assert_eq!(vote_outcome(Some(h(100)), h(100)), OnTime);
        assert_eq!(vote_outcome(Some(h(101)), h(100)), Missed); // no late votes
        assert_eq!(vote_outcome(None, h(100)), Missed);
        assert_eq!(reading_outcome(h(0), Some(h(72)), &p), OnTime);
        assert_eq!(reading_outcome(h(0), Some(h(73)), &p), Late);
        assert_eq!(reading_outcome(h(0), None, &p), Missed);
        assert_eq!(reading_outcome(h(0), Some(h(1)), &Policy { reading_sla_hours: i64::MAX, ..pol() }), OnTime); // no panic
        assert_eq!(reading_outcome(h(0), Some(h(1)), &Policy { reading_sla_hours: 0, ..pol() }), Late);
        assert_eq!(as_of(Some(h(300)), h(200)), None); // after close, did not happen in time
        assert_eq!(as_of(Some(h(200)), h(200)), Some(h(200)));
        assert_eq!(reading_outcome(h(0), as_of(Some(h(300)), h(200)), &p), Missed);
    }

    #[test]
    #[rustfmt::skip]
    fn constructors_apply_policy_weights() {
        let p = Policy { duty_weight: 2.0, additional_weight: 3.0, acceptance_weight: 0.4, vote_weight: 0.1, reading_weight: 0.2, ..pol() };
        assert_eq!(Obligation::duty(1.5, Late, &p), Obligation { kind: Duty, weight: 3.0, outcome: Late });
        assert_eq!(Obligation::additional(2.0, OnTime, &p), Obligation { kind: Additional, weight: 6.0, outcome: OnTime });
        assert_eq!(Obligation::acceptance(Missed, &p), Obligation { kind: Acceptance, weight: 0.4, outcome: Missed });
        assert_eq!(Obligation::vote(OnTime, &p), Obligation { kind: Vote, weight: 0.1, outcome: OnTime });
        assert_eq!(Obligation::reading(OnTime, &p), Obligation { kind: Reading, weight: 0.2, outcome: OnTime });
    }

    #[test]
    #[rustfmt::skip]
    fn rounding() {
        assert_eq!(round_half_away(100.0 * 6.0 / 6.75, 100.0), 8889);
        assert_eq!(round_half_away(104.444_444, 100.0), 10444);
        assert_eq!(round_half_away(80.005, 100.0), 8001);
        assert_eq!(round_half_away(84.995, 100.0), 8500);
        assert_eq!(round_half_away(80.004_999, 100.0), 8000);
        assert_eq!(round_half_away(0.125, 100.0), 13);
        assert_eq!(round_half_away(1.005, 100.0), 101);
        assert_eq!(round_half_away(2.675, 100.0), 268);
        assert_eq!(round_half_away(-0.005, 100.0), -1);
        assert_eq!(round_half_away(-2.675, 100.0), -268);
        assert_eq!(round_half_away(-0.004, 100.0), 0);
        assert_eq!(round_half_away(0.85, 10000.0), 8500);
        assert_eq!(round_half_away(0.850_05, 10000.0), 8501);
        assert_eq!(round_half_away(1.044_45, 10000.0), 10445);
        assert_eq!(round_half_away(1.2, 10000.0), 12000);
        assert_eq!(round_half_away(0.0, 100.0), 0);
        assert_eq!(round_half_away(f64::NAN, 100.0), 0);
        assert_eq!(round_half_away(f64::INFINITY, 100.0), i64::MAX);
    }

    #[test]
    fn rounding_every_half_hundredth() {
        // Every decimal x.xx5 from 0 to 200 rounds up, as written, and every
        // xx.xx4 rounds down.
        for i in 0..20_000_i64 {
            let half = format!("{}.{:02}5", i / 100, i % 100)
                .parse::<f64>()
                .unwrap();
            let below = format!("{}.{:02}4", i / 100, i % 100)
                .parse::<f64>()
                .unwrap();
            assert_eq!(round_half_away(half, 100.0), i + 1, "{half}");
            assert_eq!(round_half_away(-half, 100.0), -(i + 1), "-{half}");
            assert_eq!(round_half_away(below, 100.0), i, "{below}");
        }
        // The same for factors with a half ten-thousandth, from 0 to 2.
        for i in 0..20_000_i64 {
            let half = format!("{}.{:04}5", i / 10_000, i % 10_000)
                .parse::<f64>()
                .unwrap();
            let below = format!("{}.{:04}4", i / 10_000, i % 10_000)
                .parse::<f64>()
                .unwrap();
            assert_eq!(round_half_away(half, 10_000.0), i + 1, "{half}");
            assert_eq!(round_half_away(below, 10_000.0), i, "{below}");
        }
    }

    #[test]
    fn reason_codes() {
        assert_eq!(DutyMissed.code(), "DUTY_MISSED");
        assert_eq!(DutyLate.code(), "DUTY_LATE");
        assert_eq!(KpiBelowThreshold.code(), "KPI_BELOW_THRESHOLD");
    }

    fn invalid(change: impl FnOnce(&mut Policy)) -> Result<(), &'static str> {
        let mut policy = pol();
        change(&mut policy);
        policy.validate().map_err(|e| e.field)
    }

    #[test]
    #[rustfmt::skip]
    fn policy_validation() {
        assert_eq!(pol().validate(), Ok(()));
        assert_eq!(invalid(|p| p.version = 0), Err("version"));
        assert_eq!(invalid(|p| p.late_credit = 1.5), Err("late_credit"));
        assert_eq!(invalid(|p| p.late_credit = -0.1), Err("late_credit"));
        assert_eq!(invalid(|p| p.late_credit = f64::NAN), Err("late_credit"));
        assert_eq!(invalid(|p| p.late_credit = 1.0), Ok(()));
        assert_eq!(invalid(|p| p.late_credit = 0.0), Ok(()));
        assert_eq!(invalid(|p| p.duty_weight = -1.0), Err("duty_weight"));
        assert_eq!(invalid(|p| p.duty_weight = 0.0), Ok(()));
        assert_eq!(invalid(|p| p.additional_weight = f64::INFINITY), Err("additional_weight"));
        assert_eq!(invalid(|p| p.acceptance_weight = -0.5), Err("acceptance_weight"));
        assert_eq!(invalid(|p| p.acceptance_sla_hours = -1), Err("acceptance_sla_hours"));
        assert_eq!(invalid(|p| p.acceptance_sla_hours = i64::MAX), Err("acceptance_sla_hours"));
        assert_eq!(invalid(|p| p.vote_weight = f64::NAN), Err("vote_weight"));
        assert_eq!(invalid(|p| p.reading_weight = -0.25), Err("reading_weight"));
        assert_eq!(invalid(|p| p.reading_sla_hours = -72), Err("reading_sla_hours"));
        assert_eq!(invalid(|p| p.reading_sla_hours = 0), Ok(()));
        assert_eq!(invalid(|p| p.target_cap = 0.0), Err("target_cap"));
        assert_eq!(invalid(|p| p.target_cap = f64::INFINITY), Err("target_cap"));
        assert_eq!(invalid(|p| p.discipline_share = 1.01), Err("discipline_share"));
        assert_eq!(invalid(|p| p.discipline_share = 1.0), Ok(()));
        assert_eq!(invalid(|p| p.bonus_min_kpi = -1.0), Err("bonus_min_kpi"));
        assert_eq!(invalid(|p| p.bonus_cap_kpi = f64::NAN), Err("bonus_cap_kpi"));
        assert_eq!(invalid(|p| p.average_window = 0), Err("average_window"));
        assert_eq!(invalid(|p| p.close_after_hours = -1), Err("close_after_hours"));
        // The documented upper bounds (`bounds`), each edge accepted and just past it refused.
        assert_eq!(invalid(|p| p.duty_weight = 100.0), Ok(()));
        assert_eq!(invalid(|p| p.duty_weight = 100.5), Err("duty_weight"));
        assert_eq!(invalid(|p| p.reading_weight = 1e308), Err("reading_weight"));
        assert_eq!(invalid(|p| p.acceptance_sla_hours = 8760), Ok(()));
        assert_eq!(invalid(|p| p.acceptance_sla_hours = 8761), Err("acceptance_sla_hours"));
        assert_eq!(invalid(|p| p.reading_sla_hours = 8761), Err("reading_sla_hours"));
        assert_eq!(invalid(|p| p.target_cap = 10.0), Ok(()));
        assert_eq!(invalid(|p| p.target_cap = 10.01), Err("target_cap"));
        assert_eq!(invalid(|p| p.max_late_duties = 1000), Ok(()));
        assert_eq!(invalid(|p| p.max_late_duties = 1001), Err("max_late_duties"));
        assert_eq!(invalid(|p| p.bonus_min_kpi = 1000.0), Ok(()));
        assert_eq!(invalid(|p| p.bonus_min_kpi = 1e308), Err("bonus_min_kpi"));
        assert_eq!(invalid(|p| p.bonus_cap_kpi = 1000.01), Err("bonus_cap_kpi"));
        assert_eq!(invalid(|p| p.average_window = 120), Ok(()));
        assert_eq!(invalid(|p| p.average_window = 121), Err("average_window"));
        assert_eq!(invalid(|p| p.close_after_hours = 720), Ok(()));
        assert_eq!(invalid(|p| p.close_after_hours = 721), Err("close_after_hours"));
        assert_eq!(
            Policy { late_credit: 2.0, ..pol() }.validate().unwrap_err().to_string(),
            "invalid policy: late_credit must be between 0 and 1"
        );
    }

    #[test]
    #[rustfmt::skip]
    fn default_policy() {
        let p = pol();
        assert_eq!((p.version, p.late_credit, p.target_cap, p.discipline_share), (1, 0.5, 1.2, 0.5));
        assert_eq!((p.duty_weight, p.additional_weight, p.acceptance_weight, p.vote_weight, p.reading_weight), (1.0, 1.0, 0.5, 0.25, 0.25));
        assert_eq!((p.acceptance_sla_hours, p.reading_sla_hours, p.close_after_hours), (48, 72, 24));
        assert_eq!((p.max_late_duties, p.bonus_min_kpi, p.bonus_cap_kpi, p.average_window), (0, 80.0, 120.0, 6));
    }
}

/// For any input the services accept, every figure the formula computes and
/// every stored form of it is finite and within its documented range.
#[cfg(test)]
mod figures_in_range {
    use proptest::prelude::*;

    use super::*;
    use crate::bounds;

    /// Numbers biased to the accepted range and its edges, with arbitrary ones
    /// (huge, tiny, negative, infinite, NaN) mixed in. The strategies below
    /// keep only what the services' own validators accept.
    fn number(lo: f64, hi: f64) -> impl Strategy<Value = f64> {
        prop_oneof![
            6 => lo..=hi,
            1 => Just(lo),
            1 => Just(hi),
            1 => Just(1e308),
            1 => Just(f64::MIN_POSITIVE),
            2 => any::<f64>(),
        ]
    }

    fn accepted_weight() -> impl Strategy<Value = f64> {
        number(0.0, bounds::WEIGHT_MAX)
            .prop_filter("bounds::weight", |w| bounds::weight("w", *w).is_ok())
    }

    fn accepted_value() -> impl Strategy<Value = f64> {
        number(0.0, bounds::VALUE_MAX)
            .prop_filter("bounds::value", |v| bounds::value("v", *v).is_ok())
    }

    fn accepted_policy() -> impl Strategy<Value = Policy> {
        let weights = (
            number(0.0, 1.0),
            number(0.0, bounds::POLICY_WEIGHT_MAX),
            number(0.0, bounds::POLICY_WEIGHT_MAX),
            number(0.0, bounds::POLICY_WEIGHT_MAX),
            number(0.0, bounds::POLICY_WEIGHT_MAX),
            number(0.0, bounds::POLICY_WEIGHT_MAX),
        );
        let rest = (
            number(0.0, bounds::TARGET_CAP_MAX),
            number(0.0, 1.0),
            0u32..=bounds::MAX_LATE_DUTIES_MAX + 10,
            number(0.0, bounds::KPI_MAX),
            number(0.0, bounds::KPI_MAX),
        );
        (weights, rest)
            .prop_map(
                |(
                    (
                        late_credit,
                        duty_weight,
                        additional_weight,
                        acceptance_weight,
                        vote_weight,
                        reading_weight,
                    ),
                    (target_cap, discipline_share, max_late_duties, bonus_min_kpi, bonus_cap_kpi),
                )| Policy {
                    late_credit,
                    duty_weight,
                    additional_weight,
                    acceptance_weight,
                    vote_weight,
                    reading_weight,
                    target_cap,
                    discipline_share,
                    max_late_duties,
                    bonus_min_kpi,
                    bonus_cap_kpi,
                    ..Policy::default()
                },
            )
            .prop_filter("Policy::validate", |p| p.validate().is_ok())
    }

    fn outcome() -> impl Strategy<Value = Outcome> {
        prop_oneof![
            Just(Outcome::OnTime),
            Just(Outcome::Late),
            Just(Outcome::Missed)
        ]
    }

    /// (kind 0–4, assignment weight, outcome), built into obligations the way
    /// `obligations::owed` does.
    fn raw_obligations() -> impl Strategy<Value = Vec<(u8, f64, Outcome)>> {
        prop::collection::vec((0u8..5, accepted_weight(), outcome()), 0..40)
    }

    fn targets() -> impl Strategy<Value = Vec<TargetScore>> {
        prop::collection::vec(
            (
                accepted_weight(),
                accepted_value(),
                prop::option::of(accepted_value()),
            )
                .prop_map(|(weight, target, actual)| TargetScore {
                    weight,
                    target,
                    actual,
                }),
            0..8,
        )
    }

    fn check(e: &Evaluation, policy: &Policy) {
        let in_range = |x: f64, hi: f64| x.is_finite() && (0.0..=hi).contains(&x);
        assert!(in_range(e.discipline, 100.0), "discipline {}", e.discipline);
        if let Some(t) = e.targets {
            assert!(in_range(t, 100.0 * policy.target_cap), "targets {t}");
        }
        assert!(in_range(e.kpi, bounds::KPI_MAX), "kpi {}", e.kpi);
        assert!(
            (0..=10_000).contains(&e.discipline_x100),
            "discipline_x100 {}",
            e.discipline_x100
        );
        assert!(
            e.targets_x100.is_none_or(|t| (0..=100_000).contains(&t)),
            "targets_x100 {:?}",
            e.targets_x100
        );
        assert!(
            (0..=100_000).contains(&e.kpi_x100),
            "kpi_x100 {}",
            e.kpi_x100
        );
        assert!(
            (0..=round_half_away(policy.bonus_cap_kpi, 100.0)).contains(&e.bonus_factor_x10000),
            "factor {}",
            e.bonus_factor_x10000
        );
        assert!(e.bonus_factor_x10000 <= 100_000);
        for t in &e.tally {
            assert!(
                t.weight.is_finite() && t.weight >= 0.0,
                "tally weight {}",
                t.weight
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn every_figure_of_accepted_inputs_is_finite_and_in_range(policy in accepted_policy(), raw in raw_obligations(), targets in targets()) {
            let obligations: Vec<Obligation> = raw
                .iter()
                .map(|&(kind, weight, outcome)| match kind {
                    0 => Obligation::duty(weight, outcome, &policy),
                    1 => Obligation::additional(weight, outcome, &policy),
                    2 => Obligation::acceptance(outcome, &policy),
                    3 => Obligation::vote(if outcome == Outcome::Late { Outcome::Missed } else { outcome }, &policy),
                    _ => Obligation::reading(outcome, &policy),
                })
                .collect();
            check(&evaluate(&obligations, &targets, &policy), &policy);
        }

        /// Even inputs no service accepts (what an old database may hold)
        /// give figures in range, never infinity or NaN.
        #[test]
        fn unvalidated_inputs_still_give_finite_figures(weights in prop::collection::vec(any::<f64>(), 0..10), values in prop::collection::vec((any::<f64>(), any::<f64>(), any::<f64>()), 0..5)) {
            let policy = Policy::default();
            let obligations: Vec<Obligation> = weights.iter().enumerate().map(|(i, &weight)| Obligation { kind: ObligationKind::Duty, weight, outcome: if i % 2 == 0 { Outcome::OnTime } else { Outcome::Missed } }).collect();
            let targets: Vec<TargetScore> = values.iter().map(|&(weight, target, actual)| TargetScore { weight, target, actual: Some(actual) }).collect();
            check(&evaluate(&obligations, &targets, &policy), &policy);
        }
    }

    #[test]
    #[rustfmt::skip]
    fn huge_weights_do_not_overflow() {
        let p = Policy::default();
        let duty = |weight: f64, outcome| Obligation { kind: ObligationKind::Duty, weight, outcome };
        // The case: 100 × 1e308 overflowed to infinity, stored as i64::MAX.
        let e = evaluate(&[duty(1e308, Outcome::OnTime)], &[], &p);
        assert_eq!((e.discipline, e.kpi_x100, e.bonus_factor_x10000), (100.0, 10_000, 10_000));
        let e = evaluate(&[duty(1e308, Outcome::OnTime), duty(1e308, Outcome::Missed)], &[], &p);
        assert_eq!((e.discipline, e.kpi_x100), (50.0, 5_000));
        assert!(e.tally.iter().all(|t| t.weight.is_finite()));
        let e = evaluate(&[duty(f64::MAX, Outcome::OnTime), duty(f64::MAX, Outcome::OnTime), duty(f64::INFINITY, Outcome::Missed)], &[], &p);
        assert_eq!(e.kpi_x100, 6_667);
        assert_eq!(e.tally.iter().map(|t| t.weight).collect::<Vec<_>>(), vec![f64::MAX, f64::MAX]); // saturated, still a JSON number
        let t = evaluate(&[], &[TargetScore { weight: 1e308, target: 1e-300, actual: Some(1e308) }], &p);
        assert_eq!(t.targets_x100, Some(12_000));
        // Weights in range give bit for bit what the plain formula gives.
        let plain = |w: &[(f64, f64)]| 100.0 * w.iter().map(|(w, c)| w * c).sum::<f64>() / w.iter().map(|(w, _)| w).sum::<f64>();
        for w in [[(3.0, 1.0), (1.0, 0.5), (2.0, 1.0)], [(999.9, 0.5), (0.001, 1.0), (7.25, 0.0)], [(79.995, 1.0), (20.005, 0.0), (0.3, 0.5)]] {
            assert_eq!(weighted_percent(w.iter().copied()), Some(plain(&w)), "{w:?}");
        }
    }
}
