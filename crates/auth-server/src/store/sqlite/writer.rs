//! The writer thread: the one read-write connection, owned by a dedicated OS thread that
//! runs the transactions sent to it as closures.
//!
//! A store call that writes sends one job and awaits one reply, so a code redemption or a
//! refresh rotation is one thread hand-off each way however many statements it runs (sqlx
//! handed every statement, `BEGIN` and `COMMIT` included, to its connection thread and back).
//! One writer also means no two write transactions ever compete for SQLite's write lock:
//! jobs queue in the channel, in order, without sleeping in SQLite's busy handler.
//!
//! Group commit: the jobs waiting in the queue when the thread takes one (up to
//! [`MAX_BATCH`]) run in one transaction, each under its own savepoint, and are answered
//! after its `COMMIT`. A job that fails is rolled back to its savepoint alone; the others
//! commit. Pages that several jobs touch (a table's last leaf, the B-tree interiors) are
//! written to the WAL once per batch instead of once per job.

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::store::{StoreError, StoreResult};

/// The most jobs one transaction takes from the queue.
pub(super) const MAX_BATCH: usize = 64;

/// Why a batch's transaction did not commit (told to each of its jobs).
type BatchFailure = String;

/// A job as the thread runs it. Given the open batch, it runs its statements under its
/// savepoint and returns how to answer once the commit's outcome is known (`None` if it has
/// answered already, or nobody waits). Given a failure (the transaction could not start),
/// it answers with it without running.
type Job = Box<dyn FnOnce(Result<&Batch<'_>, &BatchFailure>) -> Option<Answer> + Send>;

/// Sends a job's reply once its batch committed (`Ok`) or failed.
type Answer = Box<dyn FnOnce(Result<(), &BatchFailure>) + Send>;

/// The open transaction of a batch.
struct Batch<'c> {
    conn: &'c Connection,
    /// Set when a job's changes could not be rolled back to its savepoint: the whole
    /// transaction must then be rolled back rather than commit them.
    broken: Cell<bool>,
}

impl Batch<'_> {
    /// Rolls back to (and releases) the savepoint of the job that just ran; on failure the
    /// batch is broken.
    fn undo_job(&self) {
        if let Err(e) = self.conn.execute_batch("ROLLBACK TO job; RELEASE job") {
            tracing::error!(error = %e, "could not roll a SQLite write job back");
            self.broken.set(true);
        }
    }
}

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

    /// Runs `f` on the writer thread inside a write transaction, under a savepoint of its
    /// own: its changes commit if it returns `Ok`, and are rolled back otherwise (or if it
    /// panics). The reply comes after the commit. A job that waited longer than the queue
    /// timeout, or whose caller stopped waiting, is not run.
    pub(super) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
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
/// longer than `queue_timeout` since `queued_at`, otherwise run under a savepoint; the
/// outcome goes to `reply` once the batch's commit is known.
fn wrap<T, F>(
    queue_timeout: Duration,
    queued_at: Instant,
    f: F,
    reply: oneshot::Sender<StoreResult<T>>,
) -> Job
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
{
    Box::new(move |batch| {
        if reply.is_closed() {
            // The caller is gone (its request was cancelled): nobody would learn the
            // outcome, so the job is dropped as if it had never been sent.
            return None;
        }
        let batch = match batch {
            Ok(batch) if queued_at.elapsed() <= queue_timeout => batch,
            Ok(_) => {
                let _ = reply.send(Err(anyhow::anyhow!(
                    "the write waited more than {queue_timeout:?} for the SQLite writer"
                )
                .into()));
                return None;
            }
            Err(failure) => {
                let _ = reply.send(Err(batch_failed(failure)));
                return None;
            }
        };
        let outcome = savepoint(batch, f);
        Some(Box::new(move |committed: Result<(), &BatchFailure>| {
            let _ = reply.send(outcome.and_then(|value| {
                committed.map_err(batch_failed)?;
                Ok(value)
            }));
        }))
    })
}

fn batch_failed(failure: &BatchFailure) -> StoreError {
    StoreError::Backend(anyhow::anyhow!(
        "the SQLite write transaction failed: {failure}"
    ))
}

fn closed() -> StoreError {
    StoreError::Backend(anyhow::anyhow!("the SQLite store is closed"))
}

