//! The journey, told in the six steps of the demo, by running the real `mcp-client` with
//! `--json` and reading the steps it reports (never a token: the client prints none):
//!
//! 1. discovery: the 401 challenge, the protected resource metadata, the AS metadata;
//! 2. registration (CIMD, DCR or pre-registered) and authorization with PKCE for the base scope;
//! 3. `whoami` succeeds;
//! 4. `get_weather` is refused with 403 `insufficient_scope`;
//! 5. step-up re-authorization for the extra scope;
//! 6. `get_weather` succeeds; then a refresh and a revocation, each shown.
//!
//! Each step is checked, not just printed: a journey that goes another way is an error.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::process::{Children, tail};

/// How the client identifies itself to the authorization server.
#[derive(Debug, Clone)]
pub enum Registration {
    /// A Client ID Metadata Document at this URL (the client id).
    Cimd(String),
    /// Dynamic client registration (RFC 7591).
    Dcr,
    /// A pre-registered client id.
    PreRegistered(String),
}

impl Registration {
    fn args(&self) -> Vec<String> {
        match self {
            Self::Cimd(url) => vec!["--client-metadata-url".into(), url.clone()],
            Self::Dcr => vec![],
            Self::PreRegistered(id) => vec!["--client-id".into(), id.clone()],
        }
    }

    fn step_kind(&self) -> &'static str {
        match self {
            Self::Cimd(_) => "registration.cimd",
            Self::Dcr => "registration.dcr",
            Self::PreRegistered(_) => "registration.pre_registered",
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Self::Cimd(_) => "a Client ID Metadata Document",
            Self::Dcr => "dynamic client registration",
            Self::PreRegistered(_) => "a pre-registered client",
        }
    }
}

/// Runs `mcp-client --json --store <store> …`.
#[derive(Debug, Clone)]
pub struct Client {
    /// The `mcp-client` binary.
    pub bin: PathBuf,
    /// The credential file (a fresh one per journey).
    pub store: PathBuf,
    /// Where each run's stderr goes (`client-<n>.log`).
    pub log_dir: PathBuf,
    /// When set, runs are registered there so a signal handler can stop them.
    pub children: Option<Children>,
}

impl Client {
    /// Runs one command; returns the `--json` document, or an error with the client's own
    /// error message (and the end of its stderr).
    pub fn run(&self, args: &[String]) -> Result<Value> {
        let n = std::fs::read_dir(&self.log_dir).map_or(0, Iterator::count);
        let log = self.log_dir.join(format!("client-{n}.log"));
        let mut command = Command::new(&self.bin);
        command
            .arg("--json")
            .arg("--store")
            .arg(&self.store)
            .args(args)
            .env("NO_COLOR", "1");
        let (success, stdout) = match &self.children {
            Some(children) => children.run(command, &log)?,
            None => {
                let output = command
                    .output()
                    .with_context(|| format!("running {}", self.bin.display()))?;
                std::fs::write(&log, &output.stderr)?;
                (output.status.success(), output.stdout)
            }
        };
        let doc: Value = serde_json::from_slice(&stdout).with_context(|| {
            format!(
                "mcp-client {} printed no JSON document; its stderr:\n{}",
                args.join(" "),
                tail(&log, 15)
            )
        })?;
        if !success || doc["ok"] != true {
            bail!(
                "mcp-client {} failed: {}",
                args.join(" "),
                doc["error"].as_str().unwrap_or("(no message)")
            );
        }
        Ok(doc)
    }
}

/// One of the six steps: a title and what happened, line by line.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoStep {
    /// 1 to 6.
    pub n: usize,
    /// What the step shows.
    pub title: String,
    /// The client's reported steps and results.
    pub lines: Vec<String>,
}

fn steps_of(doc: &Value) -> Vec<Value> {
    doc["steps"].as_array().cloned().unwrap_or_default()
}

fn kind(step: &Value) -> &str {
    step["kind"].as_str().unwrap_or_default()
}

fn message(step: &Value) -> String {
    step["message"].as_str().unwrap_or_default().to_owned()
}

/// The text of a tool result (its first text block).
fn tool_text(doc: &Value) -> String {
    doc["result"]["content"]
        .as_array()
        .and_then(|c| c.iter().find_map(|b| b["text"].as_str()))
        .unwrap_or_default()
        .to_owned()
}

