//! The one error type of the server and its mapping to responses.
//!
//! * [`AppError::OAuth`]: a client mistake on a JSON endpoint (`/token`, `/register`,
//!   `/introspect`, `/revoke`): RFC 6749 §5.2 body, `Cache-Control: no-store`, 401 with
//!   `WWW-Authenticate: Basic` when Basic authentication failed.
//! * [`AppError::Page`]: a client mistake on a browser endpoint that must not redirect (an
//!   unknown client or redirect URI at `/authorize`, OAuth 2.1 §7.12.2): an HTML page.
//! * [`AppError::Internal`]: logged once here, shown as a bare `server_error`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcp_auth_core::{ErrorResponse, OAuthErrorCode};

use crate::store::StoreError;

/// A request failure.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// An OAuth error for a JSON endpoint.
    #[error("{code}: {description}")]
    OAuth {
        /// HTTP status.
        status: StatusCode,
        /// OAuth error code.
        code: OAuthErrorCode,
        /// Developer-facing detail (never secrets).
        description: String,
        /// Add `WWW-Authenticate: Basic` (failed Basic client authentication).
        basic_challenge: bool,
    },
    /// An error page for the browser.
    #[error("{title}")]
    Page {
        /// HTTP status.
        status: StatusCode,
        /// Short title.
        title: String,
        /// What went wrong, for the user.
        message: String,
    },
    /// Too many requests.
    #[error("rate limited")]
    RateLimited {
        /// Seconds until a retry may succeed.
        retry_after: u64,
    },
    /// Anything else.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        Self::Internal(anyhow::Error::new(e))
    }
}

impl AppError {
    /// A 400 OAuth error.
    pub fn bad_request(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self::OAuth {
            status: StatusCode::BAD_REQUEST,
            code,
            description: description.into(),
            basic_challenge: false,
        }
    }

    /// `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::bad_request(OAuthErrorCode::InvalidRequest, description)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::bad_request(OAuthErrorCode::InvalidGrant, description)
    }

    /// 401 `invalid_client`.
    pub fn invalid_client(description: impl Into<String>, basic_challenge: bool) -> Self {
        Self::OAuth {
            status: StatusCode::UNAUTHORIZED,
            code: OAuthErrorCode::InvalidClient,
            description: description.into(),
            basic_challenge,
        }
    }

    /// A browser error page (400).
    pub fn page(title: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Page {
            status: StatusCode::BAD_REQUEST,
            title: title.into(),
            message: message.into(),
        }
    }
}

/// `Cache-Control: no-store` + `Pragma: no-cache`, for every token-bearing or error response.
pub fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            Self::OAuth {
                status,
                code,
                description,
                basic_challenge,
            } => {
                let mut response =
                    (status, Json(ErrorResponse::new(code, description))).into_response();
                no_store(&mut response);
                if basic_challenge {
                    response.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static(r#"Basic realm="auth-server", charset="UTF-8""#),
                    );
                }
                response
            }
            Self::Page {
                status,
                title,
                message,
            } => crate::pages::error_page(status, &title, &message),
            Self::RateLimited { retry_after } => {
                let mut response = (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(ErrorResponse::new(
                        OAuthErrorCode::Other("rate_limited".to_owned()),
                        "too many requests, retry later",
                    )),
                )
                    .into_response();
                if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
                no_store(&mut response);
                response
            }
            Self::Internal(e) => {
                tracing::error!(error = %e, cause = ?e, "internal error");
                let mut response = (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(ErrorResponse::new(
                        OAuthErrorCode::ServerError,
                        "internal error",
                    )),
                )
                    .into_response();
                no_store(&mut response);
                response
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_basic_auth_is_401_with_a_basic_challenge_and_no_store() {
        let r = AppError::invalid_client("bad secret", true).into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(
            r.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Basic ")
        );
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    }

    #[test]
    fn oauth_errors_are_400_without_a_challenge() {
        let r = AppError::invalid_grant("x").into_response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
    }
}
