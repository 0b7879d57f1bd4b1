//! Live tiles: GraphQL subscriptions over WebSocket at `/graphql`, in the
//! `graphql-transport-ws` protocol (the one the `graphql-ws` client speaks).
//!
//! - The hub ([`Live::start`], one task per process) hears the database's change feed
//!   (`domain::live::Feed`: `LISTEN` on PostgreSQL, in process on SQLite), gathers what it
//!   hears for one window (a setting) and publishes it as one [`Batch`] to every
//!   subscription in the process. A lost feed connection publishes a batch for everyone.
//! - A batch carries the loaders and the period and policy cells its boards are resolved
//!   with, shared by all the subscriptions that hear it, so a change that reaches 1,000
//!   boards costs one statement per kind of data, not one per board. The [`Fresh`]
//!   extension hands them to each execution as its data (per-request data otherwise).
//! - A connection authenticates in `connection_init` (`Authorization: Bearer …` in its
//!   payload, else the web page's session cookie sent with the upgrade from the page's own
//!   origin); every subscription then runs as that principal, under the same rules as a
//!   query. It keeps its credential: a change that names it (a token revoked, a session
//!   ended, the employee gone or given other rights: [`Recheck`], heard on every replica)
//!   makes it check again, as does the instant its credential may stop working by itself
//!   (an expiry); one that no longer works, or stands for other rights, is closed (4403).
//! - Limits, each a setting ([`LiveOptions`]): subscriptions per connection, connections
//!   per principal, keep-alive pings (a client silent for two pings is dropped), an idle
//!   timeout (no subscription), a send timeout (a client that does not read is dropped, so
//!   nothing queues for it without bound), and a close frame for every client at shutdown.
//!
//! Plumbing: never imports the GraphQL types.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextSubscribe,
};
use async_graphql::futures_util::stream::BoxStream;
use async_graphql::futures_util::{SinkExt, StreamExt};
use async_graphql::http::{ClientMessage, WebSocket as GqlSocket, WebSocketProtocols, WsMessage};
use async_graphql::{Data, Response as GqlResponse};
use domain::auth::Principal;
use domain::credentials::Credential;
use domain::live::{Change, Feed, Heard};
use poem::http::{StatusCode, header};
use poem::web::websocket::{Message, WebSocket, WebSocketConfig};
use poem::{Endpoint, FromRequest, IntoResponse, Request, Response};
use tokio::sync::{broadcast, mpsc, watch};

use crate::AppState;
use crate::context::RequestCache;
use crate::error::{code, coded};
use crate::loaders::Loaders;

/// The WebSocket subprotocol spoken.
pub const PROTOCOL: &str = "graphql-transport-ws";

/// The limits and timing of live tiles; each is a setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveOptions {
    /// Changes heard within this long of the first are told as one batch: one board per
    /// subscriber per window.
    pub window: Duration,
    /// Most subscriptions open on one connection.
    pub subscriptions_per_connection: usize,
    /// Most connections open at once for one principal (an employee, whatever their
    /// tokens and sessions, or a service).
    pub connections_per_principal: usize,
    /// A `ping` is sent this often; a client that has sent nothing for two of them is gone.
    pub keepalive: Duration,
    /// A connection with no subscription (also one that never initialises) is closed
    /// after this long.
    pub idle_timeout: Duration,
    /// A message the client does not take within this long drops the client.
    pub send_timeout: Duration,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            window: Duration::from_millis(200),
            subscriptions_per_connection: 10,
            connections_per_principal: 8,
            keepalive: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(10),
        }
    }
}

/// One window of changes, as every subscription of the process hears it, with what its
/// boards are resolved from.
pub struct Batch {
    /// Increases with every batch of the process; a subscription never resolves a batch
    /// older than one it has resolved.
    pub seq: u64,
    pub change: Change,
    pub loaders: Loaders,
    /// The batch's `now`, current period and policy; each execution takes
    /// [`RequestCache::sharing`] (its own reach).
    pub cache: RequestCache,
}

