//! HTTP: GraphQL over HTTP at `/graphql` (GET for queries only, POST with JSON), the web
//! page at `/` with sign-in links and sign-out (`web`), the GraphiQL playground at
//! `/graphiql` (assets under `/assets/`, see `playground`), health and readiness probes.
//!
//! A request is authenticated by its bearer token, else by the web page's session cookie
//! (which must pass `web::check_cookie_request`); a request with both is the token's.
//!
//! Status codes follow the GraphQL-over-HTTP spec: a body that is not a GraphQL request is
//! 400; with `Accept: application/graphql-response+json`, a request that fails before
//! execution (parse, validation, limits) is 400 too, while with `application/json` every
//! well-formed request gets 200. A mutation over GET is 405. A bad token is 401.

use std::time::Duration;

use async_graphql::{BatchRequest, ServerError};
use domain::auth::{self, Principal};
use poem::http::{HeaderMap, Method, StatusCode, header};
use poem::listener::{Acceptor, TcpAcceptor};
use poem::web::Data;
use poem::{Body, EndpointExt, IntoResponse, Request, Response, Route, get, handler, post};
use serde_json::json;

use crate::AppState;
use crate::context::RequestCache;
use crate::error::code;
use crate::guard::{self, Refusal};
use crate::limits::Limits;
use crate::loaders::Loaders;

pub fn routes(state: AppState) -> impl poem::Endpoint {
    crate::web::prepare();
    Route::new()
        .at("/", get(crate::web::page))
        .at("/web/:name", get(crate::web::asset))
        .at("/login/:secret", get(crate::web::login))
        .at("/logout", post(crate::web::logout))
        .at("/graphiql", get(crate::playground::page))
        .at("/assets/*path", get(crate::playground::asset))
        .at(
            "/graphql",
            get(crate::live::UpgradeOr(graphql)).post(graphql),
        )
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .at("/export/bonus.csv", get(export_bonus_csv))
        .at("/export/obligations.csv", get(export_obligations_csv))
        .at("/metrics", get(metrics))
        .around(crate::web::harden)
        .around(crate::metrics::measure)
        .with_if(
            !state.http.cors_origins.is_empty(),
            cors(&state.http.cors_origins),
        )
        .data(state)
}

/// CORS for the configured origins: GET and POST with a bearer token and JSON.
fn cors(origins: &[String]) -> poem::middleware::Cors {
    poem::middleware::Cors::new()
        .allow_origins(origins.iter().map(String::as_str))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            poem::http::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([poem::http::HeaderName::from_static("x-request-id")])
        .max_age(600)
}

/// Serves until ctrl-c or SIGTERM, on an already bound listener (tests bind port 0).
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    serve_until(state, listener, shutdown_signal()).await
}

/// Serves until `stop` resolves, then finishes the requests in flight (up to 10 s). The
/// binary passes a signal future it installed before start-up, so a SIGTERM that arrives
/// while it migrates or loads the demo is not lost.
pub async fn serve_until(
    state: AppState,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    crate::metrics::handle();
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    let addr = acceptor.local_addr();
    tracing::info!(addr = ?addr.first(), "serving");
    let limits = state.limits;
    let live = state.live.clone();
    live.start(&state);
    // At the stop, live connections get a close frame before the server winds down.
    let stop = async move {
        stop.await;
        live.stop(Duration::from_secs(2)).await;
    };
    poem::Server::new_with_acceptor(crate::listener::Capped::new(
        acceptor,
        limits.connections,
        limits.read_timeout,
    ))
    .run_with_graceful_shutdown(routes(state), stop, Some(Duration::from_secs(10)))
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
fn healthz() -> &'static str {
    "ok"
}

