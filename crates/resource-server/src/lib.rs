//! `resource-server`: an MCP server over Streamable HTTP that is a correct OAuth 2.1
//! resource server.
//!
//! | module | what | specification |
//! |---|---|---|
//! | [`protected_resource`] | protected resource metadata | RFC 9728 |
//! | [`auth`] | bearer guard: challenges, per-tool scopes, session binding | RFC 6750 §2–3, MCP 2025-11-25 authorization |
//! | [`validation`] | JWT (JWKS, rotation, cache) and introspection | RFC 9068 §4, RFC 7517, RFC 7662 |
//! | [`transport`] | Host/Origin allow-lists, protocol version, CORS | MCP 2025-11-25 transports |
//! | [`tools`] | the MCP tools | MCP 2025-11-25 tools |
//! | [`settings`] | layered configuration | |
//!
//! [`app`] builds the router, [`run`] serves it until a shutdown future completes.

pub mod auth;
pub mod authorization_server;
pub mod protected_resource;
pub mod sessions;
pub mod settings;
pub mod state;
pub mod telemetry;
pub mod tools;
pub mod transport;
pub mod validation;

use std::future::Future;

use axum::Router;
use axum::extract::Request;
use axum::middleware;
use axum::routing::get;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

pub use settings::Settings;
pub use state::AppState;

use crate::tools::McpTools;

/// The whole application: `/mcp` (guarded), the metadata, `/healthz`.
///
/// `[mcp]` picks rmcp's session or stateless mode (and JSON answers in the latter);
/// `[dev] disable_authorization` swaps the bearer guard for [`auth::open_guard`] and drops
/// the protected resource metadata (there is no protected resource to describe).
pub fn app(state: AppState) -> Router {
    let settings = state.settings.clone();
    let mcp_config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(settings.security.allowed_hosts.clone())
        .with_allowed_origins(settings.security.allowed_origins.clone())
        .with_max_request_body_bytes(auth::MAX_BODY_BYTES)
        .with_legacy_session_mode(settings.mcp.stateful)
        .with_json_response(settings.mcp.json_response)
        .with_cancellation_token(state.cancellation.child_token());
    let tools_state = state.clone();
    let tool_router = McpTools::shared_router();
    let tools = move || Ok(McpTools::new(tools_state.clone(), tool_router.clone()));
    let mcp = if settings.mcp.stateful {
        let service =
            StreamableHttpService::new(tools, LocalSessionManager::default().into(), mcp_config);
        Router::new().nest_service("/mcp", service)
    } else {
        let service =
            StreamableHttpService::new(tools, NeverSessionManager::default().into(), mcp_config);
        Router::new().nest_service("/mcp", service)
    };
    let mcp = if settings.dev.disable_authorization {
        mcp.layer(middleware::from_fn_with_state(
            state.clone(),
            auth::open_guard,
        ))
    } else {
        mcp.layer(middleware::from_fn_with_state(
            state.clone(),
            auth::mcp_guard,
        ))
    };
    let mcp = mcp.layer(transport::mcp_cors(&settings.security));
    let mut router = Router::new().merge(mcp);
    if !settings.dev.disable_authorization {
        router =
            router.merge(protected_resource::router(&settings).layer(transport::metadata_cors()));
    }
    router
        .route("/healthz", get(get_healthz))
        .layer(
            // The span has the method and the path only: no query string, no headers.
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
            }),
        )
        .with_state(state)
}

/// `GET /healthz`.
async fn get_healthz() -> &'static str {
    "ok"
}

/// In JWT mode with `jwks_max_age` set, re-fetches the JWKS on that period until shutdown.
fn spawn_key_refresher(state: &AppState) {
    let Some(period) = state.settings.authorization_server.jwks_max_age else {
        return;
    };
    if state.settings.token.mode != settings::TokenMode::Jwt {
        return;
    }
    let validator = state.validator.clone();
    let cancellation = state.cancellation.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = cancellation.cancelled() => break,
                () = tokio::time::sleep(period) => validator.refresh_keys().await,
            }
        }
    });
}

/// Serves `app(state)` on `listener` until `shutdown` completes, then cancels the MCP
/// sessions (ending their SSE streams) and drains open requests.
///
/// With `dev.disable_authorization` on, the listener must be bound to a loopback address
/// (whatever the settings say): otherwise this returns an `InvalidInput` error at once.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if state.settings.dev.disable_authorization {
        let bound = listener.local_addr()?;
        if !bound.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "dev.disable_authorization is allowed only on a loopback address, \
                     and this listener is bound to {bound}"
                ),
            ));
        }
        tracing::warn!(
            "DEVELOPMENT SETTING dev.disable_authorization is ON: /mcp is served WITHOUT \
             authorization (no bearer token is asked for or checked, no scope is enforced); \
             for benchmarks on loopback only"
        );
    } else {
        spawn_key_refresher(&state);
    }
    let cancellation = state.cancellation.clone();
    let app = app(state);
    // TCP_NODELAY: an SSE answer leaves in two writes (the priming event, then the message).
    axum::serve(mcp_auth_serve::nodelay(listener), app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            cancellation.cancel();
        })
        .await
}
