//! KPI results, history, payroll's bonus results, the policy, period administration and
//! the scheduler's log.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::enums::PeriodStatus;
use entity::{kpi_adjustment, kpi_policy, kpi_result, scheduler_run};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::kpi_item::{KpiItem, KpiItemKind, KpiItemOutcome, Lang, lang_of};
use super::org::Employee;
use super::period::Period;
use crate::context::{Ctx, db};
use crate::error::{OrGql, bad_input, code, coded, not_found};
use crate::id::{Kind, decode, encode};
use crate::paging::{Order, Page, PageArgs, page, page_by_offset};

fn figure(x100: i64) -> f64 {
    x100 as f64 / 100.0
}

/// One employee's final KPI for one closed period. It never changes; corrections are
/// adjustments shown beside it.
pub struct KpiResult(pub kpi_result::Model);

#[derive(SimpleObject)]
pub struct ObligationTally {
    /// `duty`, `additional`, `acceptance`, `vote` or `reading`.
    kind: &'static str,
    /// `on_time`, `late` or `missed`.
    outcome: &'static str,
    count: u64,
    /// The weights summed.
    weight: f64,
}

#[Object]
impl KpiResult {
    pub async fn id(&self) -> ID {
        encode(Kind::KpiResult, self.0.id)
    }
    async fn employee(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Employee>> {
        Ok(Ctx::new(ctx)?
            .employee(self.0.employee_id)
            .await?
            .map(Employee))
    }
    async fn period(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Period>> {
        Ok(Ctx::new(ctx)?.period(self.0.period_id).await?.map(Period))
    }
    /// The KPI, to hundredths.
    async fn kpi(&self) -> f64 {
        figure(self.0.kpi_x100)
    }
    /// The share of obligations met on time (late ones count half), to hundredths.
    async fn discipline(&self) -> f64 {
        figure(self.0.discipline_x100)
    }
    /// The targets' score; null when the employee had no targets.
    async fn targets_score(&self) -> Option<f64> {
        self.0.targets_x100.map(figure)
    }
    async fn eligible(&self) -> bool {
        self.0.eligible
    }
    /// `min(kpi, 120) / 100` when eligible, else 0; to ten-thousandths.
    async fn bonus_factor(&self) -> f64 {
        self.0.bonus_factor_x10000 as f64 / 10_000.0
    }
    /// Why the bonus was refused: `DUTY_MISSED`, `DUTY_LATE`, `KPI_BELOW_THRESHOLD`.
    async fn reasons(&self) -> Vec<&'static str> {
        domain::stored::reasons_of(&self.0)
            .into_iter()
            .map(|r| r.code())
            .collect()
    }
    async fn duties_missed(&self) -> i32 {
        self.0.duties_missed
    }
    async fn duties_late(&self) -> i32 {
        self.0.duties_late
    }
    /// Counts and weights per obligation kind and outcome.
    #[graphql(complexity = "crate::paging::list_cost(crate::paging::SHORT_LIST, child_complexity)")]
    async fn obligations(&self) -> async_graphql::Result<Vec<ObligationTally>> {
        let tally = domain::stored::tally_of(&self.0).map_err(|e| crate::error::internal(&e))?;
        Ok(tally
            .into_iter()
            .map(|t| ObligationTally {
                kind: t.kind.code(),
                outcome: t.outcome.code(),
                count: t.count.into(),
                weight: t.weight,
            })
            .collect())
    }
    async fn policy_version(&self) -> i32 {
        self.0.policy_version
    }
    async fn computed_at(&self) -> DateTime<Utc> {
        self.0.computed_at
    }
    /// Whether the close stored this result's obligations one by one (`items`); false for
    /// results closed before it did, which keep only `obligations`, the tally.
    async fn itemized(&self) -> bool {
        self.0.itemized
    }
    /// Every obligation and target that went into the KPI, as judged at the close, in
    /// display order (by kind, then deadline; targets last); optionally of one kind and/or
    /// outcome. Their `points` add up to `kpi`.
    #[graphql(complexity = "crate::paging::page_cost(first, child_complexity)")]
    async fn items(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        kind: Option<KpiItemKind>,
        outcome: Option<KpiItemOutcome>,
    ) -> async_graphql::Result<Page<KpiItem>> {
        let c = Ctx::new(ctx)?;
        super::kpi_item::items(&c, &self.0, PageArgs::new(first, after), kind, outcome).await
    }
    /// Three or four sentences on what the KPI is made of, which obligations cost the most
    /// points, and why the bonus was paid or refused; made from the items, never stored. In
    /// `lang`, else the language the request's `Accept-Language` prefers (English by
    /// default).
    async fn explanation(
        &self,
        ctx: &Context<'_>,
        lang: Option<Lang>,
    ) -> async_graphql::Result<String> {
        let c = Ctx::new(ctx)?;
        super::kpi_item::explanation(&c, &self.0, lang_of(ctx, lang)).await
    }
    /// Corrections, oldest first.
    #[graphql(complexity = "crate::paging::list_cost(crate::paging::SHORT_LIST, child_complexity)")]
    async fn adjustments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<KpiAdjustment>> {
        let rows = Ctx::new(ctx)?
            .loaders
            .adjustments
            .load_one(self.0.id)
            .await
            .map_err(|e| crate::error::internal(&e))?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .map(KpiAdjustment)
            .collect())
    }
}

