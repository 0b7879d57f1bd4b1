//! Prometheus metrics at `/metrics`: requests by route and status, their latency, the SQL
//! statements the server ran, and whatever other crates record through the `metrics`
//! facade (the scheduler's ticks).

use std::sync::OnceLock;
use std::time::Instant;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use poem::{Endpoint, IntoResponse, Request, Response};
use sea_orm::DatabaseConnection;

/// The process-wide recorder, installed on first use. Later servers in the same process
/// (tests start many) share it.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ])
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        // Another recorder already installed keeps recording; ours then renders what it has.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

/// HELP lines for every metric Zeroboard records, and the build-info gauge.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "zeroboard_http_requests_total",
        "HTTP requests answered, by route and status."
    );
    describe_histogram!(
        "zeroboard_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request, by route."
    );
    describe_counter!(
        "zeroboard_http_connections_refused_total",
        "Connections closed on arrival because the connection limit was reached."
    );
    describe_counter!(
        "zeroboard_http_head_timeouts_total",
        "Connections closed because no complete request head arrived within the read timeout."
    );
    describe_counter!(
        "zeroboard_db_statements_total",
        "SQL statements run through the server's connection pool."
    );
    describe_counter!(
        "zeroboard_scheduler_ticks_total",
        "Scheduler ticks, by outcome (ok, failed)."
    );
    describe_histogram!(
        "zeroboard_scheduler_tick_duration_seconds",
        Unit::Seconds,
        "Time a scheduler tick took."
    );
    describe_gauge!(
        "zeroboard_scheduler_last_success_timestamp_seconds",
        Unit::Seconds,
        "When this process last finished a tick without error (Unix time)."
    );
    describe_gauge!(
        "zeroboard_build_info",
        "Always 1; its labels name the running build."
    );
    metrics::gauge!("zeroboard_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// Counts every SQL statement run through `db`, and through its clones made afterwards, in
/// `zeroboard_db_statements_total` (the cost of a request: read it before and after).
pub fn count_statements(db: &mut DatabaseConnection) {
    handle();
    let statements = metrics::counter!("zeroboard_db_statements_total");
    db.set_metric_callback(move |_| statements.increment(1));
}

/// Renders the metrics in Prometheus' text format.
pub fn render() -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(handle().render())
}

/// Counts and times every request, labelled by route and status, and runs it in a span
/// with a request id (logged with anything the request logs, and sent as `x-request-id`).
pub async fn measure<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    use tracing::Instrument;
    // A caller's own request id (a proxy's, a client's) is kept when it is a plain token.
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map_or_else(crate::error::random_id, str::to_owned);
    // A sign-in link's secret is in its path: the log and the metrics name the route only.
    let path = match req.uri().path() {
        p if p.starts_with("/login/") => "/login/…",
        p => p,
    };
    let span = tracing::info_span!("request", request.id = %request_id, method = %req.method(), path = %path);
    let route = match path {
        p @ ("/graphql"
        | "/"
        | "/graphiql"
        | "/healthz"
        | "/readyz"
        | "/metrics"
        | "/logout"
        | "/export/bonus.csv"
        | "/export/obligations.csv") => p.to_owned(),
        "/login/…" => "/login".to_owned(),
        p if p.starts_with("/assets/") => "/assets".to_owned(),
        p if p.starts_with("/web/") => "/web".to_owned(),
        _ => "other".to_owned(),
    };
    let started = Instant::now();
    let response = next
        .call(req)
        .instrument(span)
        .await
        .map(IntoResponse::into_response);
    let status = match &response {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.status().as_u16(),
    };
    metrics::counter!("zeroboard_http_requests_total", "route" => route.clone(), "status" => status.to_string()).increment(1);
    metrics::histogram!("zeroboard_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response.map(|mut r| {
        if let Ok(value) = request_id.parse() {
            r.headers_mut().insert("x-request-id", value);
        }
        r
    })
}
