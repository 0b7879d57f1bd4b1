//! Looking people up.

use entity::employee;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::DomainResult;

/// The id of the employee with this e-mail, compared by [`employee::email_key`] (Unicode
/// case folding, the same on both databases), which is also what makes e-mails unique.
pub async fn employee_id_by_email(
    db: &impl ConnectionTrait,
    email: &str,
) -> DomainResult<Option<i64>> {
    Ok(employee::Entity::find()
        .select_only()
        .column(employee::Column::Id)
        .filter(employee::Column::EmailKey.eq(employee::email_key(email)))
        .into_tuple::<i64>()
        .one(db)
        .await?)
}
