//! Connecting to SQLite or PostgreSQL with the settings Zeroboard relies on.
//!
//! SQLite runs as a real embedded database: WAL (readers never block the writer), foreign
//! keys on, a busy timeout, and write transactions that take the write lock when they begin
//! (`BEGIN IMMEDIATE`), so two writers queue instead of failing with "database is locked"
//! when a deferred transaction tries to upgrade its read lock.

use std::time::Duration;

pub use sea_orm::DatabaseConnection;

use chrono::DateTime;
use sea_orm::sea_query::extension::postgres::PgFunc;
use sea_orm::sea_query::{ArrayType, Expr, ExprTrait, IntoColumnRef, Query};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseTransaction, DbErr,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait, Value,
};

/// How long a SQLite connection waits for the write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a pooled PostgreSQL connection may sit idle before it is pinged on checkout.
pub const PING_IF_IDLE_FOR: Duration = Duration::from_millis(250);

/// How long opening the pool may take before an unreachable database is reported.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens a connection pool for `url` (`sqlite://…` or `postgres://…`). An unreachable or
/// unanswering server fails within [`CONNECT_TIMEOUT`].
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    // A pooled PostgreSQL connection that sat idle is pinged before it is handed out:
    // without that, every connection the server dropped (a restart, a terminated backend)
    // would fail one request after the database is back. A connection in use moments ago
    // is not pinged (that would be a round trip per statement under load). SQLite's
    // connections are files opened in this process and never go away.
    options
        .sqlx_logging(false)
        .connect_timeout(CONNECT_TIMEOUT)
        .acquire_timeout(Duration::from_secs(30));
    if url.starts_with("sqlite:") {
        options
            .test_before_acquire(false)
            .max_connections(8)
            .min_connections(1)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
            });
    } else {
        // No JIT compilation: Zeroboard's statements run in milliseconds, and PostgreSQL
        // estimates a recursive query's rows tenfold too high (`access::below_query` for the
        // root of a company of 10,000 estimates 330,000), so the estimate of a 8 ms query
        // can cross `jit_above_cost` and spend 100 ms and more compiling it.
        options
            .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR)
            .max_connections(16)
            .min_connections(1)
            .map_sqlx_postgres_opts(|o| o.options([("jit", "off")]));
    }
    // The pool's first connection is made here; the overall bound also covers a server that
    // accepts the connection but never answers.
    match tokio::time::timeout(CONNECT_TIMEOUT, Database::connect(options)).await {
        Ok(connected) => connected,
        Err(_) => Err(DbErr::Custom(format!(
            "no connection within {} s (is the server running and reachable?)",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// Closes the pool. On SQLite it first folds the write-ahead log into the database file
/// (and truncates the log), so that after a clean stop `zeroboard.db` alone holds all data.
pub async fn close(db: DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() == DatabaseBackend::Sqlite {
        db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
            .await?;
    }
    db.close().await
}

/// Writes a consistent copy of a SQLite database to `path` (`VACUUM INTO`), while other
/// connections keep reading and writing. The file must not exist yet.
pub async fn backup_sqlite(db: &DatabaseConnection, path: &std::path::Path) -> Result<(), DbErr> {
    let path = path
        .to_str()
        .ok_or_else(|| DbErr::Custom(format!("{} is not a UTF-8 path", path.display())))?;
    db.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Sqlite,
        "VACUUM INTO ?",
        [path.into()],
    ))
    .await?;
    Ok(())
}

/// Sends a PostgreSQL notification on `channel` in the caller's transaction: listeners
/// get it when the transaction commits, and never if it rolls back.
pub async fn notify(db: &impl ConnectionTrait, channel: &str, payload: &str) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [channel.into(), payload.into()],
    ))
    .await?;
    Ok(())
}

