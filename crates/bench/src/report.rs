//! The report: one JSON document (schema in the crate README) and a Markdown rendering of
//! it for the README's Performance section (also printed to stdout).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Version of the JSON layout below; bumped when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

fn one_round() -> usize {
    1
}

/// The resource server's authorization overhead in one MCP mode: the rate with authorization
/// over the rate without.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthRatio {
    /// `session` or `stateless`.
    pub mode: &'static str,
    /// The ratio (the median of the per-round ratios when there were several rounds).
    pub ratio: f64,
    /// Each round's ratio, in run order (empty for a single round).
    pub rounds: Vec<f64>,
    /// When the two servers ran interleaved: the ratio of each pair of adjacent slices
    /// (one of each server), every round's in run order; empty when they ran one after the
    /// other.
    pub slices: Vec<f64>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema: u32,
    /// Where and how it was measured.
    pub environment: Environment,
    /// One row per scenario, in run order.
    pub scenarios: Vec<ScenarioResult>,
    /// Start-up and idle memory per service.
    pub services: Vec<ServiceResult>,
}

/// The machine, the revision and the settings of the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Environment {
    /// UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub date: String,
    /// `git rev-parse --short HEAD`, with `-dirty` when the work tree has changes.
    pub git_revision: String,
    /// Logical CPUs.
    pub cores: usize,
    /// `/proc/cpuinfo` model name.
    pub cpu_model: String,
    /// The 1-minute load average when the run started (a busy machine shows here).
    pub load_average_at_start: f64,
    /// `rustc --version`.
    pub rustc: String,
    /// `full` or `short`.
    pub mode: String,
    /// Connections kept busy per scenario.
    pub connections: usize,
    /// Times every scenario ran (`--rounds`); each row is its median round.
    #[serde(default = "one_round")]
    pub rounds: usize,
    /// Warm-up per scenario, seconds.
    pub warmup_s: f64,
    /// Measured window per scenario, seconds.
    pub duration_s: f64,
    /// The RS scenarios measured with and without authorization ran interleaved, loaded in
    /// turn in slices of this many seconds (`--slice`); 0 when they ran one after the other.
    #[serde(default)]
    pub slice_s: f64,
}

/// One scenario's numbers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScenarioResult {
    /// The scenario's name (`as-flow`, …).
    pub name: String,
    /// The measured server: `auth-server` or `resource-server`.
    pub service: String,
    /// What one unit is (`request`, or `flow` = `GET /authorize` + `POST /token`).
    pub unit: String,
    /// HTTP requests per unit.
    pub requests_per_unit: u32,
    /// The measured window, seconds.
    pub window_s: f64,
    /// Units completed successfully inside the window.
    pub units: u64,
    /// Units per second.
    pub rate_per_s: f64,
    /// Latency of one unit, milliseconds.
    pub latency_ms: Latency,
    /// Failed units (warm-up and window): any non-2xx/3xx response or failed check.
    pub errors: u64,
    /// Failed units by kind, with one example each.
    pub error_kinds: BTreeMap<String, ErrorKind>,
    /// Server CPU seconds (user + system) per 1,000 units.
    pub server_cpu_s_per_1000: f64,
    /// Server CPU time over the window divided by the window: cores busy (at most `cores`).
    pub server_cpu_cores: f64,
    /// The same for the load generator (this process), which shares the machine.
    pub generator_cpu_cores: f64,
    /// The server's peak resident memory (`VmHWM`) at the end of the scenario, MiB.
    pub peak_rss_mib: f64,
    /// Set when the scenario could not run, or its numbers are not valid (for example the
    /// pre-minted codes ran out inside the window).
    pub problem: Option<String>,
    /// With `--rounds N`: the rate of every round, in run order (this row is the median
    /// round's). Empty for a single round.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub round_rates: Vec<f64>,
    /// When this scenario ran interleaved with its pair (see [`Environment::slice_s`]): the
    /// rate of each of its measured slices, every round's in run order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slice_rates: Vec<f64>,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

/// One class of failure.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorKind {
    /// How many.
    pub count: u64,
    /// One example (status and the start of the body, or the transport error).
    pub example: String,
}

