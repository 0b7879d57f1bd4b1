//! The web page people use every day (`/`), and what signs them in and out.
//!
//! The page is a shell (`web/index.html`) and its own script and styles (`web/app.js`,
//! `web/app.css`), hand-written and embedded at build time; it gets its data from
//! `/graphql` like any other client. The script and styles are written into the shell
//! itself, so the first view waits for one response, not three in turn; the policy allows
//! exactly those two by their SHA-256 (`'sha256-…'`), never `unsafe-inline`. The shell is
//! revalidated by its ETag. Other assets (the icon; the styles again, for the small notice
//! pages) are served under names that carry a hash of their content (`/web/app.3f2a….css`),
//! cached for a year. Each is sent gzipped to a browser that accepts it, compressed once per
//! process.
//!
//! Sign-in: `GET /login/{secret}` spends a one-time link (`domain::sessions`) and sets the
//! session cookie (`zb_session`, HttpOnly, SameSite=Strict, Path=/, `Secure` when the
//! public URL is https), then sends the browser to `/`. A link opened twice signs nobody in
//! the second time. `POST /logout` ends the session on the server and clears the cookie.
//!
//! Cross-site request forgery: a request that authenticates with the cookie is taken only
//! (`check_cookie_request`) when its `Origin`, if any, is the public URL's or the request's
//! own host's, when the browser does not call it cross-site (`Sec-Fetch-Site`), and when it
//! asks for `application/graphql-response+json` or sends `X-Zeroboard-CSRF`; `/graphql`
//! also takes JSON bodies only, which a cross-site form or a no-cors fetch cannot send.

use std::io::Write;
use std::sync::OnceLock;

use poem::http::{HeaderMap, StatusCode, header};
use poem::web::{Data, Path};
use poem::{Endpoint, IntoResponse, Request, Response, handler};
use sha2::{Digest, Sha256};

use crate::AppState;

/// The cookie that carries a session's secret.
pub const SESSION_COOKIE: &str = "zb_session";

/// The header a script sends to say it is the page's own request (a form cannot send it).
pub const CSRF_HEADER: &str = "x-zeroboard-csrf";

/// The policy of every response but GraphiQL's (which has its own, `playground`): only
/// this server's scripts, styles and requests, and the shell's own script and styles by
/// their hash; images also from `data:` (the chart is inline SVG); no plugins, no framing,
/// no `<base>`, forms post only here.
pub fn content_security_policy() -> &'static str {
    &site().policy
}

const SHELL: &str = include_str!("../../web/index.html");
/// What the shell says where the styles and the script go in.
const STYLES_AT: &str = "<link rel=\"stylesheet\" href=\"/web/app.css\">";
const SCRIPT_AT: &str = "<script src=\"/web/app.js\"></script>";
const SCRIPT: &str = include_str!("../../web/app.js");
const STYLES: &str = include_str!("../../web/app.css");
const CSS: &str = "text/css; charset=utf-8";