/// The file of a SQLite database (its `main` schema), which names it within a process.
pub async fn sqlite_file(db: &impl ConnectionTrait) -> Result<String, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Sqlite,
            "SELECT file FROM pragma_database_list WHERE name = 'main'",
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get::<String>("", "file"))
        .transpose()?
        .unwrap_or_default())
}

/// Whether the database takes writes: false for a read-only SQLite file and for a
/// PostgreSQL session that is read-only (a standby, `default_transaction_read_only`). Writes
/// nothing: on SQLite a statement that would write (and matches no row) runs in a
/// transaction that is rolled back.
pub async fn writable(db: &DatabaseConnection) -> Result<bool, DbErr> {
    match db.get_database_backend() {
        DatabaseBackend::Sqlite => {
            let txn = begin_write(db).await;
            let probe = match &txn {
                Ok(txn) => txn
                    .execute_unprepared("DELETE FROM scheduler_run WHERE 1 = 0")
                    .await
                    .map(|_| ()),
                Err(e) => Err(DbErr::Custom(e.to_string())),
            };
            if let Ok(txn) = txn {
                txn.rollback().await?;
            }
            match probe {
                Ok(()) => Ok(true),
                Err(e) if e.to_string().contains("readonly") => Ok(false),
                Err(e) => Err(e),
            }
        }
        _ => {
            let row = db
                .query_one_raw(Statement::from_string(
                    db.get_database_backend(),
                    "SELECT current_setting('transaction_read_only') AS ro",
                ))
                .await?;
            Ok(row
                .map(|r| r.try_get::<String>("", "ro"))
                .transpose()?
                .as_deref()
                != Some("on"))
        }
    }
}

/// A connection or a transaction: services take either, so a caller can compose several
/// services in one transaction (the demo loader does) or let each run in its own.
pub trait Db: ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction> {}

impl<T: ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction>> Db for T {}

/// Begins a transaction that will write. On SQLite it takes the write lock up front; inside
/// another transaction it is a savepoint.
pub async fn begin_write(db: &impl Db) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// Keys of the transaction-level advisory locks, one per scheduler step. Every key Zeroboard
/// locks is declared in this file, so no two uses share one.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    Open = 0x5a42_0001,
    Generate = 0x5a42_0002,
    Close = 0x5a42_0003,
    /// Telling of assignments that fell overdue (`assignments::tell_overdue`).
    Overdue = 0x5a42_0004,
    /// Preparing a day's e-mail reminders (`reminding::prepare`).
    Reminders = 0x5a42_0005,
    /// Telling the live tiles of what reached its audience (`live::tell_due`).
    LiveDue = 0x5a42_0006,
}

/// Serialises the creation of KPI policy versions on PostgreSQL, so two admins changing the
/// policy at once get versions n+1 and n+2 instead of a key violation.
pub(crate) const POLICY_VERSION_LOCK: i64 = 0x5a42_0101;

/// Serialises changes to the management chain on PostgreSQL: a manager change reads the
/// chain below the employee to refuse a cycle, and two such changes must not both read it
/// before either writes (SQLite's `BEGIN IMMEDIATE` write lock already serialises them).
pub(crate) const ORG_STRUCTURE_LOCK: i64 = 0x5a42_0201;

/// Serialises one step across instances on PostgreSQL; SQLite's write lock already does.
pub async fn lock_step(txn: &impl ConnectionTrait, step: Step) -> Result<(), DbErr> {
    advisory_lock(txn, step as i64).await
}

