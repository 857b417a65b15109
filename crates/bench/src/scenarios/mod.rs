//! The scenarios (their names are the report's rows): what each sets up, outside the
//! measurement, and which connections then load the server.

pub mod auth;
pub mod mcp;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use tokio::runtime::Runtime;

use crate::http::{Http, json_headers};
use crate::load::{self, Connection, Measured, Outcome, Timing};
use crate::oauth::{self, Authorization};
use crate::procfs;
use crate::report::{ErrorKind, Latency, ScenarioResult, mib, round};
use crate::servers::{Binaries, CLIENT_ID, REDIRECT_URI, Service, Site};

/// A scenario's fixed description.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The row name.
    pub name: &'static str,
    /// The measured server.
    pub service: &'static str,
    /// What one unit is.
    pub unit: &'static str,
    /// HTTP requests per unit.
    pub requests_per_unit: u32,
    /// One line for `--list`.
    pub about: &'static str,
}

const AS: &str = "auth-server";
const RS: &str = "resource-server";

/// Every scenario, in report order.
pub const ALL: &[Spec] = &[
    Spec {
        name: "as-flow",
        service: AS,
        unit: "flow (2 requests)",
        requests_per_unit: 2,
        about: "GET /authorize (auto-approve: 302 with a code, state checked; fresh PKCE S256) + POST /token redeeming it",
    },
    Spec {
        name: "as-token-code",
        service: AS,
        unit: "request",
        requests_per_unit: 1,
        about: "POST /token authorization_code with codes pre-minted during setup (PKCE S256 verified)",
    },
    Spec {
        name: "as-token-refresh",
        service: AS,
        unit: "request",
        requests_per_unit: 1,
        about: "POST /token refresh_token; each connection follows its own rotation chain",
    },
    Spec {
        name: "as-dcr",
        service: AS,
        unit: "request",
        requests_per_unit: 1,
        about: "POST /register of a public client (token_endpoint_auth_method none), rate limit lifted",
    },
    Spec {
        name: "as-dcr-confidential",
        service: AS,
        unit: "request",
        requests_per_unit: 1,
        about: "POST /register of a confidential client (client_secret_basic: a secret is generated and hashed)",
    },
    Spec {
        name: "as-jwks",
        service: AS,
        unit: "request",
        requests_per_unit: 1,
        about: "GET /jwks",
    },
    Spec {
        name: "as-metadata",
        service: AS,
        unit: "request",
        requests_per_unit: 1,
        about: "GET /.well-known/oauth-authorization-server (RFC 8414)",
    },
    Spec {
        name: "rs-jwt-session",
        service: RS,
        unit: "request",
        requests_per_unit: 1,
        about: "MCP tools/call whoami in a session per connection, with a valid bearer token (JWT)",
    },
    Spec {
        name: "rs-noauth-session",
        service: RS,
        unit: "request",
        requests_per_unit: 1,
        about: "the same with authorization switched off (dev.disable_authorization)",
    },
    Spec {
        name: "rs-jwt-stateless",
        service: RS,
        unit: "request",
        requests_per_unit: 1,
        about: "MCP tools/call whoami, stateless JSON mode (each POST stands alone), valid bearer token",
    },
    Spec {
        name: "rs-noauth-stateless",
        service: RS,
        unit: "request",
        requests_per_unit: 1,
        about: "the same with authorization switched off",
    },
    Spec {
        name: "rs-prm",
        service: RS,
        unit: "request",
        requests_per_unit: 1,
        about: "GET /.well-known/oauth-protected-resource/mcp (RFC 9728)",
    },
];

/// Looks a scenario up by name.
pub fn find(name: &str) -> Option<&'static Spec> {
    ALL.iter().find(|s| s.name == name)
}

/// What every scenario needs.
#[derive(Debug)]
pub struct Bench<'a> {
    /// The binaries.
    pub bins: &'a Binaries,
    /// The generator's runtime.
    pub runtime: &'a Runtime,
    /// Connections kept busy.
    pub connections: usize,
    /// Warm-up and window.
    pub timing: Timing,
    /// Run each RS scenario pair (with and without authorization) interleaved, in slices of
    /// this length ([`load::interleaved`]); `None`: one after the other.
    pub slice: Option<Duration>,
}