pub struct KpiAdjustment(kpi_adjustment::Model);

#[Object]
impl KpiAdjustment {
    /// Hundredths of KPI added (negative: taken away).
    async fn delta(&self) -> f64 {
        figure(self.0.delta_x100)
    }
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    async fn author(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Employee>> {
        match self.0.author_id {
            Some(id) => Ok(Ctx::new(ctx)?.employee(id).await?.map(Employee)),
            None => Ok(None),
        }
    }
    /// The service that made it, when not an employee.
    async fn author_service(&self) -> Option<&str> {
        self.0.author_service.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// The policy's object and input, from the rows of `domain::policy_fields!`.
macro_rules! policy_types {
    ($($(#[doc = $doc:literal])* $name:ident: $ty:ty = $default:expr, $range:expr, $rule:literal;)*) => {
        /// One version of the KPI policy.
        #[derive(SimpleObject)]
        pub struct KpiPolicy {
            version: i32,
            $($(#[doc = $doc])* $name: $ty,)*
            created_at: DateTime<Utc>,
            note: Option<String>,
        }

        impl From<kpi_policy::Model> for KpiPolicy {
            fn from(m: kpi_policy::Model) -> Self {
                let rules = domain::policy::rules(&m);
                KpiPolicy {
                    version: m.version,
                    $($name: rules.$name,)*
                    created_at: m.created_at,
                    note: m.note,
                }
            }
        }

        /// Changes to the policy; fields left out keep the current version's value. Each
        /// field has a documented range, so every KPI figure stays finite: the KPI is at
        /// most 1000.
        #[derive(InputObject, Default)]
        pub struct KpiPolicyInput {
            $($(#[doc = $doc])* $name: Option<$ty>,)*
            /// At most 2,000 characters.
            note: Option<String>,
        }

        impl KpiPolicyInput {
            /// The current version with the given fields changed.
            fn apply(&self, p: &mut domain::kpi::Policy) {
                $(if let Some(v) = self.$name {
                    p.$name = v;
                })*
            }
        }
    };
}

domain::policy_fields!(policy_types);

/// One step of one scheduler tick.
pub struct SchedulerRun(scheduler_run::Model);

#[Object]
impl SchedulerRun {
    /// `open`, `generate` or `close`.
    async fn step(&self) -> &str {
        &self.0.step
    }
    async fn period(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Period>> {
        match self.0.period_id {
            Some(id) => Ok(Ctx::new(ctx)?.period(id).await?.map(Period)),
            None => Ok(None),
        }
    }
    /// The instant the tick ran for.
    async fn tick_at(&self) -> DateTime<Utc> {
        self.0.tick_at
    }
    async fn started_at(&self) -> DateTime<Utc> {
        self.0.started_at
    }
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
    /// `ok`, `failed` or `skipped`.
    async fn outcome(&self) -> &str {
        &self.0.outcome
    }
    /// What the step did, as JSON text.
    async fn counts(&self) -> &str {
        &self.0.counts
    }
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
}

/// Loads what a page of results asks for (items, links, explanations) up front.
pub async fn prefetch(
    c: &Ctx<'_>,
    connection: async_graphql::Lookahead<'_>,
    page: &Page<KpiResult>,
) -> async_graphql::Result<()> {
    let rows: Vec<&kpi_result::Model> = page.edges.iter().map(|e| &e.node.0).collect();
    super::kpi_item::prefetch(c, connection, &rows).await
}

/// An employee's KPI history, newest first: theirs, their managers', admins' and payroll's.
pub async fn history(
    c: &Ctx<'_>,
    employee_id: i64,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Page<KpiResult>> {
    if !domain::access::history(c.who, &*c.reach_for(employee_id).await?, employee_id) {
        return Err(not_found("employee"));
    }
    let q = kpi_result::Entity::find().filter(kpi_result::Column::EmployeeId.eq(employee_id));
    page(
        c,
        q,
        kpi_result::Column::Id,
        Order::Descending,
        PageArgs::new(first, after),
        |r| r.id,
        KpiResult,
    )
    .await
}

#[derive(Default)]
pub struct KpiQuery;

#[Object]
impl KpiQuery {
    /// Every result of a closed period, by employee: payroll and admins.
    #[graphql(complexity = "crate::paging::page_cost(first, child_complexity)")]
    async fn bonus_results(
        &self,
        ctx: &Context<'_>,
        period_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<KpiResult>> {
        let c = Ctx::new(ctx)?;
        domain::access::require_payroll(c.who).gql()?;
        let id = decode(&period_id, Kind::Period, "periodId")?;
        let period = c.period(id).await?.ok_or_else(|| not_found("period"))?;
        if period.status != PeriodStatus::Closed {
            return Err(coded(
                code::CONFLICT,
                "the period is not closed yet; its results do not exist",
            ));
        }
        let q = kpi_result::Entity::find()
            .filter(kpi_result::Column::PeriodId.eq(id))
            .order_by_asc(kpi_result::Column::EmployeeId);
        let page = page_by_offset(&c, q, PageArgs::new(first, after), KpiResult).await?;
        prefetch(&c, ctx.look_ahead(), &page).await?;
        Ok(page)
    }

    /// The KPI policy: the version in force, or the one asked for.
    async fn kpi_policy(
        &self,
        ctx: &Context<'_>,
        version: Option<i32>,
    ) -> async_graphql::Result<KpiPolicy> {
        let c = Ctx::new(ctx)?;
        let row = match version {
            Some(v) => domain::policy::by_version(c.db(), v).await.gql()?,
            None => domain::policy::current(c.db()).await.gql()?,
        };
        Ok(row.into())
    }

    /// What the scheduler did, newest first: admins.
    #[graphql(complexity = "crate::paging::page_cost(first, child_complexity)")]
    async fn scheduler_runs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<SchedulerRun>> {
        let c = Ctx::new(ctx)?;
        domain::access::require_admin(c.who).gql()?;
        page(
            &c,
            scheduler_run::Entity::find(),
            scheduler_run::Column::Id,
            Order::Descending,
            PageArgs::new(first, after),
            |r| r.id,
            SchedulerRun,
        )
        .await
    }
}

#[derive(Default)]
pub struct KpiMutation;

#[Object]
impl KpiMutation {
    /// Admin. Opens every missing period up to today and generates their duties: the
    /// scheduler's first two steps, now. Returns the periods it opened.
    #[graphql(complexity = "crate::paging::list_cost(crate::paging::SHORT_LIST, child_complexity)")]
    async fn open_period(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Period>> {
        let c = Ctx::new(ctx)?;
        domain::access::require_admin(c.who).gql()?;
        let opened = domain::periods::open_due(c.db(), c.who, &c.state.company, c.now())
            .await
            .gql()?;
        domain::duties::generate_due(c.db(), c.who, &c.state.company, c.now())
            .await
            .gql()?;
        Ok(opened.into_iter().map(Period).collect())
    }

    /// Admin. Closes an ended period now, with KPI results for everyone active in it.
    async fn close_period(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Period> {
        let c = Ctx::new(ctx)?;
        domain::access::require_admin(c.who).gql()?;
        let id = decode(&id, Kind::Period, "id")?;
        domain::close::close_period(c.db(), c.who, &c.state.company, id, c.now())
            .await
            .gql()?;
        let row = db(entity::period::Entity::find_by_id(id).one(c.db()).await)?
            .ok_or_else(|| not_found("period"))?;
        Ok(Period(row))
    }

    /// Admin. A new policy version from the current one with the given changes; periods
    /// opened from now on use it.
    async fn update_kpi_policy(
        &self,
        ctx: &Context<'_>,
        input: KpiPolicyInput,
    ) -> async_graphql::Result<KpiPolicy> {
        let c = Ctx::new(ctx)?;
        domain::access::require_admin(c.who).gql()?;
        let note = input.note.clone();
        let edit = move |p: &mut domain::kpi::Policy| input.apply(p);
        let row = domain::policy::amend(c.db(), c.who, edit, note, c.now())
            .await
            .gql_input()?;
        Ok(row.into())
    }

    /// Admin. Records a correction beside a result (`delta` in KPI points, e.g. -2.5, from
    /// -1000 to 1000; `reason` at most 2,000 characters); the result itself never changes.
    async fn adjust_kpi_result(
        &self,
        ctx: &Context<'_>,
        result_id: ID,
        delta: f64,
        reason: String,
    ) -> async_graphql::Result<KpiResult> {
        let c = Ctx::new(ctx)?;
        domain::access::require_admin(c.who).gql()?;
        let id = decode(&result_id, Kind::KpiResult, "resultId")?;
        if !delta.is_finite() || delta.abs() > domain::bounds::ADJUSTMENT_MAX {
            return Err(bad_input(
                "delta",
                "`delta` must be a number of KPI points between -1000 and 1000",
            ));
        }
        let delta_x100 = domain::kpi::round_half_away(delta, 100.0);
        domain::results::adjust(c.db(), c.who, id, delta_x100, &reason, c.now())
            .await
            .gql()?;
        let row = db(kpi_result::Entity::find_by_id(id).one(c.db()).await)?
            .ok_or_else(|| not_found("KPI result"))?;
        Ok(KpiResult(row))
    }
}
