//! The personal summary: the tiles that must reach zero. Each tile is a field resolved only
//! when asked for, from per-request loaders, so a page of 100 employees costs the database
//! the same number of statements as a page of 5.

use async_graphql::{ComplexObject, Context, ID, Object, SimpleObject};
use domain::read::tiles::{self, Asked, Board, BoardPeriod};
use entity::enums::{AssignmentKind as StoredKind, AssignmentStatus as Stored, PeriodStatus};
use entity::period;

use super::assignment::{Assignment, AssignmentStatus, WorkCounts};
use super::kb::{Article, Proposal};
use super::outlook::Outlook;
use super::period::Period;
use crate::context::Ctx;
use crate::error::OrGql;
use crate::paging::{Order, Page, PageArgs, page, page_by_offset};

/// The tiles of one employee for one period.
pub struct Summary {
    pub employee_id: i64,
    pub period: period::Model,
    /// The count tiles the request asks for, counted together in one statement.
    pub asked: Asked,
}

/// The count tiles a selection of `Summary` asks for.
pub fn asked(summary: &async_graphql::Lookahead<'_>) -> Asked {
    let asks = |tile: &str| summary.field(tile).exists();
    Asked {
        to_accept: asks("toAccept"),
        work: asks("duties") || asks("additional"),
        new_articles: asks("knowledgeBaseNew"),
        proposals_to_vote: asks("proposalsToVote"),
    }
}

impl Summary {
    fn board_period(&self) -> BoardPeriod {
        BoardPeriod::from(&self.period)
    }

    /// The counts of the asked tiles, `tile` among them (so a tile the look-ahead did not
    /// see is counted all the same, by a statement of its own).
    async fn board(&self, ctx: &Context<'_>, tile: Asked) -> async_graphql::Result<Board> {
        let c = Ctx::new(ctx)?;
        let key = (self.employee_id, self.board_period(), self.asked.and(tile));
        Ok(c.loaders
            .boards
            .load_one(key)
            .await
            .gql()?
            .unwrap_or_default())
    }

    async fn work_tile(
        &self,
        ctx: &Context<'_>,
        kind: StoredKind,
    ) -> async_graphql::Result<WorkTile> {
        let work = self
            .board(
                ctx,
                Asked {
                    work: true,
                    ..Asked::default()
                },
            )
            .await?
            .work
            .unwrap_or_default();
        Ok(WorkTile {
            counts: work.of(kind).into(),
            employee_id: self.employee_id,
            period_id: self.period.id,
            kind,
        })
    }
}

#[Object]
impl Summary {
    /// The period the tiles are for.
    async fn period(&self) -> Period {
        Period(self.period.clone())
    }

    /// Submissions of others that I control and must accept or return, oldest first: for
    /// an open period, those of every open period (one that has ended but not closed yet
    /// still waits for its acceptances); for a closed one, what was left at its close.
    async fn to_accept(&self, ctx: &Context<'_>) -> async_graphql::Result<ToAcceptTile> {
        let tile = Asked {
            to_accept: true,
            ..Asked::default()
        };
        let count = self.board(ctx, tile).await?.to_accept.unwrap_or(0);
        Ok(ToAcceptTile {
            count,
            employee_id: self.employee_id,
            period: self.board_period(),
        })
    }

    /// My job duties (generated from templates).
    async fn duties(&self, ctx: &Context<'_>) -> async_graphql::Result<WorkTile> {
        self.work_tile(ctx, StoredKind::Duty).await
    }

    /// Additional tasks given to me.
    async fn additional(&self, ctx: &Context<'_>) -> async_graphql::Result<WorkTile> {
        self.work_tile(ctx, StoredKind::Additional).await
    }

