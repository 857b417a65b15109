//! The command line: `login`, `tools`, `call`, `refresh`, `revoke`, `status`, `logout`,
//! `serve-metadata`, `conformance`. Steps go to stderr as they happen; results go to stdout (or, with
//! `--json`, one JSON document on stdout with the steps and the result).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand};
use mcp_auth_core::{Clock, SystemClock};
use rmcp::model::{CallToolResult, JsonObject, Tool};
use serde_json::{Value, json};

use crate::error::{ClientError, Result};
use crate::report::{OutputMode, Reporter};
use crate::session::McpClient;
use crate::settings::{AuthorizeMode, McpProtocol, PreRegistered, Settings};
use crate::store::Store;

/// `println!` without the panic on a closed stdout (`mcp-client tools … | head -1`).
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// A client for authorization-protected MCP servers.
#[derive(Debug, Parser)]
#[command(name = "mcp-client", version, about, long_about = None)]
pub struct Cli {
    /// A TOML configuration file (see config/default.toml for the keys).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The credential file (default: mcp-client/credentials.json in the user data directory).
    #[arg(long, global = true, value_name = "FILE")]
    pub store: Option<PathBuf>,
    /// Print one JSON document (steps and result) on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Show the details of each step.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options of the commands that may authorize.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// Don't open a browser: print the URL, and follow an immediate redirect of an
    /// auto-approving authorization server.
    #[arg(long, visible_alias = "no-browser")]
    pub headless: bool,
    /// A pre-registered client id.
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// The pre-registered client's secret.
    #[arg(long, value_name = "SECRET", requires = "client_id")]
    pub client_secret: Option<String>,
    /// Use the pre-registered client only with this authorization server issuer.
    #[arg(long, value_name = "ISSUER", requires = "client_id")]
    pub client_issuer: Option<String>,
    /// A Client ID Metadata Document URL, used as client id when the server supports it.
    #[arg(long, value_name = "URL")]
    pub client_metadata_url: Option<String>,
    /// Seconds to wait for the authorization callback.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Without protected resource metadata, fall back to 2025-03-26 discovery.
    #[arg(long)]
    pub legacy_discovery: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Discover, register and authorize against an MCP server; store the tokens.
    Login {
        /// The MCP server URL, e.g. http://localhost:8001/mcp.
        url: String,
        #[command(flatten)]
        auth: AuthArgs,
        /// Print the access token on stdout (it is never printed otherwise).
        #[arg(long)]
        show_token: bool,
    },
    /// List the server's tools (authorizing first if needed).
    Tools {
        /// The MCP server URL.
        url: String,
        #[command(flatten)]
        auth: AuthArgs,
    },
    /// Call a tool (authorizing or stepping up if needed).
    Call {
        /// The MCP server URL.
        url: String,
        /// The tool name.
        tool: String,
        /// The arguments as a JSON object.
        #[arg(long, value_name = "JSON")]
        args: Option<String>,
        #[command(flatten)]
        auth: AuthArgs,
    },
    /// Refresh the stored access token now (refresh_token grant, same resource).
    Refresh {
        /// The MCP server URL.
        url: String,
    },
    /// Revoke the stored tokens at the authorization server (RFC 7009) and forget them.
    Revoke {
        /// The MCP server URL.
        url: String,
    },
    /// Show the stored registrations and tokens (never the tokens themselves).
    Status,
    /// Forget the tokens for an MCP server.
    Logout {
        /// The MCP server URL.
        url: String,
        /// Also forget the client registrations at its authorization server(s).
        #[arg(long)]
        forget_client: bool,
    },
    /// Serve this client's Client ID Metadata Document (for a local demo).
    ServeMetadata {
        /// The document's public URL, which is also the client id.
        #[arg(long, value_name = "URL")]
        url: String,
        /// Address to listen on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
        listen: String,
    },
    /// Run as the MCP conformance suite's client: headless, credentials from
    /// MCP_CONFORMANCE_CONTEXT, a throw-away store; lists tools and calls test-tool.
    Conformance {
        /// The server URL (the suite appends it as the last argument).
        url: String,
    },
}

/// The conformance suite's expected CIMD client id.
pub const CONFORMANCE_CLIENT_METADATA_URL: &str =
    "https://conformance-test.local/client-metadata.json";

