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

/// A unique key, as each database names it in a violation: PostgreSQL by its constraint or
/// index name, SQLite by its table's columns.
#[derive(Clone, Copy, Debug)]
pub struct UniqueKey {
    pub index: &'static str,
    pub columns: &'static str,
}

pub const DEPARTMENT_NAME: UniqueKey = UniqueKey {
    index: "department_name_key",
    columns: "department.name",
};
pub const EMPLOYEE_EMAIL: UniqueKey = UniqueKey {
    index: "ix_employee_email_key",
    columns: "employee.email_key",
};
pub const ONE_VOTE: UniqueKey = UniqueKey {
    index: "ix_vote_proposal_employee",
    columns: "vote.proposal_id, vote.employee_id",
};

impl UniqueKey {
    /// Whether a violation's message names this key.
    pub fn named_in(&self, message: &str) -> bool {
        message.contains(&format!("\"{}\"", self.index))
            || message
                .trim_end()
                .ends_with(&format!("failed: {}", self.columns))
    }
}

/// Turns a violation of `key` into bad input on `field`; any other error, a violation of
/// another key included, passes through.
pub fn unique_as(
    key: UniqueKey,
    field: &'static str,
    message: &'static str,
) -> impl FnOnce(DbErr) -> DomainError {
    move |err| match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(m)) if key.named_in(&m) => {
            DomainError::bad_input(field, message)
        }
        _ => DomainError::Db(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_are_matched_by_key_name() {
        let cases = [
            (
                EMPLOYEE_EMAIL,
                r#"duplicate key value violates unique constraint "ix_employee_email_key""#,
                true,
            ),
            (
                EMPLOYEE_EMAIL,
                "UNIQUE constraint failed: employee.email_key",
                true,
            ),
            (
                EMPLOYEE_EMAIL,
                r#"duplicate key value violates unique constraint "department_name_key""#,
                false,
            ),
            (
                EMPLOYEE_EMAIL,
                "UNIQUE constraint failed: employee.email_key_other",
                false,
            ),
            (
                DEPARTMENT_NAME,
                "UNIQUE constraint failed: department.name",
                true,
            ),
            (
                ONE_VOTE,
                "UNIQUE constraint failed: vote.proposal_id, vote.employee_id",
                true,
            ),
            (
                ONE_VOTE,
                r#"duplicate key value violates unique constraint "ix_vote_proposal_employee""#,
                true,
            ),
            (
                ONE_VOTE,
                "UNIQUE constraint failed: vote.proposal_id",
                false,
            ),
        ];
        for (key, message, named) in cases {
            assert_eq!(key.named_in(message), named, "{key:?} in {message}");
        }
    }
}
