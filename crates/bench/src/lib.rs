//! `mcp-bench`: load benchmarks of the real `auth-server` and `resource-server` release
//! binaries over loopback.
//!
//! | module | what |
//! |---|---|
//! | [`servers`] | the binaries started per scenario on free ports, start-up and idle memory |
//! | [`load`] | the generator: fixed connections, warm-up, measured window, HDR histogram |
//! | [`http`] | one keep-alive HTTP/1.1 connection (hyper) |
//! | [`oauth`] | the OAuth requests: authorize (auto-approve), token, refresh |
//! | [`scenarios`] | what each report row measures |
//! | [`procfs`] | CPU time and memory from `/proc` |
//! | [`report`] | JSON and Markdown |
//!
//! [`run`] does a whole benchmark and returns its [`report::Report`].

pub mod http;
pub mod load;
pub mod oauth;
pub mod procfs;
pub mod report;
pub mod scenarios;
pub mod servers;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use mcp_auth_core::clock::{Clock, SystemClock};

use crate::load::Timing;
use crate::report::{
    Environment, Report, SCHEMA_VERSION, ScenarioResult, ServiceResult, median, median_ms, mib,
};
use crate::scenarios::{Bench, Spec};
use crate::servers::{Binaries, Site};

/// The workspace this crate was built in.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map_or_else(|| PathBuf::from("."), Path::to_owned)
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// `full` or `short` (recorded in the report).
    pub mode: String,
    /// Warm-up and window per scenario.
    pub timing: Timing,
    /// Connections kept busy.
    pub connections: usize,
    /// The scenarios, in order.
    pub scenarios: Vec<&'static Spec>,
    /// Starts per service for the start-up and idle-memory figures (0: none).
    pub startup_repeats: usize,
    /// How many times the scenarios run, in turn (at least 1).
    pub rounds: usize,
    /// Where the binaries are.
    pub bin_dir: PathBuf,
    /// Run each RS pair with and without authorization interleaved in slices of this length
    /// (when both are selected); `None`: one after the other.
    pub slice: Option<Duration>,
}

/// The `cargo` to call (the one running us, under `cargo run`).
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// The target directory: what `cargo metadata` says (it honours `CARGO_TARGET_DIR` and
/// `build.target-dir`), else `CARGO_TARGET_DIR`, else `<workspace>/target`.
pub fn target_dir(root: &Path) -> PathBuf {
    let from_cargo = Command::new(cargo())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
        .and_then(|v| v["target_directory"].as_str().map(PathBuf::from));
    from_cargo.unwrap_or_else(|| match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    })
}

/// `cargo build --release --locked -p auth-server -p resource-server`, so that the binaries
/// are those of the source tree. Returns how long it took.
pub fn build_release(root: &Path) -> Result<Duration> {
    let started = Instant::now();
    let status = Command::new(cargo())
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "auth-server",
            "-p",
            "resource-server",
        ])
        .current_dir(root)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --release failed ({status})");
    }
    Ok(started.elapsed())
}

/// Every criterion micro-benchmark of the workspace (the `[[bench]]` targets), its output
/// streamed; criterion keeps its reports under `<target>/criterion/`.
pub fn run_micro_benchmarks(root: &Path) -> Result<()> {
    let status = Command::new(cargo())
        .args(["bench", "--workspace", "--locked", "--bench", "*"])
        .current_dir(root)
        .status()
        .context("running cargo bench")?;
    if !status.success() {
        bail!("cargo bench failed ({status})");
    }
    Ok(())
}

/// Runs the start-up measurements and every scenario; returns the report.
pub fn run(options: &Options) -> Result<Report> {
    let bins = Binaries::in_dir(options.bin_dir.clone())?;
    let environment = environment(options);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the generator's runtime")?;
    let bench = Bench {
        bins: &bins,
        runtime: &runtime,
        connections: options.connections,
        timing: options.timing,
        slice: options.slice,
    };
    let services = if options.startup_repeats > 0 {
        eprintln!(
            "start-up and idle memory ({} starts per service)",
            options.startup_repeats
        );
        startups(&bins, options.startup_repeats)?
    } else {
        Vec::new()
    };
    let rounds = options.rounds.max(1);
    let steps = plan(&options.scenarios, options.slice.is_some());
    let mut runs: Vec<Vec<ScenarioResult>> = vec![Vec::new(); options.scenarios.len()];
    for round in 1..=rounds {
        if rounds > 1 {
            eprintln!("round {round} of {rounds}");
        }
        for step in &steps {
            match *step {
                Step::One(i) => {
                    let spec = options.scenarios[i];
                    eprintln!("{}: {}", spec.name, spec.about);
                    let row = scenarios::run(spec, &bench);
                    log_row(&row);
                    runs[i].push(row);
                }
                Step::Interleaved(a, b) => {
                    let (with, without) = (options.scenarios[a], options.scenarios[b]);
                    eprintln!(
                        "{} and {}, interleaved: {}; {}",
                        with.name, without.name, with.about, without.about
                    );
                    let rows = scenarios::run_pair(with, without, &bench);
                    for (i, row) in [a, b].into_iter().zip(rows) {
                        eprint!("  {}:", options.scenarios[i].name);
                        log_row(&row);
                        runs[i].push(row);
                    }
                }
            }
        }
    }
    let scenarios = runs.into_iter().map(median_round).collect();
    Ok(Report {
        schema: SCHEMA_VERSION,
        environment,
        scenarios,
        services,
    })
}