/// Runs the whole journey against `server`; `on_step` sees each step as it completes.
pub fn run(
    client: &Client,
    server: &str,
    registration: &Registration,
    on_step: &mut dyn FnMut(&DemoStep),
) -> Result<Vec<DemoStep>> {
    let mut done = Vec::new();
    let mut emit = |n: usize, title: String, lines: Vec<String>| {
        let step = DemoStep { n, title, lines };
        on_step(&step);
        done.push(step);
    };
    let auth_args = |command: &str, extra: &[&str]| -> Vec<String> {
        let mut args = vec![command.to_owned(), server.to_owned()];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args.push("--headless".into());
        args.extend(registration.args());
        args
    };

    // 1 and 2: login.
    let login = client.run(&auth_args("login", &[]))?;
    let steps = steps_of(&login);
    let (discovery, rest): (Vec<&Value>, Vec<&Value>) = steps
        .iter()
        .partition(|s| kind(s).starts_with("discovery."));
    let challenge = discovery
        .iter()
        .find(|s| kind(s) == "discovery.challenge")
        .context("the server did not answer the first request with a challenge")?;
    if challenge["detail"]["status"] != 401 {
        bail!("expected a 401 challenge first, got {}", message(challenge));
    }
    for needed in ["discovery.prm", "discovery.as_metadata"] {
        if !discovery.iter().any(|s| kind(s) == needed) {
            bail!("discovery did not report {needed}");
        }
    }
    emit(
        1,
        "Discovery: the 401 challenge, the protected resource metadata, the authorization server metadata".into(),
        discovery.iter().map(|s| message(s)).collect(),
    );
    if !rest.iter().any(|s| kind(s) == registration.step_kind()) {
        bail!(
            "the client did not register by {} (steps: {:?})",
            registration.describe(),
            rest.iter().map(|s| kind(s)).collect::<Vec<_>>()
        );
    }
    let scope = login["result"]["scope"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if !scope.split(' ').any(|s| s == "mcp:tools") || scope.contains("weather:read") {
        bail!("the first authorization should grant the base scope only, got {scope:?}");
    }
    emit(
        2,
        format!(
            "Registration by {} and authorization with PKCE for the base scope (granted: {scope})",
            registration.describe()
        ),
        rest.iter().map(|s| message(s)).collect(),
    );

    // 3: whoami.
    let whoami = client.run(&auth_args("call", &["whoami"]))?;
    let who: Value = serde_json::from_str(&tool_text(&whoami)).unwrap_or(Value::Null);
    if who["subject"].as_str().is_none_or(str::is_empty) {
        bail!("whoami returned no subject: {}", whoami["result"]);
    }
    emit(
        3,
        "whoami succeeds".into(),
        vec![format!("whoami → {}", tool_text(&whoami))],
    );

    // 4, 5, 6: get_weather, refused, stepped up, then answered.
    let weather = client.run(&auth_args(
        "call",
        &["get_weather", "--args", r#"{"city":"Paris"}"#],
    ))?;
    let steps = steps_of(&weather);
    let refusal = steps
        .iter()
        .position(|s| kind(s) == "discovery.challenge" && s["detail"]["status"] == 403)
        .context("get_weather was not refused with 403")?;
    let header = steps[refusal]["detail"]["www_authenticate"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if !header.contains("insufficient_scope") {
        bail!("the 403 challenge is not insufficient_scope: {header}");
    }
    emit(
        4,
        "get_weather is refused: 403 insufficient_scope".into(),
        vec![
            message(&steps[refusal]),
            format!("WWW-Authenticate: {header}"),
        ],
    );
    let retry = steps
        .iter()
        .position(|s| kind(s) == "mcp.retry")
        .unwrap_or(steps.len());
    let step_up: Vec<String> = steps[refusal + 1..retry].iter().map(message).collect();
    if !steps[refusal + 1..retry]
        .iter()
        .any(|s| kind(s) == "step_up")
        || !steps[refusal + 1..retry]
            .iter()
            .any(|s| kind(s) == "token.obtained")
    {
        bail!("no step-up authorization after the 403");
    }
    emit(
        5,
        "Step-up: re-authorization for the extra scope (weather:read)".into(),
        step_up,
    );
    let forecast: Value = serde_json::from_str(&tool_text(&weather)).unwrap_or(Value::Null);
    if forecast["city"] != "Paris" {
        bail!("get_weather returned {}", weather["result"]);
    }
    let mut lines: Vec<String> = steps[retry..].iter().map(message).collect();
    lines.push(format!("get_weather → {}", tool_text(&weather)));
    let refresh = client.run(&[String::from("refresh"), server.to_owned()])?;
    if refresh["result"]["refresh_token_rotated"] != true {
        bail!(
            "the refresh did not rotate the refresh token: {}",
            refresh["result"]
        );
    }
    lines.extend(
        steps_of(&refresh)
            .iter()
            .filter(|s| kind(s) == "token.refresh")
            .map(|s| format!("refresh: {}", message(s))),
    );
    let revoke = client.run(&[String::from("revoke"), server.to_owned()])?;
    if revoke["result"]["refresh_refused_after_revocation"] != true {
        bail!(
            "the revoked refresh token still works: {}",
            revoke["result"]
        );
    }
    lines.extend(
        steps_of(&revoke)
            .iter()
            .filter(|s| kind(s).starts_with("token.") || kind(s) == "store.forgotten")
            .map(|s| format!("revocation: {}", message(s))),
    );
    emit(
        6,
        "get_weather succeeds; then a refresh and a revocation".into(),
        lines,
    );
    Ok(done)
}
