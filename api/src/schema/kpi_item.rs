//! A KPI result item by item (`KpiResult.items`) and in words (`KpiResult.explanation`),
//! from the `kpi_item` rows its close stored. Items link to what they are about only where
//! the reader may see it (`domain::access` decides); payroll gets the figures without links.

use async_graphql::connection::{Connection, Edge, OpaqueCursor};
use std::collections::HashMap;

use async_graphql::{Context, Enum, InputType, Lookahead, Object};
use chrono::{DateTime, Utc};
use domain::access::Material;
use domain::explain::say::{self, Lang as Said};
use domain::explain::{Item, ItemKind, ItemOutcome};
use domain::read::items::Window;
use entity::{kpi_item, kpi_result};

use super::admin::KpiTarget;
use super::assignment::{Assignment, load_visible};
use super::kb::{Article, Proposal};
use super::mirror::mirror_enum;
use crate::context::Ctx;
use crate::error::{OrGql, bad_input, internal};
use crate::paging::{Counted, Page, PageArgs, decode_after, page_size};

mirror_enum!(
    /// What a KPI item is about.
    KpiItemKind <=> ItemKind { NothingOwed, Duty, Additional, Acceptance, Reading, Vote, Target }
);
mirror_enum!(
    /// How a KPI item ended: an obligation on time, late or missed; a target with a
    /// recorded actual `SCORED` (one without is `MISSED`).
    KpiItemOutcome <=> ItemOutcome { OnTime, Late, Missed, Scored }
);
mirror_enum!(
    /// The language of an explanation.
    Lang <=> Said { En, Ru }
);

fn hundredths(x: f64) -> f64 {
    domain::kpi::round_half_away(x, 100.0) as f64 / 100.0
}

/// One obligation or target that went into a KPI result, as judged at its close.
pub struct KpiItem {
    item: Item,
    /// The result's employee, whose obligation this was.
    employee_id: i64,
}

impl KpiItem {
    fn new(row: &kpi_item::Model, employee_id: i64) -> async_graphql::Result<Self> {
        let item = Item::of_row(row).map_err(|e| internal(&e))?;
        Ok(KpiItem { item, employee_id })
    }

    /// Whether the reader may see an article or a proposal.
    async fn sees(&self, c: &Ctx<'_>, material: Material) -> async_graphql::Result<bool> {
        super::sees(c, material).await
    }
}

