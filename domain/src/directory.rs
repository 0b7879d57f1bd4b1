//! Looking people up.

use entity::employee;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::DomainResult;

/// The id of the employee with this e-mail, compared without regard to case.
pub async fn employee_id_by_email(
    db: &impl ConnectionTrait,
    email: &str,
) -> DomainResult<Option<i64>> {
    Ok(employee::Entity::find()
        .select_only()
        .column(employee::Column::Id)
        .filter(
            Expr::expr(Func::lower(Expr::col(employee::Column::Email)))
                .eq(email.trim().to_lowercase()),
        )
        .into_tuple::<i64>()
        .one(db)
        .await?)
}
