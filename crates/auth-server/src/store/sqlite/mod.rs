//! The embedded SQLite backend (rusqlite): a file in the data directory, WAL journal,
//! migrations from `migrations/sqlite/` run at start.
//!
//! SQLite runs one write transaction at a time, so every write goes to one writer thread
//! that owns the read-write connection (module `writer`): a store call that writes sends it the
//! whole transaction as one job and awaits one reply. Reads run inline on the calling task,
//! on a small pool of read-only connections (module `readers`): WAL lets them read the last
//! committed state beside the writer without waiting, in microseconds. A write sent to a
//! reader by mistake fails (`attempt to write a readonly database`); it never races.

mod readers;
mod roles;
mod sql;
mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use self::readers::Readers;
use self::sql::{execute, query_opt};
use self::writer::Writer;
use super::queries::{self, Row as _, params};
use super::{Lifecycle, PoolOptions};

/// Migrations, in order: (version, SQL).
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        include_str!("../../../migrations/sqlite/0002_server_secrets.sql"),
    ),
    (
        3,
        include_str!("../../../migrations/sqlite/0003_one_active_key.sql"),
    ),
    (
        4,
        include_str!("../../../migrations/sqlite/0004_rate_limits.sql"),
    ),
    (
        5,
        include_str!("../../../migrations/sqlite/0005_lean_rotation.sql"),
    ),
];

/// How long the writer waits for a write lock held by another process (`auth-server user
/// add` beside a running server); within this process writes never compete.
const WRITER_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The SQLite store (cheap to clone: every clone shares the writer and the readers).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    readers: Readers,
    writer: Writer,
    max_connections: u32,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and runs the migrations.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        Self::open_with(path, PoolOptions::default()).await
    }

    /// Opens the file at `path`: `pool.max_connections` idle readers are kept, and a write
    /// waits at most `pool.acquire_timeout` in the writer's queue.
    pub async fn open_with(path: &Path, pool: PoolOptions) -> anyhow::Result<Self> {
        let writer = Writer::start(path, pool.acquire_timeout, open_writer).await?;
        let max_idle = usize::try_from(pool.max_connections).unwrap_or(usize::MAX);
        let readers = match Readers::open(path, max_idle) {
            Ok(readers) => readers,
            Err(e) => {
                writer.close().await;
                return Err(e);
            }
        };
        Ok(Self {
            readers,
            writer,
            max_connections: pool.max_connections,
        })
    }

    /// Opens the file a `sqlite:PATH` or `sqlite://PATH` URL names (percent-decoded; the
    /// options `mode=rw|rwc` and `cache=private|shared` are accepted, anything else and
    /// in-memory databases are refused).
    pub async fn open_url(url: &str, pool: PoolOptions) -> anyhow::Result<Self> {
        Self::open_with(&sqlite_url_path(url)?, pool).await
    }
}

/// The file a `sqlite:PATH` or `sqlite://PATH` URL names (percent-decoded, so a `?` or `#`
/// in a file name can be written `%3F`, `%23`). The query may say `mode=rwc` or `mode=rw`
/// (the file is created if missing either way, as before) and `cache=private` or
/// `cache=shared` (no effect on a file); anything else is refused. An in-memory database is
/// refused: it would be lost at exit, and each connection would see its own.
fn sqlite_url_path(url: &str) -> anyhow::Result<PathBuf> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        anyhow::bail!("an in-memory SQLite database is not supported: give a file ({url:?})");
    }
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .with_context(|| format!("a SQLite URL starts with sqlite: ({url:?})"))?;
    let (file, query) = rest.split_once('?').unwrap_or((rest, ""));
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match (&*key, &*value) {
            ("mode", "rw" | "rwc") | ("cache", "private" | "shared") => {}
            _ => anyhow::bail!("unsupported SQLite URL option {key}={value} in {url:?}"),
        }
    }
    let file = percent_encoding::percent_decode_str(file)
        .decode_utf8()
        .with_context(|| format!("invalid SQLite URL {url:?}"))?;
    if file.is_empty() {
        anyhow::bail!("the SQLite URL names no file ({url:?})");
    }
    Ok(PathBuf::from(&*file))
}

/// Opens the read-write connection (creating the file), sets the journal and runs the
/// migrations. Runs on the writer thread.
fn open_writer(path: &Path) -> anyhow::Result<Connection> {
    create_owner_only(path)
        .with_context(|| format!("could not create the SQLite database {}", path.display()))?;
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("could not open the SQLite database {}", path.display()))?;
    conn.busy_timeout(WRITER_BUSY_TIMEOUT)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
    )?;
    conn.set_prepared_statement_cache_capacity(readers::STATEMENT_CACHE);
    migrate(&mut conn)?;
    Ok(conn)
}

/// Creates the database file readable by its owner only (0600) if it does not exist yet.
/// SQLite gives the `-wal` and `-shm` files it creates beside it the database file's
/// permissions, and the WAL holds the same secrets (signing keys, hashes) as the database.
/// An existing file keeps the permissions it has.
fn create_owner_only(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Runs the migrations not yet recorded in `schema_migrations`, each in its own
/// transaction.
fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    conn.execute_batch(queries::CREATE_MIGRATIONS)
        .context("could not create schema_migrations")?;
    for (version, sql) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let applied = query_opt(&tx, queries::MIGRATION_APPLIED, &params![*version], |r| {
            r.int("version")
        })?;
        if applied.is_some() {
            continue;
        }
        tx.execute_batch(sql)
            .with_context(|| format!("migration {version} failed"))?;
        execute(&tx, queries::RECORD_MIGRATION, &params![*version])?;
        tx.commit()?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}

#[async_trait]
impl Lifecycle for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn max_connections(&self) -> u32 {
        self.max_connections
    }

    /// Closes the readers, then the writer, which checkpoints the WAL into the file.
    async fn close(&self) {
        self.readers.close();
        self.writer.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The URL forms sqlx accepted still name the same file; options that would change the
    /// meaning are refused rather than ignored.
    #[test]
    fn sqlite_urls_name_their_file() {
        for (url, file) in [
            ("sqlite:/tmp/a.db", "/tmp/a.db"),
            ("sqlite:///tmp/a.db", "/tmp/a.db"),
            ("sqlite://a.db", "a.db"),
            ("sqlite:a.db?mode=rwc", "a.db"),
            ("sqlite://data/a%3Fb.db?mode=rw&cache=shared", "data/a?b.db"),
        ] {
            assert_eq!(sqlite_url_path(url).unwrap(), PathBuf::from(file), "{url}");
        }
        for url in [
            "sqlite::memory:",
            "sqlite://?mode=memory",
            "sqlite:a.db?mode=ro",
            "sqlite:a.db?vfs=unix-none",
            "sqlite:",
            "postgres://h/db",
        ] {
            assert!(sqlite_url_path(url).is_err(), "{url}");
        }
    }
}
