//! Connecting to SQLite or PostgreSQL with the settings Zeroboard relies on.
//!
//! SQLite runs as a real embedded database: WAL (readers never block the writer), foreign
//! keys on, a busy timeout, and write transactions that take the write lock when they begin
//! (`BEGIN IMMEDIATE`), so two writers queue instead of failing with "database is locked"
//! when a deferred transaction tries to upgrade its read lock.

use std::time::Duration;

pub use sea_orm::DatabaseConnection;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseTransaction, DbErr,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait, Value,
};

/// How long a SQLite connection waits for the write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long opening the pool may take before an unreachable database is reported.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens a connection pool for `url` (`sqlite://…` or `postgres://…`). An unreachable or
/// unanswering server fails within [`CONNECT_TIMEOUT`].
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    // The pool pings a connection before handing it out (a round trip per checkout). Without
    // the ping, every connection the server dropped (a restart, a terminated backend) fails
    // one request after the database is back, so the ping stays.
    options
        .sqlx_logging(false)
        .connect_timeout(CONNECT_TIMEOUT)
        .acquire_timeout(Duration::from_secs(30));
    if url.starts_with("sqlite:") {
        options
            .max_connections(8)
            .min_connections(1)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
            });
    } else {
        options.max_connections(16).min_connections(1);
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

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    use migration::MigratorTrait;
    migration::Migrator::up(db, None).await
}

/// The SQL type of a column [`insert_rows`] fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    BigInt,
    Int,
    Text,
    Real,
    Bool,
    /// An instant, given as the text `DateTime::to_rfc3339_opts(SecondsFormat::AutoSi, false)`:
    /// what sqlx stores on SQLite, which PostgreSQL reads as `timestamptz`.
    Instant,
}

/// Inserts many rows, each a `Vec` of `columns.len()` values in the order of `columns`,
/// the fastest way each database takes a bulk insert (a close writes tens of thousands of
/// KPI items). `table` and the column names are the caller's constants, never input.
///
/// - PostgreSQL: [`ARRAY_ROWS`] rows to a statement, one array literal per column, bound
///   as text and read by `unnest($1::bigint[], $2::text[], …)`: one value to bind per column
///   instead of one per cell. Reading typed arrays costs PostgreSQL about a third less than
///   reading the same rows out of one `jsonb` array of arrays with a cast per cell (psql,
///   40,000 items: 300–340 ms against 410–455 ms, of which 190–200 ms is the insert itself).
/// - SQLite: multi-row `VALUES` of bound parameters, [`SQLITE_ROWS`] rows to a statement.
///   Binding a value costs SQLite less than reading it back out of JSON (`json_each` with
///   `->>` per cell took twice as long for a close's items), and a bound `f64` is stored
///   bit for bit.
///
/// Numbers given to PostgreSQL travel as text (Rust writes the shortest text that reads back
/// as the same `f64`), which it reads back exactly.
pub async fn insert_rows(
    db: &impl ConnectionTrait,
    table: &str,
    columns: &[(&str, Column)],
    rows: &[Vec<Value>],
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let names = columns
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ");
    if backend == DatabaseBackend::Postgres {
        let arrays: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, (_, kind))| {
                let element = match kind {
                    Column::BigInt => "bigint",
                    Column::Int => "integer",
                    Column::Text => "text",
                    Column::Real => "double precision",
                    Column::Bool => "boolean",
                    Column::Instant => "timestamptz",
                };
                format!("${}::{element}[]", i + 1)
            })
            .collect();
        let sql = format!(
            "INSERT INTO {table} ({names}) SELECT * FROM unnest({})",
            arrays.join(", ")
        );
        for chunk in rows.chunks(ARRAY_ROWS) {
            let mut values = Vec::with_capacity(columns.len());
            for (i, (name, _)) in columns.iter().enumerate() {
                let mut literal = String::with_capacity(chunk.len() * 8);
                literal.push('{');
                for (n, row) in chunk.iter().enumerate() {
                    if n > 0 {
                        literal.push(',');
                    }
                    array_element(&mut literal, &row[i])
                        .map_err(|e| DbErr::Custom(format!("{table}.{name}: {e}")))?;
                }
                literal.push('}');
                values.push(Value::from(literal));
            }
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                sql.as_str(),
                values,
            ))
            .await?;
        }
        return Ok(());
    }
    let per_statement = SQLITE_ROWS.min(SQLITE_MAX_PARAMETERS / columns.len().max(1));
    let row = format!("({})", vec!["?"; columns.len()].join(", "));
    for chunk in rows.chunks(per_statement) {
        let sql = format!(
            "INSERT INTO {table} ({names}) VALUES {}",
            vec![row.as_str(); chunk.len()].join(", ")
        );
        let values = chunk.iter().flat_map(|r| r.iter().cloned());
        db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
    }
    Ok(())
}