/// Parses the process arguments and runs; returns the exit code.
pub async fn main() -> i32 {
    let cli = Cli::parse();
    let mode = if cli.json {
        OutputMode::Json
    } else {
        OutputMode::Human {
            verbose: cli.verbose > 0,
        }
    };
    let reporter = Reporter::new(mode);
    let result = run(cli, reporter.clone(), Arc::new(SystemClock)).await;
    let code = i32::from(result.is_err());
    match (mode, result) {
        (OutputMode::Json, result) => {
            let doc = match result {
                Ok(value) => json!({"ok": true, "steps": reporter.steps(), "result": value}),
                Err(e) => json!({"ok": false, "steps": reporter.steps(), "error": e.to_string()}),
            };
            out!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        (_, Err(e)) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
        }
        (_, Ok(_)) => {}
    }
    code
}

fn settings_for(cli: &Cli, auth: Option<&AuthArgs>) -> Result<Settings> {
    let mut settings = Settings::load(cli.config.as_deref())?;
    if let Some(store) = &cli.store {
        settings.store_path.clone_from(store);
    }
    if let Some(auth) = auth {
        if auth.headless {
            settings.mode = AuthorizeMode::Headless;
        }
        if let Some(id) = &auth.client_id {
            settings.pre_registered = Some(PreRegistered {
                client_id: id.clone(),
                client_secret: auth.client_secret.clone(),
                issuer: auth.client_issuer.clone(),
            });
        }
        if let Some(url) = &auth.client_metadata_url {
            crate::registration::check_metadata_url(url)
                .map_err(|e| ClientError::invalid_url(url, e))?;
            settings.metadata_url = Some(url.clone());
        }
        if auth.legacy_discovery {
            settings.legacy_discovery = true;
        }
        if let Some(secs) = auth.timeout {
            settings.authorize_timeout = Duration::from_secs(secs.max(1));
        }
    }
    Ok(settings)
}

