//! What the examples share: their positional arguments (a database kind, then counts) and a
//! scratch database of either kind, gone afterwards.

use sea_orm::ConnectionTrait;

/// The positional arguments `KIND [N...]`: the database kind (default "sqlite") and counts.
pub struct Args(Vec<String>);

impl Args {
    pub fn from_env() -> Args {
        Args(std::env::args().skip(1).collect())
    }

    /// The database kind, the first argument.
    pub fn kind(&self) -> String {
        self.0
            .first()
            .map(String::as_str)
            .unwrap_or("sqlite")
            .to_owned()
    }

    /// The count at position `i` (1 is the one after the kind), or `default`.
    pub fn count(&self, i: usize, default: usize) -> anyhow::Result<usize> {
        Ok(self
            .0
            .get(i)
            .map(|a| a.parse())
            .transpose()?
            .unwrap_or(default))
    }
}

/// Runs `work` with the URL of an empty scratch database: a SQLite file in a temporary
/// directory, or (`kind` "postgres") a database `zb_{name}_{pid}` created on
/// `ZEROBOARD_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) and
/// dropped afterwards, whether `work` succeeded or not.
pub async fn with_scratch_database<T>(
    kind: &str,
    name: &str,
    work: impl AsyncFnOnce(&str) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let dir = tempfile::tempdir()?;
    if kind != "postgres" {
        let file = dir.path().join(format!("{name}.db"));
        return work(&format!("sqlite://{}?mode=rwc", file.display())).await;
    }
    let admin_url = std::env::var("ZEROBOARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let database = format!("zb_{name}_{}", std::process::id());
    let admin = domain::db::connect(&admin_url).await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {database}"))
        .await?;
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(base, _)| base);
    let result = work(&format!("{base}/{database}")).await;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .await?;
    result
}
