//! What a resolver needs from the request: the principal, the state and the loaders.

use async_graphql::Context;
use chrono::{DateTime, Utc};
use domain::auth::Principal;

use super::org::{Department, Employee};
use super::period::Period;
use crate::AppState;
use crate::error::{OrGql, unauthenticated};
use crate::loaders::Loaders;

pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub who: &'a Principal,
    pub loaders: &'a Loaders,
}

impl<'a> Ctx<'a> {
    /// The request's context; `UNAUTHENTICATED` when no valid token came with it.
    pub fn new(ctx: &'a Context<'_>) -> async_graphql::Result<Self> {
        let who = ctx.data_opt::<Principal>().ok_or_else(unauthenticated)?;
        Ok(Ctx { state: ctx.data_unchecked::<AppState>(), who, loaders: ctx.data_unchecked::<Loaders>() })
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.state.clock.now()
    }

    pub async fn employee(&self, id: i64) -> async_graphql::Result<Option<Employee>> {
        Ok(self.loaders.employees.load_one(id).await.map_err(|e| crate::error::internal(&e))?.map(Employee))
    }

    pub async fn department(&self, id: i64) -> async_graphql::Result<Option<Department>> {
        Ok(self.loaders.departments.load_one(id).await.map_err(|e| crate::error::internal(&e))?.map(Department))
    }

    pub async fn period(&self, id: i64) -> async_graphql::Result<Option<Period>> {
        Ok(self.loaders.periods.load_one(id).await.map_err(|e| crate::error::internal(&e))?.map(Period))
    }

    pub fn db(&self) -> &sea_orm::DatabaseConnection {
        &self.state.db
    }
}

/// Lets `?` turn a sea-orm error into an `INTERNAL` GraphQL error in resolvers.
pub fn db<T>(r: Result<T, sea_orm::DbErr>) -> async_graphql::Result<T> {
    r.gql()
}