#[handler]
async fn readyz(Data(state): Data<&AppState>) -> Response {
    if !state.ready.is_ready() {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting").into_response();
    }
    // Ready means able to do the work: reach the database and write to it.
    match domain::db::writable(&state.db).await {
        Ok(true) => "ready".into_response(),
        Ok(false) => {
            tracing::warn!("the database is read-only");
            (StatusCode::SERVICE_UNAVAILABLE, "database read-only").into_response()
        }
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
    with_retry_headers(
        Response::builder()
            .status(status)
            .content_type("text/plain; charset=utf-8")
            .body(format!("{}\n", message.into())),
    )
}

/// Who sent a request: nobody (no `Authorization` header and no session cookie), or the
/// token's or the session's principal.
type Authenticated = Option<(Principal, Option<entity::employee::Model>)>;

/// Why a request could not be authenticated.
enum AuthFailure {
    Malformed,
    Unknown,
    /// The session cookie names a session that has ended (or never was).
    SessionEnded,
    Failed(domain::DomainError),
}

/// Whether a request will be authenticated by the session cookie: it has one, and no
/// `Authorization` header.
fn by_cookie(req: &Request) -> bool {
    bearer(req.headers()).is_none() && crate::web::session_secret(req.headers()).is_some()
}

async fn authenticate(req: &Request, state: &AppState) -> Result<Authenticated, AuthFailure> {
    match bearer(req.headers()) {
        None => match crate::web::session_secret(req.headers()) {
            None => Ok(None),
            Some(secret) => match domain::sessions::authenticate(
                &state.db,
                &state.company,
                secret,
                &state.http.sessions,
                state.clock.now(),
            )
            .await
            {
                Ok((who, person)) => Ok(Some((who, Some(person)))),
                Err(domain::DomainError::Unauthenticated) => Err(AuthFailure::SessionEnded),
                Err(e) => Err(AuthFailure::Failed(e)),
            },
        },
        Some(None) => Err(AuthFailure::Malformed),
        Some(Some(secret)) => {
            match auth::authenticate(&state.db, &state.company, secret, state.clock.now()).await {
                Ok(found) => Ok(Some(found)),
                Err(domain::DomainError::Unauthenticated) => Err(AuthFailure::Unknown),
                Err(e) => Err(AuthFailure::Failed(e)),
            }
        }
    }
}

/// A principal for a plain-text route (the export, the metrics), or the plain answer.
async fn plain_principal(req: &Request, state: &AppState) -> Result<Principal, Response> {
    match authenticate(req, state).await {
        Ok(Some((who, _))) => Ok(who),
        Ok(None) | Err(AuthFailure::Malformed) => Err(plain(
            StatusCode::UNAUTHORIZED,
            "send `Authorization: Bearer <token>`",
        )),
        Err(AuthFailure::Unknown) => Err(plain(
            StatusCode::UNAUTHORIZED,
            "the token is unknown, expired or revoked",
        )),
        Err(AuthFailure::SessionEnded) => Err(plain(
            StatusCode::UNAUTHORIZED,
            "the session has ended; sign in again",
        )),
        Err(AuthFailure::Failed(domain::DomainError::Db(e)))
            if crate::error::is_unavailable(&e) =>
        {
            tracing::warn!(error = %e, "database unavailable");
            Err(plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable; try again shortly",
            ))
        }
        Err(AuthFailure::Failed(e)) => {
            tracing::error!(error = %e, "authentication failed");
            Err(plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
        }
    }
}

/// Prometheus metrics: public only when configured so; otherwise an admin's or a
/// `metrics:read` token.
#[handler]
async fn metrics(req: &Request, Data(state): Data<&AppState>) -> Response {
    if !state.http.public_metrics {
        match plain_principal(req, state).await {
            Ok(who) if domain::access::require_metrics(&who).is_ok() => {}
            Ok(_) => {
                return plain(
                    StatusCode::FORBIDDEN,
                    "the metrics need an admin or metrics:read token",
                );
            }
            Err(response) => return response,
        }
    }
    crate::metrics::render()
}

/// The payroll export of one closed period: payroll scope or admin.
#[handler]
async fn export_bonus_csv(req: &Request, Data(state): Data<&AppState>) -> Response {
    export_csv(req, state, Export::Bonus).await
}

/// The obligations behind the bonus export, one row per obligation or target: payroll scope
/// or admin.
#[handler]
async fn export_obligations_csv(req: &Request, Data(state): Data<&AppState>) -> Response {
    export_csv(req, state, Export::Obligations).await
}

/// Which payroll CSV to write.
#[derive(Clone, Copy)]
enum Export {
    Bonus,
    Obligations,
}

impl Export {
    fn name(self) -> &'static str {
        match self {
            Export::Bonus => "bonus",
            Export::Obligations => "obligations",
        }
    }

    async fn csv(
        self,
        state: &AppState,
        who: &Principal,
        starts_on: chrono::NaiveDate,
    ) -> Result<String, domain::export::ExportError> {
        use domain::export as x;
        Ok(match self {
            Export::Bonus => x::to_csv(&x::bonus_rows(&state.db, who, starts_on).await?),
            Export::Obligations => {
                x::obligations_to_csv(&x::obligation_rows(&state.db, who, starts_on).await?)
            }
        })
    }
}

