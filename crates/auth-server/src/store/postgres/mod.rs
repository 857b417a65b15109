//! The PostgreSQL backend: the same statements as SQLite (`store/queries.rs`) on an sqlx
//! `PgPool`, with its own `migrations/postgres/`. Selected by a `postgres://` `database.url`.
//! PostgreSQL runs concurrent writers itself (row locks), so reads and writes share the pool.

mod roles;

use std::str::FromStr;

use anyhow::Context as _;
use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection as _, PgConnection, Postgres, Row as _};

use super::queries::{self, Param, params};
use super::{Lifecycle, PoolOptions, StoreError, StoreResult};

/// Migrations, in order: (version, SQL).
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        include_str!("../../../migrations/postgres/0002_server_secrets.sql"),
    ),
    (
        3,
        include_str!("../../../migrations/postgres/0003_one_active_key.sql"),
    ),
    (
        4,
        include_str!("../../../migrations/postgres/0004_rate_limits.sql"),
    ),
    (
        5,
        include_str!("../../../migrations/postgres/0005_lean_rotation.sql"),
    ),
];

/// `pg_advisory_lock` key serialising migrations ("authsrv" in ASCII).
const MIGRATION_LOCK: i64 = 0x0061_7574_6873_7276;

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` with a pool sized by `pool` and runs the migrations.
    pub async fn open_url(url: &str, pool: PoolOptions) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url).context("invalid PostgreSQL URL")?;
        Self::connect(options, pool).await
    }

    /// Connects to `url` with every table in `schema` (created if missing): isolated
    /// databases for tests, or several servers sharing one database.
    pub async fn open_in_schema(url: &str, schema: &str) -> anyhow::Result<Self> {
        if !schema
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            anyhow::bail!("schema names may only use ASCII letters, digits and _");
        }
        let options = PgConnectOptions::from_str(url).context("invalid PostgreSQL URL")?;
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .context("could not connect to PostgreSQL")?;
        let create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
        // Two concurrent CREATE SCHEMA IF NOT EXISTS may collide on the catalog; the retry
        // then finds the schema.
        if sqlx::raw_sql(sqlx::AssertSqlSafe(create.clone()))
            .execute(&admin)
            .await
            .is_err()
        {
            sqlx::raw_sql(sqlx::AssertSqlSafe(create))
                .execute(&admin)
                .await?;
        }
        admin.close().await;
        Self::connect(
            options.options([("search_path", schema)]),
            PoolOptions::default(),
        )
        .await
    }

    async fn connect(options: PgConnectOptions, pool: PoolOptions) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(pool.max_connections)
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(options)
            .await
            .context("could not connect to PostgreSQL")?;
        {
            // Instances starting together on a fresh database take turns: the first migrates,
            // the others find every version recorded. The lock is scoped to this connection.
            let mut conn = pool.acquire().await?;
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *conn)
                .await
                .context("could not take the migration lock")?;
            let migrated = migrate(&mut conn).await;
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *conn)
                .await;
            migrated?;
            if unlocked.is_err() {
                // Never hand a connection that may still hold the lock back to the pool.
                conn.detach();
            }
        }
        Ok(Self { pool })
    }

    /// Drops `schema` with everything in it (tests).
    pub async fn drop_schema(url: &str, schema: &str) -> anyhow::Result<()> {
        if !schema
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            anyhow::bail!("schema names may only use ASCII letters, digits and _");
        }
        let options = PgConnectOptions::from_str(url).context("invalid PostgreSQL URL")?;
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE"
        )))
        .execute(&admin)
        .await?;
        admin.close().await;
        Ok(())
    }
}

/// Runs the migrations not yet recorded in `schema_migrations`, each in its own
/// transaction, on one connection (which holds the advisory lock, so instances starting
/// together migrate one after the other).
async fn migrate(conn: &mut PgConnection) -> anyhow::Result<()> {
    sqlx::raw_sql(queries::CREATE_MIGRATIONS)
        .execute(&mut *conn)
        .await
        .context("could not create schema_migrations")?;
    for (version, sql) in MIGRATIONS {
        let mut tx = conn.begin().await?;
        if fetch_opt(
            &mut *tx,
            queries::MIGRATION_APPLIED,
            &params![*version],
            |_| Ok(()),
        )
        .await?
        .is_some()
        {
            continue;
        }
        sqlx::raw_sql(*sql)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("migration {version} failed"))?;
        execute(&mut *tx, queries::RECORD_MIGRATION, &params![*version]).await?;
        tx.commit().await?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}

#[async_trait]
impl Lifecycle for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn max_connections(&self) -> u32 {
        self.pool.options().get_max_connections()
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return Self::Conflict;
        }
        Self::Backend(anyhow::Error::new(e))
    }
}

impl queries::Row for PgRow {
    fn text(&self, column: &str) -> StoreResult<String> {
        Ok(self.try_get(column)?)
    }

    fn opt_text(&self, column: &str) -> StoreResult<Option<String>> {
        Ok(self.try_get(column)?)
    }

    fn int(&self, column: &str) -> StoreResult<i64> {
        Ok(self.try_get(column)?)
    }

    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>> {
        Ok(self.try_get(column)?)
    }
}

/// `sql` with `params` bound to `$1`, `$2`, … in order.
fn bound<'q>(
    sql: &'static str,
    params: &'q [Param<'q>],
) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    params
        .iter()
        .fold(sqlx::query(sql), |query, param| match param {
            Param::Text(text) => query.bind(text.as_deref()),
            Param::Int(n) => query.bind(*n),
        })
}

/// Runs a statement that returns no rows; the number of rows it changed.
async fn execute<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    sql: &'static str,
    params: &[Param<'_>],
) -> StoreResult<u64> {
    Ok(bound(sql, params).execute(executor).await?.rows_affected())
}

/// Runs a statement and maps its first row, if any.
async fn fetch_opt<'e, T>(
    executor: impl sqlx::PgExecutor<'e>,
    sql: &'static str,
    params: &[Param<'_>],
    map: impl FnOnce(&PgRow) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    bound(sql, params)
        .fetch_optional(executor)
        .await?
        .as_ref()
        .map(map)
        .transpose()
}

/// Runs a statement and maps every row.
async fn fetch_all<'e, T>(
    executor: impl sqlx::PgExecutor<'e>,
    sql: &'static str,
    params: &[Param<'_>],
    map: impl FnMut(&PgRow) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    bound(sql, params)
        .fetch_all(executor)
        .await?
        .iter()
        .map(map)
        .collect()
}
