//! The GraphiQL playground at `/graphiql`: a page and its assets, all embedded in
//! the binary at build time (see `api/assets/graphiql/README.md` for the pinned versions),
//! so it works on a network without internet and loads nothing from a third party.
//!
//! The page may only load same-origin scripts and styles and talk to this server; it
//! cannot be framed. Vendored files have their version in the URL and are cached for a
//! year; the page and its boot script change with the binary and are revalidated.

use poem::http::{StatusCode, header};
use poem::web::Path;
use poem::{IntoResponse, Response, handler};

/// The page's policy: scripts, styles and requests from this server only. Two exceptions,
/// both found by the browser test (`tests/browser`): GraphiQL's stylesheet embeds its fonts
/// as `data:` URLs, and its dialogs (Radix's scroll lock) insert one fixed `<style>`
/// element, allowed by its hash. The hash holds for the pinned GraphiQL and the page's own
/// CSS (which zeroes the body's margins, so the inserted CSS has no measured gaps in it).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'sha256-nzTgYzXYDNe6BAHiiI7NNlfK8n/auuOAhh2t92YvuXo='; font-src data:; img-src 'self'; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const PAGE: &str = include_str!("../assets/graphiql/index.html");

struct Asset {
    /// The path under `/assets/`.
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// Versioned in its path, so it never changes under the same URL.
    immutable: bool,
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const ASSETS: &[Asset] = &[
    Asset {
        path: "graphiql-4.1.2/graphiql.min.js",
        content_type: JS,
        body: include_bytes!("../assets/graphiql/vendor/graphiql-4.1.2/graphiql.min.js"),
        immutable: true,
    },
    Asset {
        path: "graphiql-4.1.2/graphiql.min.css",
        content_type: CSS,
        body: include_bytes!("../assets/graphiql/vendor/graphiql-4.1.2/graphiql.min.css"),
        immutable: true,
    },
    Asset {
        path: "react-18.3.1/react.production.min.js",
        content_type: JS,
        body: include_bytes!("../assets/graphiql/vendor/react-18.3.1/react.production.min.js"),
        immutable: true,
    },
    Asset {
        path: "react-dom-18.3.1/react-dom.production.min.js",
        content_type: JS,
        body: include_bytes!(
            "../assets/graphiql/vendor/react-dom-18.3.1/react-dom.production.min.js"
        ),
        immutable: true,
    },
    Asset {
        path: "playground.js",
        content_type: JS,
        body: include_bytes!("../assets/graphiql/playground.js"),
        immutable: false,
    },
    Asset {
        path: "playground.css",
        content_type: CSS,
        body: include_bytes!("../assets/graphiql/playground.css"),
        immutable: false,
    },
    Asset {
        path: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../assets/graphiql/favicon.svg"),
        immutable: false,
    },
];

/// A response builder with the headers every playground response carries.
fn hardened() -> poem::ResponseBuilder {
    Response::builder()
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
}

/// The GraphiQL page.
#[handler]
pub fn page() -> Response {
    hardened()
        .content_type("text/html; charset=utf-8")
        .header("content-security-policy", CONTENT_SECURITY_POLICY)
        .header("x-frame-options", "DENY")
        .header("cross-origin-opener-policy", "same-origin")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(PAGE)
}

/// One embedded asset, or 404.
#[handler]
pub fn asset(Path(path): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let cache = if asset.immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    hardened()
        .content_type(asset.content_type)
        .header(header::CACHE_CONTROL, cache)
        .header("cross-origin-resource-policy", "same-origin")
        .body(asset.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every asset the page names is embedded, and every embedded asset is used.
    #[test]
    fn the_page_and_the_asset_table_agree() {
        let mut referenced: Vec<&str> = PAGE
            .split('"')
            .filter_map(|s| s.strip_prefix("assets/"))
            .collect();
        let mut embedded: Vec<&str> = ASSETS.iter().map(|a| a.path).collect();
        referenced.sort_unstable();
        embedded.sort_unstable();
        assert_eq!(referenced, embedded);
    }
}