/// A payroll CSV of one closed period, named by its first day (`?period=YYYY-MM-DD`).
async fn export_csv(req: &Request, state: &AppState, export: Export) -> Response {
    let who = match plain_principal(req, state).await {
        Ok(who) => who,
        Err(response) => return response,
    };
    if domain::access::require_payroll(&who).is_err() {
        return plain(
            StatusCode::FORBIDDEN,
            "the export needs the payroll:read scope",
        );
    }
    let params: ExportParams = req.params().unwrap_or(ExportParams { period: None });
    let Some(Ok(starts_on)) = params
        .period
        .as_deref()
        .map(|p| chrono::NaiveDate::parse_from_str(p, "%Y-%m-%d"))
    else {
        return plain(
            StatusCode::BAD_REQUEST,
            "give the period's first day: ?period=YYYY-MM-DD",
        );
    };
    match export.csv(state, &who, starts_on).await {
        Ok(csv) => Response::builder()
            .content_type("text/csv; charset=utf-8")
            .header(
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}-{starts_on}.csv\"", export.name()),
            )
            .body(csv),
        Err(e @ domain::export::ExportError::NoSuchPeriod(_)) => {
            plain(StatusCode::NOT_FOUND, e.to_string())
        }
        Err(e @ domain::export::ExportError::NotClosed(_)) => {
            plain(StatusCode::CONFLICT, e.to_string())
        }
        Err(e) => {
            tracing::error!(error = %e, export = export.name(), "export failed");
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
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Media::Json);
    };
    let types: Vec<&str> = accept
        .split(',')
        .map(|t| t.split(';').next().unwrap_or("").trim())
        .collect();
    if types.contains(&"application/graphql-response+json") {
        Some(Media::GraphqlResponse)
    } else if types
        .iter()
        .any(|t| matches!(*t, "application/json" | "application/*" | "*/*"))
    {
        Some(Media::Json)
    } else {
        None
    }
}

/// A response carrying GraphQL errors only.
fn errors_response(status: StatusCode, media: Media, errors: Vec<ServerError>) -> Response {
    let body = json!({ "errors": errors });
    Response::builder()
        .status(status)
        .content_type(media.content_type())
        .body(body.to_string())
}

fn request_error(
    status: StatusCode,
    media: Media,
    code: &'static str,
    message: impl Into<String>,
) -> Response {
    with_retry_headers(errors_response(
        status,
        media,
        vec![coded_error(code, message)],
    ))
}

/// An error with its `extensions.code`, as sent before execution.
fn coded_error(code: &'static str, message: impl Into<String>) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
    error
}

/// A 401 names the scheme to use (RFC 6750); a 503 says when to try again.
fn with_retry_headers(mut response: Response) -> Response {
    match response.status() {
        StatusCode::UNAUTHORIZED => {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                poem::http::HeaderValue::from_static("Bearer realm=\"zeroboard\""),
            );
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                poem::http::HeaderValue::from_static("5"),
            );
        }
        _ => {}
    }
    response
}

/// A domain error met before execution (the token lookup): unavailable or internal.
fn failure(media: Media, err: &domain::DomainError) -> Response {
    let (status, error) = match err {
        domain::DomainError::Db(db) if crate::error::is_unavailable(db) => {
            (StatusCode::SERVICE_UNAVAILABLE, crate::error::from_db(db))
        }
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            crate::error::internal(err),
        ),
    };
    with_retry_headers(errors_response(
        status,
        media,
        vec![error.into_server_error(Default::default())],
    ))
}

