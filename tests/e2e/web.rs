//! The web page and its sign-in: one-time links, sessions (expiry, sign-out, a leaver's),
//! what a cookie request needs beyond the cookie, the security headers of every page and
//! asset, and how assets are cached and compressed. (That the page draws the board in a
//! real browser is `tests/browser`, run by `.ci/run`.)

use chrono::Duration;
use domain::auth::Principal;
use domain::sessions::SessionPolicy;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::*;
use crate::on_both;

const EMPLOYEE: &str = "pavel.lebedev@zeroboard.demo";
const MANAGER: &str = "dmitry.orlov@zeroboard.demo";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_else(|| panic!("no {name} header"))
}

/// A sign-in link's secret for an employee, made as `zeroboard login-link` makes it.
async fn link_for(app: &TestApp, email: &str) -> String {
    let id = domain::directory::employee_id_by_email(&app.db, email)
        .await
        .unwrap()
        .expect("employee");
    let (_, secret) = domain::sessions::create_login_link(
        &app.db,
        &app.company,
        &Principal::System,
        id,
        &SessionPolicy::default(),
        app.clock.now(),
    )
    .await
    .unwrap();
    secret
}

/// Opens a link: the status and the session cookie (`zb_session=…`) it set, if any.
async fn open_link(app: &TestApp, secret: &str) -> (StatusCode, Option<String>) {
    let resp = client()
        .get(format!("{}/login/{secret}", app.base))
        .send()
        .await
        .unwrap();
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("zb_session=") && !c.contains("Max-Age=0"));
    (resp.status(), cookie)
}

