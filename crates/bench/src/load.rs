//! The load generator: a fixed number of persistent HTTP/1.1 connections, each kept busy
//! (one request in flight at a time, the next sent as soon as the last answer is read) for
//! a warm-up and then a measured window. Every iteration completed inside the window is
//! timed into an HDR histogram; the server's and the generator's CPU time are read at the
//! window's edges.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use tokio::sync::Barrier;

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

/// What one run measured.
#[derive(Debug)]
pub struct Measured {
    /// The window's real length.
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
}

impl Measured {
    /// Failed iterations.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

/// How long a connection may take to finish after the window closes (a request still in
/// flight) before it is abandoned and counted as an error.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `connections` (one task and one HTTP connection each) against `addr`, measuring
/// `server`'s CPU time over the window.
pub async fn run<C: Connection>(
    addr: SocketAddr,
    host: &str,
    connections: Vec<C>,
    timing: Timing,
    server: Pid,
) -> Result<Measured> {
    let phase = Arc::new(AtomicU8::new(WARMUP));
    let ready = Arc::new(Barrier::new(connections.len() + 1));
    // Every connection is open before any task starts, so a failure leaves none waiting.
    let mut opened = Vec::with_capacity(connections.len());
    for connection in connections {
        opened.push((
            connection,
            Http::connect(addr, host).await?,
            new_histogram()?,
        ));
    }
    let mut tasks = Vec::with_capacity(opened.len());
    for (connection, http, histogram) in opened {
        let (phase, ready) = (phase.clone(), ready.clone());
        tasks.push(tokio::spawn(drive(
            connection, http, histogram, phase, ready,
        )));
    }
    ready.wait().await;
    tokio::time::sleep(timing.warmup).await;
    let server_before = procfs::cpu_time(server)?;
    let self_before = procfs::cpu_time(Pid::This)?;
    let started = Instant::now();
    phase.store(MEASURE, Ordering::SeqCst);
    tokio::time::sleep(timing.duration).await;
    phase.store(STOP, Ordering::SeqCst);
    let window = started.elapsed();
    let server_cpu = procfs::cpu_time(server)?.saturating_sub(server_before);
    let generator_cpu = procfs::cpu_time(Pid::This)?.saturating_sub(self_before);

    let mut measured = Measured {
        window,
        units: 0,
        latency_us: new_histogram()?,
        errors: BTreeMap::new(),
        error_samples: BTreeMap::new(),
        exhausted_connections: 0,
        server_cpu,
        generator_cpu,
    };
    for task in tasks {
        let abort = task.abort_handle();
        match tokio::time::timeout(DRAIN_TIMEOUT, task).await {
            Ok(Ok(stats)) => measured.absorb(stats)?,
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
    phase: Arc<AtomicU8>,
    ready: Arc<Barrier>,
) -> ConnectionStats {
    let mut stats = ConnectionStats {
        units: 0,
        latency_us,
        errors: BTreeMap::new(),
        error_samples: BTreeMap::new(),
        exhausted: false,
    };
    let prepared = connection.prepare(&mut http).await;
    ready.wait().await;
    if let Err(e) = prepared {
        stats.error("prepare".to_owned(), format!("{e:#}"));
        return stats;
    }
    while phase.load(Ordering::Relaxed) != STOP {
        let started = Instant::now();
        let outcome = connection.iteration(&mut http).await;
        let elapsed = started.elapsed();
        match outcome {
            Outcome::Ok => {
                if phase.load(Ordering::Relaxed) == MEASURE {
                    stats.units += 1;
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
