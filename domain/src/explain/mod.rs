//! Why a KPI is what it is: the obligations and targets of a result item by item, with the
//! points each contributed, and the outlook of an open period (what closing now would give,
//! what doing everything still owed on time would give, and what to do). Pure: the close
//! stores [`itemize`]'s rows beside each result; the outlook judges the same rows with the
//! same functions ([`owed`](crate::obligations::owed), [`kpi::evaluate`],
//! [`kpi::contributions`]) as of now, so an outlook taken at the close instant is the result
//! the close stores, item by item.
//!
//! Rounding: an item's `points` is its exact contribution (the KPI formula taken apart term
//! by term, [`kpi::contributions`]), kept unrounded; `points_x100` rounds the items of one
//! result to hundredths by the largest-remainder method ([`kpi::apportion`]), so the
//! displayed points of a result add up to its stored KPI exactly, which is the rounded sum
//! of the unrounded contributions.
//!
//! Decisions where the issue is silent:
//! - A result in which nothing weighed (no obligation, or only weightless ones) has perfect
//!   discipline, which no obligation carries: a `nothing_owed` item holds those points, so
//!   that every result's items add up to its KPI.
//! - `points_lost` is what an item would have added had it been met on time (a target: at
//!   exactly its target), never negative; a target above its target loses nothing.
//! - In an outlook, an obligation not yet met can still be met on time before its deadline
//!   and late after it (a vote cannot: a vote after the proposal closed counts nothing), until
//!   the period closes; a target not yet recorded can still be, and counts at its target in
//!   "if all on time". Obligations that do not exist yet (a proposal not yet published) are
//!   not foreseen.

pub mod say;

use std::cmp::Ordering;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{kpi_item, kpi_target};

use crate::kpi::{
    self, Evaluation, Obligation, ObligationKind, Outcome, Policy, TargetScore, evaluate,
};
use crate::obligations::{Owed, PeriodRows};

/// What an item is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemKind {
    /// Perfect discipline in a period in which nothing weighed.
    NothingOwed,
    Duty,
    Additional,
    Acceptance,
    Reading,
    Vote,
    Target,
}

impl ItemKind {
    pub const ALL: [ItemKind; 7] = [
        ItemKind::NothingOwed,
        ItemKind::Duty,
        ItemKind::Additional,
        ItemKind::Acceptance,
        ItemKind::Reading,
        ItemKind::Vote,
        ItemKind::Target,
    ];

    /// The stored name.
    pub fn code(self) -> &'static str {
        match self {
            ItemKind::NothingOwed => "nothing_owed",
            ItemKind::Duty => "duty",
            ItemKind::Additional => "additional",
            ItemKind::Acceptance => "acceptance",
            ItemKind::Reading => "reading",
            ItemKind::Vote => "vote",
            ItemKind::Target => "target",
        }
    }

    pub fn of_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

impl From<ObligationKind> for ItemKind {
    fn from(kind: ObligationKind) -> Self {
        match kind {
            ObligationKind::Duty => ItemKind::Duty,
            ObligationKind::Additional => ItemKind::Additional,
            ObligationKind::Acceptance => ItemKind::Acceptance,
            ObligationKind::Vote => ItemKind::Vote,
            ObligationKind::Reading => ItemKind::Reading,
        }
    }
}

/// How an item ended: an obligation's outcome, or a target with a recorded actual.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemOutcome {
    OnTime,
    Late,
    Missed,
    /// A target whose actual was recorded: see the item's ratio.
    Scored,
}

impl ItemOutcome {
    pub const ALL: [ItemOutcome; 4] = [
        ItemOutcome::OnTime,
        ItemOutcome::Late,
        ItemOutcome::Missed,
        ItemOutcome::Scored,
    ];

    /// The stored name.
    pub fn code(self) -> &'static str {
        match self {
            ItemOutcome::OnTime => "on_time",
            ItemOutcome::Late => "late",
            ItemOutcome::Missed => "missed",
            ItemOutcome::Scored => "scored",
        }
    }

    pub fn of_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

impl From<Outcome> for ItemOutcome {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::OnTime => ItemOutcome::OnTime,
            Outcome::Late => ItemOutcome::Late,
            Outcome::Missed => ItemOutcome::Missed,
        }
    }
}

/// One obligation or target of a result, as judged, with its contribution.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub kind: ItemKind,
    /// The assignment, proposal, article or target it is about.
    pub subject_id: Option<i64>,
    pub title: String,
    pub due_at: Option<DateTime<Utc>>,
    pub met_at: Option<DateTime<Utc>>,
    pub outcome: ItemOutcome,
    /// A target's actual / target, uncapped.
    pub ratio: Option<f64>,
    pub weight: f64,
    pub credit: f64,
    /// Its contribution to the KPI, unrounded.
    pub points: f64,
    /// Its contribution in hundredths, apportioned so that a result's add up to its KPI.
    pub points_x100: i64,
    /// What it would have added met on time, unrounded, never negative.
    pub points_lost: f64,
}

