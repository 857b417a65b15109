//! The embedded SQLite backend: a file in the data directory, WAL journal, migrations from
//! `migrations/sqlite/` run at start. Runtime queries only (no compile-time database).
//!
//! SQLite runs one write transaction at a time. With several connections writing, the losers
//! wait in SQLite's busy handler, which sleeps 1, 2, 5, ... 100 ms between retries: under load
//! most of a request's time went to those sleeps. So every write goes through one writer
//! connection, where concurrent writers queue in the pool (async, FIFO, no sleeping), and
//! reads use a pool of read-only connections that WAL lets run beside the writer. A write
//! sent to a reader by mistake fails (`attempt to write a readonly database`), it is never
//! silently racing.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqliteConnection;

use super::PoolOptions;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};

/// Migrations, in order: (version, SQL).
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_initial.sql")),
    (
        2,
        include_str!("../../migrations/sqlite/0002_server_secrets.sql"),
    ),
    (
        3,
        include_str!("../../migrations/sqlite/0003_one_active_key.sql"),
    ),
    (
        4,
        include_str!("../../migrations/sqlite/0004_rate_limits.sql"),
    ),
];

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Read-only connections (`database.max_connections` of them).
    pool: SqlitePool,
    /// The one connection that writes.
    writer: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and runs the migrations.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        Self::open_with(path, PoolOptions::default()).await
    }

    /// Opens the file at `path` with a pool sized by `pool`.
    pub async fn open_with(path: &Path, pool: PoolOptions) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self::connect(options, pool).await
    }

    /// Opens a `sqlite:` URL. An in-memory database is refused: it would be lost at exit,
    /// and each connection would see its own.
    pub async fn open_url(url: &str, pool: PoolOptions) -> anyhow::Result<Self> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            anyhow::bail!("an in-memory SQLite database is not supported: give a file ({url:?})");
        }
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("invalid sqlite URL {url:?}"))?
            .create_if_missing(true);
        Self::connect(options, pool).await
    }

    async fn connect(options: SqliteConnectOptions, pool: PoolOptions) -> anyhow::Result<Self> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Only another process writing the same file (`auth-server user add` beside a
            // running server) can still make the writer wait here.
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(options.clone())
            .await
            .context("could not open the SQLite database")?;
        let mut conn = writer.acquire().await?;
        Self::migrate_on(&mut conn, MIGRATIONS).await?;
        drop(conn);
        let readers = SqlitePoolOptions::new()
            .max_connections(pool.max_connections)
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(options.read_only(true))
            .await
            .context("could not open the SQLite database for reading")?;
        Ok(Self {
            pool: readers,
            writer,
        })
    }
}

super::sql::sql_store!(
    SqliteStore,
    "sqlite",
    sqlx::Sqlite,
    SqliteRow,
    SqliteConnection
);
