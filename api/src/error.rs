//! Domain errors become GraphQL errors with `extensions.code`. Internal errors are logged
//! once, here, with an error id that the client also gets, and sent without their internals.
//!
//! A bad input names its domain field in `snake_case` (`due_at`); here, and only here, it
//! becomes the argument path a client sent it under: [`camel`] of the field (`dueAt`), under
//! the input object when the resolver's arguments come in one (`input.dueAt`). A resolver
//! says which: [`OrGql::gql`] for plain arguments, [`OrGql::gql_input`] (or
//! [`OrGql::gql_in`]) for an input object. The message is composed with that path
//! ([`domain::error::Message::naming`]).

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

/// `late_credit` → `lateCredit`: a domain field's name as GraphQL spells it. The one place
/// names are converted.
pub fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for ch in snake.chars() {
        if ch == '_' {
            upper = true;
        } else if upper {
            out.extend(ch.to_uppercase());
            upper = false;
        } else {
            out.push(ch);
        }
    }
    out
}

/// The argument path of a domain field: `dueAt` for a plain argument (`object` `None`),
/// `input.dueAt` for one in the input object `input`.
pub fn argument_path(object: Option<&str>, field: &str) -> String {
    match object {
        Some(object) => format!("{object}.{}", camel(field)),
        None => camel(field),
    }
}

/// Maps a domain error of a resolver with plain arguments to its GraphQL form; anything
/// unexpected is logged and hidden.
pub fn from_domain(err: DomainError) -> Error {
    from_domain_in(None, err)
}

/// Maps a domain error to its GraphQL form, a bad field named by its argument path, under
/// `object` when the resolver's arguments come in that input object.
pub fn from_domain_in(object: Option<&str>, err: DomainError) -> Error {
    match err {
        DomainError::Unauthenticated => unauthenticated(),
        DomainError::Forbidden(m) => coded(code::FORBIDDEN, m),
        DomainError::NotFound(what) => not_found(what),
        DomainError::BadInput { field, message } => {
            let path = argument_path(object, field);
            bad_input(&path, message.naming(&path))
        }
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

/// `?` on a domain result inside a resolver, saying where its arguments are.
pub trait OrGql<T>: Sized {
    /// The resolver's arguments are plain: a bad `left_on` is the argument `leftOn`.
    fn gql(self) -> async_graphql::Result<T>;

    /// The resolver's arguments come in the input object `object`: a bad `due_at` is
    /// `<object>.dueAt`.
    fn gql_in(self, object: &str) -> async_graphql::Result<T>;

    /// The resolver's arguments come in its `input` object: a bad `due_at` is
    /// `input.dueAt`.
    fn gql_input(self) -> async_graphql::Result<T> {
        self.gql_in("input")
    }
}

impl<T> OrGql<T> for Result<T, DomainError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(from_domain)
    }

    fn gql_in(self, object: &str) -> async_graphql::Result<T> {
        self.map_err(|e| from_domain_in(Some(object), e))
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

    /// A batch error names no argument.
    fn gql_in(self, _object: &str) -> async_graphql::Result<T> {
        self.gql()
    }
}

impl<T> OrGql<T> for Result<T, sea_orm::DbErr> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| from_db(&e))
    }

    /// A database error names no argument.
    fn gql_in(self, _object: &str) -> async_graphql::Result<T> {
        self.gql()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(err: Error) -> (String, async_graphql::Value, async_graphql::Value) {
        let ext = err.extensions.expect("extensions");
        (
            err.message,
            ext.get("code").cloned().unwrap_or_default(),
            ext.get("field").cloned().unwrap_or_default(),
        )
    }

    #[test]
    fn snake_case_becomes_camel_case() {
        for (snake, camel_case) in [
            ("title", "title"),
            ("due_at", "dueAt"),
            ("every_n_periods", "everyNPeriods"),
            ("acceptance_sla_hours", "acceptanceSlaHours"),
            ("", ""),
        ] {
            assert_eq!(camel(snake), camel_case, "{snake}");
        }
        assert_eq!(argument_path(None, "left_on"), "leftOn");
        assert_eq!(
            argument_path(Some("input"), "late_credit"),
            "input.lateCredit"
        );
    }

    #[test]
    fn a_bad_field_is_named_by_its_argument_path() {
        use async_graphql::Value;
        let bad_input = Value::from(code::BAD_USER_INPUT);
        let predicate =
            || DomainError::invalid("due_offset_days", "must be between 0 and 62, got 63");
        // Plain arguments.
        assert_eq!(
            sent(Err::<(), _>(predicate()).gql().unwrap_err()),
            (
                "`dueOffsetDays` must be between 0 and 62, got 63".into(),
                bad_input.clone(),
                Value::from("dueOffsetDays"),
            )
        );
        // Arguments in an input object.
        assert_eq!(
            sent(Err::<(), _>(predicate()).gql_input().unwrap_err()),
            (
                "`input.dueOffsetDays` must be between 0 and 62, got 63".into(),
                bad_input.clone(),
                Value::from("input.dueOffsetDays"),
            )
        );
        assert_eq!(
            sent(Err::<(), _>(predicate()).gql_in("fields").unwrap_err()).2,
            Value::from("fields.dueOffsetDays")
        );
        // A sentence is sent as it is; only the field is mapped.
        let sentence = DomainError::bad_input("manager_id", "no such manager");
        assert_eq!(
            sent(Err::<(), _>(sentence).gql_input().unwrap_err()),
            (
                "no such manager".into(),
                bad_input,
                Value::from("input.managerId"),
            )
        );
        // Other errors are not about a field.
        let (message, code, field) = sent(
            Err::<(), _>(DomainError::Conflict("taken".into()))
                .gql_input()
                .unwrap_err(),
        );
        assert_eq!(
            (message.as_str(), code, field),
            ("taken", Value::from(code::CONFLICT), Value::Null)
        );
    }
}