/// Rows per PostgreSQL statement of [`insert_rows`]: a few megabytes of array text.
const ARRAY_ROWS: usize = 20_000;
/// Rows per SQLite statement of [`insert_rows`] (more gains nothing measurable).
const SQLITE_ROWS: usize = 500;
/// SQLite's default limit on a statement's parameters.
const SQLITE_MAX_PARAMETERS: usize = 32_766;

/// Appends `value` to a PostgreSQL array literal as one element: `NULL`, a number as Rust
/// writes it (the shortest text that reads back as the same `f64`, never an exponent), a
/// boolean as `t` or `f`, and text double-quoted with `"` and `\` escaped.
fn array_element(out: &mut String, value: &Value) -> Result<(), String> {
    use std::fmt::Write;
    match value {
        Value::Bool(None)
        | Value::Int(None)
        | Value::BigInt(None)
        | Value::Double(None)
        | Value::String(None) => out.push_str("NULL"),
        Value::Bool(Some(b)) => out.push(if *b { 't' } else { 'f' }),
        Value::Int(Some(v)) => write!(out, "{v}").expect("writing to a String"),
        Value::BigInt(Some(v)) => write!(out, "{v}").expect("writing to a String"),
        Value::Double(Some(v)) if v.is_finite() => write!(out, "{v}").expect("writing to a String"),
        Value::Double(Some(v)) => return Err(format!("{v} is not a finite number")),
        Value::String(Some(text)) => {
            out.push('"');
            for c in text.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        other => return Err(format!("no array element for {other:?}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[rustfmt::skip]
    fn array_elements_are_written_as_postgresql_reads_them() {
        let cases: [(Value, &str); 12] = [
            (Value::BigInt(None), "NULL"),
            (Value::String(None), "NULL"),
            (Value::Bool(Some(true)), "t"),
            (Value::Int(Some(-7)), "-7"),
            (Value::BigInt(Some(i64::MAX)), "9223372036854775807"),
            (Value::Double(Some(0.1 + 0.2)), "0.30000000000000004"), // shortest text that reads back the same
            (Value::Double(Some(1e-7)), "0.0000001"),                 // never an exponent
            (Value::Double(Some(-0.0)), "-0"),
            (Value::String(Some("plain".into())), r#""plain""#),
            (Value::String(Some(r#"a "quote", a \ and {braces}"#.into())), r#""a \"quote\", a \\ and {braces}""#),
            (Value::String(Some("NULL".into())), r#""NULL""#),       // the word, not the null
            (Value::String(Some("Отчёт\n".into())), "\"Отчёт\n\""),
        ];
        for (value, written) in cases {
            let mut out = String::new();
            array_element(&mut out, &value).unwrap();
            assert_eq!(out, written, "{value:?}");
        }
        for (value, f) in [(0.1 + 0.2, 0.30000000000000004_f64), (1e-7, 1e-7), (2.0 / 3.0, 2.0 / 3.0)] {
            let mut out = String::new();
            array_element(&mut out, &Value::Double(Some(value))).unwrap();
            assert_eq!(out.parse::<f64>().unwrap().to_bits(), f.to_bits());
        }
        assert!(array_element(&mut String::new(), &Value::Double(Some(f64::NAN))).is_err());
    }
}