/// Runs one command; returns the JSON form of its result (also printed in human mode).
pub async fn run(cli: Cli, reporter: Reporter, clock: Arc<dyn Clock>) -> Result<Value> {
    let human = matches!(reporter.mode(), OutputMode::Human { .. });
    match &cli.command {
        Command::Login {
            url,
            auth,
            show_token,
        } => {
            let settings = settings_for(&cli, Some(auth))?;
            let client = McpClient::new(settings, url, clock, reporter)?;
            let summary = client.login().await?;
            let mut value = serde_json::to_value(&summary).unwrap_or_default();
            if *show_token && let Some(c) = client.tokens().snapshot().await {
                value["access_token"] = Value::String(c.access_token.secret().to_owned());
                if human {
                    out!("{}", c.access_token.secret());
                }
            } else if human {
                out!(
                    "Logged in to {url} via {} (scope: {})",
                    summary.issuer,
                    summary.scope.as_deref().unwrap_or("unspecified")
                );
            }
            Ok(value)
        }
        Command::Tools { url, auth } => {
            let settings = settings_for(&cli, Some(auth))?;
            let client = McpClient::new(settings, url, clock, reporter)?;
            let connection = client.connect().await?;
            let tools = connection.list_tools().await;
            connection.close().await;
            let tools = tools?;
            if human {
                print_tools(&tools);
            }
            Ok(json!({"tools": tools}))
        }
        Command::Call {
            url,
            tool,
            args,
            auth,
        } => {
            let arguments = parse_args(args.as_deref())?;
            let settings = settings_for(&cli, Some(auth))?;
            let client = McpClient::new(settings, url, clock, reporter)?;
            let connection = client.connect().await?;
            let result = connection.call_tool(tool, arguments).await;
            connection.close().await;
            let result = result?;
            if human {
                print_result(&result);
            }
            Ok(serde_json::to_value(&result).unwrap_or_default())
        }
        Command::Refresh { url } => {
            let settings = settings_for(&cli, None)?;
            let client = McpClient::new(settings, url, clock, reporter)?;
            let value = client.refresh().await?;
            if human {
                out!(
                    "Refreshed the tokens for {url} (scope: {}, expires in {} s)",
                    value["scope"].as_str().unwrap_or("unspecified"),
                    value["expires_in"]
                );
            }
            Ok(value)
        }
        Command::Revoke { url } => {
            let settings = settings_for(&cli, None)?;
            let client = McpClient::new(settings, url, clock, reporter)?;
            let value = client.revoke().await?;
            if human {
                out!("Revoked and forgot the tokens for {url}");
            }
            Ok(value)
        }
        Command::Status => {
            let settings = settings_for(&cli, None)?;
            let store = Store::new(settings.store_path.clone());
            let file = store.load()?;
            let now = clock.now();
            let tokens: Vec<Value> = file
                .tokens
                .iter()
                .map(|t| {
                    json!({
                        "server": t.server, "issuer": t.issuer, "resource": t.resource,
                        "client_id": t.client_id, "scope": t.scope,
                        "expires_in": t.expires_at.map(|at| at - now),
                        "refresh_token": t.refresh_token.is_some(),
                    })
                })
                .collect();
            let registrations: Vec<Value> = file
                .registrations
                .values()
                .map(|r| {
                    json!({"issuer": r.issuer, "client_id": r.client_id, "method": r.method,
                                "token_endpoint_auth_method": r.token_endpoint_auth_method})
                })
                .collect();
            if human {
                out!("Credential file: {}", store.path().display());
                if registrations.is_empty() && tokens.is_empty() {
                    out!("Nothing stored.");
                }
                for (issuer, r) in &file.registrations {
                    let method = serde_json::to_value(r.method).unwrap_or_default();
                    out!(
                        "client {} at {issuer} ({})",
                        r.client_id,
                        method.as_str().unwrap_or_default()
                    );
                }
                for t in &file.tokens {
                    let expiry = t.expires_at.map_or_else(
                        || "no expiry".to_owned(),
                        |at| {
                            if at > now {
                                format!("expires in {} s", at - now)
                            } else {
                                "expired".to_owned()
                            }
                        },
                    );
                    out!(
                        "{}: tokens from {} (scope: {}, {expiry}, refresh token: {})",
                        t.server,
                        t.issuer,
                        t.scope.as_deref().unwrap_or("unspecified"),
                        if t.refresh_token.is_some() {
                            "yes"
                        } else {
                            "no"
                        }
                    );
                }
            }
            Ok(
                json!({"store": store.path().display().to_string(), "registrations": registrations, "tokens": tokens}),
            )
        }
        Command::Logout { url, forget_client } => {
            let settings = settings_for(&cli, None)?;
            let store = Store::new(settings.store_path.clone());
            let gone = store.remove_tokens_for_server(url)?;
            let mut forgotten = Vec::new();
            if *forget_client {
                for t in &gone {
                    if store.remove_registration(&t.issuer)? {
                        forgotten.push(t.issuer.clone());
                    }
                }
            }
            reporter.step(
                "logout",
                format!("Removed {} token record(s) for {url}", gone.len()),
                json!({"removed": gone.len(), "registrations_forgotten": forgotten}),
            );
            if human {
                out!(
                    "Logged out of {url} ({} token record(s) removed)",
                    gone.len()
                );
            }
            Ok(json!({"removed": gone.len(), "registrations_forgotten": forgotten}))
        }
        Command::ServeMetadata { url, listen } => {
            let settings = settings_for(&cli, None)?;
            let listener = tokio::net::TcpListener::bind(listen.as_str())
                .await
                .map_err(|e| ClientError::io(format!("binding {listen}"), e))?;
            let addr = listener
                .local_addr()
                .map_err(|e| ClientError::io("reading the bound address", e))?;
            out!("listening on http://{addr}");
            reporter.say(format!(
                "serving the Client ID Metadata Document for client id {url}"
            ));
            crate::metadata_server::run(listener, url, &settings.client_name, shutdown_signal())
                .await?;
            Ok(Value::Null)
        }
        Command::Conformance { url } => conformance(url, reporter, clock).await,
    }
}