/// Signs in by a fresh link; the `Cookie` header to send.
async fn sign_in(app: &TestApp, email: &str) -> String {
    let (status, cookie) = open_link(app, &link_for(app, email).await).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    cookie
        .expect("a session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// A GraphQL POST as the page sends it: the cookie, JSON, the GraphQL response type and the
/// page's own origin. `tweak` changes (or adds to) those headers first.
async fn as_page(
    app: &TestApp,
    cookie: &str,
    query: &str,
    tweak: impl FnOnce(&mut HeaderMap),
) -> (u16, Value) {
    let mut headers = HeaderMap::new();
    headers.insert("cookie", cookie.parse().unwrap());
    headers.insert(
        "accept",
        "application/graphql-response+json".parse().unwrap(),
    );
    headers.insert("origin", app.base.parse().unwrap());
    tweak(&mut headers);
    let resp = client()
        .post(format!("{}/graphql", app.base))
        .headers(headers)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn my_name(app: &TestApp, cookie: &str) -> (u16, Value) {
    as_page(app, cookie, "{ me { name } }", |_| {}).await
}

on_both! {
    async fn a_link_signs_in_once(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let secret = link_for(&app, EMPLOYEE).await;
        let resp = client().get(format!("{}/login/{secret}", app.base)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(header(resp.headers(), "location"), "/");
        let cookie = header(resp.headers(), "set-cookie").to_owned();
        for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=604800"] {
            assert!(cookie.split("; ").any(|p| p == part), "{part} in {cookie}");
        }
        assert!(!cookie.contains("Secure"), "plain http: {cookie}");
        let cookie = cookie.split(';').next().unwrap().to_owned();
        assert_eq!(my_name(&app, &cookie).await, (200, json!({ "data": { "me": { "name": "Pavel Lebedev" } } })));

        // Spent: the second use signs nobody in, and says so on a page.
        let again = client().get(format!("{}/login/{secret}", app.base)).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::GONE);
        assert!(again.headers().get("set-cookie").is_none());
        assert!(again.text().await.unwrap().contains("used or has expired"));
        // Only hashes are stored.
        use sea_orm::EntityTrait;
        let links = entity::login_link::Entity::find().all(&app.db).await.unwrap();
        let sessions = entity::session::Entity::find().all(&app.db).await.unwrap();
        assert_eq!((links.len(), sessions.len()), (1, 1));
        assert_ne!(links[0].token_hash, secret);
        assert!(links[0].used_at.is_some());
        assert!(!cookie.contains(&sessions[0].token_hash));
        // An unknown link is the same page.
        assert_eq!(open_link(&app, "nothing-like-a-link").await, (StatusCode::GONE, None));
    }
}

on_both! {
    async fn a_link_expires_after_its_minutes(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let fresh = link_for(&app, EMPLOYEE).await;
        let stale = link_for(&app, EMPLOYEE).await;
        app.clock.set(t0() + Duration::minutes(14));
        assert_eq!(open_link(&app, &fresh).await.0, StatusCode::SEE_OTHER);
        app.clock.set(t0() + Duration::minutes(15));
        assert_eq!(open_link(&app, &stale).await, (StatusCode::GONE, None));
    }
}

on_both! {
    async fn a_leavers_links_and_sessions_end_with_their_last_day(kind: Kind) {
        use sea_orm::{ActiveModelTrait, EntityTrait, Set};
        let app = TestApp::start(kind).await;
        app.demo().await;
        let cookie = sign_in(&app, EMPLOYEE).await;
        let unused = link_for(&app, EMPLOYEE).await;
        let id = domain::directory::employee_id_by_email(&app.db, EMPLOYEE).await.unwrap().unwrap();
        let leave_on = async |day: chrono::NaiveDate| {
            let person = entity::employee::Entity::find_by_id(id).one(&app.db).await.unwrap().unwrap();
            let mut leaving: entity::employee::ActiveModel = person.into();
            leaving.left_on = Set(Some(day));
            leaving.update(&app.db).await.unwrap();
        };
        let today = t0().date_naive();
        // Their last day still counts, until its midnight.
        leave_on(today).await;
        assert_eq!(my_name(&app, &cookie).await.0, 200);
        app.clock.set(today.succ_opt().unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc());
        let (status, body) = my_name(&app, &cookie).await;
        assert_eq!((status, codes(&body)), (401, vec!["UNAUTHENTICATED".to_owned()]), "{body}");
        // Someone who left yesterday: their session and their unused link are refused.
        app.clock.set(t0());
        leave_on(today.pred_opt().unwrap()).await;
        assert_eq!(my_name(&app, &cookie).await.0, 401);
        assert_eq!(open_link(&app, &unused).await, (StatusCode::GONE, None));
        // And no new link is made for them.
        let admin = app.admin().await;
        let (_, body) = app.post(Some(&admin), "mutation($e: String) { createLoginLink(employeeEmail: $e) { url } }", json!({ "e": EMPLOYEE })).await;
        assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{body}");
    }
}

on_both! {
    async fn a_session_ends_when_idle_and_after_a_week(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        // Idle: 12 hours without a request.
        let idle = sign_in(&app, EMPLOYEE).await;
        app.clock.set(t0() + Duration::hours(11));
        assert_eq!(my_name(&app, &idle).await.0, 200);
        app.clock.set(t0() + Duration::hours(22));
        assert_eq!(my_name(&app, &idle).await.0, 200, "a request restarts the idle time");
        app.clock.set(t0() + Duration::hours(34));
        assert_eq!(my_name(&app, &idle).await.0, 401);
        // Absolute: a week, however busy.
        let start = app.clock.now();
        let busy = sign_in(&app, EMPLOYEE).await;
        let mut at = start;
        while at + Duration::hours(11) < start + Duration::days(7) {
            at += Duration::hours(11);
            app.clock.set(at);
            assert_eq!(my_name(&app, &busy).await.0, 200, "{at}");
        }
        app.clock.set(start + Duration::days(7));
        assert_eq!(my_name(&app, &busy).await.0, 401);
    }
}

on_both! {
    async fn sign_out_ends_the_session_on_the_server(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let cookie = sign_in(&app, EMPLOYEE).await;
        let logout = |headers: &[(&str, &str)]| {
            let mut req = client().post(format!("{}/logout", app.base)).header("cookie", &cookie);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.send()
        };
        // Not from the page: refused, and the session lives on.
        assert_eq!(logout(&[]).await.unwrap().status(), StatusCode::FORBIDDEN);
        assert_eq!(logout(&[("origin", "http://evil.example")]).await.unwrap().status(), StatusCode::FORBIDDEN);
        assert_eq!(logout(&[("x-zeroboard-csrf", "1"), ("sec-fetch-site", "cross-site")]).await.unwrap().status(), StatusCode::FORBIDDEN);
        assert_eq!(my_name(&app, &cookie).await.0, 200);
        let out = logout(&[("x-zeroboard-csrf", "1"), ("origin", &app.base)]).await.unwrap();
        assert_eq!(out.status(), StatusCode::NO_CONTENT);
        let cleared = header(out.headers(), "set-cookie");
        assert!(cleared.starts_with("zb_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
        // The old cookie, kept by someone, is refused.
        let (status, body) = my_name(&app, &cookie).await;
        assert_eq!((status, codes(&body)), (401, vec!["UNAUTHENTICATED".to_owned()]));
    }
}

on_both! {
    async fn a_cookie_request_needs_more_than_the_cookie(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let cookie = sign_in(&app, EMPLOYEE).await;
        let mutation = "mutation { markArticleRead(id: \"x\") { id } }";
        let refused = |(status, body): (u16, Value)| status == 403 && codes(&body) == ["FORBIDDEN"];
        // Another site's page.
        assert!(refused(as_page(&app, &cookie, mutation, |h| { h.insert("origin", "http://evil.example".parse().unwrap()); }).await));
        assert!(refused(as_page(&app, &cookie, mutation, |h| { h.insert("sec-fetch-site", "cross-site".parse().unwrap()); }).await));
        // Neither the GraphQL response type nor the page's header: a form or a plain fetch.
        assert!(refused(as_page(&app, &cookie, mutation, |h| { h.insert("accept", "application/json".parse().unwrap()); }).await));
        // A cross-site text/plain form post runs nothing, whatever it asks.
        let resp = client()
            .post(format!("{}/graphql", app.base))
            .header("cookie", &cookie)
            .header("origin", "http://evil.example")
            .header("content-type", "text/plain")
            .body(json!({ "query": mutation }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        // The page's own header instead of the response type; the request's own host as origin.
        let (status, body) = as_page(&app, &cookie, "{ me { name } }", |h| {
            h.insert("accept", "application/json".parse().unwrap());
            h.insert("x-zeroboard-csrf", "1".parse().unwrap());
        })
        .await;
        assert_eq!((status, body["data"]["me"]["name"].as_str()), (200, Some("Pavel Lebedev")));
        let host = app.base.trim_start_matches("http://").to_owned();
        let (status, _) = as_page(&app, &cookie, "{ me { name } }", |h| { h.insert("origin", format!("http://{host}").parse().unwrap()); }).await;
        assert_eq!(status, 200);
        // A mutation from the page runs (and is refused by its own rules, not by the guard).
        let (status, body) = as_page(&app, &cookie, mutation, |_| {}).await;
        assert_ne!(codes(&body), ["FORBIDDEN"], "{status} {body}");
        // A bearer token is not a cookie: no origin rule, no header needed.
        let token = app.token_for_email(MANAGER).await;
        let resp = client()
            .post(format!("{}/graphql", app.base))
            .bearer_auth(&token)
            .header("origin", "http://evil.example")
            .header("cookie", &cookie)
            .json(&json!({ "query": "{ me { name } }" }))
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["data"]["me"]["name"], "Dmitry Orlov", "{body}");
    }
}

on_both! {
    async fn an_admin_makes_links_through_the_api(kind: Kind) {
        let app = TestApp::start(kind).await;
        app.demo().await;
        let admin = app.admin().await;
        let make = "mutation($e: String, $id: ID) { createLoginLink(employeeEmail: $e, employeeId: $id) { url expiresAt } }";
        let d = app.gql(&admin, make, json!({ "e": "PAVEL.lebedev@zeroboard.demo" })).await;
        let url = d["createLoginLink"]["url"].as_str().unwrap();
        assert!(url.starts_with(&format!("{}/login/", app.base)), "{url}");
        assert_eq!(d["createLoginLink"]["expiresAt"], "2026-11-20T10:15:00+00:00");
        let secret = url.rsplit('/').next().unwrap();
        assert_eq!(open_link(&app, secret).await.0, StatusCode::SEE_OTHER);
        // Neither both nor none; and only an admin.
        let (_, body) = app.post(Some(&admin), make, json!({})).await;
        assert_eq!(codes(&body), ["BAD_USER_INPUT"]);
        let employee = app.token_for_email(EMPLOYEE).await;
        let (_, body) = app.post(Some(&employee), make, json!({ "e": MANAGER })).await;
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
    }
}

/// Every header a page or an asset must carry.
fn assert_hardened(headers: &HeaderMap, what: &str) {
    assert_eq!(
        header(headers, "x-content-type-options"),
        "nosniff",
        "{what}"
    );
    assert_eq!(header(headers, "referrer-policy"), "no-referrer", "{what}");
    let csp = header(headers, "content-security-policy");
    let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
    assert!(
        directives.contains(&"frame-ancestors 'none'"),
        "{what}: {csp}"
    );
    // Scripts from this server, and inline only the ones named by their hash.
    let scripts = directives
        .iter()
        .find_map(|d| d.strip_prefix("script-src "))
        .unwrap_or_else(|| panic!("{what}: no script-src in {csp}"));
    assert!(
        scripts
            .split_whitespace()
            .all(|s| s == "'self'" || s.starts_with("'sha256-")),
        "{what}: {csp}"
    );
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{what}: {csp}"
    );
}

/// The `/web/…` assets a page names.
fn assets(html: &str) -> Vec<String> {
    html.split('"')
        .filter(|s| s.starts_with("/web/"))
        .map(str::to_owned)
        .collect()
}

on_both! {
    async fn every_page_and_asset_carries_the_security_headers(kind: Kind) {
        let app = TestApp::start(kind).await;
        let page = client().get(format!("{}/", app.base)).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert_hardened(page.headers(), "/");
        let csp = header(page.headers(), "content-security-policy").to_owned();
        for wanted in ["default-src 'self'", "img-src 'self' data:", "connect-src 'self'", "base-uri 'none'", "form-action 'self'"] {
            assert!(csp.split(';').map(str::trim).any(|d| d == wanted), "{wanted} in {csp}");
        }
        let html = page.text().await.unwrap();
        assert!(html.contains("<title>Zeroboard</title>"));
        // The one script is inline, and the policy names it by its hash (so a script
        // someone managed to write into the page would not run).
        assert_eq!(html.matches("<script").count(), 1, "one script");
        let script = html.split("<script>").nth(1).and_then(|s| s.split("</script>").next()).expect("an inline script");
        let hash = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, <sha2::Sha256 as sha2::Digest>::digest(script.as_bytes()));
        assert!(csp.contains(&format!("'sha256-{hash}'")), "{csp}");
        let style = html.split("<style>").nth(1).and_then(|s| s.split("</style>").next()).expect("inline styles");
        let hash = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, <sha2::Sha256 as sha2::Digest>::digest(style.as_bytes()));
        assert!(csp.contains(&format!("style-src 'self' 'sha256-{hash}';")), "{csp}");
        let found = assets(&html);
        assert_eq!(found.len(), 2, "{found:?}"); // the icon twice
        let mut paths = found.clone();
        paths.extend(["/graphql?query=%7B__typename%7D".into(), "/healthz".into(), "/login/unknown".into(), "/web/nothing.js".into(), "/graphiql".into(), "/export/bonus.csv".into()]);
        for path in paths {
            let resp = client().get(format!("{}{path}", app.base)).send().await.unwrap();
            assert_hardened(resp.headers(), &path);
        }
        // GraphiQL keeps its own, stricter policy.
        let resp = client().get(format!("{}/graphiql", app.base)).send().await.unwrap();
        assert!(header(resp.headers(), "content-security-policy").starts_with("default-src 'none'"));
    }
}

on_both! {
    async fn assets_are_cached_by_hash_and_compressed(kind: Kind) {
        let app = TestApp::start(kind).await;
        let page = client().get(format!("{}/", app.base)).send().await.unwrap();
        assert_eq!(header(page.headers(), "cache-control"), "no-cache");
        let etag = header(page.headers(), "etag").to_owned();
        assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
        let html = page.text().await.unwrap();
        let again = client().get(format!("{}/", app.base)).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        // The shell carries the script and the styles, so it is compressed too.
        let zipped = client().get(format!("{}/", app.base)).header("accept-encoding", "gzip").send().await.unwrap();
        assert_eq!(header(zipped.headers(), "content-encoding"), "gzip");
        assert!(zipped.bytes().await.unwrap().len() * 2 < html.len());
        // The notice pages (a spent or unknown link) use the styles under their hashed name.
        let notice = client().get(format!("{}/login/unknown", app.base)).send().await.unwrap().text().await.unwrap();
        let mut paths = assets(&html);
        paths.extend(assets(&notice));
        assert!(paths.iter().any(|p| p.ends_with(".css")), "{paths:?}");
        for path in paths {
            let name = path.trim_start_matches("/web/");
            let (stem, ext) = name.split_once('.').unwrap();
            let plain = format!("{stem}.{}", ext.rsplit('.').next().unwrap());
            assert_ne!(name, plain, "{path} carries a hash");
            let committed = std::fs::read(format!("{}/web/{plain}", env!("CARGO_MANIFEST_DIR"))).unwrap();
            let resp = client().get(format!("{}{path}", app.base)).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            assert_eq!(header(resp.headers(), "cache-control"), "public, max-age=31536000, immutable", "{path}");
            assert!(resp.headers().get("content-encoding").is_none(), "{path}: plain unless asked");
            assert!(resp.bytes().await.unwrap()[..] == committed[..], "{path} is what is committed");
            let zipped = client().get(format!("{}{path}", app.base)).header("accept-encoding", "gzip, br").send().await.unwrap();
            if plain != "icon.svg" {
                assert_eq!(header(zipped.headers(), "content-encoding"), "gzip", "{path}");
                let bytes = zipped.bytes().await.unwrap();
                let mut unzipped = Vec::new();
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut unzipped).unwrap();
                assert!(unzipped == committed, "{path} unzips to what is committed");
                assert!(bytes.len() * 2 < committed.len(), "{path}: {} of {} bytes", bytes.len(), committed.len());
            }
            // Under its plain name too (a page from an older binary), revalidated.
            let resp = client().get(format!("{}/web/{plain}", app.base)).send().await.unwrap();
            assert_eq!((resp.status(), header(resp.headers(), "cache-control")), (StatusCode::OK, "no-cache"));
        }
        for path in ["/web/nothing.js", "/web/../Cargo.toml", "/web/%2e%2e%2fCargo.toml", "/web/"] {
            let status = client().get(format!("{}{path}", app.base)).send().await.unwrap().status();
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
    }
}

on_both! {
    async fn old_links_and_sessions_are_pruned_and_live_ones_kept(kind: Kind) {
        use sea_orm::{EntityTrait, PaginatorTrait};
        let app = TestApp::start(kind).await;
        app.demo().await;
        // At t0: a link left unused, a session signed out, a session left open.
        link_for(&app, EMPLOYEE).await;
        let ended = sign_in(&app, EMPLOYEE).await;
        assert!(domain::sessions::end_session(&app.db, ended.trim_start_matches("zb_session="), t0()).await.unwrap());
        sign_in(&app, MANAGER).await;
        // Ten days on: a fresh link and a fresh session.
        app.clock.set(t0() + Duration::days(10));
        link_for(&app, MANAGER).await;
        let fresh = sign_in(&app, MANAGER).await;
        let count = async || {
            (
                entity::login_link::Entity::find().count(&app.db).await.unwrap(),
                entity::session::Entity::find().count(&app.db).await.unwrap(),
            )
        };
        assert_eq!(count().await, (5, 3));
        // Nothing is older than a horizon at t0.
        assert_eq!(domain::sessions::prune(&app.db, t0()).await.unwrap(), (0, 0));
        // A day later: the first day's three links (expired after 15 minutes) and the
        // signed-out session go; the manager's first session lasts until its week is over.
        assert_eq!(domain::sessions::prune(&app.db, t0() + Duration::days(1)).await.unwrap(), (3, 1));
        assert_eq!(domain::sessions::prune(&app.db, t0() + Duration::days(8)).await.unwrap(), (0, 1));
        assert_eq!(count().await, (2, 1));
        // The fresh session still signs its person in.
        assert_eq!(my_name(&app, &fresh).await.0, 200);
    }
}
