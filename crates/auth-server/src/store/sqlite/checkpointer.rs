//! WAL checkpoints on a thread of their own, off the writer's path.
//!
//! A checkpoint copies the pages committed to the WAL into the database file and syncs both
//! (`synchronous = NORMAL` syncs only there). Run by the writer (SQLite's automatic
//! checkpoint, every 1,000 pages), it took about a third of the writer thread's time under a
//! refresh load, during which every write waited. Here the writer only counts its commits
//! and, every [`COMMITS_PER_CHECKPOINT`], wakes this thread, which runs a `PASSIVE`
//! checkpoint on its own connection: it never waits for the writer or the readers, and the
//! writer goes on appending meanwhile (and starts the WAL over once it has all been copied).

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags};

/// Commits between checkpoints (a refresh commits about ten pages: close to SQLite's default
/// of a checkpoint every 1,000 pages).
pub(super) const COMMITS_PER_CHECKPOINT: u32 = 100;

/// The writer's handle on the checkpoint thread.
#[derive(Debug)]
pub(super) struct Checkpointer {
    wake: Option<mpsc::SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    commits: u32,
}

impl Checkpointer {
    /// Starts the thread, with its own read-write connection to the database at `path`.
    pub(super) fn start(path: &Path) -> anyhow::Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch("PRAGMA synchronous = NORMAL")?;
        // One pending wake-up is enough: a checkpoint copies everything committed so far.
        let (wake, woken) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".to_owned())
            .spawn(move || {
                while woken.recv().is_ok() {
                    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                        tracing::warn!(error = %e, "SQLite WAL checkpoint failed");
                    }
                }
            })?;
        Ok(Self {
            wake: Some(wake),
            thread: Some(thread),
            commits: 0,
        })
    }

    /// Counts a commit; every [`COMMITS_PER_CHECKPOINT`] wakes the thread (never blocks).
    pub(super) fn committed(&mut self) {
        self.commits += 1;
        if self.commits >= COMMITS_PER_CHECKPOINT {
            self.commits = 0;
            self.wake_up();
        }
    }

    fn wake_up(&self) {
        if let Some(wake) = &self.wake {
            // Full = a checkpoint is already pending.
            let _ = wake.try_send(());
        }
    }

    /// Stops the thread after the checkpoint it was asked for, and closes its connection.
    pub(super) fn stop(mut self) {
        drop(self.wake.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the SQLite checkpoint thread panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `COMMITS_PER_CHECKPOINT` commits, the thread copies the WAL into the database
    /// file while the writing connection, which never checkpoints itself, stays open.
    #[test]
    fn commits_wake_a_checkpoint_that_fills_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE t (a TEXT)",
            )
            .unwrap();
        let mut checkpointer = Checkpointer::start(&path).unwrap();
        let marker = "checkpointed-marker";
        for i in 0..COMMITS_PER_CHECKPOINT {
            writer
                .execute("INSERT INTO t (a) VALUES (?1)", [format!("{marker}-{i}")])
                .unwrap();
            assert!(
                !String::from_utf8_lossy(&std::fs::read(&path).unwrap()).contains(marker),
                "only the WAL holds the rows before the checkpoint"
            );
            checkpointer.committed();
        }
        checkpointer.stop();
        let file = std::fs::read(&path).unwrap();
        let last = format!("{marker}-{}", COMMITS_PER_CHECKPOINT - 1);
        assert!(String::from_utf8_lossy(&file).contains(&last));
        drop(writer);
    }
}