/// The RS scenarios that differ only in authorization, `(with, without)`: their rates give
/// the authorization overhead, so they can run interleaved.
pub const PAIRS: &[(&str, &str)] = &[
    ("rs-jwt-session", "rs-noauth-session"),
    ("rs-jwt-stateless", "rs-noauth-stateless"),
];

/// Runs a pair of [`PAIRS`] interleaved (`bench.slice` is set) against freshly started
/// servers, returning its two rows in the pair's order. A pair that cannot run gives two
/// rows with their `problem` set.
pub fn run_pair(with: &Spec, without: &Spec, bench: &Bench<'_>) -> [ScenarioResult; 2] {
    let inner = || {
        let (mut site, auth_server, authorization) = site_with_auth_server(bench)?;
        mcp::run_pair(
            [with, without],
            bench,
            &mut site,
            &auth_server,
            &authorization,
        )
    };
    inner().unwrap_or_else(|e: anyhow::Error| {
        [with, without].map(|spec| {
            let mut result = empty(spec);
            result.problem = Some(format!("could not run: {e:#}"));
            result
        })
    })
}

/// Runs one scenario against freshly started servers. A scenario that cannot run becomes a
/// row with its `problem` set.
pub fn run(spec: &Spec, bench: &Bench<'_>) -> ScenarioResult {
    match run_inner(spec, bench) {
        Ok(result) => result,
        Err(e) => {
            let mut result = empty(spec);
            result.problem = Some(format!("could not run: {e:#}"));
            result
        }
    }
}

/// A fresh site with its auth server running, and the authorization its clients ask for.
fn site_with_auth_server(bench: &Bench<'_>) -> Result<(Site, Service, Arc<Authorization>)> {
    let mut site = Site::new()?;
    let auth_server = site.start_auth_server(bench.bins)?;
    let authorization = Arc::new(Authorization {
        client_id: CLIENT_ID.to_owned(),
        redirect_uri: REDIRECT_URI.to_owned(),
        resource: site.resource.clone(),
        scope: "mcp:tools offline_access".to_owned(),
    });
    Ok((site, auth_server, authorization))
}

fn run_inner(spec: &Spec, bench: &Bench<'_>) -> Result<ScenarioResult> {
    let (mut site, auth_server, authorization) = site_with_auth_server(bench)?;
    let n = bench.connections;
    let each = |f: &dyn Fn(usize) -> Result<auth::Get>| (0..n).map(f).collect::<Result<Vec<_>>>();
    match spec.name {
        "as-jwks" => measure(
            spec,
            bench,
            &auth_server,
            each(&|_| auth::Get::new("/jwks"))?,
        ),
        "as-metadata" => measure(
            spec,
            bench,
            &auth_server,
            each(&|_| auth::Get::new("/.well-known/oauth-authorization-server"))?,
        ),
        "as-dcr" | "as-dcr-confidential" => {
            let method = if spec.name == "as-dcr" {
                "none"
            } else {
                "client_secret_basic"
            };
            let body = Bytes::from(
                serde_json::json!({
                    "client_name": "mcp-bench",
                    "redirect_uris": [REDIRECT_URI],
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                    "token_endpoint_auth_method": method,
                    "application_type": "native",
                })
                .to_string(),
            );
            let connections = (0..n)
                .map(|_| auth::Post::new("/register", json_headers(), body.clone()))
                .collect::<Result<Vec<_>>>()?;
            measure(spec, bench, &auth_server, connections)
        }
        "as-flow" => {
            let connections = (0..n)
                .map(|i| auth::Flow::new(authorization.clone(), i))
                .collect::<Result<Vec<_>>>()?;
            measure(spec, bench, &auth_server, connections)
        }
        "as-token-refresh" => {
            let refresh_tokens = bench.runtime.block_on(async {
                let mut http = Http::connect(auth_server.addr, &auth_server.host).await?;
                let mut tokens = Vec::with_capacity(n);
                for _ in 0..n {
                    let issued = oauth::tokens(&mut http, &authorization).await?;
                    tokens.push(
                        issued
                            .refresh_token
                            .context("no refresh token was issued")?,
                    );
                }
                anyhow::Ok(tokens)
            })?;
            let connections = refresh_tokens
                .into_iter()
                .map(|t| auth::RefreshChain::new(authorization.clone(), t))
                .collect::<Result<Vec<_>>>()?;
            measure(spec, bench, &auth_server, connections)
        }
        "as-token-code" => token_code(spec, bench, &auth_server, &authorization),
        "rs-prm" => {
            let resource_server = site.start_resource_server(bench.bins, &[])?;
            let connections =
                each(&|_| auth::Get::new("/.well-known/oauth-protected-resource/mcp"))?;
            measure(spec, bench, &resource_server, connections)
        }
        name if name.starts_with("rs-") => {
            mcp::run(spec, bench, &mut site, &auth_server, &authorization)
        }
        other => bail!("unknown scenario {other}"),
    }
}

