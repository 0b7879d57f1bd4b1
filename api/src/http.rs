//! HTTP: GraphQL over HTTP at `/graphql` (GET for queries only, POST with JSON), GraphiQL
//! at `/`, health and readiness probes.
//!
//! Status codes follow the GraphQL-over-HTTP spec: a body that is not a GraphQL request is
//! 400; with `Accept: application/graphql-response+json`, a request that fails before
//! execution (parse, validation, limits) is 400 too, while with `application/json` every
//! well-formed request gets 200. A mutation over GET is 405. A bad token is 401.

use std::time::Duration;

use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{BatchRequest, BatchResponse, ServerError};
use domain::auth::{self, Principal};
use poem::http::{HeaderMap, Method, StatusCode, header};
use poem::listener::{Acceptor, TcpAcceptor};
use poem::web::{Data, Html};
use poem::{Body, EndpointExt, IntoResponse, Request, Response, Route, get, handler};
use serde_json::json;

use crate::AppState;
use crate::error::code;
use crate::loaders::Loaders;
use crate::schema::RequestCache;

/// Limits on what one request may ask for; each is a setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of selections.
    pub depth: usize,
    /// Most complexity points (a connection counts `first` times its selection).
    pub complexity: usize,
    /// Most aliased fields in one operation.
    pub aliases: usize,
    /// Most operations in one batched request.
    pub batch: usize,
    /// Largest request body in bytes.
    pub body_bytes: usize,
    /// Largest page (`first`).
    pub page_size: i32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { depth: 16, complexity: 20_000, aliases: 30, batch: 10, body_bytes: 256 * 1024, page_size: 100 }
    }
}

pub fn routes(state: AppState) -> impl poem::Endpoint {
    Route::new()
        .at("/", get(graphiql))
        .at("/graphql", get(graphql).post(graphql))
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .at("/export/bonus.csv", get(export_bonus_csv))
        .at("/metrics", get(crate::metrics::render))
        .around(crate::metrics::measure)
        .data(state)
}

/// Serves until ctrl-c or SIGTERM, on an already bound listener (tests bind port 0).
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    crate::metrics::handle();
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    let addr = acceptor.local_addr();
    tracing::info!(addr = ?addr.first(), "serving");
    poem::Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(routes(state), shutdown_signal(), Some(Duration::from_secs(10)))
        .await
}

/// Resolves on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
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

#[derive(serde::Deserialize)]
struct ExportParams {
    period: Option<String>,
}

fn plain(status: StatusCode, message: impl Into<String>) -> Response {
    Response::builder().status(status).content_type("text/plain; charset=utf-8").body(format!("{}\n", message.into()))
}

/// The payroll export of one closed period: payroll scope or admin.
#[handler]
async fn export_bonus_csv(req: &Request, Data(state): Data<&AppState>) -> Response {
    let principal = match bearer(req.headers()) {
        Some(Some(secret)) => auth::authenticate(&state.db, secret, state.clock.now()).await,
        _ => Err(domain::DomainError::Unauthenticated),
    };
    let who = match principal {
        Ok((who, _)) => who,
        Err(domain::DomainError::Unauthenticated) => return plain(StatusCode::UNAUTHORIZED, "send `Authorization: Bearer <token>`"),
        Err(e) => {
            tracing::error!(error = %e, "export: authentication failed");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    if domain::access::require_payroll(&who).is_err() {
        return plain(StatusCode::FORBIDDEN, "the export needs the payroll:read scope");
    }
    let params: ExportParams = req.params().unwrap_or(ExportParams { period: None });
    let Some(Ok(starts_on)) = params.period.as_deref().map(|p| chrono::NaiveDate::parse_from_str(p, "%Y-%m-%d")) else {
        return plain(StatusCode::BAD_REQUEST, "give the period's first day: ?period=YYYY-MM-DD");
    };
    match domain::export::bonus_rows(&state.db, starts_on).await {
        Ok(rows) => Response::builder()
            .content_type("text/csv; charset=utf-8")
            .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"bonus-{starts_on}.csv\""))
            .body(domain::export::to_csv(&rows)),
        Err(e @ domain::export::ExportError::NoSuchPeriod(_)) => plain(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ domain::export::ExportError::NotClosed(_)) => plain(StatusCode::CONFLICT, e.to_string()),
        Err(e) => {
            tracing::error!(error = %e, "export failed");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

/// The media type of the answer, from the request's `Accept`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Media {
    GraphqlResponse,
    Json,
}

impl Media {
    fn content_type(self) -> &'static str {
        match self {
            Media::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            Media::Json => "application/json; charset=utf-8",
        }
    }
}

/// Picks the answer's media type; `None` when the client accepts neither.
fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else { return Some(Media::Json) };
    let types: Vec<&str> = accept.split(',').map(|t| t.split(';').next().unwrap_or("").trim()).collect();
    if types.contains(&"application/graphql-response+json") {
        Some(Media::GraphqlResponse)
    } else if types.iter().any(|t| matches!(*t, "application/json" | "application/*" | "*/*")) {
        Some(Media::Json)
    } else {
        None
    }
}