/// Which open connections must check their credentials again (`domain::credentials`).
#[derive(Debug)]
pub enum Recheck {
    /// Those the change names (`domain::access::rechecks`).
    Named(Change),
    /// All of them: the feed may have missed a change that named some.
    All,
}

impl Recheck {
    fn names(&self, who: &Principal) -> bool {
        match self {
            Recheck::Named(change) => domain::access::rechecks(change, who),
            Recheck::All => true,
        }
    }
}

/// The hub of one process: shared by the state, cheap to clone.
#[derive(Clone)]
pub struct Live(Arc<Inner>);

struct Inner {
    options: LiveOptions,
    batches: broadcast::Sender<Arc<Batch>>,
    /// Credential checks asked of the connections (see [`Recheck`]).
    rechecks: broadcast::Sender<Arc<Recheck>>,
    seq: AtomicU64,
    principals: Mutex<HashMap<String, usize>>,
    sockets: AtomicUsize,
    stop: watch::Sender<bool>,
    started: AtomicBool,
}

/// How many batches wait for a slow subscription before it skips to a fresh board.
const BACKLOG: usize = 64;

impl Live {
    pub fn new(options: LiveOptions) -> Live {
        Live(Arc::new(Inner {
            options,
            batches: broadcast::channel(BACKLOG).0,
            rechecks: broadcast::channel(BACKLOG).0,
            seq: AtomicU64::new(0),
            principals: Mutex::new(HashMap::new()),
            sockets: AtomicUsize::new(0),
            stop: watch::channel(false).0,
            started: AtomicBool::new(false),
        }))
    }

    pub fn options(&self) -> &LiveOptions {
        &self.0.options
    }

    /// Starts the hub (once): it hears the feed and publishes batches until [`Live::stop`].
    pub fn start(&self, state: &AppState) {
        if self.0.started.swap(true, Ordering::AcqRel) {
            return;
        }
        tokio::spawn(hub(state.clone()));
    }

    /// The batches published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Batch>> {
        self.0.batches.subscribe()
    }

    /// A batch for one subscription that must read afresh (its first board, or one that
    /// fell behind): numbered as the newest published, so older ones queued are skipped.
    pub fn fresh(&self, state: &AppState, change: Change) -> Arc<Batch> {
        let seq = self.0.seq.load(Ordering::Acquire);
        Arc::new(batch(state, seq, change))
    }

    fn publish(&self, state: &AppState, change: Change) {
        let seq = self.0.seq.fetch_add(1, Ordering::AcqRel) + 1;
        metrics::counter!("zeroboard_live_batches_total").increment(1);
        // No subscriber is no error.
        let _ = self.0.batches.send(Arc::new(batch(state, seq, change)));
    }

    fn recheck(&self, recheck: Recheck) {
        // No connection is no error.
        let _ = self.0.rechecks.send(Arc::new(recheck));
    }

    /// Tells every connection to close (with a close frame) and waits up to `grace` for
    /// them to go.
    pub async fn stop(&self, grace: Duration) {
        self.0.stop.send_replace(true);
        let until = Instant::now() + grace;
        while self.0.sockets.load(Ordering::Acquire) > 0 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Connections open now.
    pub fn sockets(&self) -> usize {
        self.0.sockets.load(Ordering::Acquire)
    }

    /// Takes one of a principal's connection slots, or says the cap is reached.
    fn admit(&self, who: &Principal) -> Option<PrincipalSlot> {
        let key = match who {
            Principal::Employee { id, .. } => format!("employee:{id}"),
            Principal::Service { name, .. } => format!("service:{name}"),
            Principal::System => "system".to_owned(),
        };
        let mut held = self.0.principals.lock().ok()?;
        let n = held.entry(key.clone()).or_default();
        if *n >= self.0.options.connections_per_principal {
            return None;
        }
        *n += 1;
        Some(PrincipalSlot {
            live: self.clone(),
            key,
        })
    }
}