/// `as-token-code`: codes are minted before the load (through `GET /authorize`, as many as
/// the warm-up and the window need with a margin), and only their redemption is measured.
/// A short calibration run (mint some, redeem them all) estimates how many are needed.
fn token_code(
    spec: &Spec,
    bench: &Bench<'_>,
    server: &Service,
    authorization: &Arc<Authorization>,
) -> Result<ScenarioResult> {
    let n = bench.connections;
    let mint = |count: usize| {
        let started = Instant::now();
        let minted = bench.runtime.block_on(oauth::mint_codes(
            server.addr,
            &server.host,
            authorization,
            count,
            n,
        ))?;
        let bodies: Vec<Bytes> = minted
            .iter()
            .map(|m| authorization.code_form(&m.code, &m.verifier))
            .collect();
        anyhow::Ok((bodies, started.elapsed()))
    };
    let calibration = (n * 20).max(400);
    let (bodies, mint_time) = mint(calibration)?;
    let pool = auth::CodePool::new(bodies);
    let started = Instant::now();
    let redeemed = bench.runtime.block_on(drain(
        server,
        (0..n)
            .map(|_| auth::RedeemCode::new(pool.clone()))
            .collect::<Result<Vec<_>>>()?,
    ))?;
    let redeem_rate = redeemed as f64 / started.elapsed().as_secs_f64();
    let seconds = (bench.timing.warmup + bench.timing.duration).as_secs_f64();
    let needed = ((redeem_rate * seconds * 1.5) as usize + 4 * n).min(1_000_000);
    let mint_rate = calibration as f64 / mint_time.as_secs_f64();
    eprintln!(
        "  minting {needed} codes (calibration: {mint_rate:.0} codes minted/s, {redeem_rate:.0} redeemed/s; about {:.0} s)",
        needed as f64 / mint_rate
    );
    let (bodies, _) = mint(needed)?;
    let pool = auth::CodePool::new(bodies);
    let connections = (0..n)
        .map(|_| auth::RedeemCode::new(pool.clone()))
        .collect::<Result<Vec<_>>>()?;
    let result = measure(spec, bench, server, connections)?;
    eprintln!("  {} of {needed} codes used", pool.used());
    Ok(result)
}

/// Runs connections until they are all exhausted (the calibration); returns the successful
/// iterations. Any failure stops the scenario.
async fn drain<C: Connection>(server: &Service, connections: Vec<C>) -> Result<u64> {
    let mut tasks = Vec::new();
    for mut connection in connections {
        let mut http = Http::connect(server.addr, &server.host).await?;
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u64;
            loop {
                match connection.iteration(&mut http).await {
                    Outcome::Ok => ok += 1,
                    Outcome::Exhausted => return Ok(ok),
                    Outcome::Failed { kind, detail } => bail!("calibration: {kind}: {detail}"),
                    Outcome::Broken(detail) => bail!("calibration: {detail}"),
                }
            }
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.context("calibration task")??;
    }
    Ok(total)
}

