//! Work periods.

use async_graphql::{Context, Enum, ID, Object};
use chrono::{DateTime, Utc};
use entity::enums::PeriodStatus as Stored;
use entity::period;
use sea_orm::EntityTrait;

use super::mirror::mirror_enum;
use super::scalars::Date;
use crate::context::Ctx;
use crate::id::{Kind, encode};
use crate::paging::{Order, Page, PageArgs, page};

mirror_enum!(PeriodStatus <=> Stored { Open, Closing, Closed });

/// A work period: local dates and the UTC instants of their midnights.
pub struct Period(pub period::Model);

#[Object]
impl Period {
    pub async fn id(&self) -> ID {
        encode(Kind::Period, self.0.id)
    }

    /// First local date of the period.
    async fn starts_on(&self) -> Date {
        Date(self.0.starts_on)
    }

    /// Last local date of the period.
    async fn ends_on(&self) -> Date {
        Date(self.0.ends_on)
    }

    /// Local midnight starting `startsOn`, in UTC.
    async fn starts_at(&self) -> DateTime<Utc> {
        self.0.starts_at
    }

    /// Local midnight after `endsOn`, in UTC.
    async fn ends_at(&self) -> DateTime<Utc> {
        self.0.ends_at
    }

    async fn status(&self) -> PeriodStatus {
        self.0.status.into()
    }
}

#[derive(Default)]
pub struct PeriodQuery;

#[Object]
impl PeriodQuery {
    /// The company's IANA time zone (e.g. `Europe/Berlin`): local dates are dates there,
    /// and a page shows times in it.
    async fn time_zone(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(Ctx::new(ctx)?.state.company.calendar.tz.name().to_owned())
    }

    /// The open period containing now; when the scheduler is behind, the newest open one.
    async fn current_period(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Period>> {
        Ok(Ctx::new(ctx)?.current_period().await?.cloned().map(Period))
    }

    /// All periods, newest first.
    #[graphql(complexity = "crate::paging::page_cost(first, child_complexity)")]
    async fn periods(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<Period>> {
        let c = Ctx::new(ctx)?;
        page(
            &c,
            period::Entity::find(),
            period::Column::Id,
            Order::Descending,
            PageArgs::new(first, after),
            |p| p.id,
            Period,
        )
        .await
    }
}
