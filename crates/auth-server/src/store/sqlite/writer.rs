//! The writer thread: the one read-write connection, owned by a dedicated OS thread that
//! runs whole transactions sent to it as closures.
//!
//! A store call that writes sends one job and awaits one reply, so a code redemption or a
//! refresh rotation is one thread hand-off each way however many statements it runs (sqlx
//! handed every statement, `BEGIN` and `COMMIT` included, to its connection thread and back).
//! One writer also means no two write transactions ever compete for SQLite's write lock:
//! jobs queue in the channel, in order, without sleeping in SQLite's busy handler.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use crate::store::{StoreError, StoreResult};

/// A job as the thread runs it: given the connection, it runs and replies by itself.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

enum Message {
    /// Run this job.
    Job(Job),
    /// Checkpoint the WAL, close the connection, say so and stop.
    Close(oneshot::Sender<()>),
}

/// The handle on the writer thread (cheap to clone; the thread stops when every handle is
/// dropped or on [`Writer::close`]).
#[derive(Debug, Clone)]
pub(super) struct Writer {
    sender: mpsc::Sender<Message>,
    /// How long a job may wait in the queue before it is refused unrun
    /// (`database.acquire_timeout_seconds`).
    queue_timeout: Duration,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Job(_) => "Job",
            Self::Close(_) => "Close",
        })
    }
}

impl Writer {
    /// Starts the thread: it opens the connection with `open` (which also migrates) and then
    /// serves jobs. Returns once the connection is open, or with `open`'s error.
    pub(super) async fn start(
        path: &Path,
        queue_timeout: Duration,
        open: fn(&Path) -> anyhow::Result<Connection>,
    ) -> anyhow::Result<Self> {
        let (sender, receiver) = mpsc::channel();
        let (ready, opened) = oneshot::channel();
        let path = path.to_owned();
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || match open(&path) {
                Ok(conn) => {
                    let _ = ready.send(Ok(()));
                    serve(conn, &receiver);
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                }
            })?;
        opened
            .await
            .map_err(|_| anyhow::anyhow!("the SQLite writer thread stopped while opening"))??;
        Ok(Self {
            sender,
            queue_timeout,
        })
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction on the writer thread: committed if `f`
    /// returns `Ok`, rolled back otherwise (or if it panics). A job that waited longer than
    /// the queue timeout, or whose caller stopped waiting, is not run.
    pub(super) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = wrap(self.queue_timeout, Instant::now(), f, reply);
        self.sender.send(Message::Job(job)).map_err(|_| closed())?;
        answer.await.map_err(|_| {
            StoreError::Backend(anyhow::anyhow!(
                "the SQLite writer dropped the write (store closed, or the job panicked)"
            ))
        })?
    }

    /// Stops the thread after the jobs already sent: checkpoints the WAL into the database
    /// file and closes the connection. Jobs sent afterwards fail.
    pub(super) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.sender.send(Message::Close(done)).is_ok() {
            let _ = closed.await;
        }
    }

    #[cfg(test)]
    fn send_raw(&self, job: Job) {
        self.sender.send(Message::Job(job)).expect("writer running");
    }
}

/// The job the thread runs for `f`: skipped if its caller is gone, refused if it waited
/// longer than `queue_timeout` since `queued_at`, otherwise run in a transaction; the outcome
/// goes to `reply`.
fn wrap<T, F>(
    queue_timeout: Duration,
    queued_at: Instant,
    f: F,
    reply: oneshot::Sender<StoreResult<T>>,
) -> Job
where
    T: Send + 'static,
    F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
{
    Box::new(move |conn| {
        if reply.is_closed() {
            // The caller is gone (its request was cancelled): nobody would learn the
            // outcome, so the job is dropped as if it had never been sent.
            return;
        }
        let outcome = if queued_at.elapsed() > queue_timeout {
            Err(anyhow::anyhow!(
                "the write waited more than {queue_timeout:?} for the SQLite writer"
            )
            .into())
        } else {
            transaction(conn, f)
        };
        let _ = reply.send(outcome);
    })
}

fn closed() -> StoreError {
    StoreError::Backend(anyhow::anyhow!("the SQLite store is closed"))
}

fn transaction<T>(
    conn: &mut Connection,
    f: impl FnOnce(&Transaction<'_>) -> StoreResult<T>,
) -> StoreResult<T> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}

/// The thread's loop: one job at a time until `Close` or until every handle is gone.
fn serve(mut conn: Connection, receiver: &mpsc::Receiver<Message>) {
    let mut closing = None;
    while let Ok(message) = receiver.recv() {
        match message {
            Message::Job(job) => run(&mut conn, job),
            Message::Close(done) => {
                closing = Some(done);
                break;
            }
        }
    }
    // The last connection to close would checkpoint too, but a reader may still be open.
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(error = %e, "could not checkpoint the SQLite WAL at close");
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "could not close the SQLite writer connection");
    }
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

