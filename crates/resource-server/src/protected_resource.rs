//! `GET /.well-known/oauth-protected-resource[/mcp]`: protected resource metadata
//! (RFC 9728 §2–§3, MCP 2025-11-25 "Protected Resource Metadata Discovery").
//!
//! Served at the path-inserted location (what 401 challenges point at) and at the root
//! location (older clients probe it). `resource` is the canonical URI of `/mcp` exactly
//! (RFC 9728 §3.3), `scopes_supported` the minimal base set.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::header;
use mcp_auth_core::metadata::{Extra, ProtectedResourceMetadata};
use mcp_auth_core::well_known;

use crate::settings::Settings;
use crate::state::AppState;

/// The metadata document.
pub fn document(settings: &Settings) -> ProtectedResourceMetadata {
    ProtectedResourceMetadata {
        resource: settings.resource.uri.as_str().to_owned(),
        authorization_servers: vec![settings.authorization_server.issuer.as_str().to_owned()],
        jwks_uri: None,
        scopes_supported: Some(
            settings
                .resource
                .scopes_supported
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
        ),
        bearer_methods_supported: Some(vec!["header".to_owned()]),
        resource_signing_alg_values_supported: None,
        resource_name: Some(settings.resource.name.clone()),
        resource_documentation: None,
        resource_policy_uri: None,
        resource_tos_uri: None,
        extra: Extra::new(),
    }
}

/// `GET` handler.
pub async fn get_protected_resource_metadata(State(state): State<AppState>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(document(&state.settings)),
    )
        .into_response()
}

/// The routes: path-inserted and root (once, if they coincide).
pub fn router(settings: &Settings) -> Router<AppState> {
    let resource = settings.resource.uri.to_url();
    let mut paths: Vec<String> = well_known::protected_resource_metadata_candidates(&resource)
        .iter()
        .map(|u| u.path().to_owned())
        .collect();
    paths.dedup();
    paths.into_iter().fold(Router::new(), |router, path| {
        router.route(&path, get(get_protected_resource_metadata))
    })
}
