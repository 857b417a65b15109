//! The token endpoint's grants and the token issuance they share.
//!
//! * [`authorization_code`]: RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6) and RFC 8707.
//! * [`refresh_token`]: RFC 6749 §6 with rotation and reuse detection (OAuth 2.1 §4.3.1,
//!   RFC 9700 §4.14).
//! * [`sign_access_token`]: RFC 9068 JWT access tokens (`aud` = the canonical resource);
//!   [`new_refresh_token`]: refresh tokens. Each grant stores what it issues in one
//!   transaction.

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

/// A client's `last_used_at` is rewritten at most this often. Only whether a dynamic client
/// was ever used matters (never-used ones are reaped), so marking every token request would be
/// one database write per request for nothing.
const CLIENT_USE_RESOLUTION_SECONDS: i64 = 3600;

/// Records that `client` was used, unless a recent use is on record already.
pub async fn record_client_use(
    state: &AppState,
    client: &ClientRecord,
    now: i64,
) -> Result<(), AppError> {
    let recent = client
        .last_used_at
        .is_some_and(|at| now.saturating_sub(at) < CLIENT_USE_RESOLUTION_SECONDS);
    if !recent {
        state.store.touch_client(&client.client_id, now).await?;
    }
    Ok(())
}

/// An access token signed for a grant, and the record that tracks its `jti`: stored by the
/// caller in the same transaction as the rest of the grant's writes.
#[derive(Debug)]
pub struct SignedAccessToken {
    /// The JWT.
    pub token: AccessToken,
    /// Its `jti` record.
    pub record: AccessTokenRecord,
}

/// Signs an RFC 9068 access token for `grant` with `scope` (`offline_access` left out of
/// the token: it concerns the refresh token only).
pub fn sign_access_token(
    state: &AppState,
    grant: &GrantRecord,
    scope: &ScopeSet,
) -> Result<SignedAccessToken, AppError> {
    let now = state.clock.now();
    let ttl = state.settings.tokens.access_token_ttl_seconds;
    let mut token_scope = scope.clone();
    token_scope.remove(OFFLINE_ACCESS);
    // Time-ordered (UUIDv7): each new `jti` lands at the end of the access-token index, on
    // a page the previous one dirtied, instead of on a random page per token.
    let jti = uuid::Uuid::now_v7().to_string();
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
    Ok(SignedAccessToken {
        token: AccessToken::new(signed),
        record: AccessTokenRecord {
            jti,
            grant_id: grant.grant_id.clone(),
            expires_at: now + ttl,
        },
    })
}

/// The token response (RFC 6749 §5.1) for tokens already stored.
pub fn token_response(
    state: &AppState,
    access_token: AccessToken,
    scope: &ScopeSet,
    refresh_token: Option<RefreshToken>,
) -> TokenResponse {
    TokenResponse {
        access_token,
        token_type: "Bearer".to_owned(),
        expires_in: u64::try_from(state.settings.tokens.access_token_ttl_seconds).ok(),
        refresh_token,
        scope: Some(scope.to_string()),
        extra: Default::default(),
    }
}
