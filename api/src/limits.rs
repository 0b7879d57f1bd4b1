//! What one request or connection may ask of the server; each limit is a setting.

use std::time::Duration;

/// Limits on requests and connections. Where each is enforced: `guard` (nesting, fields,
/// aliases, directives, before the parser's and validator's recursion), async-graphql
/// (depth, complexity, directives per field), `http` (batch, body), `paging` (page size,
/// cursors), and the listener in `http::serve` (connections, read timeout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of selections.
    pub depth: usize,
    /// Deepest nesting of brackets (`{`, `[`, `(`) in a document, and of lists and objects
    /// in variables.
    pub nesting: usize,
    /// Most complexity points: every field counts 1, and a list or connection counts its
    /// page size (`first`, or its bound) times its selection.
    pub complexity: usize,
    /// Most aliased fields in one operation, fragments spread.
    pub aliases: usize,
    /// Most directives in one operation, fragments spread.
    pub directives: usize,
    /// Most operations in one batched request.
    pub batch: usize,
    /// Largest request body in bytes.
    pub body_bytes: usize,
    /// Largest page (`first`).
    pub page_size: i32,
    /// Most connections served at once; more are closed on arrival.
    pub connections: usize,
    /// A connection that sends and receives nothing for this long is closed (a stalled
    /// header or body, an idle keep-alive).
    pub read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            depth: 16,
            nesting: 32,
            // Room for payroll's largest page: 100 results with 100 items each (about
            // 80,000), while nested pages of pages (100 × 100 × 100) stay far over.
            complexity: 100_000,
            aliases: 30,
            directives: 50,
            batch: 10,
            body_bytes: 256 * 1024,
            page_size: 100,
            connections: 1024,
            read_timeout: Duration::from_secs(15),
        }
    }
}

impl Limits {
    /// The fields an operation may have once its fragments are spread: each costs at
    /// least one complexity point, so more could never pass the complexity limit.
    pub fn shape(&self) -> crate::guard::ShapeLimits {
        crate::guard::ShapeLimits {
            fields: self.complexity,
            aliases: self.aliases,
            directives: self.directives,
        }
    }
}
