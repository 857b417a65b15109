//! The PostgreSQL backend: the same SQL as SQLite (see `store/sql.rs`), on a `PgPool`, with
//! its own `migrations/postgres/`. Selected by a `postgres://` `database.url`.

use std::str::FromStr;

use sqlx::PgConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};

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
];

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` and runs the migrations.
    pub async fn open_url(url: &str) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url).context("invalid PostgreSQL URL")?;
        Self::connect(options).await
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
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}"
        )))
        .execute(&admin)
        .await?;
        admin.close().await;
        Self::connect(options.options([("search_path", schema)])).await
    }

    async fn connect(options: PgConnectOptions) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .context("could not connect to PostgreSQL")?;
        let store = Self { pool };
        store.migrate(MIGRATIONS).await?;
        Ok(store)
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