/// Loads two servers in interleaved slices (`bench.slice`), then builds their rows.
fn measure_pair<C: Connection>(
    specs: [&Spec; 2],
    bench: &Bench<'_>,
    servers: [&Service; 2],
    connections: [Vec<C>; 2],
) -> Result<[ScenarioResult; 2]> {
    let slice = bench
        .slice
        .context("no slice length for an interleaved run")?;
    let [a, b] = connections;
    let targets = servers
        .iter()
        .zip([a, b])
        .map(|(server, connections)| load::Target {
            addr: server.addr,
            host: server.host.clone(),
            server: server.pid(),
            connections,
        })
        .collect();
    let schedule = load::interleaved(bench.timing, slice);
    let measured = bench
        .runtime
        .block_on(load::run_schedule(targets, &schedule))?;
    let mut rows = Vec::with_capacity(2);
    for ((spec, server), measured) in specs.iter().zip(servers).zip(&measured) {
        let memory = procfs::memory(server.pid())?;
        rows.push(result(spec, measured, memory.peak));
    }
    rows.try_into()
        .map_err(|_| anyhow::anyhow!("two servers, not two results"))
}

/// Loads `server` with `connections`, then builds the row.
fn measure<C: Connection>(
    spec: &Spec,
    bench: &Bench<'_>,
    server: &Service,
    connections: Vec<C>,
) -> Result<ScenarioResult> {
    let measured = bench.runtime.block_on(load::run(
        server.addr,
        &server.host,
        connections,
        bench.timing,
        server.pid(),
    ))?;
    let memory = procfs::memory(server.pid())?;
    Ok(result(spec, &measured, memory.peak))
}

pub(crate) fn empty(spec: &Spec) -> ScenarioResult {
    ScenarioResult {
        name: spec.name.to_owned(),
        service: spec.service.to_owned(),
        unit: spec.unit.to_owned(),
        requests_per_unit: spec.requests_per_unit,
        window_s: 0.0,
        units: 0,
        rate_per_s: 0.0,
        latency_ms: Latency::default(),
        errors: 0,
        error_kinds: Default::default(),
        server_cpu_s_per_1000: 0.0,
        server_cpu_cores: 0.0,
        generator_cpu_cores: 0.0,
        peak_rss_mib: 0.0,
        problem: None,
        round_rates: Vec::new(),
        slice_rates: Vec::new(),
    }
}

/// The row of a measured run.
pub fn result(spec: &Spec, measured: &Measured, peak_rss: u64) -> ScenarioResult {
    let window = measured.window.as_secs_f64().max(f64::EPSILON);
    let per_window = |d: Duration| round(d.as_secs_f64() / window, 2);
    let mut row = empty(spec);
    row.window_s = round(window, 3);
    row.units = measured.units;
    row.rate_per_s = round(measured.units as f64 / window, 1);
    row.latency_ms = Latency::of(&measured.latency_us);
    row.errors = measured.error_count();
    row.error_kinds = measured
        .errors
        .iter()
        .map(|(kind, count)| {
            let example = measured
                .error_samples
                .get(kind)
                .cloned()
                .unwrap_or_default();
            (
                kind.clone(),
                ErrorKind {
                    count: *count,
                    example,
                },
            )
        })
        .collect();
    if measured.units > 0 {
        row.server_cpu_s_per_1000 = round(
            measured.server_cpu.as_secs_f64() * 1000.0 / measured.units as f64,
            4,
        );
    }
    row.server_cpu_cores = per_window(measured.server_cpu);
    row.generator_cpu_cores = per_window(measured.generator_cpu);
    row.peak_rss_mib = mib(peak_rss);
    if measured.slices.len() > 1 {
        row.slice_rates = measured
            .slices
            .iter()
            .map(|s| round(s.units as f64 / s.window.as_secs_f64().max(f64::EPSILON), 1))
            .collect();
    }
    if measured.exhausted_connections > 0 {
        row.problem = Some(format!(
            "{} connections ran out of pre-minted codes inside the window",
            measured.exhausted_connections
        ));
    } else if measured.units == 0 {
        row.problem = Some("no unit completed inside the window".to_owned());
    }
    row
}
