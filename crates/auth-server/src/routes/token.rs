//! `POST /token` — OAuth 2.1 §3.2, RFC 6749 §5.
//!
//! Grants: `authorization_code` and `refresh_token`; anything else (`password`, `implicit`,
//! `client_credentials`) is `unsupported_grant_type`. Responses carry `Cache-Control:
//! no-store`; errors follow RFC 6749 §5.2.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use mcp_auth_core::OAuthErrorCode;

use crate::AppState;
use crate::client_auth::{FormParams, authenticate};
use crate::error::{AppError, no_store};
use crate::grants::{authorization_code, refresh_token};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/token", post(post_token))
}

async fn post_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let form = FormParams::from_request(&headers, &body)?;
    let grant_type = form.require("grant_type")?;
    if !matches!(grant_type, "authorization_code" | "refresh_token") {
        return Err(AppError::bad_request(
            OAuthErrorCode::UnsupportedGrantType,
            format!("grant_type {grant_type} is not supported"),
        ));
    }
    let client = authenticate(&state, &headers, &form, false).await?;
    // A refresh token is only ever issued to a client allowed to use it.
    if grant_type == "authorization_code" && !client.grant_types.iter().any(|g| g == grant_type) {
        return Err(AppError::bad_request(
            OAuthErrorCode::UnauthorizedClient,
            format!("this client is not registered for {grant_type}"),
        ));
    }
    let tokens = match grant_type {
        "authorization_code" => authorization_code::exchange(&state, &client, &form).await?,
        _ => refresh_token::refresh(&state, &client, &form).await?,
    };
    let mut response = Json(tokens).into_response();
    no_store(&mut response);
    Ok(response)
}