/// Runs `f` under the savepoint `job`: released (kept in the transaction) if it returns
/// `Ok`, rolled back otherwise.
fn savepoint<T>(
    batch: &Batch<'_>,
    f: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    batch.conn.prepare_cached("SAVEPOINT job")?.raw_execute()?;
    let outcome = f(batch.conn);
    if outcome.is_err() {
        batch.undo_job();
        return outcome;
    }
    if let Err(e) = batch
        .conn
        .prepare_cached("RELEASE job")
        .and_then(|mut release| release.raw_execute())
    {
        batch.undo_job();
        return Err(e.into());
    }
    outcome
}

/// The thread's loop: a batch at a time until `Close` or until every handle is gone.
fn serve(mut conn: Connection, receiver: &mpsc::Receiver<Message>) {
    let mut closing = None;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while closing.is_none() {
        let Ok(message) = receiver.recv() else { break };
        let mut next = Some(message);
        while let Some(message) = next.take() {
            match message {
                Message::Job(job) => batch.push(job),
                Message::Close(done) => closing = Some(done),
            }
            if closing.is_none() && batch.len() < MAX_BATCH {
                next = receiver.try_recv().ok();
            }
        }
        run_batch(&mut conn, &mut batch);
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

/// Runs the jobs of `batch` (emptying it) in one `BEGIN IMMEDIATE` transaction, then answers
/// each with the commit's outcome.
fn run_batch(conn: &mut Connection, batch: &mut Vec<Job>) {
    if batch.is_empty() {
        return;
    }
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let failure = e.to_string();
        for job in batch.drain(..) {
            job(Err(&failure));
        }
        return;
    }
    let open = Batch {
        conn,
        broken: Cell::new(false),
    };
    let answers: Vec<Answer> = batch
        .drain(..)
        .filter_map(|job| run_contained(&open, job))
        .collect();
    let committed = if open.broken.get() {
        Err("a job could not be rolled back alone, so the whole batch was".to_owned())
    } else {
        conn.execute_batch("COMMIT").map_err(|e| e.to_string())
    };
    if committed.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    for answer in answers {
        answer(committed.as_ref().map(|_| ()));
    }
}

/// Runs one job; a panic is contained (its caller sees the reply dropped) and rolled back to
/// the job's savepoint, so the batch and the thread go on.
fn run_contained(batch: &Batch<'_>, job: Job) -> Option<Answer> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| job(Ok(batch)))) {
        Ok(answer) => answer,
        Err(_) => {
            tracing::error!("a SQLite write job panicked; its changes were rolled back");
            batch.undo_job();
            None
        }
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

    /// Jobs queued together share one transaction but not their fate: the one that fails
    /// half-way is rolled back alone, its neighbours before and after it commit.
    #[tokio::test]
    async fn jobs_of_one_batch_commit_or_fail_each_on_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir).await;
        w.write(|tx| execute(tx, "INSERT INTO t (a) VALUES ($1)", &params!["taken"]))
            .await
            .unwrap();
        // Hold the writer inside a job until every other job is queued behind it.
        let (open_gate, gate) = std::sync::mpsc::channel::<()>();
        let (reply, held) = oneshot::channel();
        let wait = move |_: &Connection| gate.recv().map_err(|e| anyhow::Error::new(e).into());
        w.send_raw(wrap(w.queue_timeout, Instant::now(), wait, reply));
        let insert = |values: &'static [&'static str]| {
            let (reply, answer) = oneshot::channel();
            let job = move |tx: &Connection| {
                for v in values {
                    execute(tx, "INSERT INTO t (a) VALUES ($1)", &params![*v])?;
                }
                Ok(())
            };
            w.send_raw(wrap(w.queue_timeout, Instant::now(), job, reply));
            answer
        };
        let (a, b, c) = (insert(&["a"]), insert(&["b", "taken"]), insert(&["c"]));
        open_gate.send(()).unwrap();
        held.await.unwrap().unwrap();
        assert!(a.await.unwrap().is_ok());
        assert!(matches!(b.await.unwrap(), Err(StoreError::Conflict)));
        assert!(c.await.unwrap().is_ok());
        let rows = w
            .write(|tx| {
                crate::store::sqlite::sql::query_all(tx, "SELECT a FROM t ORDER BY a", &[], |r| {
                    crate::store::queries::Row::text(r, "a")
                })
            })
            .await
            .unwrap();
        assert_eq!(rows, ["a", "c", "taken"], "b's first insert went with it");
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
        let job = move |_: &Connection| {
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
        let job = move |_: &Connection| {
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
