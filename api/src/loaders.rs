//! DataLoaders, created for each request (never in schema-global data, so one user's
//! cache can never answer another's request). Each turns N lookups into one `IN (...)`.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{department, employee, period};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

/// Loads rows of one entity by primary key.
pub struct ById {
    db: DatabaseConnection,
}

macro_rules! by_id_loader {
    ($module:ident) => {
        impl Loader<i64> for ByIdOf<$module::Entity> {
            type Value = $module::Model;
            type Error = std::sync::Arc<sea_orm::DbErr>;

            async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
                let rows = $module::Entity::find()
                    .filter($module::Column::Id.is_in(keys.iter().copied()))
                    .all(&self.0.db)
                    .await
                    .map_err(std::sync::Arc::new)?;
                Ok(rows.into_iter().map(|r| (r.id, r)).collect())
            }
        }
    };
}

/// A by-id loader for one entity.
pub struct ByIdOf<E>(ById, std::marker::PhantomData<E>);

by_id_loader!(employee);
by_id_loader!(department);
by_id_loader!(period);

/// The loaders of one request.
pub struct Loaders {
    pub employees: DataLoader<ByIdOf<employee::Entity>>,
    pub departments: DataLoader<ByIdOf<department::Entity>>,
    pub periods: DataLoader<ByIdOf<period::Entity>>,
}

impl Loaders {
    pub fn new(db: &DatabaseConnection) -> Self {
        let of = || ById { db: db.clone() };
        Loaders {
            employees: DataLoader::new(ByIdOf(of(), Default::default()), tokio::spawn),
            departments: DataLoader::new(ByIdOf(of(), Default::default()), tokio::spawn),
            periods: DataLoader::new(ByIdOf(of(), Default::default()), tokio::spawn),
        }
    }
}