fn batch(state: &AppState, seq: u64, change: Change) -> Batch {
    let now = state.clock.now();
    Batch {
        seq,
        change,
        loaders: Loaders::shared(&state.db, state.company, now),
        cache: RequestCache::new(now),
    }
}

/// The hub: the feed in a task of its own (its reads are not cancel-safe), gathered into
/// windows here.
async fn hub(state: AppState) {
    let live = state.live.clone();
    let (tx, mut rx) = mpsc::channel::<Heard>(1024);
    let db = state.db.clone();
    let feeder = tokio::spawn(async move {
        let mut feed = loop {
            match Feed::open(&db).await {
                Ok(f) => break f,
                Err(e) => {
                    tracing::warn!(error = %e, "live feed: cannot open yet");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        while let Some(heard) = feed.next().await {
            if tx.send(heard).await.is_err() {
                break;
            }
        }
    });
    let mut stop = live.0.stop.subscribe();
    let window = live.0.options.window;
    let mut pending: Option<Change> = None;
    let mut due: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            heard = rx.recv() => {
                let change = match heard {
                    None => break,
                    Some(Heard::Change(mut c)) => {
                        // Credential checks go to the connections at once, not in a window.
                        let rechecks = c.take_rechecks();
                        if rechecks.rechecks() {
                            live.recheck(Recheck::Named(rechecks));
                        }
                        if c.boards_unchanged() {
                            continue;
                        }
                        c
                    }
                    Some(Heard::Missed) => {
                        live.recheck(Recheck::All);
                        Change::everyone()
                    }
                };
                pending.get_or_insert_with(Change::default).merge(&change);
                due.get_or_insert_with(|| tokio::time::Instant::now() + window);
            }
            _ = async { tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)).await }, if due.is_some() => {
                due = None;
                if let Some(change) = pending.take() {
                    live.publish(&state, change);
                }
            }
            _ = stop.changed() => break,
        }
    }
    feeder.abort();
}

/// One of a principal's connections; given back when the connection ends.
pub struct PrincipalSlot {
    live: Live,
    key: String,
}

impl Drop for PrincipalSlot {
    fn drop(&mut self) {
        if let Ok(mut held) = self.live.0.principals.lock()
            && let Some(n) = held.get_mut(&self.key)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// A connection's own state, in its data: how many subscriptions it has open.
#[derive(Clone)]
pub struct Connection {
    open: Arc<AtomicUsize>,
    cap: usize,
}

impl Connection {
    /// Takes a subscription slot, or refuses with a coded error when the cap is reached.
    pub fn take(&self) -> async_graphql::Result<SubscriptionSlot> {
        let mut n = self.open.load(Ordering::Acquire);
        loop {
            if n >= self.cap {
                return Err(coded(
                    code::BAD_USER_INPUT,
                    format!(
                        "at most {} subscriptions per connection; complete one first",
                        self.cap
                    ),
                ));
            }
            match self
                .open
                .compare_exchange(n, n + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(SubscriptionSlot(self.open.clone())),
                Err(now) => n = now,
            }
        }
    }

    fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

/// One open subscription; given back when its stream is dropped (completed or the
/// connection gone).
pub struct SubscriptionSlot(Arc<AtomicUsize>);

impl Drop for SubscriptionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Where a subscription puts the batch its next item is resolved from, for [`Fresh`] to
/// give the execution. Each subscription has its own (added to its request).
#[derive(Clone, Default)]
pub struct Slot(Arc<Mutex<Option<Arc<Batch>>>>);

impl Slot {
    pub fn set(&self, batch: Arc<Batch>) {
        if let Ok(mut s) = self.0.lock() {
            *s = Some(batch);
        }
    }

    fn get(&self) -> Option<Arc<Batch>> {
        self.0.lock().ok().and_then(|s| s.clone())
    }
}

/// Gives every execution over a WebSocket fresh loaders and caches: a subscription's item
/// those of its batch, any other operation new ones. Requests over HTTP bring their own.
pub struct Fresh;

impl ExtensionFactory for Fresh {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(FreshExtension)
    }
}

struct FreshExtension;

#[async_graphql::async_trait::async_trait]
impl Extension for FreshExtension {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> GqlResponse {
        let (Some(slot), Some(state)) = (ctx.data_opt::<Slot>(), ctx.data_opt::<AppState>()) else {
            return next.run(ctx, operation_name).await;
        };
        let batch = slot
            .get()
            .unwrap_or_else(|| state.live.fresh(state, Change::default()));
        let mut data = Data::default();
        data.insert(batch.loaders.clone());
        data.insert(batch.cache.sharing());
        next.run_with_data(ctx, operation_name, data).await
    }

    /// Everything sent over a WebSocket carries codes, as over HTTP.
    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, GqlResponse>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, GqlResponse> {
        next.run(ctx, stream).map(crate::http::with_codes).boxed()
    }
}

/// `GET /graphql`: a WebSocket upgrade is a live connection, anything else goes to `http`.
pub struct UpgradeOr<E>(pub E);

impl<E: Endpoint> Endpoint for UpgradeOr<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let upgrade = req
            .headers()
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        if upgrade {
            Ok(socket(req).await)
        } else {
            self.0.call(req).await.map(IntoResponse::into_response)
        }
    }
}