#[Object]
impl KpiItem {
    async fn kind(&self) -> KpiItemKind {
        self.item.kind.into()
    }
    /// The assignment's, proposal's or article's title, or the target's metric, as at the
    /// close; empty for `NOTHING_OWED`.
    async fn title(&self) -> &str {
        &self.item.title
    }
    /// The deadline; null for targets and `NOTHING_OWED`.
    async fn due_at(&self) -> Option<DateTime<Utc>> {
        self.item.due_at
    }
    /// When it was met (submitted, decided, voted, read; a target's actual recorded); null
    /// if never.
    async fn met_at(&self) -> Option<DateTime<Utc>> {
        self.item.met_at
    }
    async fn outcome(&self) -> KpiItemOutcome {
        self.item.outcome.into()
    }
    async fn weight(&self) -> f64 {
        self.item.weight
    }
    /// The share of its weight it earned: the policy's credit for its outcome, or a target's
    /// capped ratio.
    async fn credit(&self) -> f64 {
        self.item.credit
    }
    /// Its contribution to the KPI, to hundredths: a result's items add up to its KPI
    /// exactly (the rounding is apportioned over them).
    async fn points(&self) -> f64 {
        self.item.points_x100 as f64 / 100.0
    }
    /// A target's actual / target, uncapped; null for obligations.
    async fn ratio(&self) -> Option<f64> {
        self.item.ratio
    }
    /// What it would have added met on time (a target: at its target), to hundredths;
    /// never negative.
    async fn points_lost(&self) -> f64 {
        hundredths(self.item.points_lost)
    }
    /// The duty, additional assignment or acceptance it is about, if you may see it.
    async fn assignment(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Assignment>> {
        match (self.item.kind, self.item.subject_id) {
            (ItemKind::Duty | ItemKind::Additional | ItemKind::Acceptance, Some(id)) => {
                load_visible(&Ctx::new(ctx)?, id).await
            }
            _ => Ok(None),
        }
    }
    /// The article it is about (a reading), if you may see it.
    async fn article(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Article>> {
        let (ItemKind::Reading, Some(id)) = (self.item.kind, self.item.subject_id) else {
            return Ok(None);
        };
        let c = Ctx::new(ctx)?;
        let Some(a) = c.loaders.articles.load_one(id).await.gql()? else {
            return Ok(None);
        };
        let material = Material {
            author_id: a.author_id,
            audience: a.department_id,
            visible_from: a.published_at,
        };
        Ok(self.sees(&c, material).await?.then_some(Article(a)))
    }
    /// The proposal it is about (a vote), if you may see it.
    async fn proposal(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Proposal>> {
        let (ItemKind::Vote, Some(id)) = (self.item.kind, self.item.subject_id) else {
            return Ok(None);
        };
        let c = Ctx::new(ctx)?;
        let Some(p) = c.loaders.proposals.load_one(id).await.gql()? else {
            return Ok(None);
        };
        let material = Material {
            author_id: p.author_id,
            audience: p.department_id,
            visible_from: p.opens_at,
        };
        Ok(self.sees(&c, material).await?.then_some(Proposal(p)))
    }
    /// The target it is about, if you see its employee's details (yourself, your reports;
    /// admins).
    async fn target(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<KpiTarget>> {
        let (ItemKind::Target, Some(id)) = (self.item.kind, self.item.subject_id) else {
            return Ok(None);
        };
        let c = Ctx::new(ctx)?;
        if !c
            .reach_for(self.employee_id)
            .await?
            .sees_employee(self.employee_id)
        {
            return Ok(None);
        }
        Ok(c.loaders
            .targets
            .load_one(id)
            .await
            .gql()?
            .filter(|t| t.employee_id == self.employee_id)
            .map(KpiTarget))
    }
}

/// The window of items a page asks for, its arguments checked.
fn window_of(
    c: &Ctx<'_>,
    args: PageArgs,
    kind: Option<KpiItemKind>,
    outcome: Option<KpiItemOutcome>,
) -> async_graphql::Result<Window> {
    let first = page_size(args.first, c.state.limits.page_size)?;
    let after = match decode_after(args.after)? {
        None => 0,
        Some(p) => i32::try_from(p)
            .ok()
            .filter(|p| *p >= 0)
            .ok_or_else(|| bad_input("after", "`after` is not a cursor of this list"))?,
    };
    Ok(Window {
        kind: kind.map(Into::into),
        outcome: outcome.map(Into::into),
        after,
        first,
    })
}

/// A page of a result's items, of a kind and/or an outcome; the cursor is the item's
/// position. The results of one page asking for the same page of items load together.
pub async fn items(
    c: &Ctx<'_>,
    result: &kpi_result::Model,
    args: PageArgs,
    kind: Option<KpiItemKind>,
    outcome: Option<KpiItemOutcome>,
) -> async_graphql::Result<Page<KpiItem>> {
    let window = window_of(c, args, kind, outcome)?;
    let page = c
        .loaders
        .item_pages
        .load_one((result.id, window))
        .await
        .gql()?
        .unwrap_or_default();
    let mut connection = Connection::with_additional_fields(
        window.after > 0,
        page.has_next,
        Counted::known(page.total),
    );
    for row in page.items {
        let cursor = OpaqueCursor(i64::from(row.position));
        connection
            .edges
            .push(Edge::new(cursor, KpiItem::new(&row, result.employee_id)?));
    }
    Ok(connection)
}

/// For a page of results (`connection`, the lookahead of a `KpiResultConnection`), loads
/// what the asked-for `items`, their links and `explanation` need, one statement per kind
/// of row, before the results resolve. Loaders would batch these anyway, but only within
/// their batching delay; loading up front makes a page of 100 cost what a page of 5 does by
/// construction, not by timing. Arguments that do not parse are left to the resolvers.
pub async fn prefetch(
    c: &Ctx<'_>,
    connection: Lookahead<'_>,
    results: &[&kpi_result::Model],
) -> async_graphql::Result<()> {
    for node in [
        connection.field("edges").field("node"),
        connection.field("nodes"),
    ] {
        if node.exists() {
            prefetch_nodes(c, &node, results).await?;
        }
    }
    Ok(())
}

async fn prefetch_nodes(
    c: &Ctx<'_>,
    node: &Lookahead<'_>,
    results: &[&kpi_result::Model],
) -> async_graphql::Result<()> {
    if node.field("explanation").exists() {
        let itemized: Vec<i64> = results
            .iter()
            .filter(|r| r.itemized)
            .map(|r| r.id)
            .collect();
        c.loaders.items.load_many(itemized).await.gql()?;
        let mut versions: Vec<i32> = results.iter().map(|r| r.policy_version).collect();
        versions.sort_unstable();
        versions.dedup();
        c.loaders.policies.load_many(versions).await.gql()?;
    }
    let mut subjects: HashMap<ItemKind, Vec<i64>> = HashMap::new();
    let mut links = Vec::new();
    for field in node.field("items").selection_fields() {
        let Some(window) = field.arguments().ok().and_then(|args| {
            let arg = |name: &str| {
                args.iter()
                    .find(|(n, _)| n.as_str() == name)
                    .map(|(_, v)| v.clone())
            };
            let first = <Option<i32> as InputType>::parse(arg("first")).ok()?;
            let after = <Option<String> as InputType>::parse(arg("after")).ok()?;
            let kind = <Option<KpiItemKind> as InputType>::parse(arg("kind")).ok()?;
            let outcome = <Option<KpiItemOutcome> as InputType>::parse(arg("outcome")).ok()?;
            window_of(c, PageArgs::new(first, after), kind, outcome).ok()
        }) else {
            continue;
        };
        let pages = c
            .loaders
            .item_pages
            .load_many(results.iter().map(|r| (r.id, window)))
            .await
            .gql()?;
        let items = Lookahead::from(field);
        for item in [items.field("edges").field("node"), items.field("nodes")] {
            for link in ["assignment", "article", "proposal", "target"] {
                if item.field(link).exists() {
                    links.push(link);
                }
            }
        }
        for row in pages.values().flat_map(|p| &p.items) {
            if let (Some(kind), Some(id)) = (ItemKind::of_code(&row.kind), row.subject_id) {
                subjects.entry(kind).or_default().push(id);
            }
        }
    }
    let of = |kinds: &[ItemKind]| -> Vec<i64> {
        let mut ids: Vec<i64> = kinds
            .iter()
            .flat_map(|k| subjects.get(k).into_iter().flatten().copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    if links.contains(&"assignment") {
        let ids = of(&[ItemKind::Duty, ItemKind::Additional, ItemKind::Acceptance]);
        c.loaders.assignments.load_many(ids).await.gql()?;
        c.reach().await?;
    }
    if links.contains(&"article") {
        c.loaders
            .articles
            .load_many(of(&[ItemKind::Reading]))
            .await
            .gql()?;
    }
    if links.contains(&"proposal") {
        c.loaders
            .proposals
            .load_many(of(&[ItemKind::Vote]))
            .await
            .gql()?;
    }
    if links.contains(&"target") {
        c.loaders
            .targets
            .load_many(of(&[ItemKind::Target]))
            .await
            .gql()?;
    }
    Ok(())
}

/// The language asked for, else the request's `Accept-Language` (English by default).
pub fn lang_of(ctx: &Context<'_>, asked: Option<Lang>) -> Said {
    asked
        .map(Into::into)
        .or_else(|| ctx.data_opt::<Said>().copied())
        .unwrap_or_default()
}

/// The sentences on a result, made from its items and the policy it was closed under.
pub async fn explanation(
    c: &Ctx<'_>,
    result: &kpi_result::Model,
    lang: Said,
) -> async_graphql::Result<String> {
    let rows = if result.itemized {
        c.loaders
            .items
            .load_one(result.id)
            .await
            .gql()?
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let items = rows
        .iter()
        .map(Item::of_row)
        .collect::<Result<Vec<Item>, _>>()
        .map_err(|e| internal(&e))?;
    let version = c
        .loaders
        .policies
        .load_one(result.policy_version)
        .await
        .gql()?
        .ok_or_else(|| {
            internal(&format!(
                "policy version {} is missing",
                result.policy_version
            ))
        })?;
    let policy = domain::policy::rules(&version);
    Ok(say::explanation(result, &items, &policy, lang))
}
