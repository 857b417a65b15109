//! The read-only connections, used inline on the calling task: no thread hand-off per read.
//!
//! In WAL mode a reader never waits for the writer: it reads the last committed snapshot,
//! and a point read by primary key takes microseconds, less than waking another thread would
//! cost. The only waits left are SQLite's busy handler when another *process* holds an
//! exclusive lock or is recovering the WAL after a crash; readers give up on those after
//! [`READER_BUSY_TIMEOUT`], so a read never holds a runtime thread for longer.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::store::{StoreError, StoreResult};

/// How long a read waits on a lock held by another process before failing.
pub(super) const READER_BUSY_TIMEOUT: Duration = Duration::from_millis(250);

/// Statements each connection keeps prepared (every statement the store runs fits).
pub(super) const STATEMENT_CACHE: usize = 64;

/// A pool of idle read-only connections (cheap to clone).
#[derive(Debug, Clone)]
pub(super) struct Readers {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Idle connections kept (`database.max_connections`); more are opened when more
    /// threads read at once, and closed after use.
    max_idle: usize,
    closed: AtomicBool,
}

impl Readers {
    /// Readers of the database at `path` (which the writer has created and migrated),
    /// keeping up to `max_idle` connections; one is opened now, so an unreadable file fails
    /// here rather than at the first request.
    pub(super) fn open(path: &Path, max_idle: usize) -> anyhow::Result<Self> {
        let first = open_reader(path)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                idle: Mutex::new(vec![first]),
                max_idle: max_idle.max(1),
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// Runs `f` on a reader, on the calling thread.
    pub(super) fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(StoreError::Backend(anyhow::anyhow!(
                "the SQLite store is closed"
            )));
        }
        let idle = self.inner.idle().pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_reader(&self.inner.path)?,
        };
        let out = f(&conn);
        self.give_back(conn);
        out
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.inner.idle();
        if idle.len() < self.inner.max_idle && !self.inner.closed.load(Ordering::Acquire) {
            idle.push(conn);
        }
    }

    /// Closes the idle connections; later reads fail, and connections in use are closed
    /// when their read ends.
    pub(super) fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.idle().clear();
    }
}

impl Inner {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn open_reader(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| anyhow::anyhow!("could not open the SQLite database for reading: {e}"))?;
    conn.busy_timeout(READER_BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::queries::{Row as _, params};
    use crate::store::sqlite::sql::{execute, query_opt};

    fn readers(dir: &tempfile::TempDir) -> Readers {
        let path = dir.path().join("r.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (a TEXT)")
            .unwrap();
        Readers::open(&path, 2).unwrap()
    }

    /// A reader gives up on a lock held elsewhere after the short timeout, never the
    /// writer's ten seconds: it runs on a runtime thread.
    #[test]
    fn readers_wait_briefly_and_never_write() {
        let dir = tempfile::tempdir().unwrap();
        let readers = readers(&dir);
        let timeout = readers
            .read(|c| query_opt(c, "PRAGMA busy_timeout", &[], |r| r.int("timeout")))
            .unwrap();
        assert_eq!(
            timeout.map(|ms| ms as u128),
            Some(READER_BUSY_TIMEOUT.as_millis())
        );
        let write = readers.read(|c| execute(c, "INSERT INTO t (a) VALUES ($1)", &params!["x"]));
        assert!(write.is_err(), "read-only");
    }

    /// After `close`, reads fail instead of opening new connections.
    #[test]
    fn closed_readers_refuse_reads() {
        let dir = tempfile::tempdir().unwrap();
        let readers = readers(&dir);
        readers.close();
        assert!(readers.read(|_| Ok(())).is_err());
    }
}