/// A response carrying GraphQL errors only.
fn errors_response(status: StatusCode, media: Media, errors: Vec<ServerError>) -> Response {
    let body = json!({ "errors": errors });
    Response::builder().status(status).content_type(media.content_type()).body(body.to_string())
}

fn request_error(status: StatusCode, media: Media, code: &'static str, message: impl Into<String>) -> Response {
    let mut error = ServerError::new(message, None);
    error.extensions.get_or_insert_with(Default::default).set("code", code);
    errors_response(status, media, vec![error])
}

/// The bearer secret of a request: `Some(None)` when the header is malformed.
fn bearer(headers: &HeaderMap) -> Option<Option<&str>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let secret = value.to_str().ok().and_then(|v| v.split_once(' ')).and_then(|(scheme, secret)| {
        scheme.eq_ignore_ascii_case("bearer").then(|| secret.trim()).filter(|s| !s.is_empty())
    });
    Some(secret)
}

#[handler]
async fn graphql(req: &Request, body: Body, Data(state): Data<&AppState>) -> Response {
    let Some(media) = negotiate(req.headers()) else {
        return (StatusCode::NOT_ACCEPTABLE, "accept application/graphql-response+json or application/json").into_response();
    };
    let limits = &state.limits;
    let batch = match parse_request(req, body, limits).await {
        Ok(b) => b,
        Err((status, message)) => return request_error(status, media, code::BAD_USER_INPUT, message),
    };
    // A JSON array is answered with an array, even when it holds one operation.
    let is_batch = matches!(batch, BatchRequest::Batch(_));
    let requests = match batch {
        BatchRequest::Single(r) => vec![r],
        BatchRequest::Batch(rs) if rs.is_empty() => {
            return request_error(StatusCode::BAD_REQUEST, media, code::BAD_USER_INPUT, "an empty batch");
        }
        BatchRequest::Batch(rs) if rs.len() > limits.batch => {
            let message = format!("a batch may hold at most {} operations, this one has {}", limits.batch, rs.len());
            return request_error(StatusCode::BAD_REQUEST, media, code::BAD_USER_INPUT, message);
        }
        BatchRequest::Batch(rs) => rs,
    };

    // Check every operation before any runs: mutations over GET, alias limits.
    let mut early: Vec<Option<ServerError>> = Vec::with_capacity(requests.len());
    for r in &requests {
        match check_operation(&r.query, r.operation_name.as_deref(), limits) {
            Check::Ok => early.push(None),
            Check::Mutation if req.method() == Method::GET => {
                return Response::builder()
                    .status(StatusCode::METHOD_NOT_ALLOWED)
                    .header(header::ALLOW, "POST")
                    .content_type(media.content_type())
                    .body(
                        json!({ "errors": [{ "message": "mutations must be sent with POST", "extensions": { "code": code::BAD_USER_INPUT } }] })
                            .to_string(),
                    );
            }
            Check::Mutation => early.push(None),
            Check::TooManyAliases(n) => {
                let mut e = ServerError::new(format!("the operation uses {n} aliases; at most {} are allowed", limits.aliases), None);
                e.extensions.get_or_insert_with(Default::default).set("code", code::BAD_USER_INPUT);
                early.push(Some(e));
            }
        }
    }

    let principal = match bearer(req.headers()) {
        None => None,
        Some(None) => return request_error(StatusCode::UNAUTHORIZED, media, code::UNAUTHENTICATED, "malformed Authorization header; send `Bearer <token>`"),
        Some(Some(secret)) => match auth::authenticate(&state.db, secret, state.clock.now()).await {
            Ok(found) => Some(found),
            Err(domain::DomainError::Unauthenticated) => {
                return request_error(StatusCode::UNAUTHORIZED, media, code::UNAUTHENTICATED, "the token is unknown, expired or revoked");
            }
            Err(e) => {
                let err = crate::error::internal(&e).into_server_error(Default::default());
                return errors_response(StatusCode::INTERNAL_SERVER_ERROR, media, vec![err]);
            }
        },
    };

    let mut responses = Vec::with_capacity(requests.len());
    for (r, early) in requests.into_iter().zip(early) {
        let response = match early {
            Some(error) => async_graphql::Response::from_errors(vec![error]),
            None => {
                let r = with_request_data(r, state, principal.as_ref()).await;
                state.schema.execute(r).await
            }
        };
        responses.push(with_codes(response));
    }
    let status = if media == Media::GraphqlResponse && !is_batch && responses.first().is_some_and(is_request_error) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = if is_batch {
        serde_json::to_string(&BatchResponse::Batch(responses))
    } else {
        serde_json::to_string(&responses.pop().map(BatchResponse::Single))
    };
    match body {
        Ok(body) => Response::builder().status(status).content_type(media.content_type()).body(body),
        Err(e) => {
            let err = crate::error::internal(&e).into_server_error(Default::default());
            errors_response(StatusCode::INTERNAL_SERVER_ERROR, media, vec![err])
        }
    }
}

