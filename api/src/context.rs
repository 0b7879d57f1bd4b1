//! What a resolver needs from the request: the principal, its reach, the state and the
//! loaders. Everything here lives for one request only.

use async_graphql::Context;
use chrono::{DateTime, Utc};
use domain::access::Reach;
use domain::auth::Principal;
use entity::{kpi_policy, period};
use std::sync::Arc;

use tokio::sync::OnceCell;

use entity::{department, employee};

use crate::AppState;
use crate::error::{OrGql, internal, not_found, unauthenticated};
use crate::loaders::Loaders;

/// Per-request data computed at most once: the request's `now` (one instant for every
/// field, so counts and flags in one answer agree), the principal's reach, the current
/// period and the policy in force.
///
/// The period and policy cells may be shared by the executions of one live batch
/// ([`RequestCache::sharing`]); the reach, which belongs to a principal, never is.
pub struct RequestCache {
    now: DateTime<Utc>,
    reach: OnceCell<Reach>,
    current_period: Arc<OnceCell<Option<period::Model>>>,
    policy: Arc<OnceCell<kpi_policy::Model>>,
}

pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub who: &'a Principal,
    pub loaders: &'a Loaders,
    cache: &'a RequestCache,
}

impl RequestCache {
    pub fn new(now: DateTime<Utc>) -> Self {
        RequestCache {
            now,
            reach: OnceCell::new(),
            current_period: Arc::default(),
            policy: Arc::default(),
        }
    }

    /// A cache with the same `now`, period and policy, and a reach of its own.
    pub fn sharing(&self) -> RequestCache {
        RequestCache {
            now: self.now,
            reach: OnceCell::new(),
            current_period: self.current_period.clone(),
            policy: self.policy.clone(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// The period containing `now` (see [`Ctx::current_period`]), read once.
    pub async fn current_period(
        &self,
        db: &sea_orm::DatabaseConnection,
    ) -> domain::DomainResult<Option<&period::Model>> {
        let found = self
            .current_period
            .get_or_try_init(|| domain::read::current_period(db, self.now))
            .await?;
        Ok(found.as_ref())
    }
}

impl<'a> Ctx<'a> {
    /// The request's context; `UNAUTHENTICATED` when no valid token came with it.
    pub fn new(ctx: &'a Context<'_>) -> async_graphql::Result<Self> {
        let who = ctx.data_opt::<Principal>().ok_or_else(unauthenticated)?;
        // The HTTP layer puts these into every request; a request built another way (a
        // test, a future transport) gets an INTERNAL error, not a panic.
        fn part<'a, T: std::any::Any + Send + Sync>(
            ctx: &'a Context<'_>,
        ) -> async_graphql::Result<&'a T> {
            ctx.data::<T>().map_err(|e| internal(&e.message))
        }
        Ok(Ctx {
            state: part(ctx)?,
            who,
            loaders: part(ctx)?,
            cache: part(ctx)?,
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.cache.now
    }

    /// Today in the company's time zone.
    pub fn today(&self) -> chrono::NaiveDate {
        self.state.company.calendar.local_date(self.now())
    }

    pub fn db(&self) -> &sea_orm::DatabaseConnection {
        &self.state.db
    }

    /// The principal's reach, read once per request through the loaders, so the executions
    /// of one live batch read all their subscribers' reaches in one statement.
    pub async fn reach(&self) -> async_graphql::Result<&Reach> {
        self.cache
            .reach
            .get_or_try_init(|| reach_through(self.loaders, self.who))
            .await
    }

    /// The reach that answers a question about one employee: for an employee asking about
    /// themselves, `Reach::of_self` (no recursive query); otherwise the whole reach.
    pub async fn reach_for(
        &self,
        employee_id: i64,
    ) -> async_graphql::Result<std::borrow::Cow<'_, Reach>> {
        use std::borrow::Cow;
        match self.who.employee_id() {
            Some(me) if me == employee_id && !self.who.is_admin() => {
                Ok(Cow::Owned(Reach::of_self(me)))
            }
            _ => Ok(Cow::Borrowed(self.reach().await?)),
        }
    }

    /// The period containing now, whatever its status (one closed early, by an admin or a
    /// tick run ahead of time, keeps its tiles); when the scheduler has not opened it yet,
    /// the newest period that has started.
    pub async fn current_period(&self) -> async_graphql::Result<Option<&period::Model>> {
        self.cache.current_period(self.db()).await.gql()
    }

    /// The KPI policy in force now (the newest version).
    pub async fn policy(&self) -> async_graphql::Result<&kpi_policy::Model> {
        self.cache
            .policy
            .get_or_try_init(|| domain::policy::current(self.db()))
            .await
            .gql()
    }

    /// A period by id, or the current one; NOT_FOUND when there is none.
    pub async fn period_or_current(&self, id: Option<i64>) -> async_graphql::Result<period::Model> {
        match id {
            Some(id) => self.period(id).await?.ok_or_else(|| not_found("period")),
            None => self
                .current_period()
                .await?
                .cloned()
                .ok_or_else(|| not_found("open period")),
        }
    }

    pub async fn employee(&self, id: i64) -> async_graphql::Result<Option<employee::Model>> {
        self.loaders.employees.load_one(id).await.gql()
    }

    pub async fn department(&self, id: i64) -> async_graphql::Result<Option<department::Model>> {
        self.loaders.departments.load_one(id).await.gql()
    }

    pub async fn period(&self, id: i64) -> async_graphql::Result<Option<period::Model>> {
        self.loaders.periods.load_one(id).await.gql()
    }
}

/// A sea-orm result inside a resolver: errors become `INTERNAL`.
pub fn db<T>(r: Result<T, sea_orm::DbErr>) -> async_graphql::Result<T> {
    r.gql()
}

/// The reach of a principal, the subordinates of an employee read through `loaders`.
pub async fn reach_through(loaders: &Loaders, who: &Principal) -> async_graphql::Result<Reach> {
    let below = match domain::access::team_of(who) {
        Some(me) => loaders
            .reaches
            .load_one(me)
            .await
            .gql()?
            .unwrap_or_default(),
        None => Default::default(),
    };
    Ok(domain::access::reach_of(who, below))
}

#[cfg(test)]
mod tests {
    use entity::enums::Role;

    use super::*;

    #[tokio::test]
    async fn a_request_without_its_parts_is_internal_not_a_panic() {
        let schema = crate::build_schema(&crate::Limits::default());
        let who = Principal::Employee {
            id: 1,
            role: Role::Employee,
            payroll: false,
            token_id: 1,
        };
        let answer = schema
            .execute(async_graphql::Request::new("{ me { name } }").data(who))
            .await;
        let code = answer
            .errors
            .first()
            .and_then(|e| e.extensions.as_ref())
            .and_then(|x| x.get("code"))
            .cloned();
        assert_eq!(
            code,
            Some(async_graphql::Value::from("INTERNAL")),
            "{:?}",
            answer.errors
        );
    }
}