fn refuse(status: StatusCode, message: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/plain; charset=utf-8")
        .body(format!("{message}\n"))
}

async fn socket(req: Request) -> Response {
    let Some(state) = req.data::<AppState>().cloned() else {
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, "no state");
    };
    let speaks = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == PROTOCOL);
    if !speaks {
        return refuse(
            StatusCode::BAD_REQUEST,
            "a live connection speaks the graphql-transport-ws subprotocol",
        );
    }
    // The session cookie counts only from the page's own origin (a browser sends it on a
    // cross-site WebSocket too; SameSite=Strict aside, the origin is checked here).
    let cookie = crate::web::session_secret(req.headers())
        .filter(|_| crate::web::check_cookie_socket(&req, &state).is_ok())
        .map(str::to_owned);
    let lang = crate::http::request_lang(req.headers());
    let (req, mut body) = req.split();
    let ws = match WebSocket::from_request(&req, &mut body).await {
        Ok(ws) => ws,
        Err(e) => return e.into_response(),
    };
    // Small buffers (an idle connection holds little), and no message from the client
    // larger than a request body may be.
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(state.limits.body_bytes))
        .max_frame_size(Some(state.limits.body_bytes));
    ws.protocols([PROTOCOL])
        .config(config)
        .on_upgrade(move |stream| connection(stream, state, cookie, lang))
        .into_response()
}

/// Counts an open connection while it lives.
struct Open(Live);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.0.sockets.fetch_sub(1, Ordering::AcqRel);
        metrics::gauge!("zeroboard_live_connections").decrement(1.0);
    }
}

/// Close codes sent by the server.
mod close {
    pub const GOING_AWAY: u16 = 1001;
    pub const IDLE: u16 = 4408;
    pub const BAD_REQUEST: u16 = 4400;
    pub const FORBIDDEN: u16 = 4403;
}