/// The conformance suite's client contract (docs/notes/conformance.md §3).
async fn conformance(url: &str, reporter: Reporter, clock: Arc<dyn Clock>) -> Result<Value> {
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    let context: Value = std::env::var("MCP_CONFORMANCE_CONTEXT")
        .ok()
        .and_then(|c| serde_json::from_str(&c).ok())
        .unwrap_or(Value::Null);
    let dir = std::env::temp_dir().join(format!(
        "mcp-client-conformance-{}-{}",
        std::process::id(),
        mcp_auth_core::secret::random_urlsafe(6)
    ));
    let mut settings = Settings::defaults_with_store(dir.join("credentials.json"))?;
    settings.mode = AuthorizeMode::Headless;
    settings.authorize_timeout = Duration::from_secs(20);
    settings.metadata_url = Some(CONFORMANCE_CLIENT_METADATA_URL.to_owned());
    settings.legacy_discovery = true;
    // The suite names the protocol revision a scenario is written for (0.2 and later).
    if std::env::var("MCP_CONFORMANCE_PROTOCOL_VERSION").as_deref() == Ok("2026-07-28") {
        settings.protocol = McpProtocol::V2026_07_28;
    }
    if let Some(id) = context.get("client_id").and_then(Value::as_str) {
        settings.pre_registered = Some(PreRegistered {
            client_id: id.to_owned(),
            client_secret: context
                .get("client_secret")
                .and_then(Value::as_str)
                .map(str::to_owned),
            issuer: None,
        });
    }
    reporter.step(
        "conformance",
        format!("Conformance scenario {scenario:?} against {url}"),
        json!({"scenario": scenario, "pre_registered": settings.pre_registered.is_some()}),
    );
    let outcome = async {
        let client = McpClient::new(settings, url, clock, reporter)?;
        let connection = client.connect().await?;
        let result = async {
            let tools = connection.list_tools().await?;
            let mut called = Vec::new();
            if let Some(tool) = tools
                .iter()
                .find(|t| t.name == "test-tool")
                .or(tools.first())
            {
                connection.call_tool(&tool.name, None).await?;
                called.push(tool.name.to_string());
            }
            Ok::<_, ClientError>(json!({"tools": tools.len(), "called": called}))
        }
        .await;
        connection.close().await;
        result
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

fn parse_args(args: Option<&str>) -> Result<Option<JsonObject>> {
    let Some(args) = args else { return Ok(None) };
    match serde_json::from_str::<Value>(args) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(_) => Err(ClientError::Config("--args must be a JSON object".into())),
        Err(e) => Err(ClientError::Config(format!("--args is not JSON: {e}"))),
    }
}

fn print_tools(tools: &[Tool]) {
    if tools.is_empty() {
        out!("(no tools)");
    }
    for tool in tools {
        match tool.description.as_deref() {
            Some(d) => out!("{}  —  {d}", tool.name),
            None => out!("{}", tool.name),
        }
    }
}

fn print_result(result: &CallToolResult) {
    for line in result_lines(result) {
        out!("{line}");
    }
}

/// What `call` prints for a tool result: each content block, then the structured content
/// only when no text block carried it already (MCP servers send structured results twice,
/// as `structuredContent` and as its JSON text, for older clients).
fn result_lines(result: &CallToolResult) -> Vec<String> {
    let mut lines = Vec::new();
    let mut has_text = false;
    for block in &result.content {
        match block.as_text() {
            Some(text) => {
                has_text = true;
                lines.push(text.text.clone());
            }
            None => lines.push(serde_json::to_string(block).unwrap_or_default()),
        }
    }
    if let Some(structured) = &result.structured_content
        && !has_text
    {
        lines.push(structured.to_string());
    }
    if result.is_error == Some(true) {
        lines.push("(the tool reported an error)".to_owned());
    }
    lines
}

#[cfg(test)]
mod tests {
    use rmcp::model::ContentBlock;
    use serde_json::json;

    use super::*;

    #[test]
    fn a_structured_result_is_printed_once() {
        let result = CallToolResult::structured(json!({"city": "Paris", "temperature_c": 27}));
        assert_eq!(
            result_lines(&result),
            [r#"{"city":"Paris","temperature_c":27}"#]
        );
    }

    #[test]
    fn structured_content_without_text_is_printed() {
        let mut result = CallToolResult::structured(json!({"ok": true}));
        result.content.clear();
        assert_eq!(result_lines(&result), [r#"{"ok":true}"#]);
    }

    #[test]
    fn text_blocks_and_tool_errors_are_printed() {
        let result = CallToolResult::error(vec![
            ContentBlock::text("first"),
            ContentBlock::text("second"),
        ]);
        assert_eq!(
            result_lines(&result),
            ["first", "second", "(the tool reported an error)"]
        );
    }
}