/// One service's start-up and idle memory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceResult {
    /// `auth-server`, `resource-server`.
    pub service: String,
    /// What was started (`fresh data directory`, `existing data directory`).
    pub condition: String,
    /// How many starts.
    pub starts: usize,
    /// Spawn to first 200 on `/healthz`, milliseconds: median.
    pub startup_ms_median: f64,
    /// … and the slowest.
    pub startup_ms_max: f64,
    /// `VmRSS` after ready and a settle, MiB: median.
    pub idle_rss_mib_median: f64,
}

impl Latency {
    /// Percentiles of a microsecond histogram.
    pub fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| round(us as f64 / 1000.0, 3);
        Self {
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            max: ms(histogram.max()),
        }
    }
}

/// Rounds to `digits` decimals (keeps the JSON readable).
pub fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// Bytes to MiB, one decimal.
pub fn mib(bytes: u64) -> f64 {
    round(bytes as f64 / (1024.0 * 1024.0), 1)
}

/// The median of some durations, in milliseconds (0 when empty).
pub fn median_ms(samples: &[Duration]) -> f64 {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    round(median(&ms), 1)
}

/// The median of sorted values (mean of the middle two for an even count; 0 when empty).
pub fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// `1234567.8` → `1,234,568`.
pub fn thousands(x: f64) -> String {
    let n = x.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A latency in milliseconds with two significant decimals below 10 ms.
fn ms(x: f64) -> String {
    if x < 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.1}")
    }
}

impl Report {
    /// Whether every scenario ran without errors or problems.
    pub fn is_clean(&self) -> bool {
        self.scenarios
            .iter()
            .all(|s| s.errors == 0 && s.problem.is_none())
    }

