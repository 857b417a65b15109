//! `mcp-bench`: builds the release binaries (unless `--no-build`), runs the load scenarios
//! against them and writes `bench/results/latest.{json,md}`. Exits 1 when a scenario could
//! not run or had errors (after writing the report).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use bench::load::Timing;
use bench::{Options, scenarios};
use clap::Parser;

/// Load benchmarks of the real auth-server and resource-server over loopback.
#[derive(Debug, Parser)]
#[command(name = "mcp-bench")]
struct Cli {
    /// Short mode for CI: 2 s per scenario after 1 s of warm-up, 2 starts per service.
    #[arg(long)]
    short: bool,
    /// Measured seconds per scenario (default 10, or 2 with --short).
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Warm-up seconds per scenario (default 2, or 1 with --short).
    #[arg(long, value_name = "SECONDS")]
    warmup: Option<f64>,
    /// Connections kept busy per scenario.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Run only this scenario (repeatable); `--list` names them.
    #[arg(long = "scenario", value_name = "NAME")]
    scenarios: Vec<String>,
    /// Where latest.json and latest.md go (default: bench/results in the workspace).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Use the binaries as they are: do not run `cargo build --release` first.
    #[arg(long)]
    no_build: bool,
    /// Where auth-server and resource-server are (default: the target directory's release/).
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// Starts per service for the start-up and idle-memory table (default 5, or 2 with
    /// --short; 0 skips it).
    #[arg(long, value_name = "N")]
    startup_repeats: Option<usize>,
    /// Run the selected scenarios this many times over, in turn (default 1). Each row is then
    /// the scenario's median round, and the RS authorization overhead the median of each
    /// round's with/without pair: load runs on a shared machine scatter more than the effect.
    #[arg(long, value_name = "N", default_value_t = 1)]
    rounds: usize,
    /// The RS scenarios with and without authorization, when both of a mode are selected,
    /// run side by side and are loaded in turn, in slices of this many seconds (order A B B
    /// A …, each slice after 0.2 s of settling), so that the machine's drift falls on both
    /// alike; each gets `--duration` of measured slices. 0 runs them one after the other.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    slice: f64,
    /// Run every criterion micro-benchmark of the workspace first (`cargo bench --workspace
    /// --bench '*'`): `cargo bench-all` / `just bench` is this flag.
    #[arg(long)]
    micro: bool,
    /// List the scenarios and exit.
    #[arg(long)]
    list: bool,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mcp-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn seconds(value: f64, flag: &str) -> Result<Duration> {
    if !(value.is_finite() && (0.0..=3600.0).contains(&value)) {
        bail!("{flag} must be between 0 and 3600 seconds");
    }
    Ok(Duration::from_secs_f64(value))
}

fn run(cli: Cli) -> Result<ExitCode> {
    if cli.list {
        for spec in scenarios::ALL {
            println!("{:<22} {}", spec.name, spec.about);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if cli.rounds == 0 || cli.rounds > 100 {
        bail!("--rounds must be between 1 and 100");
    }
    if cli.connections == 0 || cli.connections > 4096 {
        bail!("--connections must be between 1 and 4096");
    }
    let mut selected = Vec::new();
    for name in &cli.scenarios {
        match scenarios::find(name) {
            Some(spec) => selected.push(spec),
            None => bail!("unknown scenario {name}; `mcp-bench --list` names them"),
        }
    }
    if selected.is_empty() {
        selected = scenarios::ALL.iter().collect();
    }
    let root = bench::workspace_root();
    let target = bench::target_dir(&root);
    let duration = seconds(
        cli.duration.unwrap_or(if cli.short { 2.0 } else { 10.0 }),
        "--duration",
    )?;
    if duration.is_zero() {
        bail!("--duration must be more than 0");
    }
    let options = Options {
        mode: if cli.short { "short" } else { "full" }.to_owned(),
        timing: Timing {
            warmup: seconds(
                cli.warmup.unwrap_or(if cli.short { 1.0 } else { 2.0 }),
                "--warmup",
            )?,
            duration,
        },
        connections: cli.connections,
        scenarios: selected,
        rounds: cli.rounds,
        startup_repeats: cli.startup_repeats.unwrap_or(if cli.short { 2 } else { 5 }),
        bin_dir: cli.bin_dir.unwrap_or_else(|| target.join("release")),
        slice: Some(seconds(cli.slice, "--slice")?).filter(|s| !s.is_zero()),
    };
    if cli.micro {
        eprintln!("micro-benchmarks (cargo bench --workspace --locked --bench '*')");
        bench::run_micro_benchmarks(&root)?;
    }
    if !cli.no_build {
        eprintln!(
            "building the release binaries (cargo build --release --locked -p auth-server -p resource-server)"
        );
        let took = bench::build_release(&root)?;
        eprintln!("release build: {:.1} s", took.as_secs_f64());
    }
    let report = bench::run(&options)?;
    let out = cli.out.unwrap_or_else(|| root.join("bench/results"));
    bench::write_report(&report, &out)?;
    println!("{}", report.to_markdown());
    eprintln!(
        "wrote {} and {}",
        out.join("latest.json").display(),
        out.join("latest.md").display()
    );
    if report.is_clean() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("mcp-bench: some scenarios had errors or could not run (see the table)");
        Ok(ExitCode::FAILURE)
    }
}