async fn connection<S>(
    stream: S,
    state: AppState,
    cookie: Option<String>,
    lang: domain::explain::say::Lang,
) where
    S: async_graphql::futures_util::Stream<Item = std::io::Result<Message>>
        + async_graphql::futures_util::Sink<Message>
        + Send
        + Unpin
        + 'static,
{
    let live = state.live.clone();
    live.0.sockets.fetch_add(1, Ordering::AcqRel);
    metrics::gauge!("zeroboard_live_connections").increment(1.0);
    let _open = Open(live.clone());
    let options = live.0.options;
    let (mut sink, incoming) = stream.split();

    // Every frame from the client counts as a sign of life (pongs included).
    let heard_at = Arc::new(Mutex::new(Instant::now()));
    let (refusals_tx, mut refusals) = mpsc::unbounded_channel::<String>();
    let limits = state.limits;
    let messages = incoming
        .take_while(|m| std::future::ready(m.is_ok()))
        .filter_map({
            let heard_at = heard_at.clone();
            move |m| {
                if let Ok(mut t) = heard_at.lock() {
                    *t = Instant::now();
                }
                std::future::ready(match m {
                    Ok(m) if m.is_text() || m.is_binary() => Some(m.into_bytes()),
                    _ => None,
                })
            }
        })
        .map(move |bytes| {
            let mut message = ClientMessage::from_bytes(bytes);
            if let Ok(ClientMessage::Start { payload, .. }) = &mut message {
                let taken = std::mem::replace(payload, async_graphql::Request::new(""));
                match crate::http::check_request(taken, &limits) {
                    crate::http::Checked::Ready(r, _) => {
                        *payload = (*r).data(Slot::default());
                    }
                    crate::http::Checked::Refused(refusal) => {
                        let _ = refusals_tx.send(refusal.to_string());
                    }
                }
            }
            message
        });

    let connection = Connection {
        open: Arc::new(AtomicUsize::new(0)),
        cap: options.subscriptions_per_connection,
    };
    let mut data = Data::default();
    data.insert(state.clone());
    data.insert(lang);
    data.insert(connection.clone());
    let init_state = state.clone();
    let schema = (*state.live_schema).clone();
    let held: Arc<Mutex<Option<Held>>> = Arc::default();
    let init_held = held.clone();
    let mut gql = Box::pin(
        GqlSocket::from_message_stream(schema, messages, WebSocketProtocols::GraphQLWS)
            .connection_data(data)
            .on_connection_init(move |payload| {
                authenticate(init_state, payload, cookie, init_held)
            }),
    );

    let mut stop = live.0.stop.subscribe();
    let mut rechecks = live.0.rechecks.subscribe();
    // Checked often enough that a ping goes out within a quarter of its interval.
    let check = (options.keepalive.min(options.idle_timeout) / 4)
        .min(Duration::from_secs(1))
        .max(Duration::from_millis(10));
    let mut ticks = tokio::time::interval(check);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pinged_at = Instant::now();
    let mut idle_since = Some(Instant::now());
    let closing: Option<(u16, String)> = loop {
        let out = tokio::select! {
            m = gql.next() => match m {
                Some(WsMessage::Text(text)) => Message::text(text),
                // A refused `connection_init` is Forbidden in this protocol.
                Some(WsMessage::Close(_, reason)) if reason.starts_with("Forbidden") => {
                    metrics::counter!("zeroboard_live_refused_total").increment(1);
                    break Some((close::FORBIDDEN, reason))
                }
                Some(WsMessage::Close(code, reason)) => break Some((code, reason)),
                None => break None,
            },
            Some(why) = refusals.recv() => break Some((close::BAD_REQUEST, why)),
            asked = rechecks.recv() => {
                let named = match asked {
                    Ok(r) => held_principal(&held).is_some_and(|who| r.names(&who)),
                    // Fell behind: one of those missed may have named it.
                    Err(broadcast::error::RecvError::Lagged(_)) => true,
                    Err(broadcast::error::RecvError::Closed) => false,
                };
                if named && let Some(why) = recheck(&state, &held, options.keepalive).await {
                    break Some((close::FORBIDDEN, why));
                }
                continue;
            }
            _ = ticks.tick() => {
                // A credential that may have stopped working by itself (expired, a
                // session gone idle, a leaver's last day over) is checked again.
                let due = held
                    .lock()
                    .ok()
                    .and_then(|h| h.as_ref().and_then(|h| h.until))
                    .is_some_and(|until| state.clock.now() >= until);
                if due && let Some(why) = recheck(&state, &held, options.keepalive).await {
                    break Some((close::FORBIDDEN, why));
                }
                let now = Instant::now();
                let heard = heard_at.lock().map(|t| *t).unwrap_or(now);
                if now.duration_since(heard) >= options.keepalive * 2 + check {
                    metrics::counter!("zeroboard_live_dropped_total", "why" => "silent").increment(1);
                    break Some((close::IDLE, "no answer to pings".into()));
                }
                if connection.open() == 0 {
                    let since = *idle_since.get_or_insert(now);
                    if now.duration_since(since) >= options.idle_timeout {
                        metrics::counter!("zeroboard_live_dropped_total", "why" => "idle").increment(1);
                        break Some((close::IDLE, "idle: no subscription".into()));
                    }
                } else {
                    idle_since = None;
                }
                if now.duration_since(pinged_at) >= options.keepalive {
                    pinged_at = now;
                    Message::text(r#"{"type":"ping"}"#)
                } else {
                    continue;
                }
            }
            _ = stop.changed() => break Some((close::GOING_AWAY, "the server is shutting down".into())),
        };
        match tokio::time::timeout(options.send_timeout, sink.send(out)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => break None,
            Err(_) => {
                metrics::counter!("zeroboard_live_dropped_total", "why" => "slow").increment(1);
                tracing::debug!("live: a client that does not read was dropped");
                break None;
            }
        }
    };
    if let Some((code, reason)) = closing {
        let _ = tokio::time::timeout(
            options.send_timeout,
            sink.send(Message::close_with(code, reason)),
        )
        .await;
    }
    let _ = tokio::time::timeout(options.send_timeout, sink.close()).await;
}

/// `connection_init`: the bearer token in the payload (`Authorization`, any case), else
/// the session cookie of the upgrade. Unauthenticated connections are closed (4403).
async fn authenticate(
    state: AppState,
    payload: serde_json::Value,
    cookie: Option<String>,
    held: Arc<Mutex<Option<Held>>>,
) -> async_graphql::Result<Data> {
    let header = payload.as_object().and_then(|o| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, v)| v.as_str())
    });
    let now = state.clock.now();
    let (found, credential) = match (header, cookie) {
        (Some(h), _) => {
            let secret = h
                .split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, s)| s.trim())
                .ok_or_else(|| {
                    async_graphql::Error::new("Forbidden: send Authorization: Bearer <token>")
                })?;
            (
                domain::auth::authenticate(&state.db, &state.company, secret, now).await,
                Some(Credential::Token(secret.to_owned())),
            )
        }
        (None, Some(secret)) => (
            domain::sessions::authenticate(
                &state.db,
                &state.company,
                &secret,
                &state.http.sessions,
                now,
            )
            .await
            .map(|(who, person)| (who, Some(person))),
            Some(Credential::Session(secret)),
        ),
        (None, None) => (Err(domain::DomainError::Unauthenticated), None),
    };
    let who = match found {
        Ok((who, _)) => who,
        Err(domain::DomainError::Unauthenticated) => {
            return Err(async_graphql::Error::new(
                "Forbidden: unknown, expired or revoked token or session",
            ));
        }
        Err(e) => {
            tracing::warn!(error = %e, "live: authentication failed");
            return Err(async_graphql::Error::new(
                "Forbidden: authentication failed",
            ));
        }
    };
    let slot = state.live.admit(&who).ok_or_else(|| {
        async_graphql::Error::new(format!(
            "Forbidden: at most {} live connections per principal",
            state.live.options().connections_per_principal
        ))
    })?;
    // Until when it works by itself: checked again then, or when a change names it.
    let until = match credential.as_ref() {
        Some(c) => standing(&state, c)
            .await
            .ok()
            .flatten()
            .and_then(|s| s.until),
        None => None,
    };
    if let (Ok(mut h), Some(credential)) = (held.lock(), credential) {
        *h = Some(Held {
            credential,
            principal: who.clone(),
            until,
        });
    }
    let mut data = Data::default();
    data.insert(who);
    data.insert(Arc::new(slot));
    Ok(data)
}

