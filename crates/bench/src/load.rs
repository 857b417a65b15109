//! The load generator: a fixed number of persistent HTTP/1.1 connections, each kept busy
//! (one request in flight at a time, the next sent as soon as the last answer is read) for
//! a warm-up and then a measured window. Every iteration completed inside the window is
//! timed into an HDR histogram; the server's and the generator's CPU time are read at the
//! window's edges.
//!
//! Underneath, [`run_schedule`] loads one or more [`Target`]s (servers, each with its own
//! connections) in turn, one [`Slice`] at a time: only the slice's target works, the other
//! targets' connections wait idle. [`interleaved`] builds the schedule that compares two
//! servers: short slices in the order A B B A A B …, so that a drift of the machine's speed
//! (another tenant, a frequency change) falls on both alike instead of on whichever server
//! happened to run second.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use tokio::sync::{Barrier, Notify};

use crate::http::Http;
use crate::procfs::{self, Pid};

/// How one iteration ended.
#[derive(Debug)]
pub enum Outcome {
    /// Every response was 2xx or 3xx and passed the scenario's checks.
    Ok,
    /// A response was not 2xx/3xx, or failed a check. `kind` groups the count (for
    /// example `HTTP 400`), `detail` is kept once per kind for the report.
    Failed {
        /// The error class.
        kind: String,
        /// One example.
        detail: String,
    },
    /// The connection broke: it is opened again (and prepared again).
    Broken(String),
    /// Nothing left to send (pre-minted codes ran out); the connection stops.
    Exhausted,
}

impl Outcome {
    /// A failure from an unexpected response.
    pub fn failed(kind: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Failed {
            kind: kind.into(),
            detail: detail.into(),
        }
    }
}

/// One connection's part of a scenario.
pub trait Connection: Send + 'static {
    /// Runs once on each new connection, before the warm-up and outside the measurement
    /// (for example the MCP `initialize` handshake).
    fn prepare(&mut self, http: &mut Http) -> impl Future<Output = Result<()>> + Send {
        let _ = http;
        async { Ok(()) }
    }

    /// One unit of work (one request, or one whole flow).
    fn iteration(&mut self, http: &mut Http) -> impl Future<Output = Outcome> + Send;
}

/// Warm-up and measured window.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Load before measuring.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
}

/// One server and the connections that load it.
#[derive(Debug)]
pub struct Target<C> {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The `Host` header to send.
    pub host: String,
    /// Its process, for its CPU time.
    pub server: Pid,
    /// The connections, each kept busy while this target's slice runs.
    pub connections: Vec<C>,
}

/// One step of a schedule: `target` is loaded for `settle` (not measured), then for
/// `measure` (measured); the other targets' connections wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    /// Index into the targets.
    pub target: usize,
    /// Load before the measurement (the warm-up, or the settling after a switch).
    pub settle: Duration,
    /// The measured part (zero for a warm-up only).
    pub measure: Duration,
}

/// After a switch, how long the newly loaded server runs before its slice is measured:
/// the requests still in flight to the other one finish, idle threads wake up.
pub const SWITCH_SETTLE: Duration = Duration::from_millis(200);

/// The schedule comparing targets 0 and 1: each warmed up in turn, then `timing.duration`
/// of measurement each, cut into slices of at most `slice` in the order 0 1 1 0 0 1 1 0 …
/// (every pair of adjacent slices holds one of each, and a steady drift of the machine's
/// speed adds as much to one target as to the other over each four slices).
pub fn interleaved(timing: Timing, slice: Duration) -> Vec<Slice> {
    let slice = slice.max(Duration::from_millis(1));
    let count = timing.duration.as_secs_f64() / slice.as_secs_f64();
    let count = (count.ceil() as u32).max(1);
    let measure = timing.duration / count;
    let mut schedule = vec![
        Slice {
            target: 0,
            settle: timing.warmup,
            measure: Duration::ZERO,
        },
        Slice {
            target: 1,
            settle: timing.warmup,
            measure: Duration::ZERO,
        },
    ];
    for pair in 0..count {
        let order = if pair % 2 == 0 { [0, 1] } else { [1, 0] };
        for target in order {
            schedule.push(Slice {
                target,
                settle: SWITCH_SETTLE,
                measure,
            });
        }
    }
    schedule
}

