//! The only crate that knows GraphQL and HTTP: the async-graphql schema (split by area under
//! [`schema`]), per-request DataLoaders, the mapping of domain errors to error codes, and the
//! poem routes.
//!
//! Invariants: resolvers hold no rules (they call `domain`); loaders are created per request,
//! never kept in schema-global data; every error leaving here carries `extensions.code`.

mod error;
mod http;
mod id;
mod loaders;
mod metrics;
mod paging;
pub mod schema;

use std::sync::Arc;

use domain::Company;
use domain::clock::Clock;
use sea_orm::DatabaseConnection;

pub use http::{Limits, routes, serve};
pub use schema::{ZeroboardSchema, build_schema, sdl};

/// What every request shares: the database, the company settings and the clock.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub company: Company,
    pub clock: Clock,
    pub limits: Limits,
    pub schema: Arc<ZeroboardSchema>,
}

impl AppState {
    pub fn new(db: DatabaseConnection, company: Company, clock: Clock, limits: Limits) -> Self {
        let schema = Arc::new(build_schema(&limits));
        AppState { db, company, clock, limits, schema }
    }
}
