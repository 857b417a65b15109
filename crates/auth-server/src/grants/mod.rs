//! The token endpoint's grants and the token issuance they share.
//!
//! * [`authorization_code`]: RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6) and RFC 8707.
//! * [`refresh_token`]: RFC 6749 §6 with rotation and reuse detection (OAuth 2.1 §4.3.1,
//!   RFC 9700 §4.14).
//! * [`issue`]: RFC 9068 JWT access tokens (`aud` = the canonical resource) and refresh tokens.

pub mod authorization_code;
pub mod refresh_token;

use mcp_auth_core::ScopeSet;
use mcp_auth_core::jwt::AccessTokenClaims;
use mcp_auth_core::secret::{AccessToken, RefreshToken};
use mcp_auth_core::token::{Audience, TokenResponse};

use crate::AppState;
use crate::error::AppError;
use crate::scopes::OFFLINE_ACCESS;
use crate::store::{AccessTokenRecord, ClientRecord, GrantRecord, RefreshTokenRecord};

/// Whether a refresh token goes with tokens of `scope` for `client`: the client registered
/// the `refresh_token` grant or asked for `offline_access` (which is required when
/// `tokens.refresh_requires_offline_access` is set).
pub fn refresh_allowed(state: &AppState, client: &ClientRecord, scope: &ScopeSet) -> bool {
    let offline = scope.contains(OFFLINE_ACCESS);
    offline || (client.allows_refresh() && !state.settings.tokens.refresh_requires_offline_access)
}

/// A new refresh token record for `grant` and its secret value.
pub fn new_refresh_token(state: &AppState, grant_id: &str) -> (RefreshToken, RefreshTokenRecord) {
    let now = state.clock.now();
    let token = RefreshToken::generate();
    let record = RefreshTokenRecord {
        token_digest: token.digest(),
        grant_id: grant_id.to_owned(),
        issued_at: now,
        expires_at: now + state.settings.tokens.refresh_token_ttl_seconds,
        rotated_at: None,
    };
    (token, record)
}

/// Signs an access token for `grant` with `scope` and records its `jti`; builds the
/// response around it.
pub async fn issue(
    state: &AppState,
    grant: &GrantRecord,
    scope: &ScopeSet,
    refresh_token: Option<RefreshToken>,
) -> Result<TokenResponse, AppError> {
    let now = state.clock.now();
    let ttl = state.settings.tokens.access_token_ttl_seconds;
    let mut token_scope = scope.clone();
    token_scope.remove(OFFLINE_ACCESS);
    let jti = uuid::Uuid::new_v4().to_string();
    let claims = AccessTokenClaims {
        iss: state.settings.issuer.as_str().to_owned(),
        sub: grant.user_id.clone(),
        aud: Audience::single(grant.resource.clone()),
        client_id: grant.client_id.clone(),
        scope: token_scope,
        iat: now,
        exp: now + ttl,
        nbf: None,
        jti: jti.clone(),
        auth_time: Some(grant.auth_time),
        extra: Default::default(),
    };
    let key = state.keys.active()?;
    let signed = key
        .sign_access_token(&claims)
        .map_err(|e| anyhow::anyhow!("signing failed: {e}"))?;
    state
        .store
        .insert_access_token(&AccessTokenRecord {
            jti,
            grant_id: grant.grant_id.clone(),
            expires_at: now + ttl,
        })
        .await?;
    Ok(TokenResponse {
        access_token: AccessToken::new(signed),
        token_type: "Bearer".to_owned(),
        expires_in: u64::try_from(ttl).ok(),
        refresh_token,
        scope: Some(scope.to_string()),
        extra: Default::default(),
    })
}
