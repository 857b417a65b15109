//! `POST /register` — RFC 7591 dynamic client registration.
//!
//! 201 with every registered field echoed; errors `invalid_redirect_uri`,
//! `invalid_client_metadata`, `invalid_software_statement`, `unapproved_software_statement`.
//! `token_endpoint_auth_method: none` gets no secret; confidential clients get a 256-bit secret
//! that is stored only as its SHA-256 hash (`security::hash_generated_secret`). Issued ids are opaque and never start with `https://`
//! (CIMD -01 §4). Abuse control: a per-IP rate limit and an optional initial access token.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use mcp_auth_core::metadata::{
    ApplicationType, ClientMetadata, ClientRegistrationResponse, GrantType, TokenEndpointAuthMethod,
};
use mcp_auth_core::secret::{ClientSecret, constant_time_eq};
use mcp_auth_core::{OAuthErrorCode, RedirectUri, ScopeSet};

use crate::AppState;
use crate::error::{AppError, no_store};
use crate::security::hash_generated_secret;
use crate::store::{ClientRecord, ClientSource};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/register", post(post_register))
}

fn metadata_error(description: impl Into<String>) -> AppError {
    AppError::bad_request(OAuthErrorCode::InvalidClientMetadata, description)
}

fn redirect_error(description: impl Into<String>) -> AppError {
    AppError::bad_request(OAuthErrorCode::InvalidRedirectUri, description)
}

fn check_initial_access_token(state: &AppState, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let expected = &state.settings.dcr.initial_access_token;
    if expected.is_empty() {
        return Ok(());
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    if presented.is_some_and(|t| constant_time_eq(t.as_bytes(), expected.as_bytes())) {
        return Ok(());
    }
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(mcp_auth_core::ErrorResponse::new(
            OAuthErrorCode::InvalidToken,
            "a valid initial access token is required to register",
        )),
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Bearer error="invalid_token""#),
    );
    no_store(&mut response);
    Err(Box::new(response))
}

/// Validates a registration request, returning the metadata to store and echo.
pub fn validate(mut m: ClientMetadata) -> Result<ClientMetadata, AppError> {
    // Software statements are not trusted by this server.
    if let Some(statement) = &m.software_statement {
        if statement.split('.').count() != 3 {
            return Err(AppError::bad_request(
                OAuthErrorCode::InvalidSoftwareStatement,
                "software_statement is not a JWT",
            ));
        }
        return Err(AppError::bad_request(
            OAuthErrorCode::UnapprovedSoftwareStatement,
            "software statements are not accepted by this server",
        ));
    }
    // Grant and response types: the authorization code flow only.
    let grant_types = m
        .grant_types
        .clone()
        .unwrap_or_else(|| vec![GrantType::AuthorizationCode]);
    if let Some(bad) = grant_types
        .iter()
        .find(|g| !matches!(g, GrantType::AuthorizationCode | GrantType::RefreshToken))
    {
        return Err(metadata_error(format!("grant_type {bad} is not supported")));
    }
    if !grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(metadata_error(
            "grant_types must include authorization_code",
        ));
    }
    let response_types = m
        .response_types
        .clone()
        .unwrap_or_else(|| vec!["code".to_owned()]);
    if response_types.iter().any(|r| r != "code") {
        return Err(metadata_error("only the code response type is supported"));
    }
    // Authentication method (RFC 7591 §2: the default is client_secret_basic).
    let method = m
        .token_endpoint_auth_method
        .clone()
        .unwrap_or(TokenEndpointAuthMethod::ClientSecretBasic);
    if !matches!(
        method,
        TokenEndpointAuthMethod::None
            | TokenEndpointAuthMethod::ClientSecretBasic
            | TokenEndpointAuthMethod::ClientSecretPost
    ) {
        return Err(metadata_error(format!(
            "token_endpoint_auth_method {method} is not supported"
        )));
    }
    // Redirect URIs: required, valid, duplicates tolerated (and folded).
    if m.redirect_uris.is_empty() {
        return Err(redirect_error("redirect_uris is required"));
    }
    let mut redirect_uris: Vec<String> = Vec::new();
    let mut all_native = true;
    for uri in &m.redirect_uris {
        RedirectUri::parse(uri).map_err(|e| redirect_error(format!("redirect_uris: {e}")))?;
        // Loopback http and private-use schemes are native apps; https means web.
        if uri.starts_with("https://") {
            all_native = false;
        }
        if !redirect_uris.contains(uri) {
            redirect_uris.push(uri.clone());
        }
    }
    // application_type (OIDC Registration §2, MCP 2026-07-28): web clients use https only.
    let application_type = match &m.application_type {
        Some(ApplicationType::Web) => {
            if let Some(bad) = redirect_uris.iter().find(|u| !u.starts_with("https://")) {
                return Err(redirect_error(format!(
                    "a web application must use https redirect URIs, not {bad}"
                )));
            }
            ApplicationType::Web
        }
        Some(ApplicationType::Native) => ApplicationType::Native,
        Some(ApplicationType::Other(other)) => {
            return Err(metadata_error(format!(
                "application_type {other} is unknown"
            )));
        }
        None if all_native => ApplicationType::Native,
        None => ApplicationType::Web,
    };
    if let Some(scope) = &m.scope {
        ScopeSet::parse(scope).map_err(|e| metadata_error(format!("scope: {e}")))?;
    }
    for (field, value) in [
        ("client_uri", &m.client_uri),
        ("logo_uri", &m.logo_uri),
        ("tos_uri", &m.tos_uri),
        ("policy_uri", &m.policy_uri),
        ("jwks_uri", &m.jwks_uri),
    ] {
        if let Some(v) = value {
            let ok = url::Url::parse(v).is_ok_and(|u| matches!(u.scheme(), "https" | "http"));
            if !ok {
                return Err(metadata_error(format!("{field} is not an http(s) URL")));
            }
        }
    }
    m.redirect_uris = redirect_uris;
    m.grant_types = Some(grant_types);
    m.response_types = Some(response_types);
    m.token_endpoint_auth_method = Some(method);
    m.application_type = Some(application_type);
    Ok(m)
}

