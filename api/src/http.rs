//! HTTP: GraphQL at `/graphql`, GraphiQL at `/`, health and readiness probes.

use std::time::Duration;

use async_graphql::http::GraphiQLSource;
use async_graphql_poem::{GraphQLBatchRequest, GraphQLBatchResponse};
use domain::auth::{self, Principal};
use poem::http::{HeaderMap, StatusCode};
use poem::listener::{Acceptor, TcpAcceptor};
use poem::web::{Data, Html};
use poem::{EndpointExt, IntoResponse, Response, Route, get, handler};

use crate::AppState;
use crate::loaders::Loaders;

/// Limits on what one request may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub depth: usize,
    pub complexity: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { depth: 16, complexity: 5000 }
    }
}

pub fn routes(state: AppState) -> impl poem::Endpoint {
    Route::new()
        .at("/", get(graphiql))
        .at("/graphql", get(graphql).post(graphql))
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .data(state)
}

/// Serves until ctrl-c or SIGTERM, on an already bound listener (tests bind port 0).
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    let addr = acceptor.local_addr();
    tracing::info!(addr = ?addr.first(), "serving");
    poem::Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(routes(state), shutdown_signal(), Some(Duration::from_secs(10)))
        .await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[handler]
fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").title("Zeroboard GraphiQL").finish())
}

#[handler]
fn healthz() -> &'static str {
    "ok"
}

#[handler]
async fn readyz(Data(state): Data<&AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "database not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

/// The bearer secret of a request, if it sent one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, secret) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| secret.trim())
}

#[handler]
async fn graphql(Data(state): Data<&AppState>, headers: &HeaderMap, req: GraphQLBatchRequest) -> Response {
    let principal = match headers.get("authorization") {
        None => None,
        Some(_) => match bearer(headers) {
            None => return unauthenticated_response(),
            Some(secret) => match auth::authenticate(&state.db, secret, state.clock.now()).await {
                Ok(p) => Some(p),
                Err(domain::DomainError::Unauthenticated) => return unauthenticated_response(),
                Err(e) => {
                    let err = crate::error::internal(&e);
                    return error_response(StatusCode::INTERNAL_SERVER_ERROR, err);
                }
            },
        },
    };
    let batch = match req.0 {
        async_graphql::BatchRequest::Single(r) => async_graphql::BatchRequest::Single(with_request_data(r, state, &principal)),
        async_graphql::BatchRequest::Batch(rs) => {
            async_graphql::BatchRequest::Batch(rs.into_iter().map(|r| with_request_data(r, state, &principal)).collect())
        }
    };
    GraphQLBatchResponse(state.schema.execute_batch(batch).await).into_response()
}

/// Per-request data: the state, the principal (if any) and fresh loaders.
fn with_request_data(r: async_graphql::Request, state: &AppState, principal: &Option<Principal>) -> async_graphql::Request {
    let r = r.data(state.clone()).data(Loaders::new(&state.db));
    match principal {
        Some(p) => r.data(p.clone()),
        None => r,
    }
}

fn unauthenticated_response() -> Response {
    error_response(StatusCode::UNAUTHORIZED, crate::error::unauthenticated())
}

fn error_response(status: StatusCode, err: async_graphql::Error) -> Response {
    let server_error = err.into_server_error(async_graphql::Pos::default());
    let body = serde_json::json!({ "errors": [server_error] });
    Response::builder().status(status).content_type("application/json").body(body.to_string())
}
