//! The embedded SQLite backend: a file in the data directory, WAL journal, migrations from
//! `migrations/sqlite/` run at start. Runtime queries only (no compile-time database).

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
    pool: SqlitePool,
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

    /// Opens a `sqlite:` URL.
    pub async fn open_url(url: &str, pool: PoolOptions) -> anyhow::Result<Self> {
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
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(pool.max_connections)
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(options)
            .await
            .context("could not open the SQLite database")?;
        let mut conn = pool.acquire().await?;
        Self::migrate_on(&mut conn, MIGRATIONS).await?;
        drop(conn);
        let store = Self { pool };
        Ok(store)
    }
}

super::sql::sql_store!(
    SqliteStore,
    "sqlite",
    sqlx::Sqlite,
    SqliteRow,
    SqliteConnection
);
