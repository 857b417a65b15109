//! `GET /.well-known/oauth-authorization-server[/path]`: RFC 8414 metadata.
//!
//! For an issuer with a path, the document lives at the path-inserted location (RFC 8414
//! §3.1). `issuer` is the configured string, unchanged.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use mcp_auth_core::metadata::{AuthorizationServerMetadata, GrantType, TokenEndpointAuthMethod};
use mcp_auth_core::well_known::OAUTH_AUTHORIZATION_SERVER;

use crate::AppState;

/// Routes of this module; `issuer_path` is the issuer's path without a trailing `/`.
pub fn router(issuer_path: &str) -> Router<AppState> {
    Router::new().route(
        &format!("{OAUTH_AUTHORIZATION_SERVER}{issuer_path}"),
        get(get_metadata),
    )
}

/// The metadata document for `state`.
pub fn document(state: &AppState) -> AuthorizationServerMetadata {
    let s = &state.settings;
    let issuer = &s.issuer;
    let client_auth = vec![
        TokenEndpointAuthMethod::None,
        TokenEndpointAuthMethod::ClientSecretBasic,
        TokenEndpointAuthMethod::ClientSecretPost,
    ];
    let confidential = vec![
        TokenEndpointAuthMethod::ClientSecretBasic,
        TokenEndpointAuthMethod::ClientSecretPost,
    ];
    AuthorizationServerMetadata {
        issuer: issuer.as_str().to_owned(),
        authorization_endpoint: Some(issuer.endpoint("/authorize")),
        token_endpoint: Some(issuer.endpoint("/token")),
        jwks_uri: Some(issuer.endpoint("/jwks")),
        registration_endpoint: s.dcr.enabled.then(|| issuer.endpoint("/register")),
        scopes_supported: Some(s.scopes_supported()),
        response_types_supported: vec!["code".to_owned()],
        response_modes_supported: Some(vec!["query".to_owned()]),
        grant_types_supported: Some(vec![GrantType::AuthorizationCode, GrantType::RefreshToken]),
        token_endpoint_auth_methods_supported: Some(client_auth.clone()),
        token_endpoint_auth_signing_alg_values_supported: None,
        service_documentation: None,
        revocation_endpoint: Some(issuer.endpoint("/revoke")),
        revocation_endpoint_auth_methods_supported: Some(client_auth),
        introspection_endpoint: Some(issuer.endpoint("/introspect")),
        introspection_endpoint_auth_methods_supported: Some(confidential),
        code_challenge_methods_supported: Some(vec!["S256".to_owned()]),
        client_id_metadata_document_supported: Some(s.cimd.enabled),
        authorization_response_iss_parameter_supported: Some(true),
        extra: Default::default(),
    }
}

async fn get_metadata(State(state): State<AppState>) -> Json<AuthorizationServerMetadata> {
    Json(document(&state))
}
