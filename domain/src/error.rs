//! The errors callers match on. The GraphQL edge maps each variant to an error code.

use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("authentication required")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    BadInput {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

pub type DomainResult<T> = Result<T, DomainError>;

impl DomainError {
    pub fn bad_input(field: &'static str, message: impl Into<String>) -> Self {
        DomainError::BadInput {
            field,
            message: message.into(),
        }
    }
}

/// A one-line name or title (the rules of [`crate::text::Kind::Name`]), trimmed, or bad
/// input naming the field.
pub fn required_text(field: &'static str, value: &str) -> DomainResult<String> {
    crate::text::check(field, crate::text::Kind::Name, value)
}

/// Turns a unique-key violation into bad input on `field`; other errors pass through.
pub fn unique_as(field: &'static str, message: &'static str) -> impl FnOnce(DbErr) -> DomainError {
    move |err| match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            DomainError::bad_input(field, message)
        }
        _ => DomainError::Db(err),
    }
}