/// One asset of the page, as written in the shell (`/web/NAME`).
struct Source {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const SOURCES: &[Source] = &[
    Source {
        name: "app.css",
        content_type: CSS,
        body: STYLES.as_bytes(),
    },
    Source {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../web/icon.svg"),
    },
];

/// A served body: its bytes, gzipped bytes (when that saves anything) and strong ETag.
struct Served {
    body: Vec<u8>,
    gzip: Option<Vec<u8>>,
    etag: String,
}

impl Served {
    fn new(body: Vec<u8>) -> Served {
        let digest = hex(&Sha256::digest(&body));
        let gzip = gzip(&body).filter(|z| z.len() < body.len());
        Served {
            body,
            gzip,
            etag: format!("\"{}\"", &digest[..32]),
        }
    }
}

/// What the page serves, worked out once per process: each asset under its hashed name,
/// the shell with those names, the script and the styles written in, and the policy that
/// allows that script and those styles.
struct Site {
    shell: Served,
    assets: Vec<(String, &'static Source, Served)>,
    policy: String,
}

/// A CSP source naming one inline script or style by its content.
fn csp_hash(content: &str) -> String {
    use base64::Engine;
    let digest = Sha256::digest(content.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// Works out the page's assets now (hashing and compressing them), so the first browser
/// does not wait for it.
pub fn prepare() {
    site();
}

fn site() -> &'static Site {
    static SITE: OnceLock<Site> = OnceLock::new();
    SITE.get_or_init(|| {
        let mut shell = SHELL
            .replace(STYLES_AT, &format!("<style>{STYLES}</style>"))
            .replace(SCRIPT_AT, &format!("<script>{SCRIPT}</script>"));
        let mut assets = Vec::new();
        for source in SOURCES {
            let served = Served::new(source.body.to_vec());
            let (stem, ext) = source.name.rsplit_once('.').unwrap_or((source.name, ""));
            let hashed = format!("{stem}.{}.{ext}", &served.etag[1..13]);
            shell = shell.replace(
                &format!("/web/{}\"", source.name),
                &format!("/web/{hashed}\""),
            );
            assets.push((hashed, source, served));
        }
        let policy = format!(
            "default-src 'self'; script-src 'self' {}; style-src 'self' {}; \
             img-src 'self' data:; connect-src 'self'; object-src 'none'; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            csp_hash(SCRIPT),
            csp_hash(STYLES)
        );
        Site {
            shell: Served::new(shell.into_bytes()),
            assets,
            policy,
        }
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(body).ok()?;
    encoder.finish().ok()
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            parts.next().is_some_and(|c| c.eq_ignore_ascii_case("gzip"))
                && !parts.any(|p| p.replace(' ', "") == "q=0")
        })
}

/// A body with its caching headers: 304 when the browser has it, gzip when it takes it.
fn send(req: &Request, served: &Served, content_type: &str, cache: &str) -> Response {
    let builder = Response::builder()
        .header(header::CACHE_CONTROL, cache)
        .header(header::ETAG, served.etag.as_str())
        .header(header::VARY, "Accept-Encoding");
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == served.etag));
    if fresh {
        return builder.status(StatusCode::NOT_MODIFIED).finish();
    }
    let builder = builder.content_type(content_type);
    match &served.gzip {
        Some(z) if accepts_gzip(req.headers()) => builder
            .header(header::CONTENT_ENCODING, "gzip")
            .body(z.clone()),
        _ => builder.body(served.body.clone()),
    }
}

/// The page's shell; its script draws whatever view the URL's fragment names.
#[handler]
pub fn page(req: &Request) -> Response {
    send(req, &site().shell, "text/html; charset=utf-8", "no-cache")
}

/// One asset: under its hashed name for a year; under its plain name (for a page an older
/// binary served) revalidated every time.
#[handler]
pub fn asset(req: &Request, Path(name): Path<String>) -> Response {
    let site = site();
    if let Some((_, source, served)) = site.assets.iter().find(|(hashed, ..)| *hashed == name) {
        return send(
            req,
            served,
            source.content_type,
            "public, max-age=31536000, immutable",
        );
    }
    if let Some((_, source, served)) = site.assets.iter().find(|(_, s, _)| s.name == name) {
        return send(req, served, source.content_type, "no-cache");
    }
    (StatusCode::NOT_FOUND, "no such asset").into_response()
}

/// Every response carries the security headers; a handler that set its own policy (the
/// GraphiQL page) keeps it.
pub async fn harden<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let mut response = next.get_response(req).await;
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", content_security_policy()),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        if !headers.contains_key(name)
            && let Ok(value) = poem::http::HeaderValue::from_str(value)
        {
            headers.insert(name, value);
        }
    }
    Ok(response)
}