/// A stored item whose kind or outcome is not one this version knows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("KPI item {position} of result {result_id} has an unknown {what} `{code}`")]
pub struct UnknownCode {
    pub result_id: i64,
    pub position: i32,
    pub what: &'static str,
    pub code: String,
}

impl Item {
    /// An item as the close stored it (`kpi_item`), its codes parsed.
    pub fn of_row(row: &kpi_item::Model) -> Result<Item, UnknownCode> {
        let unknown = |what, code: &str| UnknownCode {
            result_id: row.result_id,
            position: row.position,
            what,
            code: code.to_owned(),
        };
        Ok(Item {
            kind: ItemKind::of_code(&row.kind).ok_or_else(|| unknown("kind", &row.kind))?,
            subject_id: row.subject_id,
            title: row.title.clone(),
            due_at: row.due_at,
            met_at: row.met_at,
            outcome: ItemOutcome::of_code(&row.outcome)
                .ok_or_else(|| unknown("outcome", &row.outcome))?,
            ratio: row.ratio,
            weight: row.weight,
            credit: row.credit,
            points: row.points,
            points_x100: row.points_x100,
            points_lost: row.points_lost,
        })
    }
}

/// The titles of a period's subjects by id, to name items after.
pub struct Titles<'a> {
    assignments: HashMap<i64, &'a str>,
    proposals: HashMap<i64, &'a str>,
    articles: HashMap<i64, &'a str>,
}

impl<'a> Titles<'a> {
    pub fn of(rows: &'a PeriodRows) -> Self {
        Self {
            assignments: rows.assignments.iter().map(|a| (a.id, &*a.title)).collect(),
            proposals: rows.proposals.iter().map(|p| (p.id, &*p.title)).collect(),
            articles: rows.articles.iter().map(|a| (a.id, &*a.title)).collect(),
        }
    }

    fn of_owed(&self, o: &Owed) -> &'a str {
        let by = match o.obligation.kind {
            ObligationKind::Duty | ObligationKind::Additional | ObligationKind::Acceptance => {
                &self.assignments
            }
            ObligationKind::Vote => &self.proposals,
            ObligationKind::Reading => &self.articles,
        };
        by.get(&o.subject).copied().unwrap_or_default()
    }
}

/// A target as the KPI formula reads it.
pub fn score(t: &kpi_target::Model) -> TargetScore {
    TargetScore {
        weight: t.weight,
        target: t.target_value,
        actual: t.actual_value,
    }
}

/// A target counted at exactly its target.
fn at_target(t: &kpi_target::Model) -> TargetScore {
    TargetScore {
        actual: Some(t.target_value),
        ..score(t)
    }
}

/// What a close stores for one employee: the evaluation of their obligations (judged) and
/// targets, and its items. The close and the outlook's "if nothing more" both come from
/// here, so the projection and the stored result cannot disagree.
pub fn judge(
    owed: &[Owed],
    targets: &[&kpi_target::Model],
    titles: &Titles,
    policy: &Policy,
) -> (Evaluation, Vec<Item>) {
    let obligations: Vec<Obligation> = owed.iter().map(|o| o.obligation).collect();
    let scores: Vec<TargetScore> = targets.iter().map(|t| score(t)).collect();
    let evaluation = evaluate(&obligations, &scores, policy);
    let items = itemize(owed, targets, titles, policy, evaluation.kpi_x100);
    (evaluation, items)
}

/// One employee's items under `policy`, in display order (nothing owed first, then by kind,
/// due instant and subject; targets last), their points apportioned to `kpi_x100`, the
/// stored KPI of the same obligations and targets.
pub fn itemize(
    owed: &[Owed],
    targets: &[&kpi_target::Model],
    titles: &Titles,
    policy: &Policy,
    kpi_x100: i64,
) -> Vec<Item> {
    let obligations: Vec<Obligation> = owed.iter().map(|o| o.obligation).collect();
    let scores: Vec<TargetScore> = targets.iter().map(|t| score(t)).collect();
    let got = kpi::contributions(&obligations, &scores, policy);
    let on_time: Vec<Obligation> = obligations
        .iter()
        .map(|o| Obligation {
            outcome: Outcome::OnTime,
            ..*o
        })
        .collect();
    let best_scores: Vec<TargetScore> = targets.iter().map(|t| at_target(t)).collect();
    let best = kpi::contributions(&on_time, &best_scores, policy);

    let mut items: Vec<Item> = Vec::with_capacity(owed.len() + targets.len() + 1);
    if let Some(points) = got.nothing_owed {
        items.push(Item {
            kind: ItemKind::NothingOwed,
            subject_id: None,
            title: String::new(),
            due_at: None,
            met_at: None,
            outcome: ItemOutcome::OnTime,
            ratio: None,
            weight: 0.0,
            credit: 1.0,
            points,
            points_x100: 0,
            points_lost: 0.0,
        });
    }
    for (i, o) in owed.iter().enumerate() {
        items.push(Item {
            kind: o.obligation.kind.into(),
            subject_id: Some(o.subject),
            title: titles.of_owed(o).to_owned(),
            due_at: Some(o.deadline),
            met_at: o.met_at,
            outcome: o.obligation.outcome.into(),
            ratio: None,
            weight: o.obligation.weight,
            credit: policy.credit_of(o.obligation.outcome),
            points: got.obligations[i],
            points_x100: 0,
            points_lost: (best.obligations[i] - got.obligations[i]).max(0.0),
        });
    }
    for (i, t) in targets.iter().enumerate() {
        let s = &scores[i];
        items.push(Item {
            kind: ItemKind::Target,
            subject_id: Some(t.id),
            title: t.metric.clone(),
            due_at: None,
            met_at: t.recorded_at.filter(|_| t.actual_value.is_some()),
            outcome: if s.actual.is_some() {
                ItemOutcome::Scored
            } else {
                ItemOutcome::Missed
            },
            ratio: s.achieved(),
            weight: t.weight,
            credit: s.credit(policy),
            points: got.targets[i],
            points_x100: 0,
            points_lost: (best.targets[i] - got.targets[i]).max(0.0),
        });
    }
    items.sort_by(display_order);
    let exact: Vec<f64> = items.iter().map(|i| i.points).collect();
    for (item, x100) in items.iter_mut().zip(kpi::apportion(&exact, kpi_x100)) {
        item.points_x100 = x100;
    }
    items
}