/// What one run measured.
#[derive(Debug)]
pub struct Measured {
    /// The window's real length (the sum of the target's measured slices).
    pub window: Duration,
    /// Iterations that succeeded inside the window.
    pub units: u64,
    /// Latency of those, in microseconds.
    pub latency_us: Histogram<u64>,
    /// Failed iterations (warm-up and window), by kind.
    pub errors: BTreeMap<String, u64>,
    /// One example per error kind.
    pub error_samples: BTreeMap<String, String>,
    /// Connections that ran out of work before the end.
    pub exhausted_connections: usize,
    /// Server CPU time (user + system) during the window.
    pub server_cpu: Duration,
    /// This process's CPU time during the window.
    pub generator_cpu: Duration,
    /// Each measured slice of this target, in run order.
    pub slices: Vec<SliceCount>,
}

/// One measured slice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SliceCount {
    /// Its real length.
    pub window: Duration,
    /// Iterations that succeeded inside it.
    pub units: u64,
}

impl Measured {
    /// Failed iterations.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// How long a connection may take to finish after the window closes (a request still in
/// flight) before it is abandoned and counted as an error.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `connections` (one task and one HTTP connection each) against `addr` for
/// `timing.warmup` and then `timing.duration`, measuring `server`'s CPU time over the window.
pub async fn run<C: Connection>(
    addr: SocketAddr,
    host: &str,
    connections: Vec<C>,
    timing: Timing,
    server: Pid,
) -> Result<Measured> {
    let target = Target {
        addr,
        host: host.to_owned(),
        server,
        connections,
    };
    let schedule = [Slice {
        target: 0,
        settle: timing.warmup,
        measure: timing.duration,
    }];
    let mut measured = run_schedule(vec![target], &schedule).await?;
    measured.pop().context("no measurement")
}

/// Runs `schedule` over `targets` (one task and one HTTP connection per connection, all
/// opened and prepared first); returns what was measured of each target, in order.
pub async fn run_schedule<C: Connection>(
    targets: Vec<Target<C>>,
    schedule: &[Slice],
) -> Result<Vec<Measured>> {
    if let Some(slice) = schedule.iter().find(|s| s.target >= targets.len()) {
        bail!(
            "the schedule names target {} of {}",
            slice.target,
            targets.len()
        );
    }
    let total: usize = targets.iter().map(|t| t.connections.len()).sum();
    let ready = Arc::new(Barrier::new(total + 1));
    // Every connection is open before any task starts, so a failure leaves none waiting.
    let mut opened = Vec::with_capacity(targets.len());
    for target in targets {
        let mut connections = Vec::with_capacity(target.connections.len());
        for connection in target.connections {
            connections.push((connection, Http::connect(target.addr, &target.host).await?));
        }
        opened.push((target.server, connections));
    }
    let mut running = Vec::with_capacity(opened.len());
    for (server, connections) in opened {
        let phase = Arc::new(Phase::default());
        let mut tasks = Vec::with_capacity(connections.len());
        for (connection, http) in connections {
            tasks.push(tokio::spawn(drive(
                connection,
                http,
                new_histogram()?,
                phase.clone(),
                ready.clone(),
                schedule.len(),
            )));
        }
        running.push(Running {
            server,
            phase,
            tasks,
            window: Duration::ZERO,
            server_cpu: Duration::ZERO,
            generator_cpu: Duration::ZERO,
            windows: Vec::new(),
        });
    }
    ready.wait().await;
    for (index, slice) in schedule.iter().enumerate() {
        let target = &mut running[slice.target];
        target.phase.set(State::Run, index);
        tokio::time::sleep(slice.settle).await;
        if !slice.measure.is_zero() {
            let server_before = procfs::cpu_time(target.server)?;
            let self_before = procfs::cpu_time(Pid::This)?;
            let started = Instant::now();
            target.phase.set(State::Measure, index);
            tokio::time::sleep(slice.measure).await;
            target.phase.set(State::Run, index);
            let window = started.elapsed();
            target.server_cpu += procfs::cpu_time(target.server)?.saturating_sub(server_before);
            target.generator_cpu += procfs::cpu_time(Pid::This)?.saturating_sub(self_before);
            target.window += window;
            target.windows.push((index, window));
        }
        let next_is_another = schedule
            .get(index + 1)
            .is_none_or(|next| next.target != slice.target);
        if next_is_another {
            target.phase.set(State::Pause, index);
        }
    }
    for target in &running {
        target.phase.set(State::Stop, schedule.len());
    }
    let mut results = Vec::with_capacity(running.len());
    for target in running {
        results.push(target.finish().await?);
    }
    Ok(results)
}

/// A target while its tasks run.
struct Running {
    server: Pid,
    phase: Arc<Phase>,
    tasks: Vec<tokio::task::JoinHandle<ConnectionStats>>,
    window: Duration,
    server_cpu: Duration,
    generator_cpu: Duration,
    /// `(schedule index, real length)` of each measured slice.
    windows: Vec<(usize, Duration)>,
}

impl Running {
    /// Waits for the tasks (stopped) and adds up what they counted.
    async fn finish(self) -> Result<Measured> {
        let mut measured = Measured {
            window: self.window,
            units: 0,
            latency_us: new_histogram()?,
            errors: BTreeMap::new(),
            error_samples: BTreeMap::new(),
            exhausted_connections: 0,
            server_cpu: self.server_cpu,
            generator_cpu: self.generator_cpu,
            slices: self
                .windows
                .iter()
                .map(|&(_, window)| SliceCount { window, units: 0 })
                .collect(),
        };
        for task in self.tasks {
            let abort = task.abort_handle();
            match tokio::time::timeout(DRAIN_TIMEOUT, task).await {
                Ok(Ok(stats)) => {
                    for (slice, &(index, _)) in measured.slices.iter_mut().zip(&self.windows) {
                        slice.units += stats.slice_units[index];
                    }
                    measured.absorb(stats)?;
                }
                Ok(Err(e)) => measured.count_error("generator task failed", &e.to_string()),
                Err(_) => {
                    abort.abort();
                    measured.count_error(
                        "no answer",
                        "a request was still unanswered 30 s after the window closed",
                    );
                }
            }
        }
        Ok(measured)
    }
}

/// What a target's connections do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Wait (another target's slice runs).
    Pause = 0,
    /// Work, unmeasured.
    Run = 1,
    /// Work, and count what completes into the current slice.
    Measure = 2,
    /// Finish.
    Stop = 3,
}

