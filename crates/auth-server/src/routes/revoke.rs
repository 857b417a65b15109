//! `POST /revoke` — RFC 7009. The client authenticates (public clients send `client_id`);
//! only the owning client may revoke. Revoking a refresh token revokes its grant (and the
//! access tokens issued from it); revoking an access token revokes that token. Unknown
//! tokens get 200 too (§2.2).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use mcp_auth_core::metadata::TokenTypeHint;
use mcp_auth_core::secret::RefreshToken;

use crate::AppState;
use crate::client_auth::{FormParams, authenticate};
use crate::error::{AppError, no_store};
use crate::routes::introspect::verify_access_token;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/revoke", post(post_revoke))
}

async fn post_revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let form = FormParams::from_request(&headers, &body)?;
    let client = authenticate(&state, &headers, &form, false).await?;
    let token = form.require("token")?;
    let now = state.clock.now();
    if let Some(TokenTypeHint::Other(other)) = form.get("token_type_hint").map(TokenTypeHint::parse)
    {
        return Err(AppError::bad_request(
            mcp_auth_core::OAuthErrorCode::UnsupportedTokenType,
            format!("token_type_hint {other} is not supported"),
        ));
    }
    let digest = RefreshToken::new(token).digest();
    if let Some((_, grant)) = state.store.get_refresh_token(&digest).await? {
        if grant.client_id == client.client_id {
            state.store.revoke_grant(&grant.grant_id, now).await?;
        }
    } else if let Some(claims) = verify_access_token(&state, token).await?
        && claims.client_id == client.client_id
    {
        state.store.revoke_access_token(&claims.jti, now).await?;
    }
    let mut response = StatusCode::OK.into_response();
    no_store(&mut response);
    Ok(response)
}
