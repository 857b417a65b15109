//! `auth-server`: an OAuth 2.1 authorization server for MCP.
//!
//! * Client registration three ways in one registry: Client ID Metadata Documents
//!   ([`cimd`]), RFC 7591 dynamic registration ([`routes::register`]) and pre-registered
//!   clients from the configuration.
//! * `/authorize` with PKCE S256, RFC 8707 resources, RFC 9207 `iss`, login and consent
//!   pages ([`routes::authorize`]); `/token` with the authorization code and refresh token
//!   grants ([`grants`]); RFC 9068 JWT access tokens; `/introspect`, `/revoke`, `/jwks`.
//! * Storage behind role traits ([`store`]), SQLite by default.
//!
//! The binary is a thin wrapper: [`app`] builds the router, [`run`] serves it until the
//! shutdown future completes.

pub mod cimd;
pub mod client_auth;
pub mod error;
pub mod grants;
pub mod keys;
pub mod pages;
pub mod routes;
pub mod scopes;
pub mod security;
pub mod session;
pub mod settings;
pub mod state;
pub mod store;
pub mod telemetry;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use tokio::net::TcpListener;
use tower_http::cors::{Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use settings::Settings;
pub use state::AppState;

/// The `x-request-id` header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// CORS for endpoints browser clients (MCP Inspector) call directly. Never on `/authorize`.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("mcp-protocol-version"),
        ])
        .expose_headers([header::WWW_AUTHENTICATE])
        .max_age(Duration::from_secs(3600))
}

/// The router: every endpoint, mounted under the issuer's path.
pub fn app(state: AppState) -> Router {
    let with_cors = Router::new()
        .merge(routes::jwks::router())
        .merge(routes::register::router())
        .merge(routes::token::router())
        .merge(routes::introspect::router())
        .merge(routes::revoke::router())
        .layer(cors());
    let api = Router::new()
        .merge(with_cors)
        .merge(routes::authorize::router())
        .merge(routes::health::router())
        .merge(pages::router());
    let issuer_path = state
        .settings
        .issuer
        .to_url()
        .path()
        .trim_end_matches('/')
        .to_owned();
    let api = if issuer_path.is_empty() {
        api
    } else {
        // Error pages link the stylesheet from the root: serve it there too.
        Router::new().nest(&issuer_path, api).merge(pages::router())
    };
    let metadata = routes::metadata::router(&issuer_path).layer(cors());
    Router::new()
        .merge(api)
        .merge(metadata)
        // Every request body here is small (forms, registration JSON).
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                let request_id = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v: &HeaderValue| v.to_str().ok())
                    .unwrap_or("-");
                // The path only: query strings may carry codes and states.
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                    request_id = %request_id,
                )
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` completes; runs maintenance in the
/// background.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let token = tokio_util::sync::CancellationToken::new();
    let maintenance = {
        let state = state.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(
                state.settings.maintenance.interval_seconds,
            ));
            let mut key_tick = tokio::time::interval(Duration::from_secs(
                state.settings.tokens.key_reload_seconds,
            ));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            key_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            key_tick.tick().await;
            loop {
                tokio::select! {
                    () = token.cancelled() => break,
                    _ = tick.tick() => {
                        if let Err(e) = state.maintain().await {
                            tracing::warn!(error = %e, "maintenance pass failed");
                        }
                    }
                    _ = key_tick.tick() => {
                        if let Err(e) = state.reload_keys().await {
                            tracing::warn!(error = %e, "signing key reload failed");
                        }
                    }
                }
            }
        })
    };
    let router = app(state);
    // TCP_NODELAY: a response written in two parts must not wait for the delayed ACK.
    let result = axum::serve(
        mcp_auth_serve::nodelay(listener),
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    token.cancel();
    let _ = maintenance.await;
    result.map_err(Into::into)
}
