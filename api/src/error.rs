//! Domain errors become GraphQL errors with `extensions.code`. Internal errors are logged
//! once, here, with an error id that the client also gets, and sent without their internals.

use async_graphql::{Error, ErrorExtensions};
use domain::DomainError;

/// The error codes a client may see.
pub mod code {
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub const CONFLICT: &str = "CONFLICT";
    pub const INTERNAL: &str = "INTERNAL";
    /// The database cannot be reached: retry later (sent with HTTP 503).
    pub const UNAVAILABLE: &str = "UNAVAILABLE";
}

pub fn coded(code: &'static str, message: impl Into<String>) -> Error {
    Error::new(message.into()).extend_with(|_, e| e.set("code", code))
}

pub fn bad_input(field: &str, message: impl Into<String>) -> Error {
    let field = field.to_owned();
    Error::new(message.into()).extend_with(move |_, e| {
        e.set("code", code::BAD_USER_INPUT);
        e.set("field", field.clone());
    })
}

pub fn unauthenticated() -> Error {
    coded(
        code::UNAUTHENTICATED,
        "authentication required: send `Authorization: Bearer <token>`",
    )
}

pub fn not_found(what: &str) -> Error {
    coded(code::NOT_FOUND, format!("{what} not found"))
}

/// Maps a domain error to its GraphQL form; anything unexpected is logged and hidden.
pub fn from_domain(err: DomainError) -> Error {
    match err {
        DomainError::Unauthenticated => unauthenticated(),
        DomainError::Forbidden(m) => coded(code::FORBIDDEN, m),
        DomainError::NotFound(what) => not_found(what),
        DomainError::BadInput { field, message } => bad_input(field, message),
        DomainError::Conflict(m) => coded(code::CONFLICT, m),
        DomainError::Db(db) => from_db(&db),
    }
}

/// A database error: unavailable when the database cannot be reached, else internal.
pub fn from_db(err: &sea_orm::DbErr) -> Error {
    if is_unavailable(err) {
        tracing::warn!(error = %err, "database unavailable");
        coded(
            code::UNAVAILABLE,
            "the database is unavailable; try again shortly",
        )
    } else {
        internal(err)
    }
}

/// Whether a database error means "cannot reach the database" rather than a bad statement.
pub fn is_unavailable(err: &sea_orm::DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    use sea_orm::{DbErr, RuntimeErr};
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match &**e {
                Sqlx::Io(_)
                | Sqlx::PoolTimedOut
                | Sqlx::PoolClosed
                | Sqlx::Tls(_)
                | Sqlx::WorkerCrashed => true,
                // PostgreSQL's connection exceptions (08) and operator intervention (57P:
                // shutdown, restart, a terminated backend): the server went away.
                Sqlx::Database(db) => db
                    .code()
                    .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
                _ => false,
            }
        }
        _ => false,
    }
}

pub fn internal(err: &dyn std::fmt::Display) -> Error {
    let error_id = random_id();
    tracing::error!(error.id = error_id, error = %err, "internal error");
    Error::new(format!(
        "internal error (id {error_id}); the server log has the details"
    ))
    .extend_with(|_, e| e.set("code", code::INTERNAL))
}

/// Sixteen random hex digits: an id that says nothing about the process or its traffic.
pub fn random_id() -> String {
    let mut bytes = [0u8; 8];
    // Without an entropy source the id is still unique enough for a log search.
    if getrandom::fill(&mut bytes).is_err() {
        bytes = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            .to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `?` on a domain result inside a resolver.
pub trait OrGql<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> OrGql<T> for Result<T, DomainError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(from_domain)
    }
}

/// A batch that failed for every resolver waiting on it (a DataLoader's error).
impl<T> OrGql<T> for Result<T, std::sync::Arc<DomainError>> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| match &*e {
            DomainError::Db(db) => from_db(db),
            other => internal(other),
        })
    }
}

impl<T> OrGql<T> for Result<T, sea_orm::DbErr> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| from_db(&e))
    }
}