/// A target's [`State`] and the schedule index it belongs to, in one atomic word, with a
/// wake-up for paused connections.
#[derive(Debug, Default)]
struct Phase {
    word: AtomicU64,
    changed: Notify,
}

impl Phase {
    fn set(&self, state: State, slice: usize) {
        self.word
            .store(((slice as u64) << 2) | state as u64, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    fn get(&self) -> (State, usize) {
        let word = self.word.load(Ordering::Relaxed);
        let state = match word & 3 {
            0 => State::Pause,
            1 => State::Run,
            2 => State::Measure,
            _ => State::Stop,
        };
        (state, (word >> 2) as usize)
    }

    /// Returns once the state is not [`State::Pause`] (at once if it is not).
    async fn unpaused(&self) -> (State, usize) {
        let now = self.get();
        if now.0 != State::Pause {
            return now; // the way of every iteration while working: one atomic load
        }
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Registered before the check, so a change between the two is not missed.
            notified.as_mut().enable();
            let now = self.get();
            if now.0 != State::Pause {
                return now;
            }
            notified.await;
        }
    }
}

fn new_histogram() -> Result<Histogram<u64>> {
    // 1 µs to 10 minutes, three significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).context("creating a histogram")
}

impl Measured {
    fn absorb(&mut self, stats: ConnectionStats) -> Result<()> {
        self.units += stats.units;
        self.latency_us
            .add(&stats.latency_us)
            .context("merging histograms")?;
        for (kind, n) in stats.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        for (kind, detail) in stats.error_samples {
            self.error_samples.entry(kind).or_insert(detail);
        }
        if stats.exhausted {
            self.exhausted_connections += 1;
        }
        Ok(())
    }