/// The session secret a request's cookie carries, if any.
pub fn session_secret(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// The origin people reach the server at: the public URL's, which `serve` always sets.
fn public_origin(state: &AppState) -> Option<&str> {
    state.http.public_url.as_deref()
}

/// Whether a request's `Origin` (when it sends one) is this server's: the public URL's, or
/// the host the request was sent to.
fn same_origin(req: &Request, state: &AppState) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if public_origin(state).is_some_and(|o| o.eq_ignore_ascii_case(origin)) {
        return true;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    match (host, origin.split_once("://")) {
        (Some(host), Some(("http" | "https", rest))) => rest.eq_ignore_ascii_case(host),
        _ => false,
    }
}

fn cross_site_fetch(req: &Request) -> bool {
    req.headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"))
}

/// Whether a request that authenticates with the session cookie may run: from this
/// server's own page (the `Origin` rule), not a cross-site fetch, and sent by a script that
/// says so (`Accept: application/graphql-response+json` or `X-Zeroboard-CSRF`). The reason
/// when not.
/// The rule for a WebSocket upgrade signed in by cookie: from the page's own origin (a
/// browser cannot add headers to the upgrade, so the origin is all there is to check).
pub fn check_cookie_socket(req: &Request, state: &AppState) -> Result<(), &'static str> {
    if same_origin(req, state)
        && !cross_site_fetch(req)
        && req.headers().contains_key(header::ORIGIN)
    {
        Ok(())
    } else {
        Err("a live connection signed in by cookie must come from this server's own page")
    }
}

pub fn check_cookie_request(req: &Request, state: &AppState) -> Result<(), &'static str> {
    if !same_origin(req, state) || cross_site_fetch(req) {
        return Err("a request signed in by cookie must come from this server's own page");
    }
    let asks_graphql_response = req
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.split(';').next().unwrap_or("").trim() == "application/graphql-response+json");
    if asks_graphql_response || req.headers().contains_key(CSRF_HEADER) {
        Ok(())
    } else {
        Err(
            "a request signed in by cookie must accept application/graphql-response+json or send X-Zeroboard-CSRF",
        )
    }
}

fn secure(state: &AppState) -> bool {
    public_origin(state).is_some_and(|u| u.starts_with("https://"))
}

fn cookie(state: &AppState, value: &str, max_age: i64) -> String {
    format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{}",
        if secure(state) { "; Secure" } else { "" }
    )
}

/// A small page of its own for what a person meets outside the board (a spent link), in
/// both languages, styled by the page's stylesheet.
fn notice(status: StatusCode, en: &str, ru: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(notice_html(en, ru))
}

fn notice_html(en: &str, ru: &str) -> String {
    let css = site()
        .assets
        .iter()
        .find(|(_, s, _)| s.name == "app.css")
        .map(|(hashed, ..)| hashed.as_str())
        .unwrap_or("app.css");
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Zeroboard</title><link rel=\"stylesheet\" href=\"/web/{css}\"></head>\
         <body><main class=\"notice\"><h1>Zeroboard</h1><p>{en}</p><p lang=\"ru\">{ru}</p>\
         <p><a href=\"/\">Zeroboard</a></p></main></body></html>\n"
    )
}

fn unavailable_or_internal(e: &domain::DomainError) -> Response {
    match e {
        domain::DomainError::Db(db) if crate::error::is_unavailable(db) => notice(
            StatusCode::SERVICE_UNAVAILABLE,
            "The database is unavailable; try the link again shortly.",
            "База данных недоступна; откройте ссылку ещё раз чуть позже.",
        ),
        _ => {
            tracing::error!(error = %e, "sign-in failed");
            notice(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on the server.",
                "На сервере что-то пошло не так.",
            )
        }
    }
}

/// Opens a sign-in link: spends it, starts a session, sets its cookie and sends the browser
/// to the board (303). A spent, expired or unknown link gets a page that says so, and no
/// cookie.
#[handler]
pub async fn login(Path(secret): Path<String>, Data(state): Data<&AppState>) -> Response {
    let now = state.clock.now();
    match domain::sessions::redeem_login_link(
        &state.db,
        &state.company,
        &secret,
        &state.http.sessions,
        now,
    )
    .await
    {
        Ok((session, secret)) => {
            tracing::info!(
                session.id = session.id,
                employee.id = session.employee_id,
                "signed in by link"
            );
            let max_age = (session.expires_at - now).num_seconds().max(0);
            Response::builder()
                .status(StatusCode::SEE_OTHER)
                .header(header::LOCATION, "/")
                .header(header::SET_COOKIE, cookie(state, &secret, max_age))
                .header(header::CACHE_CONTROL, "no-store")
                .finish()
        }
        Err(domain::DomainError::Unauthenticated) => notice(
            StatusCode::GONE,
            "This sign-in link has been used or has expired. Ask for a new one.",
            "Эта ссылка для входа уже использована или устарела. Попросите новую.",
        ),
        Err(e) => unavailable_or_internal(&e),
    }
}