/// The bearer secret of a request: `Some(None)` when the header is malformed.
fn bearer(headers: &HeaderMap) -> Option<Option<&str>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let secret = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .and_then(|(scheme, secret)| {
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| secret.trim())
                .filter(|s| !s.is_empty())
        });
    Some(secret)
}

#[handler]
async fn graphql(req: &Request, body: Body, Data(state): Data<&AppState>) -> Response {
    let Some(media) = negotiate(req.headers()) else {
        return (
            StatusCode::NOT_ACCEPTABLE,
            "accept application/graphql-response+json or application/json",
        )
            .into_response();
    };
    // The session cookie alone does not make a request the page's own (see `web`).
    if by_cookie(req)
        && let Err(reason) = crate::web::check_cookie_request(req, state)
    {
        return request_error(StatusCode::FORBIDDEN, media, code::FORBIDDEN, reason);
    }
    let limits = &state.limits;
    let batch = match parse_request(req, body, limits).await {
        Ok(b) => b,
        Err((status, message)) => {
            return request_error(status, media, code::BAD_USER_INPUT, message);
        }
    };
    // A JSON array is answered with an array, even when it holds one operation.
    let is_batch = matches!(batch, BatchRequest::Batch(_));
    let requests = match batch {
        BatchRequest::Single(r) => vec![r],
        BatchRequest::Batch(rs) if rs.is_empty() => {
            return request_error(
                StatusCode::BAD_REQUEST,
                media,
                code::BAD_USER_INPUT,
                "an empty batch",
            );
        }
        BatchRequest::Batch(rs) if rs.len() > limits.batch => {
            let message = format!(
                "a batch may hold at most {} operations, this one has {}",
                limits.batch,
                rs.len()
            );
            return request_error(
                StatusCode::BAD_REQUEST,
                media,
                code::BAD_USER_INPUT,
                message,
            );
        }
        BatchRequest::Batch(rs) => rs,
    };

    // Check every operation before any runs: its shape (linear walks only, before the
    // parser's and validator's recursion) and mutations over GET.
    let mut checked: Vec<Result<async_graphql::Request, ServerError>> =
        Vec::with_capacity(requests.len());
    for r in requests {
        match check_request(r, limits) {
            Checked::Ready(_, true) if req.method() == Method::GET => {
                let mut response = request_error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    media,
                    code::BAD_USER_INPUT,
                    "mutations must be sent with POST",
                );
                response
                    .headers_mut()
                    .insert(header::ALLOW, poem::http::HeaderValue::from_static("POST"));
                return response;
            }
            Checked::Ready(r, _) => checked.push(Ok(*r)),
            Checked::Refused(refusal) => {
                checked.push(Err(coded_error(code::BAD_USER_INPUT, refusal.to_string())))
            }
        }
    }

    let principal = match authenticate(req, state).await {
        Ok(found) => found,
        Err(AuthFailure::Malformed) => {
            return request_error(
                StatusCode::UNAUTHORIZED,
                media,
                code::UNAUTHENTICATED,
                "malformed Authorization header; send `Bearer <token>`",
            );
        }
        Err(AuthFailure::Unknown) => {
            return request_error(
                StatusCode::UNAUTHORIZED,
                media,
                code::UNAUTHENTICATED,
                "the token is unknown, expired or revoked",
            );
        }
        Err(AuthFailure::SessionEnded) => {
            return request_error(
                StatusCode::UNAUTHORIZED,
                media,
                code::UNAUTHENTICATED,
                "the session has ended; sign in again",
            );
        }
        Err(AuthFailure::Failed(e)) => return failure(media, &e),
    };

    // The language of sentences (explanations) when a field is not given one.
    let lang = request_lang(req.headers());
    let mut responses = Vec::with_capacity(checked.len());
    for r in checked {
        // Introspection shows the whole API; by default only to someone with a token.
        let r = match r {
            Ok(mut r) if principal.is_none() && !state.http.public_introspection => {
                if asks_introspection(&mut r) {
                    Err(coded_error(
                        code::UNAUTHENTICATED,
                        "introspection needs a token: send `Authorization: Bearer <token>`",
                    ))
                } else {
                    Ok(r)
                }
            }
            r => r,
        };
        let response = match r {
            Err(error) => async_graphql::Response::from_errors(vec![error]),
            Ok(r) => {
                let r = with_request_data(r, state, principal.as_ref(), lang).await;
                state.schema.execute(r).await
            }
        };
        responses.push(with_codes(response));
    }
    let status = if responses.iter().any(|r| has_code(r, code::UNAVAILABLE)) {
        StatusCode::SERVICE_UNAVAILABLE
    } else if media == Media::GraphqlResponse
        && !is_batch
        && responses.first().is_some_and(is_request_error)
    {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let bodies: Vec<String> = responses.iter().map(response_text).collect();
    let body = if is_batch {
        format!("[{}]", bodies.join(","))
    } else {
        bodies.concat()
    };
    with_retry_headers(
        Response::builder()
            .status(status)
            .content_type(media.content_type())
            .body(body),
    )
}

