//! The outlook of an open period (`Summary.outlook`): what closing now would store, item by
//! item, what doing everything still owed on time would give, and what to do. Every figure
//! comes from `domain::results::outlooks`, which judges with the close's own rules
//! (`domain::explain`); nothing here decides anything.

use std::sync::Arc;

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use domain::explain::say;
use domain::explain::{ItemKind, OutlookItem as Projected};
use domain::kpi::round_half_away;
use domain::results::Projection;

use super::kpi_item::{KpiItemKind, KpiItemOutcome, Lang, lang_of};
use crate::context::Ctx;
use crate::id::{Kind, encode};
use crate::paging::{Page, PageArgs, page_of_list};

/// A figure to hundredths, as every KPI figure is shown.
fn hundredths(x: f64) -> f64 {
    round_half_away(x, 100.0) as f64 / 100.0
}

/// One employee's outlook for an open period.
pub struct Outlook(pub Arc<Projection>);

#[Object]
impl Outlook {
    /// The instant judged: the request's now, but never past the close instant.
    async fn as_of(&self) -> DateTime<Utc> {
        self.0.as_of
    }
    /// When the period closes; nothing done after it counts.
    async fn closes_at(&self) -> DateTime<Utc> {
        self.0.closes_at
    }
    /// The KPI if everything still owed is done as early as it still can be (on time before
    /// its deadline, late after it) and every unrecorded target is met exactly; to
    /// hundredths.
    async fn kpi_if_all_on_time(&self) -> f64 {
        self.0.outlook.if_all_on_time.kpi_x100 as f64 / 100.0
    }
    /// The KPI if nothing more is done: what closing the period now would store; to
    /// hundredths.
    async fn kpi_if_nothing_more(&self) -> f64 {
        self.0.outlook.if_nothing_more.kpi_x100 as f64 / 100.0
    }
    /// Whether the bonus is still within reach: eligible if everything still owed is done
    /// on time.
    async fn eligible_now(&self) -> bool {
        self.0.outlook.if_all_on_time.eligible
    }
    /// Whether the bonus is earned even if nothing more is done.
    async fn eligible_if_nothing_more(&self) -> bool {
        self.0.outlook.if_nothing_more.eligible
    }
    /// Why the bonus would be refused even with everything still owed done on time:
    /// `DUTY_MISSED`, `DUTY_LATE`, `KPI_BELOW_THRESHOLD`.
    async fn reasons_if_all_on_time(&self) -> Vec<&'static str> {
        let reasons = &self.0.outlook.if_all_on_time.reasons;
        reasons.iter().map(|r| r.code()).collect()
    }
    /// Why the bonus would be refused if nothing more is done.
    async fn reasons_if_nothing_more(&self) -> Vec<&'static str> {
        let reasons = &self.0.outlook.if_nothing_more.reasons;
        reasons.iter().map(|r| r.code()).collect()
    }
    /// How many items can still change (`stillPossible` is set).
    async fn still_owed(&self) -> usize {
        self.0
            .outlook
            .items
            .iter()
            .filter(|i| i.still.is_some())
            .count()
    }
    /// The obligations and targets a close now would store, in the stored order (nothing
    /// owed first, then by kind, deadline and subject; targets last).
    #[graphql(complexity = "crate::paging::page_cost(first, child_complexity)")]
    async fn items(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<OutlookItem>> {
        let c = Ctx::new(ctx)?;
        let items = (0..self.0.outlook.items.len())
            .map(|index| OutlookItem {
                projection: self.0.clone(),
                index,
            })
            .collect();
        page_of_list(&c, items, PageArgs::new(first, after))
    }
    /// What to do before the period closes: the bonus verdict and what would change it, what
    /// is still owed with its deadline (in the company's time zone) and worth, and what is
    /// already late. In `lang`; without it, the language the request's `Accept-Language`
    /// prefers, else English.
    async fn advice(
        &self,
        ctx: &Context<'_>,
        lang: Option<Lang>,
    ) -> async_graphql::Result<Vec<String>> {
        let c = Ctx::new(ctx)?;
        let lang = lang_of(ctx, lang);
        let tz = c.state.company.calendar.tz;
        Ok(say::advice(&self.0.outlook, &self.0.policy, tz, lang))
    }
}

/// One obligation or target of an outlook: as a close now would store it, and what can
/// still change.
pub struct OutlookItem {
    projection: Arc<Projection>,
    index: usize,
}

impl OutlookItem {
    fn get(&self) -> &Projected {
        &self.projection.outlook.items[self.index]
    }
}

#[Object]
impl OutlookItem {
    async fn kind(&self) -> KpiItemKind {
        self.get().item.kind.into()
    }
    /// The assignment (duty, additional work, acceptance), proposal (vote), article
    /// (reading) or KPI target it is about; null for `NOTHING_OWED`.
    async fn subject_id(&self) -> Option<ID> {
        let item = &self.get().item;
        let kind = match item.kind {
            ItemKind::NothingOwed => return None,
            ItemKind::Duty | ItemKind::Additional | ItemKind::Acceptance => Kind::Assignment,
            ItemKind::Reading => Kind::Article,
            ItemKind::Vote => Kind::Proposal,
            ItemKind::Target => Kind::KpiTarget,
        };
        item.subject_id.map(|id| encode(kind, id))
    }
    /// The assignment's, proposal's or article's title, or the target's metric.
    async fn title(&self) -> &str {
        &self.get().item.title
    }
    /// The deadline; null for targets.
    async fn due_at(&self) -> Option<DateTime<Utc>> {
        self.get().item.due_at
    }
    /// When it was met (submitted, decided, voted, read, recorded); null if not yet.
    async fn met_at(&self) -> Option<DateTime<Utc>> {
        self.get().item.met_at
    }
    /// Its outcome if nothing more is done.
    async fn outcome(&self) -> KpiItemOutcome {
        self.get().item.outcome.into()
    }
    /// A target's actual over its target, uncapped; null otherwise.
    async fn ratio(&self) -> Option<f64> {
        self.get().item.ratio
    }
    async fn weight(&self) -> f64 {
        self.get().item.weight
    }
    /// The share of its weight it earns (1 on time, the policy's credit when late, 0
    /// missed; a target's capped ratio).
    async fn credit(&self) -> f64 {
        self.get().item.credit
    }
    /// Its contribution to `kpiIfNothingMore`, to hundredths; an outlook's items add up to
    /// it exactly.
    async fn points(&self) -> f64 {
        self.get().item.points_x100 as f64 / 100.0
    }
    /// What it would have added met on time (a target: at its target), to hundredths.
    async fn points_lost(&self) -> f64 {
        hundredths(self.get().item.points_lost)
    }
    /// The best outcome still reachable (on time before the deadline, late after it; a
    /// target can still be scored); null once met, or when nothing can change it.
    async fn still_possible(&self) -> Option<KpiItemOutcome> {
        self.get().still.map(Into::into)
    }
    /// Its contribution with that outcome, to hundredths; null when nothing can change it.
    async fn points_if_done(&self) -> Option<f64> {
        self.get().points_if_done.map(hundredths)
    }
}