async fn post_register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    if !state.settings.dcr.enabled {
        return Ok(StatusCode::NOT_FOUND.into_response());
    }
    let now = state.clock.now();
    state
        .register_limiter
        .check(
            state.store.as_ref(),
            crate::security::client_ip(peer.ip(), &headers, &state.settings.http.trusted_proxies),
            now,
        )
        .await?
        .map_err(|retry_after| AppError::RateLimited { retry_after })?;
    if let Err(response) = check_initial_access_token(&state, &headers) {
        return Ok(*response);
    }
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|_| metadata_error("the body must be a JSON object"))?;
    if !value.is_object() {
        return Err(metadata_error("the body must be a JSON object"));
    }
    let metadata: ClientMetadata = serde_json::from_value(value)
        .map_err(|e| metadata_error(format!("malformed client metadata: {e}")))?;
    let metadata = validate(metadata)?;
    let confidential = metadata.token_endpoint_auth_method != Some(TokenEndpointAuthMethod::None);
    let secret = confidential.then(ClientSecret::generate);
    let secret_hash = secret.as_ref().map(hash_generated_secret);
    let client_id = format!("mcp_{}", mcp_auth_core::secret::random_urlsafe(18));
    let record = ClientRecord {
        client_id: client_id.clone(),
        secret_hash,
        auth_method: metadata
            .token_endpoint_auth_method
            .as_ref()
            .map_or("none", |m| m.as_str())
            .to_owned(),
        redirect_uris: metadata.redirect_uris.clone(),
        grant_types: metadata
            .grant_types
            .iter()
            .flatten()
            .map(|g| g.as_str().to_owned())
            .collect(),
        client_name: metadata.client_name.clone(),
        metadata: serde_json::to_value(&metadata).map_err(anyhow::Error::new)?,
        source: ClientSource::Dynamic,
        created_at: now,
        last_used_at: None,
    };
    state.store.insert_client(&record).await?;
    tracing::info!(client_id = %client_id, confidential, "registered a client");
    let response = ClientRegistrationResponse {
        client_id,
        client_secret_expires_at: secret.as_ref().map(|_| 0),
        client_secret: secret,
        client_id_issued_at: Some(now),
        metadata,
    };
    let mut response = (StatusCode::CREATED, Json(response)).into_response();
    no_store(&mut response);
    Ok(response)
}