    fn count_error(&mut self, kind: &str, detail: &str) {
        *self.errors.entry(kind.to_owned()).or_default() += 1;
        self.error_samples
            .entry(kind.to_owned())
            .or_insert_with(|| detail.to_owned());
    }
}

#[derive(Debug)]
struct ConnectionStats {
    units: u64,
    latency_us: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    error_samples: BTreeMap<String, String>,
    exhausted: bool,
    /// Units completed in each slice of the schedule (by schedule index).
    slice_units: Vec<u64>,
}

impl ConnectionStats {
    fn error(&mut self, kind: String, detail: String) {
        *self.errors.entry(kind.clone()).or_default() += 1;
        self.error_samples.entry(kind).or_insert(detail);
    }
}

async fn drive<C: Connection>(
    mut connection: C,
    mut http: Http,
    latency_us: Histogram<u64>,
    phase: Arc<Phase>,
    ready: Arc<Barrier>,
    slices: usize,
) -> ConnectionStats {
    let mut stats = ConnectionStats {
        units: 0,
        latency_us,
        errors: BTreeMap::new(),
        error_samples: BTreeMap::new(),
        exhausted: false,
        slice_units: vec![0; slices],
    };
    let prepared = connection.prepare(&mut http).await;
    ready.wait().await;
    if let Err(e) = prepared {
        stats.error("prepare".to_owned(), format!("{e:#}"));
        return stats;
    }
    while phase.unpaused().await.0 != State::Stop {
        let started = Instant::now();
        let outcome = connection.iteration(&mut http).await;
        let elapsed = started.elapsed();
        match outcome {
            Outcome::Ok => {
                if let (State::Measure, slice) = phase.get() {
                    stats.units += 1;
                    stats.slice_units[slice] += 1;
                    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
                    stats.latency_us.saturating_record(micros.max(1));
                }
            }
            Outcome::Failed { kind, detail } => stats.error(kind, detail),
            Outcome::Broken(detail) => {
                stats.error("connection broken".to_owned(), detail);
                let again = async {
                    http.reconnect().await?;
                    connection.prepare(&mut http).await
                };
                if let Err(e) = again.await {
                    stats.error("reconnect".to_owned(), format!("{e:#}"));
                    // Do not spin on a server that is gone.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            Outcome::Exhausted => {
                stats.exhausted = true;
                break;
            }
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::net::TcpListener;

    use super::*;

    #[test]
    fn interleaving_warms_both_up_then_alternates_a_b_b_a() {
        let timing = Timing {
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(4),
        };
        let schedule = interleaved(timing, Duration::from_secs(1));
        let targets: Vec<usize> = schedule.iter().map(|s| s.target).collect();
        assert_eq!(targets, [0, 1, 0, 1, 1, 0, 0, 1, 1, 0]);
        for warmup in &schedule[..2] {
            assert_eq!(warmup.settle, timing.warmup);
            assert!(warmup.measure.is_zero());
        }
        for target in [0, 1] {
            let measured: Duration = schedule
                .iter()
                .filter(|s| s.target == target)
                .map(|s| s.measure)
                .sum();
            assert_eq!(measured, timing.duration, "target {target}");
        }
        // A window that does not divide evenly is cut into equal slices no longer than asked.
        let timing = Timing {
            warmup: Duration::ZERO,
            duration: Duration::from_millis(2500),
        };
        let schedule = interleaved(timing, Duration::from_secs(1));
        assert_eq!(schedule.len(), 2 + 6);
        assert!(
            schedule[2..]
                .iter()
                .all(|s| s.measure == Duration::from_nanos(833_333_333))
        );
    }

    /// A connection that works 1 ms per iteration and logs which target it belongs to.
    struct Logged {
        target: usize,
        log: Arc<Mutex<Vec<(Instant, usize)>>>,
    }

    impl Connection for Logged {
        async fn iteration(&mut self, _http: &mut Http) -> Outcome {
            self.log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((Instant::now(), self.target));
            tokio::time::sleep(Duration::from_millis(1)).await;
            Outcome::Ok
        }
    }

    /// Only the slice's target works; what completes inside a measured slice is counted in
    /// that slice; a warm-up counts nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_schedule_loads_one_target_at_a_time_and_counts_per_slice() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut targets = Vec::new();
        let mut listeners = Vec::new();
        for target in 0..2 {
            // The connections need something to connect to; the test's iterations send nothing.
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            listeners.push(tokio::spawn(async move {
                let mut open = Vec::new();
                while let Ok((stream, _)) = listener.accept().await {
                    open.push(stream);
                }
            }));
            targets.push(Target {
                addr,
                host: format!("localhost:{}", addr.port()),
                server: Pid::This,
                connections: (0..4)
                    .map(|_| Logged {
                        target,
                        log: log.clone(),
                    })
                    .collect(),
            });
        }
        let ms = Duration::from_millis;
        let schedule = [
            Slice {
                target: 0,
                settle: ms(50),
                measure: Duration::ZERO,
            },
            Slice {
                target: 1,
                settle: ms(50),
                measure: ms(150),
            },
            Slice {
                target: 0,
                settle: ms(50),
                measure: ms(150),
            },
            Slice {
                target: 0,
                settle: ms(50),
                measure: ms(150),
            },
            Slice {
                target: 1,
                settle: ms(50),
                measure: ms(150),
            },
        ];
        let measured = run_schedule(targets, &schedule).await.unwrap();
        for listener in listeners {
            listener.abort();
        }
        assert_eq!(measured.len(), 2);
        for (target, m) in measured.iter().enumerate() {
            assert_eq!(m.slices.len(), 2, "target {target}");
            assert_eq!(m.slices.iter().map(|s| s.units).sum::<u64>(), m.units);
            assert!(
                m.slices.iter().all(|s| s.units > 0),
                "target {target}: {:?}",
                m.slices
            );
            assert_eq!(m.error_count(), 0);
            let window: Duration = m.slices.iter().map(|s| s.window).sum();
            assert_eq!(window, m.window);
            assert!(m.window >= ms(300), "target {target}: {:?}", m.window);
            assert_eq!(m.latency_us.len(), m.units);
        }
        // The log changes hands at each switch of target (0 → 1 → 0 → 1): three times,
        // give or take an iteration that had begun as a switch happened. Without the pause
        // the targets' iterations would alternate hundreds of times.
        let mut log = log.lock().unwrap().clone();
        log.sort_by_key(|(at, _)| *at);
        let switches = log.windows(2).filter(|w| w[0].1 != w[1].1).count();
        assert!(
            (3..=9).contains(&switches),
            "{switches} switches in {} iterations",
            log.len()
        );
        assert_eq!(log.first().map(|e| e.1), Some(0), "target 0 warms up first");
    }

    #[tokio::test]
    async fn a_schedule_naming_a_missing_target_is_refused() {
        let schedule = [Slice {
            target: 1,
            settle: Duration::ZERO,
            measure: Duration::from_millis(1),
        }];
        let err = run_schedule(Vec::<Target<Logged>>::new(), &schedule)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("target 1 of 0"), "{err}");
    }
}
