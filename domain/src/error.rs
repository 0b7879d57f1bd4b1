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
    BadInput { field: &'static str, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

pub type DomainResult<T> = Result<T, DomainError>;

impl DomainError {
    pub fn bad_input(field: &'static str, message: impl Into<String>) -> Self {
        DomainError::BadInput { field, message: message.into() }
    }
}