/// Signs out: ends the session on the server and clears the cookie. From the page's own
/// script only (same origin, with `X-Zeroboard-CSRF`), or a same-origin form post.
#[handler]
pub async fn logout(req: &Request, Data(state): Data<&AppState>) -> Response {
    let from_page =
        req.headers().contains_key(CSRF_HEADER) || req.headers().contains_key(header::ORIGIN);
    if !from_page || !same_origin(req, state) || cross_site_fetch(req) {
        return (
            StatusCode::FORBIDDEN,
            "sign out from the page itself (same origin, with X-Zeroboard-CSRF)",
        )
            .into_response();
    }
    if let Some(secret) = session_secret(req.headers())
        && let Err(e) = domain::sessions::end_session(&state.db, secret, state.clock.now()).await
    {
        return unavailable_or_internal(&e);
    }
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header(header::SET_COOKIE, cookie(state, "", 0))
        .header(header::CACHE_CONTROL, "no-store")
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every asset the shell (or a notice page) names is served under its hashed name, and
    /// every embedded asset is named.
    #[test]
    fn the_shell_names_every_asset_by_its_hash() {
        let site = site();
        let shell = String::from_utf8(site.shell.body.clone()).unwrap();
        let pages = format!("{shell}{}", notice_html("", ""));
        for (hashed, source, _) in &site.assets {
            assert!(
                pages.contains(&format!("/web/{hashed}\"")),
                "{hashed} in {pages}"
            );
            assert!(!pages.contains(&format!("/web/{}\"", source.name)));
        }
        // The script and the styles are written in whole, and the policy names exactly
        // them: no other inline script or style, no `src` left for them.
        assert!(shell.contains(&format!("<script>{SCRIPT}</script>")));
        assert!(shell.contains(&format!("<style>{STYLES}</style>")));
        assert_eq!(shell.matches("<script").count(), 1, "one script");
        assert_eq!(shell.matches("<style").count(), 1, "one style element");
        assert!(!shell.contains(" style="), "no style attribute");
        assert!(!SCRIPT.contains("</script") && !STYLES.contains("</style"));
        assert!(!shell.contains(SCRIPT_AT) && !shell.contains(STYLES_AT));
        let policy = content_security_policy();
        assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"));
        for (directive, content) in [("script-src", SCRIPT), ("style-src", STYLES)] {
            let sources = policy
                .split(';')
                .map(str::trim)
                .find_map(|d| d.strip_prefix(directive))
                .unwrap_or_else(|| panic!("{directive} in {policy}"));
            assert_eq!(
                sources.split_whitespace().collect::<Vec<_>>(),
                ["'self'", csp_hash(content).as_str()],
                "{directive}"
            );
        }
    }

    /// The hash form CSP wants: base64 of the SHA-256 of the exact text (the example of
    /// the CSP Level 3 specification).
    #[test]
    fn a_csp_hash_is_the_base64_of_the_sha256() {
        assert_eq!(
            csp_hash("alert('Hello, world.');"),
            "'sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng='"
        );
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; zb_session=abc ; b=2".parse().unwrap());
        assert_eq!(session_secret(&h), Some("abc"));
        h.insert(
            header::COOKIE,
            "zb_sessionx=1; zb_session=".parse().unwrap(),
        );
        assert_eq!(session_secret(&h), None);
    }

    #[test]
    fn gzip_is_taken_unless_refused() {
        let h = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, v.parse().unwrap());
            h
        };
        assert!(accepts_gzip(&h("gzip, deflate, br")));
        assert!(accepts_gzip(&h("br;q=1.0, GZIP;q=0.5")));
        assert!(!accepts_gzip(&h("gzip;q=0, br")));
        assert!(!accepts_gzip(&h("identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
