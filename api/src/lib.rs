//! The only crate that knows GraphQL and HTTP: the async-graphql schema (split by area under
//! [`schema`]), per-request DataLoaders, the mapping of domain errors to error codes, and the
//! poem routes.
//!
//! Invariants: resolvers hold no rules (they call `domain`); loaders are created per request,
//! never kept in schema-global data; every error leaving here carries `extensions.code`.

mod context;
mod error;
mod guard;
mod http;
mod id;
mod limits;
mod listener;
mod live;
mod loaders;
mod metrics;
mod paging;
mod playground;
pub mod schema;
mod web;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use domain::Company;
use domain::clock::Clock;
use sea_orm::DatabaseConnection;

pub use crate::metrics::count_statements;
pub use http::{routes, serve, serve_until};
pub use limits::Limits;
pub use live::{Live, LiveOptions};
pub use schema::{ZeroboardSchema, build_live_schema, build_schema, sdl};

/// What every request shares: the database, the company settings and the clock.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub company: Company,
    pub clock: Clock,
    pub limits: Limits,
    pub http: HttpOptions,
    /// The schema of requests over HTTP.
    pub schema: Arc<ZeroboardSchema>,
    /// The same schema for WebSocket connections (with `live::Fresh`).
    pub live_schema: Arc<ZeroboardSchema>,
    /// Whether start-up work (the scheduler's first tick) is done; `/readyz` says "starting"
    /// until it is.
    pub ready: Readiness,
    /// The live tiles' hub (subscriptions), started by `serve`.
    pub live: Live,
}

impl AppState {
    /// A state that is ready at once; `serve` replaces `ready` with one it sets later.
    pub fn new(db: DatabaseConnection, company: Company, clock: Clock, limits: Limits) -> Self {
        let schema = Arc::new(build_schema(&limits));
        let live_schema = Arc::new(build_live_schema(&limits));
        AppState {
            db,
            company,
            clock,
            limits,
            http: HttpOptions::default(),
            schema,
            live_schema,
            ready: Readiness::ready(),
            live: Live::new(LiveOptions::default()),
        }
    }

    pub fn with_http(self, http: HttpOptions) -> Self {
        AppState {
            live: Live::new(http.live),
            http,
            ..self
        }
    }
}

/// Who may see what outside the GraphQL schema's own access rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpOptions {
    /// Origins a browser front-end may call the API from (CORS); none by default.
    pub cors_origins: Vec<String>,
    /// Serve `/metrics` without a token; by default it needs an admin or `metrics:read` token.
    pub public_metrics: bool,
    /// Answer introspection (`__schema`, `__type`) without a token; off by default.
    pub public_introspection: bool,
    /// Where people reach the server (`https://board.example.com`): the base of sign-in
    /// links, the origin cookie requests must come from, and whether the cookie is `Secure`.
    /// `None` only for a state built without a listener (a test); `serve` fills it in.
    pub public_url: Option<String>,
    /// How long sign-in links and sessions last.
    pub sessions: domain::sessions::SessionPolicy,
    /// The limits and timing of live tiles (subscriptions).
    pub live: LiveOptions,
}

/// A flag shared between the server and whatever finishes start-up work.
#[derive(Clone, Debug)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn ready() -> Self {
        Readiness(Arc::new(AtomicBool::new(true)))
    }

    pub fn starting() -> Self {
        Readiness(Arc::new(AtomicBool::new(false)))
    }

    pub fn set_ready(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}