    /// Published knowledge-base materials for my audience that I have not read.
    async fn knowledge_base_new(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<KnowledgeBaseTile> {
        let tile = Asked {
            new_articles: true,
            ..Asked::default()
        };
        let count = self.board(ctx, tile).await?.new_articles.unwrap_or(0);
        Ok(KnowledgeBaseTile {
            count,
            employee_id: self.employee_id,
        })
    }

    /// Open proposals for my audience that I have not voted on.
    async fn proposals_to_vote(&self, ctx: &Context<'_>) -> async_graphql::Result<ProposalsTile> {
        let tile = Asked {
            proposals_to_vote: true,
            ..Asked::default()
        };
        let count = self.board(ctx, tile).await?.proposals_to_vote.unwrap_or(0);
        Ok(ProposalsTile {
            count,
            employee_id: self.employee_id,
        })
    }

    /// The KPI formula over this period's obligations that are fulfilled or whose deadline
    /// has passed, as if the period closed now; for a closed period, its result.
    async fn current_kpi(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<f64>> {
        let c = Ctx::new(ctx)?;
        if self.period.status == PeriodStatus::Closed {
            // What the close stored, never a recomputation from today's data.
            let results = c
                .loaders
                .results
                .load_one(self.employee_id)
                .await
                .gql()?
                .unwrap_or_default();
            return Ok(results
                .iter()
                .find(|r| r.period_id == self.period.id)
                .map(|r| r.kpi_x100 as f64 / 100.0));
        }
        c.loaders
            .known_periods
            .remember(&self.period, Some(c.policy().await?));
        c.loaders
            .live_kpi
            .load_one((self.employee_id, self.period.id))
            .await
            .gql()
    }

    /// The projection of this period as of now: what closing now would store item by item,
    /// what doing everything still owed on time would give, and what to do. Null for a
    /// closed period, whose stored result and items are the answer (`kpiHistory`), never a
    /// recomputation from today's rows.
    async fn outlook(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Outlook>> {
        if self.period.status != PeriodStatus::Open {
            return Ok(None);
        }
        let c = Ctx::new(ctx)?;
        c.loaders
            .known_periods
            .remember(&self.period, Some(c.policy().await?));
        let found = c
            .loaders
            .outlooks
            .load_one((self.employee_id, self.period.id))
            .await
            .gql()?;
        Ok(found.map(Outlook))
    }

    /// Mean KPI of my last `averageWindow` closed periods; null until one has closed.
    async fn average_kpi(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<f64>> {
        let c = Ctx::new(ctx)?;
        // The policy's window of them, newest first (period ids grow with their start dates).
        let kpis = c
            .loaders
            .recent_kpis
            .load_one(self.employee_id)
            .await
            .gql()?
            .unwrap_or_default();
        Ok(domain::results::mean_x100(kpis).map(|x| x as f64 / 100.0))
    }
}

/// A count and the rows behind it.
pub struct ToAcceptTile {
    count: u64,
    employee_id: i64,
    period: BoardPeriod,
}

#[Object]
impl ToAcceptTile {
    async fn count(&self) -> u64 {
        self.count
    }
    /// Oldest submission first.
    #[graphql(complexity = "crate::paging::page_cost(first, child_complexity)")]
    async fn items(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<Assignment>> {
        let c = Ctx::new(ctx)?;
        let q = tiles::to_accept_list(self.employee_id, self.period);
        page_by_offset(&c, q, PageArgs::new(first, after), Assignment).await
    }
}

/// Counts of one kind of my work, and the rows behind them.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct WorkTile {
    #[graphql(flatten)]
    counts: WorkCounts,
    #[graphql(skip)]
    employee_id: i64,
    #[graphql(skip)]
    period_id: i64,
    #[graphql(skip)]
    kind: StoredKind,
}

#[ComplexObject]
impl WorkTile {
    /// The assignments, earliest due first; optionally one status.
    #[graphql(complexity = "crate::paging::page_cost(first, child_complexity)")]
    async fn items(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<AssignmentStatus>,
    ) -> async_graphql::Result<Page<Assignment>> {
        let c = Ctx::new(ctx)?;
        let q = tiles::work_list(
            self.employee_id,
            self.period_id,
            self.kind,
            status.map(Stored::from),
        );
        page_by_offset(&c, q, PageArgs::new(first, after), Assignment).await
    }
}

/// Unread articles for my audience.
pub struct KnowledgeBaseTile {
    count: u64,
    employee_id: i64,
}

#[Object]
impl KnowledgeBaseTile {
    async fn count(&self) -> u64 {
        self.count
    }
    /// Newest first.
    #[graphql(complexity = "crate::paging::page_cost(first, child_complexity)")]
    async fn items(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<Article>> {
        let c = Ctx::new(ctx)?;
        let Some(me) = c.employee(self.employee_id).await? else {
            return Err(crate::error::not_found("employee"));
        };
        let q = tiles::new_articles_list(me.id, me.department_id, c.now());
        page(
            &c,
            q,
            entity::article::Column::Id,
            Order::Descending,
            PageArgs::new(first, after),
            |a| a.id,
            Article,
        )
        .await
    }
}

/// Open proposals I have not voted on.
pub struct ProposalsTile {
    count: u64,
    employee_id: i64,
}

#[Object]
impl ProposalsTile {
    async fn count(&self) -> u64 {
        self.count
    }
    /// Closing soonest first.
    #[graphql(complexity = "crate::paging::page_cost(first, child_complexity)")]
    async fn items(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<Proposal>> {
        let c = Ctx::new(ctx)?;
        let Some(me) = c.employee(self.employee_id).await? else {
            return Err(crate::error::not_found("employee"));
        };
        let q = tiles::proposals_to_vote_list(me.id, me.department_id, c.now());
        page_by_offset(&c, q, PageArgs::new(first, after), Proposal).await
    }
}

/// The summary of an employee the principal may see; NOT_FOUND otherwise. `asked`: the
/// count tiles its selection asks for ([`asked`]).
pub async fn summary_of(
    c: &Ctx<'_>,
    employee_id: i64,
    period_id: Option<ID>,
    asked: Asked,
) -> async_graphql::Result<Summary> {
    if !domain::access::board(&*c.reach_for(employee_id).await?, employee_id) {
        return Err(crate::error::not_found("employee"));
    }
    let period_id = period_id
        .map(|p| crate::id::decode(&p, crate::id::Kind::Period, "periodId"))
        .transpose()?;
    let period = c.period_or_current(period_id).await?;
    Ok(Summary {
        employee_id,
        period,
        asked,
    })
}

/// For a page of employees, loads what the asked-for tiles need in one statement per kind
/// of data, before the page's items resolve. Loaders would batch these anyway, but only
/// within their batching delay; loading up front makes the cost of a page independent of
/// its size by construction, not by timing.
pub async fn prefetch(
    c: &Ctx<'_>,
    summary: async_graphql::Lookahead<'_>,
    employee_ids: &[i64],
) -> async_graphql::Result<()> {
    if !summary.exists() {
        return Ok(());
    }
    let reach = c.reach().await?;
    let ids: Vec<i64> = employee_ids
        .iter()
        .copied()
        .filter(|id| domain::access::board(reach, *id))
        .collect();
    let asks = |tile: &str| summary.field(tile).exists();
    let Some(period) = c.current_period().await? else {
        return Ok(());
    };
    // A closed period's tiles read what its close left (see `Summary`).
    let closed = period.status == PeriodStatus::Closed;
    let counts = asked(&summary);
    if counts != Asked::default() {
        let board = BoardPeriod::from(period);
        c.loaders
            .boards
            .load_many(ids.iter().map(|id| (*id, board, counts)))
            .await
            .gql()?;
    }
    if asks("currentKpi") && !closed {
        c.loaders
            .known_periods
            .remember(period, Some(c.policy().await?));
        c.loaders
            .live_kpi
            .load_many(ids.iter().map(|id| (*id, period.id)))
            .await
            .gql()?;
    }
    if asks("outlook") && period.status == PeriodStatus::Open {
        c.loaders
            .known_periods
            .remember(period, Some(c.policy().await?));
        c.loaders
            .outlooks
            .load_many(ids.iter().map(|id| (*id, period.id)))
            .await
            .gql()?;
    }
    if asks("averageKpi") {
        c.loaders
            .recent_kpis
            .load_many(ids.iter().copied())
            .await
            .gql()?;
    }
    if asks("currentKpi") && closed {
        c.loaders
            .results
            .load_many(ids.iter().copied())
            .await
            .gql()?;
    }
    Ok(())
}