/// Takes a transaction-level advisory lock on PostgreSQL (released at commit or rollback).
/// On SQLite a write transaction already holds the database's only write lock.
pub(crate) async fn advisory_lock(txn: &impl ConnectionTrait, key: i64) -> Result<(), DbErr> {
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [key.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Applies every pending migration, on [`for_schema_changes`].
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    use migration::MigratorTrait;
    migration::Migrator::up(&for_schema_changes(db).await?, None).await
}

/// The connection to change the schema on: on SQLite a pool of one connection to the same
/// database, on PostgreSQL the pool itself (each migration runs in its own transaction).
///
/// Why: SQLite checks a statement that changes the schema against the schema its connection
/// last read, and only a lookup that fails makes it read again. Spread over a pool, a
/// migration's statement could run on a connection that had not seen an earlier one's
/// change and be refused ("duplicate column name" when a column dropped on one connection
/// was added back on another, "there is already another table" on a rename after a drop).
/// On one connection every statement sees the ones before it. The pool's other connections
/// only read and write rows, which SQLite re-prepares against the new schema.
pub async fn for_schema_changes(db: &DatabaseConnection) -> Result<DatabaseConnection, DbErr> {
    if db.get_database_backend() != DatabaseBackend::Sqlite {
        return Ok(db.clone());
    }
    let options = db.get_sqlite_connection_pool().connect_options();
    let one = sea_orm::sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with((*options).clone())
        .await
        .map_err(|e| DbErr::Custom(format!("cannot open a connection for migrations: {e}")))?;
    Ok(sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(one))
}

/// `column IN (ids)` as each database takes it best. On PostgreSQL, `column = ANY($1)` with
/// one `bigint[]` parameter bound in binary: the statement's text is the same whatever the
/// number of ids, so each connection prepares it once and PostgreSQL binds one value, not
/// hundreds (a report for a manager of 300 listed 600). On SQLite, an `IN` list of bound
/// values.
pub fn id_in(
    backend: DatabaseBackend,
    column: impl IntoColumnRef,
    ids: impl IntoIterator<Item = i64>,
) -> Expr {
    let ids = ids.into_iter();
    if backend == DatabaseBackend::Postgres {
        Expr::col(column).eq(PgFunc::any(Expr::val(bigint_array(ids))))
    } else {
        Expr::col(column).is_in(ids)
    }
}

/// `column IN (ids)` as a filter over rows that another condition finds (a report's period
/// and department), for many ids. On PostgreSQL, `column IN (SELECT unnest($1))`: it checks
/// each row against a hash of the ids (a "hashed SubPlan"), where `= ANY($1)` compares each
/// row with every id in turn once the prepared statement runs its generic plan (PostgreSQL
/// hashes an `ANY` only over an array written into the text). A report of 300 people read
/// 963 rows, each against 300 ids twice. [`id_in`] stays the form for ids that pick the rows
/// through an index. On SQLite, the `IN` list of [`id_in`], which SQLite looks up in a
/// temporary index of its own.
pub fn id_among(
    backend: DatabaseBackend,
    column: impl IntoColumnRef,
    ids: impl IntoIterator<Item = i64>,
) -> Expr {
    if backend != DatabaseBackend::Postgres {
        return id_in(backend, column, ids);
    }
    let unnest = Expr::cust_with_values("unnest($1)", [bigint_array(ids.into_iter())]);
    Expr::col(column).in_subquery(Query::select().expr(unnest).to_owned())
}

/// One `bigint[]` value.
fn bigint_array(ids: impl Iterator<Item = i64>) -> Value {
    let array: Vec<Value> = ids.map(|id| Value::BigInt(Some(id))).collect();
    Value::Array(ArrayType::BigInt, Some(Box::new(array)))
}

/// The SQL type of a column [`insert_rows`] fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    BigInt,
    Int,
    Text,
    Real,
    Bool,
    /// An instant, given as a `DateTime<Utc>` value or as the text
    /// `DateTime::to_rfc3339_opts(SecondsFormat::AutoSi, false)`, which is how sqlx stores
    /// one on SQLite; PostgreSQL takes it as `timestamptz`.
    Instant,
}