/// A response as JSON text, written straight from the response (a report's 300 rows went
/// through a `serde_json::Value` tree first: about 6% of its server time in a profile), in
/// the order of the selection, as the GraphQL spec asks. One that failed
/// before execution has no `data` entry at all (the GraphQL spec and GraphQL over HTTP),
/// rather than `"data": null`.
fn response_text(r: &async_graphql::Response) -> String {
    let unserialisable = || json!({ "errors": [{ "message": "unserialisable response", "extensions": { "code": code::INTERNAL } }] });
    if !is_request_error(r) {
        return serde_json::to_string(r).unwrap_or_else(|_| unserialisable().to_string());
    }
    let mut value = serde_json::to_value(r).unwrap_or_else(|_| unserialisable());
    if let Some(map) = value.as_object_mut() {
        map.remove("data");
    }
    value.to_string()
}

fn has_code(r: &async_graphql::Response, wanted: &str) -> bool {
    r.errors.iter().any(|e| {
        e.extensions
            .as_ref()
            .and_then(|ext| ext.get("code"))
            .is_some_and(|c| matches!(c, async_graphql::Value::String(s) if s == wanted))
    })
}

/// Reads the GraphQL request from the query string (GET) or the JSON body (POST).
async fn parse_request(
    req: &Request,
    body: Body,
    limits: &Limits,
) -> Result<BatchRequest, (StatusCode, String)> {
    if req.method() == Method::GET {
        let query = req.uri().query().unwrap_or("");
        let request = async_graphql::http::parse_query_string(query).map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                format!("not a GraphQL request: {e}"),
            )
        })?;
        if request.query.trim().is_empty() {
            return Err((StatusCode::BAD_REQUEST, "the request has no `query`".into()));
        }
        return Ok(BatchRequest::Single(request));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media != "application/json" && media != "application/graphql-response+json" {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("send the request as application/json, not `{content_type}`"),
        ));
    }
    if req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > limits.body_bytes)
    {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {} bytes", limits.body_bytes),
        ));
    }
    // A body that stalls is cut off after the read timeout, as a head is (`listener`).
    let bytes = tokio::time::timeout(
        limits.read_timeout,
        body.into_bytes_limit(limits.body_bytes),
    )
    .await
    .map_err(|_| {
        (
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the body did not arrive within {} s",
                limits.read_timeout.as_secs()
            ),
        )
    })?
    .map_err(|_| {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {} bytes", limits.body_bytes),
        )
    })?;
    // The request object, `variables` and a batch's array wrap each variable's value.
    guard::check_json_nesting(&bytes, limits.nesting + 3)
        .map_err(|r| (StatusCode::BAD_REQUEST, r.to_string()))?;
    let invalid = |e: serde_json::Error| {
        (
            StatusCode::BAD_REQUEST,
            format!("the body is not a GraphQL request: {e}"),
        )
    };
    // An array is a batch; anything else must be one request object. (Serde would read a
    // request from an array of its fields, so the shape is decided here.)
    let batch = if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        BatchRequest::Batch(
            serde_json::from_slice::<Vec<RequestBody>>(&bytes)
                .map_err(invalid)?
                .into_iter()
                .map(|r| r.0)
                .collect(),
        )
    } else {
        BatchRequest::Single(
            serde_json::from_slice::<RequestBody>(&bytes)
                .map_err(invalid)?
                .0,
        )
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
        serde_json::from_value(serde_json::Value::Object(value))
            .map(RequestBody)
            .map_err(serde::de::Error::custom)
    }
}

