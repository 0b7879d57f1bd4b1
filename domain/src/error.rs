//! The errors callers match on. The GraphQL edge maps each variant to an error code.

use sea_orm::DbErr;

/// An error of a service.
///
/// [`DomainError::BadInput`] names the bad field as the domain does: in `snake_case`, after
/// the service's argument or the input struct's field (`title`, `due_at`, `assignee_id`,
/// `left_on`, `late_credit`), never by a GraphQL argument path or a command-line flag. Each
/// caller names the field its own way (the API by its argument path, `input.dueAt`; the
/// CLI by a flag, `--employees`) and composes the text with [`Message::naming`].
///
/// The rule for a bad input's [`Message`]: it never names the field by any name but the
/// domain's, and it is one of two forms, chosen by its constructor:
/// - a *predicate* ([`DomainError::invalid`]), what the value must or must not be ("must be
///   at most 200 characters, got 201"), shown after the field's name in back-quotes:
///   "`input.title` must be at most 200 characters, got 201";
/// - a *sentence* ([`DomainError::bad_input`]), which stands alone and is shown as it is
///   ("no such manager", "a return needs a comment").
///
/// `Display` composes a predicate with the domain's name (`` `title` must be ...``).
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("authentication required")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{}", .message.naming(.field))]
    BadInput {
        field: &'static str,
        message: Message,
    },
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

pub type DomainResult<T> = Result<T, DomainError>;

/// What a [`DomainError::BadInput`] says about its field (see the rule on [`DomainError`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// What the value must (not) be, to follow the field's name: "must be at most 200
    /// characters, got 201".
    Predicate(String),
    /// A sentence that stands alone: "no such manager".
    Sentence(String),
}

impl Message {
    /// The text a person reads, the field called `name`: "`name` <predicate>", or the
    /// sentence as it is.
    pub fn naming(&self, name: &str) -> String {
        match self {
            Message::Predicate(predicate) => format!("`{name}` {predicate}"),
            Message::Sentence(sentence) => sentence.clone(),
        }
    }
}

impl DomainError {
    /// Bad input on `field` (in `snake_case`), told in a sentence that stands alone.
    pub fn bad_input(field: &'static str, sentence: impl Into<String>) -> Self {
        DomainError::BadInput {
            field,
            message: Message::Sentence(sentence.into()),
        }
    }

    /// Bad input on `field` (in `snake_case`), told by a predicate that follows the
    /// field's name: `invalid("title", "must not be empty")`.
    pub fn invalid(field: &'static str, predicate: impl Into<String>) -> Self {
        DomainError::BadInput {
            field,
            message: Message::Predicate(predicate.into()),
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

/// Turns a violation of `key` into bad input on `field`, told by `sentence`; any other
/// error, a violation of another key included, passes through.
pub fn unique_as(
    key: UniqueKey,
    field: &'static str,
    sentence: &'static str,
) -> impl FnOnce(DbErr) -> DomainError {
    move |err| match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(m)) if key.named_in(&m) => {
            DomainError::bad_input(field, sentence)
        }
        _ => DomainError::Db(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_predicate_follows_the_fields_name_and_a_sentence_stands_alone() {
        let predicate = DomainError::invalid("due_at", "must be in the future");
        assert_eq!(predicate.to_string(), "`due_at` must be in the future");
        let sentence = DomainError::bad_input("manager_id", "no such manager");
        assert_eq!(sentence.to_string(), "no such manager");
        let (DomainError::BadInput { message: p, .. }, DomainError::BadInput { message: s, .. }) =
            (predicate, sentence)
        else {
            unreachable!()
        };
        assert_eq!(
            p.naming("input.dueAt"),
            "`input.dueAt` must be in the future"
        );
        assert_eq!(s.naming("input.managerId"), "no such manager");
    }

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