/// Reads the GraphQL request from the query string (GET) or the JSON body (POST).
async fn parse_request(req: &Request, body: Body, limits: &Limits) -> Result<BatchRequest, (StatusCode, String)> {
    if req.method() == Method::GET {
        let query = req.uri().query().unwrap_or("");
        let request = async_graphql::http::parse_query_string(query).map_err(|e| (StatusCode::BAD_REQUEST, format!("not a GraphQL request: {e}")))?;
        if request.query.trim().is_empty() {
            return Err((StatusCode::BAD_REQUEST, "the request has no `query`".into()));
        }
        return Ok(BatchRequest::Single(request));
    }
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media != "application/json" && media != "application/graphql-response+json" {
        return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("send the request as application/json, not `{content_type}`")));
    }
    if req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok()).is_some_and(|n| n > limits.body_bytes) {
        return Err((StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than {} bytes", limits.body_bytes)));
    }
    let bytes = body
        .into_bytes_limit(limits.body_bytes)
        .await
        .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than {} bytes", limits.body_bytes)))?;
    let invalid = |e: serde_json::Error| (StatusCode::BAD_REQUEST, format!("the body is not a GraphQL request: {e}"));
    // An array is a batch; anything else must be one request object. (Serde would read a
    // request from an array of its fields, so the shape is decided here.)
    let batch = if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        BatchRequest::Batch(serde_json::from_slice::<Vec<RequestBody>>(&bytes).map_err(invalid)?.into_iter().map(|r| r.0).collect())
    } else {
        BatchRequest::Single(serde_json::from_slice::<RequestBody>(&bytes).map_err(invalid)?.0)
    };
    for r in batch.iter() {
        if r.query.trim().is_empty() {
            return Err((StatusCode::BAD_REQUEST, "the request has no `query`".into()));
        }
    }
    Ok(batch)
}

/// One request object: a JSON object with a `query` (and optionally `operationName`,
/// `variables`, `extensions`).
struct RequestBody(async_graphql::Request);

impl<'de> serde::Deserialize<'de> for RequestBody {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        if !value.get("query").is_some_and(|q| q.is_string()) {
            return Err(serde::de::Error::custom("a request needs a `query` string"));
        }
        serde_json::from_value(serde_json::Value::Object(value)).map(RequestBody).map_err(serde::de::Error::custom)
    }
}

enum Check {
    Ok,
    Mutation,
    TooManyAliases(usize),
}

/// Looks at the operation that will run without executing it.
fn check_operation(query: &str, operation_name: Option<&str>, limits: &Limits) -> Check {
    // A query that does not parse is left to the executor, which reports it properly.
    let Ok(doc) = async_graphql::parser::parse_query(query) else { return Check::Ok };
    let operation = match (&doc.operations, operation_name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.iter().find(|(n, _)| n.as_str() == name).map(|(_, op)| op),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        _ => None,
    };
    let Some(operation) = operation else { return Check::Ok };
    let aliases = count_aliases(&doc, &operation.node.selection_set.node, 0);
    if aliases > limits.aliases {
        return Check::TooManyAliases(aliases);
    }
    if operation.node.ty == OperationType::Mutation { Check::Mutation } else { Check::Ok }
}

/// Aliases in a selection set, following fragments (to a bounded depth, since fragment
/// cycles are the validator's to report).
fn count_aliases(doc: &ExecutableDocument, set: &SelectionSet, depth: usize) -> usize {
    if depth > 64 {
        return 0;
    }
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(f) => usize::from(f.node.alias.is_some()) + count_aliases(doc, &f.node.selection_set.node, depth + 1),
            Selection::InlineFragment(f) => count_aliases(doc, &f.node.selection_set.node, depth + 1),
            Selection::FragmentSpread(s) => doc
                .fragments
                .get(&s.node.fragment_name.node)
                .map_or(0, |f| count_aliases(doc, &f.node.selection_set.node, depth + 1)),
        })
        .sum()
}

/// A response that failed before execution: no data, and errors with no path.
fn is_request_error(r: &async_graphql::Response) -> bool {
    !r.errors.is_empty() && r.data == async_graphql::Value::Null && r.errors.iter().all(|e| e.path.is_empty())
}

/// Gives every error a code: errors the executor raises itself (parse, validation, limits,
/// input coercion) are the client's to fix.
fn with_codes(mut r: async_graphql::Response) -> async_graphql::Response {
    for e in &mut r.errors {
        let ext = e.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            ext.set("code", code::BAD_USER_INPUT);
        }
    }
    r
}

/// Per-request data: the state, the principal (if any), fresh loaders and caches.
async fn with_request_data(
    r: async_graphql::Request,
    state: &AppState,
    principal: Option<&(Principal, Option<entity::employee::Model>)>,
) -> async_graphql::Request {
    let now = state.clock.now();
    let loaders = Loaders::new(&state.db, state.company, now);
    let r = r.data(state.clone()).data(RequestCache::new(now));
    match principal {
        Some((who, person)) => {
            if let Some(person) = person {
                // The token lookup already read the employee: `me` needs no second query.
                loaders.employees.feed_one(person.id, person.clone()).await;
            }
            r.data(loaders).data(who.clone())
        }
        None => r.data(loaders),
    }
}
