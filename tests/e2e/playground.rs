//! The GraphiQL playground: served from the binary, same-origin only, under a strict
//! Content-Security-Policy. (That it renders and runs a query in a real browser is
//! `tests/browser`, run by `.ci/run`.)

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use super::*;
use crate::on_both;

/// The values of every `src="…"` and `href="…"` attribute in a page.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attr) {
            rest = &rest[at + attr.len()..];
            let end = rest.find('"').expect("a closed attribute");
            found.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    found
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_else(|| panic!("no {name} header"))
}

on_both! {
    async fn the_page_loads_only_its_own_assets_under_a_strict_policy(kind: Kind) {
        let app = TestApp::start(kind).await;
        for path in ["/graphiql"] {
            let page_url = reqwest::Url::parse(&format!("{}{path}", app.base)).unwrap();
            let resp = app.http.get(page_url.clone()).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            let headers = resp.headers().clone();
            assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
            assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
            assert_eq!(header(&headers, "referrer-policy"), "no-referrer");
            assert_eq!(header(&headers, "x-frame-options"), "DENY");
            let csp = header(&headers, "content-security-policy");
            let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
            for wanted in ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"] {
                assert!(directives.contains(&wanted), "{wanted} missing from {csp}");
            }
            for loose in ["unsafe-inline", "unsafe-eval", "http:", "https:", "*"] {
                assert!(!csp.contains(loose), "{loose} in {csp}");
            }

            let html = resp.text().await.unwrap();
            assert!(html.contains("<title>Zeroboard GraphiQL</title>"), "{html}");
            // No inline script: every <script> has a src.
            assert_eq!(html.matches("<script").count(), html.matches("<script src=\"").count(), "{html}");
            for cdn in ["unpkg", "jsdelivr", "cdnjs", "esm.sh", "//"] {
                assert!(!html.contains(cdn), "{cdn} in {html}");
            }
            let refs = references(&html);
            assert_eq!(refs.len(), 7, "{refs:?}");
            for r in &refs {
                assert!(!r.contains(':') && !r.starts_with('/'), "{r} is not a same-origin relative URL");
                let url = page_url.join(r).unwrap();
                assert_eq!(url.origin(), page_url.origin());
                let resp = app.http.get(url.clone()).send().await.unwrap();
                assert_eq!(resp.status(), StatusCode::OK, "{url}");
                let headers = resp.headers().clone();
                let ext = r.rsplit('.').next().unwrap();
                let content_type = match ext {
                    "js" => "text/javascript; charset=utf-8",
                    "css" => "text/css; charset=utf-8",
                    "svg" => "image/svg+xml",
                    other => panic!("an asset of an unexpected kind: {other}"),
                };
                assert_eq!(header(&headers, "content-type"), content_type, "{url}");
                assert_eq!(header(&headers, "x-content-type-options"), "nosniff", "{url}");
                // Vendored files carry their version in the URL, so they may be cached for good.
                let versioned = r.contains("-18.3.1/") || r.contains("-4.1.2/");
                let cache = header(&headers, "cache-control");
                assert_eq!(cache.contains("immutable"), versioned, "{url}: {cache}");
                assert_eq!(cache == "no-cache", !versioned, "{url}: {cache}");
                // What is served is what is committed, byte for byte.
                let body = resp.bytes().await.unwrap();
                let on_disk = r.strip_prefix("assets/").unwrap();
                let file = if versioned { format!("vendor/{on_disk}") } else { on_disk.to_owned() };
                let committed = std::fs::read(format!("{}/api/assets/graphiql/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
                assert!(!committed.is_empty() && body[..] == committed[..], "{url} differs from {file}");
            }
        }
        // Only the table's assets are served; paths are looked up, never joined to a directory.
        for path in ["/assets/nothing.js", "/assets/../Cargo.toml", "/assets/%2e%2e/Cargo.toml", "/assets/graphiql-4.1.2/LICENSE", "/assets/"] {
            let status = app.http.get(format!("{}{path}", app.base)).send().await.unwrap().status();
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
    }
}