    /// The Markdown rendering: a header line, the scenario table, the service table and the
    /// derived ratios.
    pub fn to_markdown(&self) -> String {
        let e = &self.environment;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Measured {} at `{}` on {} cores ({}), {}; {} mode: {} connections, {} s warm-up + {} s measured per scenario{}{}; 1-min load average at start {:.2}.",
            e.date,
            e.git_revision,
            e.cores,
            e.cpu_model,
            e.rustc,
            e.mode,
            e.connections,
            e.warmup_s,
            e.duration_s,
            if e.rounds > 1 {
                format!(
                    ", {} rounds in turn, each row the scenario's median round",
                    e.rounds
                )
            } else {
                String::new()
            },
            if e.slice_s > 0.0 {
                format!(
                    "; the RS with and without authorization loaded in turn, in slices of {} s",
                    e.slice_s
                )
            } else {
                String::new()
            },
            e.load_average_at_start,
        );
        out.push('\n');
        out.push_str("| scenario | unit | rate /s | p50 ms | p99 ms | errors | server CPU s / 1k units | server CPU (cores) | generator CPU (cores) | peak RSS MiB |\n");
        out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for s in &self.scenarios {
            let errors = if s.errors == 0 {
                "0".to_owned()
            } else {
                format!("**{}** ⚠", s.errors)
            };
            let mut name = format!("`{}`", s.name);
            if let Some(problem) = &s.problem {
                let _ = write!(name, " ⚠ {problem}");
            }
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {} | {errors} | {:.3} | {:.2} | {:.2} | {:.1} |",
                s.unit,
                thousands(s.rate_per_s),
                ms(s.latency_ms.p50),
                ms(s.latency_ms.p99),
                s.server_cpu_s_per_1000,
                s.server_cpu_cores,
                s.generator_cpu_cores,
                s.peak_rss_mib,
            );
        }
        if !self.services.is_empty() {
            out.push('\n');
            out.push_str(
                "| service | start | start-up to ready ms (median, max) | idle RSS MiB |\n",
            );
            out.push_str("|---|---|---:|---:|\n");
            for s in &self.services {
                let _ = writeln!(
                    out,
                    "| `{}` | {} ({}×) | {:.1}, {:.1} | {:.1} |",
                    s.service,
                    s.condition,
                    s.starts,
                    s.startup_ms_median,
                    s.startup_ms_max,
                    s.idle_rss_mib_median
                );
            }
        }
        let ratios = self.auth_ratios();
        if !ratios.is_empty() {
            out.push('\n');
            for AuthRatio {
                mode,
                ratio,
                rounds,
                slices,
            } in ratios
            {
                let _ = write!(
                    out,
                    "Resource server, {mode}: with authorization {:.1} % of the rate without (overhead {:.1} %)",
                    ratio * 100.0,
                    (1.0 - ratio) * 100.0
                );
                if rounds.is_empty() {
                    out.push('.');
                } else {
                    let overheads: Vec<String> = rounds
                        .iter()
                        .map(|r| format!("{:.1}", (1.0 - r) * 100.0))
                        .collect();
                    let _ = write!(
                        out,
                        ", the median of {} rounds; per round: {} %.",
                        rounds.len(),
                        overheads.join(", ")
                    );
                }
                if slices.len() >= 4 {
                    let mut overheads: Vec<f64> =
                        slices.iter().map(|r| (1.0 - r) * 100.0).collect();
                    overheads.sort_by(f64::total_cmp);
                    let quartile = |q: usize| overheads[(overheads.len() - 1) * q / 4];
                    let _ = write!(
                        out,
                        " Interleaved in {} slice pairs: the middle half of their overheads {:.1} to {:.1} %, median {:.1} %.",
                        slices.len(),
                        quartile(1),
                        quartile(3),
                        median(&overheads)
                    );
                }
                out.push('\n');
            }
        }
        let errors: Vec<&ScenarioResult> = self.scenarios.iter().filter(|s| s.errors > 0).collect();
        if !errors.is_empty() {
            out.push('\n');
            for s in errors {
                for (kind, e) in &s.error_kinds {
                    let _ = writeln!(
                        out,
                        "- `{}`: {} × {kind}, e.g. `{}`",
                        s.name,
                        e.count,
                        e.example.replace('`', "'").replace('\n', " ")
                    );
                }
            }
        }
        out
    }

    /// The RS modes measured both ways: the rate with authorization over the rate without.
    /// Over several rounds each round's pair (run one after the other) gives a ratio and the
    /// median is reported, so a slow minute of the machine shifts one pair, not the verdict.
    pub fn auth_ratios(&self) -> Vec<AuthRatio> {
        let find = |name: &str| {
            self.scenarios
                .iter()
                .find(|s| s.name == name && s.problem.is_none() && s.rate_per_s > 0.0)
        };
        [
            ("session", "rs-jwt-session", "rs-noauth-session"),
            ("stateless", "rs-jwt-stateless", "rs-noauth-stateless"),
        ]
        .into_iter()
        .filter_map(|(mode, jwt, noauth)| {
            let (jwt, noauth) = (find(jwt)?, find(noauth)?);
            let paired = jwt.round_rates.len() > 1
                && jwt.round_rates.len() == noauth.round_rates.len()
                && noauth.round_rates.iter().all(|r| *r > 0.0);
            let slices: Vec<f64> = if jwt.slice_rates.len() == noauth.slice_rates.len()
                && noauth.slice_rates.iter().all(|r| *r > 0.0)
            {
                jwt.slice_rates
                    .iter()
                    .zip(&noauth.slice_rates)
                    .map(|(j, n)| j / n)
                    .collect()
            } else {
                Vec::new()
            };
            if !paired {
                return Some(AuthRatio {
                    mode,
                    ratio: jwt.rate_per_s / noauth.rate_per_s,
                    rounds: Vec::new(),
                    slices,
                });
            }
            let rounds: Vec<f64> = jwt
                .round_rates
                .iter()
                .zip(&noauth.round_rates)
                .map(|(j, n)| j / n)
                .collect();
            let mut sorted = rounds.clone();
            sorted.sort_by(f64::total_cmp);
            Some(AuthRatio {
                mode,
                ratio: median(&sorted),
                rounds,
                slices,
            })
        })
        .collect()
    }
}