/// Inserts many rows, each a `Vec` of `columns.len()` values in the order of `columns`,
/// the fastest way each database takes a bulk insert (a close writes tens of thousands of
/// KPI items). `table` and the column names are the caller's constants, never input. The
/// rows are taken, not borrowed: each value moves into its statement, none is copied.
///
/// - PostgreSQL: [`ARRAY_ROWS`] rows to a statement, one array parameter per column, bound
///   in binary ([`pg_arrays`]): nothing for the server to parse, and a float or an instant
///   arrives bit for bit.
/// - SQLite: multi-row `VALUES` of bound parameters, [`SQLITE_ROWS`] rows to a statement.
///   Binding a value costs SQLite less than reading it back out of JSON (`json_each` with
///   `->>` per cell took twice as long for a close's items), and a bound `f64` is stored
///   bit for bit.
pub async fn insert_rows(
    db: &impl ConnectionTrait,
    table: &str,
    columns: &[(&str, Column)],
    rows: Vec<Vec<Value>>,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let names = columns
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ");
    let per_statement = match backend {
        DatabaseBackend::Postgres => ARRAY_ROWS,
        _ => SQLITE_ROWS.min(SQLITE_MAX_PARAMETERS / columns.len().max(1)),
    };
    let row = format!("({})", vec!["?"; columns.len()].join(", "));
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Value>> = rows.by_ref().take(per_statement).collect();
        let statement = if backend == DatabaseBackend::Postgres {
            let (select, params) = pg_arrays(columns, chunk)?;
            let sql = format!("INSERT INTO {table} ({names}) {select}");
            Statement::from_sql_and_values(backend, sql, params)
        } else {
            let sql = format!(
                "INSERT INTO {table} ({names}) VALUES {}",
                vec![row.as_str(); chunk.len()].join(", ")
            );
            Statement::from_sql_and_values(backend, sql, chunk.into_iter().flatten())
        };
        db.execute_raw(statement).await?;
    }
    Ok(())
}

/// Updates many rows by their key, each a `Vec` of the key's value then one value per
/// `columns`, in that order (an instant as a `DateTime<Utc>` value): `UPDATE table SET
/// column = v.column, ... FROM v WHERE table.key = v.key`, where `v` is, on SQLite, `WITH
/// v(key, columns...) AS (VALUES ...)` bound value by value, [`SQLITE_ROWS`] rows to a
/// statement at most, and on PostgreSQL the rows of one JSON parameter ([`json_rows`]).
/// `table` and the names are the caller's constants, never input.
pub async fn update_rows(
    db: &impl ConnectionTrait,
    table: &str,
    key: (&str, Column),
    columns: &[(&str, Column)],
    rows: &[Vec<Value>],
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let all: Vec<(&str, Column)> = std::iter::once(key)
        .chain(columns.iter().copied())
        .collect();
    let names = all
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ");
    let sets = columns
        .iter()
        .map(|(name, _)| format!("{name} = v.{name}"))
        .collect::<Vec<_>>()
        .join(", ");
    if backend == DatabaseBackend::Postgres {
        // The rows as one JSON parameter, not as `insert_rows`' arrays. Besides binding one
        // value instead of thousands, the rows' estimate (a function's 100) keeps the join
        // on the key's index whatever the table's size; with `VALUES` PostgreSQL preferred
        // a hash join over the whole table once it had tens of thousands of rows. (Arrays
        // were not tried here: PostgreSQL estimates an unnested array by its length, as it
        // does `VALUES`.)
        let sql = format!(
            "UPDATE {table} SET {sets} FROM ({}) AS v WHERE {table}.{} = v.{}",
            json_rows(&all),
            key.0,
            key.0
        );
        return execute_per_json_rows(db, table, &sql, rows).await;
    }
    let width = all.len();
    let per_statement = SQLITE_ROWS.min(SQLITE_MAX_PARAMETERS / width);
    let row = format!("({})", vec!["?"; width].join(", "));
    for chunk in rows.chunks(per_statement) {
        let sql = format!(
            "WITH v({names}) AS (VALUES {}) UPDATE {table} SET {sets} FROM v WHERE {table}.{} = v.{}",
            vec![row.as_str(); chunk.len()].join(", "),
            key.0,
            key.0
        );
        let values = chunk.iter().flat_map(|r| r.iter().cloned());
        db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
    }
    Ok(())
}