fn display_order(a: &Item, b: &Item) -> Ordering {
    (a.kind, a.due_at, a.subject_id).cmp(&(b.kind, b.due_at, b.subject_id))
}

/// The projection of one employee's open period as of now.
#[derive(Clone, Debug, PartialEq)]
pub struct Outlook {
    /// Everything still owed done as early as it still can be (on time before its
    /// deadline, late after it), unrecorded targets at their target.
    pub if_all_on_time: Evaluation,
    /// The period closed now: what a close would store.
    pub if_nothing_more: Evaluation,
    /// The items a close now would store, each with what can still change.
    pub items: Vec<OutlookItem>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OutlookItem {
    pub item: Item,
    /// The best outcome still reachable for an obligation not met yet; `None` once met or
    /// when nothing can change it (a vote after its proposal closed, the period over).
    pub still: Option<ItemOutcome>,
    /// Its contribution with that outcome, unrounded.
    pub points_if_done: Option<f64>,
}

impl Outlook {
    /// What closing now would store.
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().map(|i| &i.item)
    }
}

/// The outlook of one employee: `owed` judged as of `now` (by `owed(rows, …, now)`), their
/// targets, and the instant the period closes, after which nothing can change.
pub fn outlook(
    owed: &[Owed],
    targets: &[&kpi_target::Model],
    titles: &Titles,
    policy: &Policy,
    now: DateTime<Utc>,
    closes_at: DateTime<Utc>,
) -> Outlook {
    let open = now < closes_at;
    let still = |o: &Owed| -> Option<Outcome> {
        if o.fulfilled || !open {
            return None;
        }
        if now <= o.deadline {
            Some(Outcome::OnTime)
        } else if o.obligation.kind == ObligationKind::Vote {
            None
        } else {
            Some(Outcome::Late)
        }
    };
    let (if_nothing_more, items) = judge(owed, targets, titles, policy);
    let best: Vec<Obligation> = owed
        .iter()
        .map(|o| Obligation {
            outcome: still(o).unwrap_or(o.obligation.outcome),
            ..o.obligation
        })
        .collect();
    let target_open = |t: &kpi_target::Model| open && t.actual_value.is_none();
    let best_scores: Vec<TargetScore> = targets
        .iter()
        .map(|t| {
            if target_open(t) {
                at_target(t)
            } else {
                score(t)
            }
        })
        .collect();
    let if_all_on_time = evaluate(&best, &best_scores, policy);
    let done = kpi::contributions(&best, &best_scores, policy);

    // The same order as `itemize`, found by subject: an obligation is its kind and subject.
    let still_of: HashMap<(ItemKind, i64), (Option<Outcome>, f64)> = owed
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let kind = ItemKind::from(o.obligation.kind);
            ((kind, o.subject), (still(o), done.obligations[i]))
        })
        .chain(targets.iter().enumerate().map(|(i, t)| {
            let still = target_open(t).then_some(Outcome::OnTime);
            ((ItemKind::Target, t.id), (still, done.targets[i]))
        }))
        .collect();
    let items = items
        .into_iter()
        .map(|item| {
            let found = item
                .subject_id
                .and_then(|id| still_of.get(&(item.kind, id)))
                .filter(|(still, _)| still.is_some());
            OutlookItem {
                still: found.and_then(|(still, _)| {
                    still.map(|s| match item.kind {
                        ItemKind::Target => ItemOutcome::Scored,
                        _ => s.into(),
                    })
                }),
                points_if_done: found.map(|(_, points)| *points),
                item,
            }
        })
        .collect();
    Outlook {
        if_all_on_time,
        if_nothing_more,
        items,
    }
}

#[cfg(test)]
mod tests;
