//! The PostgreSQL backend: the same SQL as SQLite (see `store/sql.rs`), on a `PgPool`, with
//! its own `migrations/postgres/`. Selected by a `postgres://` `database.url`.

use std::str::FromStr;

use sqlx::PgConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};

use super::PoolOptions;

/// Migrations, in order: (version, SQL).
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        include_str!("../../migrations/postgres/0002_server_secrets.sql"),
    ),
    (
        3,
        include_str!("../../migrations/postgres/0003_one_active_key.sql"),
    ),
    (
        4,
        include_str!("../../migrations/postgres/0004_rate_limits.sql"),
    ),
];

/// `pg_advisory_lock` key serialising migrations ("authsrv" in ASCII).
const MIGRATION_LOCK: i64 = 0x0061_7574_6873_7276;

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The same pool: PostgreSQL runs concurrent writers itself (row locks).
    writer: PgPool,
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
            let migrated = Self::migrate_on(&mut conn, MIGRATIONS).await;
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
        Ok(Self {
            writer: pool.clone(),
            pool,
        })
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

super::sql::sql_store!(PgStore, "postgres", sqlx::Postgres, PgRow, PgConnection);
