//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 8707 §2.2).
//!
//! Steps: (1) look the code up without spending it; a replayed code revokes the grant issued
//! from it; (2) the code is unexpired and was issued to this client; (3) `redirect_uri` is the
//! one of the authorization request; (4) the verifier matches the S256 challenge; (5) a
//! `resource`, if sent, is the code's resource; (6) only then spend the code atomically, in
//! one transaction with its grant and the tokens issued (signed beforehand). A failed check leaves the code
//! unspent, so whoever holds a stolen code but not the verifier cannot burn it.

use mcp_auth_core::pkce::{CodeChallenge, CodeVerifier};
use mcp_auth_core::secret::AuthorizationCode;
use mcp_auth_core::token::TokenResponse;
use mcp_auth_core::{OAuthErrorCode, ResourceUri, ScopeSet};

use crate::AppState;
use crate::client_auth::FormParams;
use crate::error::AppError;
use crate::store::{AuthorizationCodeRecord, ClientRecord, CodeRedemption, GrantRecord, Issued};

/// Exchanges a code for tokens.
pub async fn exchange(
    state: &AppState,
    client: &ClientRecord,
    form: &FormParams,
) -> Result<TokenResponse, AppError> {
    let now = state.clock.now();
    let code = AuthorizationCode::new(form.require("code")?);
    let verifier = form.get("code_verifier");
    let digest = code.digest();
    // 1. Read-only lookup: nothing is spent until every check has passed.
    let record = fresh_or_refuse(state, client, state.store.find_code(&digest).await?, now).await?;
    // 2. Unexpired, issued to this client.
    if record.expires_at <= now {
        return Err(AppError::invalid_grant("authorization code has expired"));
    }
    if record.client_id != client.client_id {
        return Err(AppError::invalid_grant(
            "authorization code was issued to another client",
        ));
    }
    // 3. redirect_uri: required and identical when the authorization request had one.
    match (&record.redirect_uri, form.get("redirect_uri")) {
        (Some(expected), Some(sent)) if expected == sent => {}
        (Some(_), None) => {
            return Err(AppError::invalid_grant(
                "redirect_uri is required: the authorization request included one",
            ));
        }
        (None, None) => {}
        (None, Some(sent)) if sent == record.effective_redirect_uri => {}
        _ => return Err(AppError::invalid_grant("redirect_uri does not match")),
    }
    // 4. PKCE.
    let Some(verifier) = verifier else {
        return Err(AppError::invalid_grant("code_verifier is required"));
    };
    let verifier = CodeVerifier::parse(verifier)
        .map_err(|e| AppError::invalid_grant(format!("code_verifier: {e}")))?;
    let challenge = CodeChallenge::parse(&record.code_challenge)
        .map_err(|e| anyhow::anyhow!("stored challenge: {e}"))?;
    if !challenge.verify(&verifier) {
        return Err(AppError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    // 5. Resource.
    if let Some(resource) = form.get("resource") {
        let canonical = ResourceUri::parse(resource).map_err(|_| {
            AppError::bad_request(OAuthErrorCode::InvalidTarget, "resource is not a valid URI")
        })?;
        if canonical.as_str() != record.resource {
            return Err(AppError::bad_request(
                OAuthErrorCode::InvalidTarget,
                "resource differs from the authorization request",
            ));
        }
    }
    let scope = ScopeSet::parse(&record.scope).map_err(|e| anyhow::anyhow!("stored scope: {e}"))?;
    let grant = GrantRecord {
        grant_id: record.grant_id.clone(),
        client_id: client.client_id.clone(),
        user_id: record.user_id.clone(),
        resource: record.resource.clone(),
        scope: record.scope.clone(),
        auth_time: record.auth_time,
        created_at: now,
        revoked_at: None,
    };
    let (refresh, refresh_record) = if super::refresh_allowed(state, client, &scope) {
        let (token, token_record) = super::new_refresh_token(state, &grant.grant_id);
        (Some(token), Some(token_record))
    } else {
        (None, None)
    };
    let access = super::sign_access_token(state, &grant, &scope)?;
    // 6. Single use, atomically: of concurrent valid redemptions exactly one gets `Fresh`,
    // and only its tokens are stored (with the grant, in the same transaction).
    let issued = Issued {
        refresh_token: refresh_record,
        access_token: access.record,
    };
    fresh_or_refuse(
        state,
        client,
        state.store.redeem_code(&digest, now, &issued).await?,
        now,
    )
    .await?;
    super::record_client_use(state, client, now).await?;
    Ok(super::token_response(state, access.token, &scope, refresh))
}

/// The code's record if it is unspent; a replay revokes the grant issued from the code.
async fn fresh_or_refuse(
    state: &AppState,
    client: &ClientRecord,
    found: CodeRedemption,
    now: i64,
) -> Result<Box<AuthorizationCodeRecord>, AppError> {
    match found {
        CodeRedemption::Fresh(record) => Ok(record),
        CodeRedemption::Replayed { grant_id } => {
            state.store.revoke_grant(&grant_id, now).await?;
            tracing::warn!(client_id = %client.client_id, "authorization code replayed: its grant was revoked");
            Err(AppError::invalid_grant(
                "authorization code was already used",
            ))
        }
        CodeRedemption::Unknown => Err(AppError::invalid_grant("unknown authorization code")),
    }
}
