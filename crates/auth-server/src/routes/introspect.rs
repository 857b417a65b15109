//! `POST /introspect` — RFC 7662. Only a pre-registered confidential client with
//! `introspection_resources` may call it (any other caller, including every dynamically
//! registered client, is 401 `invalid_client`), and it only learns about tokens whose `aud` is
//! one of those resources: any other token is `{"active":false}` (RFC 7662 §2.2), as is an
//! inactive, unknown, expired or revoked token.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use mcp_auth_core::jwt::AccessTokenVerifier;
use mcp_auth_core::metadata::TokenTypeHint;
use mcp_auth_core::secret::RefreshToken;
use mcp_auth_core::token::{Audience, IntrospectionResponse};

use crate::AppState;
use crate::client_auth::{FormParams, authenticate};
use crate::error::{AppError, no_store};
use crate::store::ClientSource;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/introspect", post(post_introspect))
}

/// Claims of a valid, unrevoked access token signed by this server.
pub async fn verify_access_token(
    state: &AppState,
    token: &str,
) -> Result<Option<mcp_auth_core::jwt::AccessTokenClaims>, AppError> {
    let now = state.clock.now();
    let jwks = state.keys.jwks();
    let algorithms = mcp_auth_core::jwt::SigningAlgorithm::ALL;
    for resource in &state.settings.resources {
        let verifier = AccessTokenVerifier::new(
            state.settings.issuer.as_str(),
            resource.uri.clone(),
            &algorithms,
            &jwks,
        )
        .with_leeway(0);
        if let Ok(claims) = verifier.verify(token, now) {
            return Ok(match state.store.access_token_revoked(&claims.jti).await? {
                Some((false, _)) => Some(claims),
                _ => None,
            });
        }
    }
    Ok(None)
}

async fn introspect_refresh(
    state: &AppState,
    token: &str,
) -> Result<Option<IntrospectionResponse>, AppError> {
    let now = state.clock.now();
    let Some((record, grant)) = state
        .store
        .get_refresh_token(&RefreshToken::new(token).digest())
        .await?
    else {
        return Ok(None);
    };
    if record.rotated_at.is_some() || record.expires_at <= now || grant.revoked_at.is_some() {
        return Ok(None);
    }
    let username = state
        .store
        .get_user(&grant.user_id)
        .await?
        .map(|u| u.username);
    Ok(Some(IntrospectionResponse {
        active: true,
        scope: Some(grant.scope),
        client_id: Some(grant.client_id),
        username,
        token_type: Some("refresh_token".to_owned()),
        exp: Some(record.expires_at),
        iat: Some(record.issued_at),
        sub: Some(grant.user_id),
        aud: Some(Audience::single(grant.resource)),
        iss: Some(state.settings.issuer.as_str().to_owned()),
        ..Default::default()
    }))
}

async fn post_introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let form = FormParams::from_request(&headers, &body)?;
    let client = authenticate(&state, &headers, &form, true).await?;
    let allowed: &[mcp_auth_core::ResourceUri] = match client.source {
        ClientSource::Config => state
            .settings
            .clients
            .iter()
            .find(|c| c.client_id == client.client_id)
            .map_or(&[], |c| c.introspection_resources.as_slice()),
        ClientSource::Dynamic | ClientSource::MetadataDocument => &[],
    };
    if allowed.is_empty() {
        return Err(AppError::invalid_client(
            "this client may not introspect tokens",
            crate::client_auth::used_basic(&headers),
        ));
    }
    let token = form.require("token")?;
    let hint = form.get("token_type_hint").map(TokenTypeHint::parse);
    let mut answer = None;
    if hint != Some(TokenTypeHint::RefreshToken)
        && let Some(claims) = verify_access_token(&state, token).await?
    {
        let username = state.store.get_user(&claims.sub).await?.map(|u| u.username);
        answer = Some(IntrospectionResponse {
            active: true,
            scope: (!claims.scope.is_empty()).then(|| claims.scope.to_string()),
            client_id: Some(claims.client_id),
            username,
            token_type: Some("Bearer".to_owned()),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            nbf: claims.nbf,
            sub: Some(claims.sub),
            aud: Some(claims.aud),
            iss: Some(claims.iss),
            jti: Some(claims.jti),
            extra: Default::default(),
        });
    }
    if answer.is_none() {
        answer = introspect_refresh(&state, token).await?;
    }
    // A token for a resource the caller does not serve is none of its business.
    let answer = answer.filter(|a| {
        a.aud
            .as_ref()
            .is_some_and(|aud| allowed.iter().any(|r| aud.contains_resource(r)))
    });
    let mut response = Json(answer.unwrap_or_else(IntrospectionResponse::inactive)).into_response();
    no_store(&mut response);
    Ok(response)
}