pub(crate) enum Checked {
    /// Ready to run (with its document parsed), and whether it is a mutation.
    Ready(Box<async_graphql::Request>, bool),
    Refused(Refusal),
}

/// Looks at the operation that will run without executing it. A document that does not
/// parse, or names no operation, is left to the executor, which reports it properly.
pub(crate) fn check_request(mut r: async_graphql::Request, limits: &Limits) -> Checked {
    if let Err(refusal) = guard::check_document_nesting(&r.query, limits.nesting) {
        return Checked::Refused(refusal);
    }
    for value in r.variables.values() {
        if let Err(refusal) = guard::check_value_nesting(value, limits.nesting) {
            return Checked::Refused(refusal);
        }
    }
    let Ok(doc) = async_graphql::parser::parse_query(&r.query) else {
        return Checked::Ready(Box::new(r), false);
    };
    let mutation = match guard::operation(&doc, r.operation_name.as_deref()) {
        None => false,
        Some(op) => match guard::check_operation(&doc, op, limits.shape()) {
            Ok(_) => guard::is_mutation(op),
            Err(refusal) => return Checked::Refused(refusal),
        },
    };
    // The executor reuses this parse instead of parsing again.
    r.set_parsed_query(doc);
    Checked::Ready(Box::new(r), mutation)
}

/// Whether the operation asks for `__schema` or `__type` (only valid at its root).
fn asks_introspection(r: &mut async_graphql::Request) -> bool {
    let name = r.operation_name.clone();
    match r.parsed_query() {
        Ok(doc) => guard::operation(doc, name.as_deref()).is_some_and(|op| {
            guard::root_fields(doc, op).any(|f| f == "__schema" || f == "__type")
        }),
        Err(_) => false,
    }
}

/// A response that failed before execution: no data, and errors with no path.
fn is_request_error(r: &async_graphql::Response) -> bool {
    !r.errors.is_empty()
        && r.data == async_graphql::Value::Null
        && r.errors.iter().all(|e| e.path.is_empty())
}

/// The most errors one response lists.
const MAX_ERRORS: usize = 100;

/// Gives every error a code: errors the executor raises itself (parse, validation, limits,
/// input coercion) are the client's to fix.
pub(crate) fn with_codes(mut r: async_graphql::Response) -> async_graphql::Response {
    // As graphql-js does: past a hundred errors, one more says how many were left out, so
    // a small document cannot ask for megabytes of errors.
    if r.errors.len() > MAX_ERRORS {
        let left_out = r.errors.len() - MAX_ERRORS;
        r.errors.truncate(MAX_ERRORS);
        r.errors.push(ServerError::new(
            format!("{left_out} more errors were left out"),
            None,
        ));
    }
    for e in &mut r.errors {
        let ext = e.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            ext.set("code", code::BAD_USER_INPUT);
        }
    }
    r
}

/// Per-request data: the state, the principal (if any), fresh loaders and caches, and the
/// language the request prefers.
async fn with_request_data(
    r: async_graphql::Request,
    state: &AppState,
    principal: Option<&(Principal, Option<entity::employee::Model>)>,
    lang: domain::explain::say::Lang,
) -> async_graphql::Request {
    let now = state.clock.now();
    let loaders = Loaders::new(&state.db, state.company, now);
    let r = r
        .data(state.clone())
        .data(RequestCache::new(now))
        .data(lang);
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

/// The language a request's `Accept-Language` prefers (English when it names neither).
pub(crate) fn request_lang(headers: &poem::http::HeaderMap) -> domain::explain::say::Lang {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(domain::explain::say::Lang::from_accept_language)
        .unwrap_or_default()
}