/// The PostgreSQL type of a column kind.
fn pg_type(kind: Column) -> &'static str {
    match kind {
        Column::BigInt => "bigint",
        Column::Int => "integer",
        Column::Text => "text",
        Column::Real => "double precision",
        Column::Bool => "boolean",
        Column::Instant => "timestamptz",
    }
}

/// Rows per PostgreSQL statement of [`update_rows`]: a few megabytes of JSON.
const JSON_ROWS: usize = 20_000;
/// Rows per PostgreSQL statement of [`insert_rows`].
const ARRAY_ROWS: usize = 20_000;
/// Rows per SQLite statement of [`insert_rows`] (more gains nothing measurable).
const SQLITE_ROWS: usize = 500;
/// SQLite's default limit on a statement's parameters.
const SQLITE_MAX_PARAMETERS: usize = 32_766;

/// PostgreSQL's rows of one array per column, each bound as a parameter in binary
/// (`$1::bigint[]`, …) and read back by `unnest`, cell `i` named after column `i`: nothing
/// to parse, each value sent in its own type. An array parameter here holds no NULL
/// (sea-query binds an array of values, not of options), so a column with NULLs in `rows`
/// gets a second array, a `boolean[]` of where they are, and a placeholder in its own.
///
/// The arrays are unnested side by side in the select list, not in `FROM`: there
/// PostgreSQL would first copy each function's rows into a store of its own, which took
/// twice as long as the insert itself for a close's items.
///
/// The statement's select and its parameters.
fn pg_arrays(
    columns: &[(&str, Column)],
    rows: Vec<Vec<Value>>,
) -> Result<(String, Vec<Value>), DbErr> {
    let mut by_column: Vec<Vec<Value>> = columns
        .iter()
        .map(|_| Vec::with_capacity(rows.len()))
        .collect();
    for row in rows {
        if row.len() != columns.len() {
            return Err(DbErr::Custom(format!(
                "a row of {} values for {} columns",
                row.len(),
                columns.len()
            )));
        }
        for (column, cell) in by_column.iter_mut().zip(row) {
            column.push(cell);
        }
    }
    let mut params = Vec::with_capacity(columns.len());
    let (mut unnested, mut cells) = (Vec::new(), Vec::new());
    for (i, (&(name, kind), values)) in columns.iter().zip(by_column).enumerate() {
        let nulls: Vec<bool> = values.iter().map(|cell| !cell.is_some()).collect();
        let elements = values
            .into_iter()
            .map(|cell| {
                array_element(kind, cell).map_err(|cell| {
                    DbErr::Custom(format!("column {name} ({kind:?}) cannot take {cell:?}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        params.push(Value::Array(array_type(kind), Some(Box::new(elements))));
        unnested.push(format!(
            "unnest(${}::{}[]) AS c{i}",
            params.len(),
            pg_type(kind)
        ));
        if nulls.contains(&true) {
            let nulls = nulls.into_iter().map(|n| Value::Bool(Some(n))).collect();
            params.push(Value::Array(ArrayType::Bool, Some(Box::new(nulls))));
            unnested.push(format!("unnest(${}::boolean[]) AS n{i}", params.len()));
            cells.push(format!("CASE WHEN n{i} THEN NULL ELSE c{i} END AS {name}"));
        } else {
            cells.push(format!("c{i} AS {name}"));
        }
    }
    let sql = format!(
        "SELECT {} FROM (SELECT {}) AS u",
        cells.join(", "),
        unnested.join(", ")
    );
    Ok((sql, params))
}

/// The element type of a column's array.
fn array_type(kind: Column) -> ArrayType {
    match kind {
        Column::BigInt => ArrayType::BigInt,
        Column::Int => ArrayType::Int,
        Column::Text => ArrayType::String,
        Column::Real => ArrayType::Double,
        Column::Bool => ArrayType::Bool,
        Column::Instant => ArrayType::ChronoDateTimeUtc,
    }
}

/// A cell as an element of its column's array, a NULL as the type's placeholder; the cell
/// back when it is not of the column's type.
fn array_element(kind: Column, cell: Value) -> Result<Value, Value> {
    Ok(match (kind, cell) {
        (Column::BigInt, Value::BigInt(v)) => Value::BigInt(Some(v.unwrap_or_default())),
        (Column::BigInt, Value::Int(v)) => Value::BigInt(Some(v.map_or(0, i64::from))),
        (Column::Int, Value::Int(v)) => Value::Int(Some(v.unwrap_or_default())),
        (Column::Text, Value::String(v)) => Value::String(Some(v.unwrap_or_default())),
        (Column::Real, Value::Double(v)) => Value::Double(Some(v.unwrap_or_default())),
        (Column::Bool, Value::Bool(v)) => Value::Bool(Some(v.unwrap_or_default())),
        (Column::Instant, Value::ChronoDateTimeUtc(v)) => {
            Value::ChronoDateTimeUtc(Some(v.unwrap_or(DateTime::UNIX_EPOCH)))
        }
        (Column::Instant, Value::String(None)) => {
            Value::ChronoDateTimeUtc(Some(DateTime::UNIX_EPOCH))
        }
        (Column::Instant, Value::String(Some(text))) => match DateTime::parse_from_rfc3339(&text) {
            Ok(at) => Value::ChronoDateTimeUtc(Some(at.to_utc())),
            Err(_) => return Err(Value::String(Some(text))),
        },
        (_, cell) => return Err(cell),
    })
}

/// PostgreSQL's rows of the JSON array of arrays bound as `$1`, each cell cast to its
/// column's type and named after it.
fn json_rows(columns: &[(&str, Column)]) -> String {
    let cells: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, (name, kind))| format!("(r ->> {i})::{} AS {name}", pg_type(*kind)))
        .collect();
    format!(
        "SELECT {} FROM jsonb_array_elements($1::jsonb) AS r",
        cells.join(", ")
    )
}

/// Runs `sql`, whose one parameter is [`json_rows`]' array, over `rows`, [`JSON_ROWS`] to
/// a statement.
async fn execute_per_json_rows(
    db: &impl ConnectionTrait,
    table: &str,
    sql: &str,
    rows: &[Vec<Value>],
) -> Result<(), DbErr> {
    for chunk in rows.chunks(JSON_ROWS) {
        let json = serde_json::to_string(&JsonRows(chunk))
            .map_err(|e| DbErr::Custom(format!("{table} rows as JSON: {e}")))?;
        db.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            sql,
            [json.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Rows as a JSON array of arrays, each value as JSON (`null` for NULL), without building
/// a JSON tree: strings are written from where they are.
struct JsonRows<'a>(&'a [Vec<Value>]);

impl serde::Serialize for JsonRows<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|row| JsonRow(row)))
    }
}

struct JsonRow<'a>(&'a [Value]);

impl serde::Serialize for JsonRow<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(JsonCell))
    }
}