/// Runs one job; a panic is contained (the caller sees its reply dropped) and whatever
/// transaction it left open is rolled back, so the thread goes on serving.
fn run(conn: &mut Connection, job: Job) {
    if std::panic::catch_unwind(AssertUnwindSafe(|| job(conn))).is_err() {
        tracing::error!("a SQLite write job panicked; its transaction was rolled back");
    }
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        tracing::error!(error = %e, "could not roll back after a failed SQLite write job");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::store::queries::params;
    use crate::store::sqlite::sql::{execute, query_opt};

    fn open(path: &Path) -> anyhow::Result<Connection> {
        let conn = Connection::open(path)?;
        conn.execute_batch("PRAGMA journal_mode = WAL")?;
        conn.execute_batch("CREATE TABLE IF NOT EXISTS t (a TEXT PRIMARY KEY)")?;
        Ok(conn)
    }

    async fn writer(dir: &tempfile::TempDir) -> Writer {
        Writer::start(&dir.path().join("w.db"), Duration::from_secs(5), open)
            .await
            .unwrap()
    }

    async fn count(w: &Writer) -> i64 {
        w.write(|tx| {
            query_opt(tx, "SELECT COUNT(*) AS n FROM t", &[], |r| {
                crate::store::queries::Row::int(r, "n")
            })
            .map(Option::unwrap_or_default)
        })
        .await
        .unwrap()
    }

    /// A job that fails half-way leaves nothing behind: its first insert is rolled back
    /// with it, and the thread serves the next job.
    #[tokio::test]
    async fn a_failing_job_rolls_back_all_of_it_and_the_thread_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir).await;
        w.write(|tx| execute(tx, "INSERT INTO t (a) VALUES ($1)", &params!["taken"]))
            .await
            .unwrap();
        let failed = w
            .write(|tx| {
                execute(tx, "INSERT INTO t (a) VALUES ($1)", &params!["new"])?;
                execute(tx, "INSERT INTO t (a) VALUES ($1)", &params!["taken"])
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Conflict)), "{failed:?}");
        assert_eq!(count(&w).await, 1, "the job's first insert was rolled back");
    }

    /// A job that panics inside its transaction is contained: the caller gets an error, the
    /// transaction is rolled back and later jobs still run.
    #[tokio::test]
    async fn a_panicking_job_does_not_stop_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir).await;
        let panicked = w
            .write(|tx| -> StoreResult<()> {
                execute(tx, "INSERT INTO t (a) VALUES ($1)", &params!["x"])?;
                panic!("job bug")
            })
            .await;
        assert!(panicked.is_err());
        assert_eq!(count(&w).await, 0, "rolled back");
        w.write(|tx| execute(tx, "INSERT INTO t (a) VALUES ($1)", &params!["y"]))
            .await
            .unwrap();
        assert_eq!(count(&w).await, 1);
    }

    /// A job that waited in the queue past the timeout is refused without running; a job
    /// whose caller has gone is dropped without running.
    #[tokio::test]
    async fn stale_and_abandoned_jobs_do_not_run() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir).await;
        // Sent "long ago": the queue timeout has passed.
        let (reply, answer) = oneshot::channel();
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let job = move |_: &Transaction<'_>| {
            flag.store(true, Ordering::SeqCst);
            Ok(())
        };
        let queued_at = Instant::now().checked_sub(Duration::from_secs(1)).unwrap();
        w.send_raw(wrap(Duration::from_millis(1), queued_at, job, reply));
        assert!(answer.await.unwrap().is_err(), "refused");
        assert!(!ran.load(Ordering::SeqCst), "never ran");
        // Abandoned: the caller dropped its receiver before the job ran.
        let (reply, answer) = oneshot::channel::<StoreResult<()>>();
        drop(answer);
        let flag = ran.clone();
        let job = move |_: &Transaction<'_>| {
            flag.store(true, Ordering::SeqCst);
            Ok(())
        };
        w.send_raw(wrap(w.queue_timeout, Instant::now(), job, reply));
        assert_eq!(count(&w).await, 0, "the writer went past it");
        assert!(!ran.load(Ordering::SeqCst), "never ran");
    }

    /// After `close`, the WAL is folded into the database file and writes fail.
    #[tokio::test]
    async fn close_checkpoints_and_later_writes_fail() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir).await;
        w.write(|tx| execute(tx, "INSERT INTO t (a) VALUES ($1)", &params!["x"]))
            .await
            .unwrap();
        w.close().await;
        let wal = std::fs::metadata(dir.path().join("w.db-wal")).map_or(0, |m| m.len());
        assert_eq!(wal, 0, "checkpointed");
        assert!(w.write(|_| Ok(())).await.is_err());
    }
}
