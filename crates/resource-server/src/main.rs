//! `resource-server`: parse the command line, load the configuration, bind, serve.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use mcp_auth_core::SystemClock;
use resource_server::{AppState, Settings, run, telemetry};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// MCP resource server (Streamable HTTP, OAuth 2.1 protected).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// A TOML file layered over the compiled defaults (environment variables still win).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Log JSON lines instead of text.
    #[arg(long)]
    log_json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_json);
    let settings = Settings::load(cli.config.as_deref()).context("loading the configuration")?;
    let addr = SocketAddr::new(settings.http.host, settings.http.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let bound = listener.local_addr()?;
    tracing::info!(
        resource = %settings.resource.uri,
        issuer = %settings.authorization_server.issuer,
        mode = ?settings.token.mode,
        stateful = settings.mcp.stateful,
        json_response = settings.mcp.json_response,
        authorization = !settings.dev.disable_authorization,
        "starting"
    );
    let state = AppState::new(settings, Arc::new(SystemClock))?;
    // Keys load in the background: a request that arrives first fetches them itself.
    // Without authorization no token is validated, so the AS is never asked.
    if !state.settings.dev.disable_authorization {
        let validator = state.validator.clone();
        tokio::spawn(async move { validator.prime().await });
    }
    // The one line on stdout: the e2e harness waits for it.
    println!("listening on http://{bound}");
    run(listener, state, mcp_auth_serve::shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}