struct JsonCell<'a>(&'a Value);

impl serde::Serialize for JsonCell<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Bool(v) => v.serialize(s),
            Value::Int(v) => v.serialize(s),
            Value::BigInt(v) => v.serialize(s),
            Value::Double(v) => v.serialize(s),
            Value::String(v) => v.serialize(s),
            // As sqlx stores it on SQLite (`Column::Instant`), which PostgreSQL reads.
            Value::ChronoDateTimeUtc(Some(at)) => at
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
                .serialize(s),
            other => sea_orm::sea_query::sea_value_to_json_value(other).serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: [(&str, Column); 3] = [
        ("id", Column::BigInt),
        ("title", Column::Text),
        ("due_at", Column::Instant),
    ];

    fn row(id: i64, due_at: Option<&str>) -> Vec<Value> {
        vec![
            id.into(),
            format!("t{id}").into(),
            due_at.map(str::to_owned).into(),
        ]
    }

    #[test]
    fn only_a_column_with_nulls_is_sent_with_where_they_are() {
        let (sql, params) = pg_arrays(
            &COLUMNS,
            vec![row(1, Some("2026-12-01T09:00:00Z")), row(2, None)],
        )
        .unwrap();
        assert_eq!(
            sql,
            "SELECT c0 AS id, c1 AS title, CASE WHEN n2 THEN NULL ELSE c2 END AS due_at \
             FROM (SELECT unnest($1::bigint[]) AS c0, unnest($2::text[]) AS c1, \
             unnest($3::timestamptz[]) AS c2, unnest($4::boolean[]) AS n2) AS u"
        );
        let at: DateTime<chrono::Utc> = "2026-12-01T09:00:00Z".parse().unwrap();
        let cells = |v: &Value| match v {
            Value::Array(_, Some(cells)) => cells.as_ref().clone(),
            other => panic!("not an array: {other:?}"),
        };
        assert_eq!(cells(&params[0]), [Value::from(1i64), Value::from(2i64)]);
        assert_eq!(
            cells(&params[2]),
            [
                Value::from(at),
                Value::from(DateTime::<chrono::Utc>::UNIX_EPOCH)
            ]
        );
        assert_eq!(cells(&params[3]), [Value::from(false), Value::from(true)]);

        let (sql, params) =
            pg_arrays(&COLUMNS, vec![row(1, Some("2026-12-01T09:00:00Z"))]).unwrap();
        assert!(!sql.contains("boolean"), "{sql}");
        assert_eq!(params.len(), 3);
    }

    #[test]
    fn a_cell_of_another_type_or_a_short_row_is_refused() {
        let wrong = vec![vec![Value::from("x"), "t".into(), None::<String>.into()]];
        let err = pg_arrays(&COLUMNS, wrong).unwrap_err().to_string();
        assert!(err.contains("column id"), "{err}");
        let unparsable = vec![row(1, Some("yesterday"))];
        assert!(pg_arrays(&COLUMNS, unparsable).is_err());
        let short = vec![vec![Value::from(1i64)]];
        let err = pg_arrays(&COLUMNS, short).unwrap_err().to_string();
        assert!(err.contains("a row of 1 values for 3 columns"), "{err}");
    }

    #[test]
    #[rustfmt::skip]
    fn ids_go_to_postgresql_as_one_array_and_to_sqlite_as_a_list() {
        use sea_orm::sea_query::{Alias, PostgresQueryBuilder, Query, SqliteQueryBuilder};
        type Form = fn(DatabaseBackend, Alias, [i64; 3]) -> Expr;
        let cases: [(Form, &str); 2] = [
            // Ids that pick rows through an index, and ids that filter rows found otherwise.
            (|b, c, ids| id_in(b, c, ids), r#""id" = ANY($1)"#),
            (|b, c, ids| id_among(b, c, ids), r#""id" IN (SELECT unnest($1))"#),
        ];
        for (form, pg_condition) in cases {
            let select = |backend| {
                Query::select()
                    .column(Alias::new("id"))
                    .from(Alias::new("employee"))
                    .and_where(form(backend, Alias::new("id"), [3, 5, 8]))
                    .to_owned()
            };
            let (pg, values) = select(DatabaseBackend::Postgres).build(PostgresQueryBuilder);
            assert_eq!(pg, format!(r#"SELECT "id" FROM "employee" WHERE {pg_condition}"#));
            assert_eq!(values.0.len(), 1);
            let (sqlite, values) = select(DatabaseBackend::Sqlite).build(SqliteQueryBuilder);
            assert_eq!(sqlite, r#"SELECT "id" FROM "employee" WHERE "id" IN (?, ?, ?)"#);
            assert_eq!(values.0.len(), 3);
        }
    }
}