/// A UTC timestamp `YYYY-MM-DDTHH:MM:SSZ` from Unix seconds (proleptic Gregorian calendar;
/// the days-to-civil algorithm of H. Hinnant).
pub fn utc_timestamp(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(name: &str, rate: f64) -> ScenarioResult {
        ScenarioResult {
            name: name.to_owned(),
            service: "resource-server".to_owned(),
            unit: "request".to_owned(),
            requests_per_unit: 1,
            window_s: 10.0,
            units: (rate * 10.0) as u64,
            rate_per_s: rate,
            latency_ms: Latency {
                p50: 1.234,
                p90: 2.0,
                p99: 12.5,
                max: 30.0,
            },
            errors: 0,
            error_kinds: BTreeMap::new(),
            server_cpu_s_per_1000: 0.1234,
            server_cpu_cores: 1.5,
            generator_cpu_cores: 0.4,
            peak_rss_mib: 15.25,
            problem: None,
            round_rates: Vec::new(),
            slice_rates: Vec::new(),
        }
    }

    fn report(scenarios: Vec<ScenarioResult>) -> Report {
        Report {
            schema: SCHEMA_VERSION,
            environment: Environment {
                date: "2026-01-02T03:04:05Z".to_owned(),
                git_revision: "abc1234".to_owned(),
                cores: 2,
                cpu_model: "Test CPU".to_owned(),
                load_average_at_start: 0.1,
                rustc: "rustc 1.94.0".to_owned(),
                mode: "short".to_owned(),
                connections: 32,
                rounds: 1,
                warmup_s: 1.0,
                duration_s: 3.0,
                slice_s: 0.0,
            },
            scenarios,
            services: vec![ServiceResult {
                service: "auth-server".to_owned(),
                condition: "fresh data directory".to_owned(),
                starts: 3,
                startup_ms_median: 42.0,
                startup_ms_max: 50.0,
                idle_rss_mib_median: 12.0,
            }],
        }
    }

    #[test]
    fn percentiles_come_from_the_histogram_in_milliseconds() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).unwrap();
        for us in 1..=1000u64 {
            h.record(us * 10).unwrap(); // 10 µs … 10 ms
        }
        let l = Latency::of(&h);
        assert!((l.p50 - 5.0).abs() < 0.01, "{l:?}");
        assert!((l.p99 - 9.9).abs() < 0.02, "{l:?}");
        assert!((l.max - 10.0).abs() < 0.02, "{l:?}");
        assert_eq!(Latency::of(&Histogram::new(3).unwrap()), Latency::default());
    }

    #[test]
    fn medians_and_number_formats() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[1.0, 2.0, 9.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 4.0, 9.0]), 3.0);
        assert_eq!(
            median_ms(&[
                Duration::from_millis(30),
                Duration::from_millis(10),
                Duration::from_millis(20)
            ]),
            20.0
        );
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1234567.8), "1,234,568");
        assert_eq!(mib(15 * 1024 * 1024 + 512 * 1024), 15.5);
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_timestamp(1_767_323_045), "2026-01-02T03:04:05Z");
    }

    /// Over several rounds the overhead is the median of the per-round pairs, not the ratio
    /// of two medians taken from different rounds.
    #[test]
    fn the_overhead_over_rounds_is_the_median_of_paired_ratios() {
        // A row as `--rounds` makes it: the median round's rate, and every round's.
        let with_rounds = |name: &str, rates: &[f64]| {
            let mut sorted = rates.to_vec();
            sorted.sort_by(f64::total_cmp);
            let mut s = scenario(name, sorted[1]);
            s.round_rates = rates.to_vec();
            s
        };
        // Round 2 was slow for both and round 3 fast without authorization only: the paired
        // ratios are 0.99, 0.95, 0.75, while the ratio of the medians would be 9,000 / 10,000.
        let mut r = report(vec![
            with_rounds("rs-jwt-session", &[9_900.0, 5_700.0, 9_000.0]),
            with_rounds("rs-noauth-session", &[10_000.0, 6_000.0, 12_000.0]),
        ]);
        r.environment.rounds = 3;
        let ratios = r.auth_ratios();
        assert_eq!(ratios.len(), 1);
        assert_eq!(ratios[0].mode, "session");
        assert!((ratios[0].ratio - 0.95).abs() < 1e-9, "{ratios:?}");
        assert_eq!(ratios[0].rounds.len(), 3);
        let md = r.to_markdown();
        assert!(
            md.contains("(overhead 5.0 %), the median of 3 rounds; per round: 1.0, 5.0, 25.0 %."),
            "{md}"
        );
        assert!(md.contains("3 rounds in turn"), "{md}");
    }

    /// Interleaved slices pair up in order: the overhead's spread is that of the pairs.
    #[test]
    fn interleaved_slices_give_the_spread_of_paired_overheads() {
        let with_slices = |name: &str, rate: f64, slices: &[f64]| {
            let mut s = scenario(name, rate);
            s.slice_rates = slices.to_vec();
            s
        };
        // Pairs: 0.99, 0.9, 0.95, 0.8, 1.0 (the second server's slices fast and slow in
        // turn, as a drifting machine makes them).
        let mut r = report(vec![
            with_slices(
                "rs-jwt-session",
                930.0,
                &[990.0, 450.0, 950.0, 400.0, 1000.0],
            ),
            with_slices(
                "rs-noauth-session",
                1000.0,
                &[1000.0, 500.0, 1000.0, 500.0, 1000.0],
            ),
        ]);
        r.environment.slice_s = 1.0;
        let ratios = r.auth_ratios();
        assert_eq!(ratios.len(), 1);
        let slices: Vec<f64> = ratios[0].slices.iter().map(|x| round(*x, 3)).collect();
        assert_eq!(slices, [0.99, 0.9, 0.95, 0.8, 1.0]);
        assert!((ratios[0].ratio - 0.93).abs() < 1e-9, "{ratios:?}");
        let md = r.to_markdown();
        assert!(md.contains("in slices of 1 s"), "{md}");
        assert!(
            md.contains("(overhead 7.0 %). Interleaved in 5 slice pairs: the middle half of their overheads 1.0 to 10.0 %, median 5.0 %."),
            "{md}"
        );
        // Rows whose slices do not line up give no spread.
        r.scenarios[0].slice_rates.pop();
        assert!(r.auth_ratios()[0].slices.is_empty());
        assert!(!r.to_markdown().contains("slice pairs"));
    }

    #[test]
    fn markdown_has_a_row_per_scenario_and_the_auth_overhead() {
        let md = report(vec![
            scenario("rs-jwt-session", 9000.0),
            scenario("rs-noauth-session", 10000.0),
        ])
        .to_markdown();
        assert!(md.contains("`abc1234` on 2 cores"), "{md}");
        assert!(
            md.contains("| `rs-jwt-session` | request | 9,000 | 1.23 | 12.5 | 0 | 0.123 | 1.50 | 0.40 | 15.2 |"),
            "{md}"
        );
        assert!(
            md.contains("| `auth-server` | fresh data directory (3×) | 42.0, 50.0 | 12.0 |"),
            "{md}"
        );
        assert!(
            md.contains("session: with authorization 90.0 % of the rate without (overhead 10.0 %)"),
            "{md}"
        );
        let header_columns = md
            .lines()
            .find(|l| l.starts_with("| scenario"))
            .unwrap()
            .matches('|')
            .count();
        let row_columns = md
            .lines()
            .find(|l| l.starts_with("| `rs-jwt"))
            .unwrap()
            .matches('|')
            .count();
        assert_eq!(header_columns, row_columns);
    }

    #[test]
    fn errors_and_problems_are_flagged_not_hidden() {
        let mut bad = scenario("as-dcr", 100.0);
        bad.errors = 3;
        bad.error_kinds.insert(
            "POST: HTTP 429".to_owned(),
            ErrorKind {
                count: 3,
                example: "429 Too Many Requests `x`".to_owned(),
            },
        );
        let mut exhausted = scenario("as-token-code", 100.0);
        exhausted.problem = Some("codes ran out".to_owned());
        let r = report(vec![bad, exhausted, scenario("as-jwks", 1.0)]);
        assert!(!r.is_clean());
        let md = r.to_markdown();
        assert!(md.contains("| **3** ⚠ |"), "{md}");
        assert!(md.contains("`as-token-code` ⚠ codes ran out"), "{md}");
        assert!(
            md.contains("- `as-dcr`: 3 × POST: HTTP 429, e.g. `429 Too Many Requests 'x'`"),
            "{md}"
        );
        assert!(report(vec![scenario("as-jwks", 1.0)]).is_clean());
    }

    #[test]
    fn the_json_round_trips() {
        let r = report(vec![scenario("as-jwks", 1.0)]);
        let json = serde_json::to_string_pretty(&r).unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["schema"], 1);
        assert_eq!(value["scenarios"][0]["latency_ms"]["p99"], 12.5);
    }
}