/// How the selected scenarios run: each alone, or (with `interleave`) a pair of
/// [`scenarios::PAIRS`] together where both are selected, at the place of the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// `scenarios[i]` alone.
    One(usize),
    /// `scenarios[with]` and `scenarios[without]`, interleaved.
    Interleaved(usize, usize),
}

fn plan(scenarios: &[&Spec], interleave: bool) -> Vec<Step> {
    let index = |name: &str| scenarios.iter().position(|s| s.name == name);
    let pairs: Vec<(usize, usize)> = if interleave {
        scenarios::PAIRS
            .iter()
            .filter_map(|(with, without)| Some((index(with)?, index(without)?)))
            .collect()
    } else {
        Vec::new()
    };
    (0..scenarios.len())
        .filter_map(|i| match pairs.iter().find(|(a, b)| *a == i || *b == i) {
            None => Some(Step::One(i)),
            Some(&(a, b)) if i == a.min(b) => Some(Step::Interleaved(a, b)),
            Some(_) => None, // run with its pair
        })
        .collect()
}

fn log_row(row: &ScenarioResult) {
    eprintln!(
        "  {:.0} {}/s, p50 {:.2} ms, p99 {:.2} ms, {} errors, server {:.2} cores, generator {:.2} cores{}",
        row.rate_per_s,
        if row.requests_per_unit == 1 {
            "requests"
        } else {
            "flows"
        },
        row.latency_ms.p50,
        row.latency_ms.p99,
        row.errors,
        row.server_cpu_cores,
        row.generator_cpu_cores,
        row.problem
            .as_deref()
            .map(|p| format!(" — {p}"))
            .unwrap_or_default()
    );
}

/// One scenario's row from its rounds: the median round by rate (the lower middle one for
/// an even count), carrying every round's rate; a round with a problem or errors is the row
/// instead, so the report never hides it.
fn median_round(mut runs: Vec<ScenarioResult>) -> ScenarioResult {
    if runs.len() == 1 {
        return runs.remove(0);
    }
    let rates: Vec<f64> = runs.iter().map(|r| r.rate_per_s).collect();
    let pick = match runs
        .iter()
        .position(|r| r.problem.is_some() || r.errors > 0)
    {
        Some(bad) => bad,
        None => {
            let mut order: Vec<usize> = (0..runs.len()).collect();
            order.sort_by(|a, b| rates[*a].total_cmp(&rates[*b]));
            order[(order.len() - 1) / 2]
        }
    };
    let slice_rates: Vec<f64> = runs.iter().flat_map(|r| r.slice_rates.clone()).collect();
    let mut row = runs.swap_remove(pick);
    row.round_rates = rates;
    row.slice_rates = slice_rates;
    row
}