/// What an authenticated connection holds of its credential, to check it again.
struct Held {
    credential: Credential,
    principal: Principal,
    /// When it may stop working by itself (`Standing::until`).
    until: Option<chrono::DateTime<chrono::Utc>>,
}

fn held_principal(held: &Mutex<Option<Held>>) -> Option<Principal> {
    held.lock()
        .ok()
        .and_then(|h| h.as_ref().map(|h| h.principal.clone()))
}

async fn standing(
    state: &AppState,
    credential: &Credential,
) -> domain::DomainResult<Option<domain::credentials::Standing>> {
    domain::credentials::standing(
        &state.db,
        &state.company,
        credential,
        &state.http.sessions,
        state.clock.now(),
    )
    .await
}

/// Checks a connection's credential again: the reason to close it (4403), if it no longer
/// works or now stands for other rights; `None` to keep it. A database that cannot answer
/// keeps it, and the check is tried again after `retry`.
async fn recheck(state: &AppState, held: &Mutex<Option<Held>>, retry: Duration) -> Option<String> {
    let (credential, principal) = {
        let h = held.lock().ok()?;
        let h = h.as_ref()?;
        (h.credential.clone(), h.principal.clone())
    };
    let (why, until) = match standing(state, &credential).await {
        Ok(None) => (
            Some(
                "Forbidden: the token was revoked or expired, the session ended, or the employee left",
            ),
            None,
        ),
        Ok(Some(s)) if s.principal != principal => {
            (Some("Forbidden: your rights changed; connect again"), None)
        }
        Ok(Some(s)) => (None, s.until),
        Err(e) => {
            tracing::warn!(error = %e, "live: a credential could not be checked again");
            let retry = chrono::Duration::from_std(retry).unwrap_or(chrono::Duration::seconds(15));
            (None, Some(state.clock.now() + retry))
        }
    };
    if let Some(why) = why {
        metrics::counter!("zeroboard_live_dropped_total", "why" => "credentials").increment(1);
        return Some(why.to_owned());
    }
    if let Ok(mut h) = held.lock()
        && let Some(h) = h.as_mut()
    {
        h.until = until;
    }
    None
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;

    /// A client that never reads nor writes: every send stays pending for ever.
    struct Stuck;

    impl async_graphql::futures_util::Sink<Message> for Stuck {
        type Error = std::io::Error;

        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Pending
        }

        fn start_send(self: Pin<&mut Self>, _: Message) -> std::io::Result<()> {
            Ok(())
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Pending
        }

        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Pending
        }
    }

    impl async_graphql::futures_util::Stream for Stuck {
        type Item = std::io::Result<Message>;

        fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn a_client_that_does_not_read_is_dropped_after_the_send_timeout() {
        let live = LiveOptions {
            keepalive: Duration::from_millis(50),
            send_timeout: Duration::from_millis(100),
            ..LiveOptions::default()
        };
        let company = domain::Company {
            calendar: domain::calendar::Calendar::new(
                domain::calendar::Cadence::SemiMonthly,
                "UTC".parse().expect("UTC"),
            ),
        };
        let state = AppState::new(
            sea_orm::DatabaseConnection::default(),
            company,
            domain::clock::Clock::System,
            crate::Limits::default(),
        )
        .with_http(crate::HttpOptions {
            live,
            ..crate::HttpOptions::default()
        });
        let began = Instant::now();
        // Its first ping cannot be sent: the connection ends instead of waiting for ever,
        // and nothing is kept for it.
        tokio::time::timeout(
            Duration::from_secs(5),
            connection(Stuck, state.clone(), None, Default::default()),
        )
        .await
        .expect("a stuck client is dropped");
        assert!(
            began.elapsed() >= Duration::from_millis(150),
            "{:?}",
            began.elapsed()
        );
        assert_eq!(state.live.sockets(), 0);
    }
}
