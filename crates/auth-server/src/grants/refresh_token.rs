//! `grant_type=refresh_token` (RFC 6749 §6, OAuth 2.1 §4.3).
//!
//! Every refresh rotates the token. A rotated token presented again within
//! `tokens.refresh_reuse_grace_seconds` (a client that lost the response) gets a fresh
//! successor once; after that, reuse revokes the whole grant (RFC 9700 §4.14.2). A requested
//! `scope` must be a subset of the grant's; `resource`, if sent, must be the grant's.

use mcp_auth_core::secret::RefreshToken;
use mcp_auth_core::token::TokenResponse;
use mcp_auth_core::{OAuthErrorCode, ResourceUri, ScopeSet};

use crate::AppState;
use crate::client_auth::FormParams;
use crate::error::AppError;
use crate::store::{ClientRecord, Rotation};

/// Exchanges a refresh token for new tokens.
pub async fn refresh(
    state: &AppState,
    client: &ClientRecord,
    form: &FormParams,
) -> Result<TokenResponse, AppError> {
    let now = state.clock.now();
    let presented = RefreshToken::new(form.require("refresh_token")?);
    let digest = presented.digest();
    let Some((record, grant)) = state.store.get_refresh_token(&digest).await? else {
        return Err(AppError::invalid_grant("unknown refresh token"));
    };
    if grant.client_id != client.client_id {
        return Err(AppError::invalid_grant(
            "refresh token was issued to another client",
        ));
    }
    if grant.revoked_at.is_some() {
        return Err(AppError::invalid_grant("refresh token has been revoked"));
    }
    if record.expires_at <= now {
        return Err(AppError::invalid_grant("refresh token has expired"));
    }
    let granted =
        ScopeSet::parse(&grant.scope).map_err(|e| anyhow::anyhow!("stored scope: {e}"))?;
    let scope = match form.get("scope") {
        None => granted.clone(),
        Some(requested) => {
            let requested = ScopeSet::parse(requested)
                .map_err(|e| AppError::bad_request(OAuthErrorCode::InvalidScope, e.to_string()))?;
            if !requested.is_subset(&granted) {
                return Err(AppError::bad_request(
                    OAuthErrorCode::InvalidScope,
                    "requested scope exceeds the scope originally granted",
                ));
            }
            requested
        }
    };
    if let Some(resource) = form.get("resource") {
        let canonical = ResourceUri::parse(resource).map_err(|_| {
            AppError::bad_request(OAuthErrorCode::InvalidTarget, "resource is not a valid URI")
        })?;
        if canonical.as_str() != grant.resource {
            return Err(AppError::bad_request(
                OAuthErrorCode::InvalidTarget,
                "resource differs from the one this grant is for",
            ));
        }
    }
    let (successor, successor_record) = super::new_refresh_token(state, &grant.grant_id);
    let access = super::sign_access_token(state, &grant, &scope)?;
    // The successor keeps the family's expiry window sliding from now. It and the access
    // token's record are stored only if the rotation wins.
    match state
        .store
        .rotate_refresh_token(
            &digest,
            &successor_record,
            &access.record,
            now,
            state.settings.tokens.refresh_reuse_grace_seconds,
        )
        .await?
    {
        Rotation::Rotated | Rotation::GraceReplay => {}
        Rotation::Reused => {
            state.store.revoke_grant(&grant.grant_id, now).await?;
            tracing::warn!(client_id = %client.client_id, "refresh token reused: the grant was revoked");
            return Err(AppError::invalid_grant("refresh token was already used"));
        }
        Rotation::Unknown => return Err(AppError::invalid_grant("unknown refresh token")),
    }
    super::record_client_use(state, client, now).await?;
    Ok(super::token_response(
        state,
        access.token,
        &scope,
        Some(successor),
    ))
}