/// Starts each service `repeats` times: the auth server on a fresh data directory, again on
/// that now existing directory, and the resource server next to it.
fn startups(bins: &Binaries, repeats: usize) -> Result<Vec<ServiceResult>> {
    let (mut fresh, mut existing, mut rs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..repeats {
        let mut site = Site::new()?;
        let mut first = site.start_auth_server(bins)?;
        fresh.push((first.startup, first.idle.rss));
        first.stop();
        let again = site.start_auth_server(bins)?;
        existing.push((again.startup, again.idle.rss));
        let resource_server = site.start_resource_server(bins, &[])?;
        rs.push((resource_server.startup, resource_server.idle.rss));
    }
    let row = |service: &str, condition: &str, samples: &[(Duration, u64)]| {
        let times: Vec<Duration> = samples.iter().map(|s| s.0).collect();
        let mut rss: Vec<f64> = samples.iter().map(|s| mib(s.1)).collect();
        rss.sort_by(f64::total_cmp);
        ServiceResult {
            service: service.to_owned(),
            condition: condition.to_owned(),
            starts: samples.len(),
            startup_ms_median: median_ms(&times),
            startup_ms_max: times
                .iter()
                .map(|d| report::round(d.as_secs_f64() * 1000.0, 1))
                .fold(0.0, f64::max),
            idle_rss_mib_median: median(&rss),
        }
    };
    Ok(vec![
        row("auth-server", "fresh data directory", &fresh),
        row("auth-server", "existing data directory", &existing),
        row("resource-server", "default settings", &rs),
    ])
}

fn environment(options: &Options) -> Environment {
    let root = workspace_root();
    let output = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .current_dir(&root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let revision =
        output("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    // The results directory itself does not make the tree dirty.
    let dirty = output(
        "git",
        &[
            "status",
            "--porcelain",
            "--",
            ".",
            ":(exclude)bench/results",
        ],
    )
    .is_some_and(|s| !s.is_empty());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let load_average_at_start = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    Environment {
        date: report::utc_timestamp(SystemClock.now()),
        git_revision: if dirty {
            format!("{revision}-dirty")
        } else {
            revision
        },
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        cpu_model,
        load_average_at_start,
        rustc: output(&rustc, &["--version"]).unwrap_or_else(|| "unknown".to_owned()),
        mode: options.mode.clone(),
        connections: options.connections,
        rounds: options.rounds.max(1),
        warmup_s: options.timing.warmup.as_secs_f64(),
        duration_s: options.timing.duration.as_secs_f64(),
        slice_s: options.slice.map_or(0.0, |s| s.as_secs_f64()),
    }
}

/// Writes `latest.json` and `latest.md` into `dir` (each through a `.tmp` file and a
/// rename, so a reader never sees half a report).
pub fn write_report(report: &Report, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = serde_json::to_string_pretty(report)? + "\n";
    for (name, text) in [("latest.json", json), ("latest.md", report.to_markdown())] {
        let path = dir.join(name);
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::ALL;

    fn run_at(rate: f64) -> ScenarioResult {
        let mut row = scenarios::empty(&ALL[0]);
        row.rate_per_s = rate;
        row
    }

    /// The row is the median round, carrying every round's rate in run order.
    #[test]
    fn the_median_round_is_the_row() {
        let row = median_round(vec![run_at(300.0), run_at(100.0), run_at(200.0)]);
        assert_eq!(row.rate_per_s, 200.0);
        assert_eq!(row.round_rates, vec![300.0, 100.0, 200.0]);
        // An even count takes the lower middle round.
        let row = median_round(vec![run_at(4.0), run_at(1.0), run_at(3.0), run_at(2.0)]);
        assert_eq!(row.rate_per_s, 2.0);
        // One round: as measured, no round list.
        assert!(median_round(vec![run_at(5.0)]).round_rates.is_empty());
    }

    /// With interleaving, a pair whose two scenarios are both selected runs as one step at
    /// the place of the first; a scenario whose partner is not selected runs alone.
    #[test]
    fn pairs_run_interleaved_only_when_both_are_selected() {
        let specs: Vec<&Spec> = [
            "rs-noauth-session",
            "as-flow",
            "rs-jwt-session",
            "rs-jwt-stateless",
        ]
        .iter()
        .map(|n| scenarios::find(n).unwrap())
        .collect();
        assert_eq!(
            plan(&specs, true),
            [Step::Interleaved(2, 0), Step::One(1), Step::One(3)]
        );
        assert_eq!(
            plan(&specs, false),
            [Step::One(0), Step::One(1), Step::One(2), Step::One(3)]
        );
    }

    /// Over rounds the row is one round, but its slices are every round's, so that the
    /// pairs of slices line up with the other row's.
    #[test]
    fn the_row_keeps_every_rounds_slices() {
        let with_slices = |rate: f64, slices: &[f64]| {
            let mut row = run_at(rate);
            row.slice_rates = slices.to_vec();
            row
        };
        let row = median_round(vec![
            with_slices(1.0, &[1.0, 2.0]),
            with_slices(3.0, &[3.0, 4.0]),
            with_slices(2.0, &[5.0, 6.0]),
        ]);
        assert_eq!(row.rate_per_s, 2.0);
        assert_eq!(row.slice_rates, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    /// A round with errors is shown, not outvoted by clean ones.
    #[test]
    fn a_round_with_errors_is_the_row() {
        let mut bad = run_at(100.0);
        bad.errors = 3;
        let row = median_round(vec![run_at(300.0), bad, run_at(200.0)]);
        assert_eq!((row.rate_per_s, row.errors), (100.0, 3));
        assert_eq!(row.round_rates, vec![300.0, 100.0, 200.0]);
    }
}
