//! Server-rendered pages (askama templates under `templates/`): login, consent and errors,
//! served with anti-framing and a strict Content Security Policy (RFC 9700 §4.16), plus the
//! stylesheet they share.

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

const STYLESHEET: &str = include_str!("../assets/style.css");

/// The page security policy: nothing but our own stylesheet, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/assets/style.css", get(get_stylesheet))
}

async fn get_stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
}

/// Adds the page security headers.
pub fn secure_headers(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// Renders a template into a secured HTML response.
pub fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => {
            let mut response = (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                body,
            )
                .into_response();
            secure_headers(&mut response);
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The error page.
#[derive(Debug, Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    /// Asset prefix (the issuer path).
    pub base: &'a str,
    /// Title.
    pub title: &'a str,
    /// Message.
    pub message: &'a str,
}

/// An HTML error page. The asset prefix is unknown here, so the page uses absolute `/assets`
/// only when served at the root; under a path prefix it still renders, unstyled.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    html(
        status,
        &ErrorPage {
            base: "",
            title,
            message,
        },
    )
}

/// The login page.
#[derive(Debug, Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    /// Asset and form prefix (the issuer path).
    pub base: &'a str,
    /// Display name of the client asking.
    pub client_name: &'a str,
    /// Host of the client (its `client_id` URL or redirect URI).
    pub client_host: &'a str,
    /// The original authorization request (query string).
    pub request: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
    /// The username typed before a failed attempt.
    pub username: &'a str,
    /// An error to show.
    pub error: Option<&'a str>,
}

/// One scope line on the consent page.
#[derive(Debug)]
pub struct ScopeLine {
    /// Scope token.
    pub name: String,
    /// What it allows, in words.
    pub description: String,
    /// Not approved before.
    pub is_new: bool,
}

/// The consent page.
#[derive(Debug, Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    /// Asset and form prefix (the issuer path).
    pub base: &'a str,
    /// Signed-in user's display name.
    pub user: &'a str,
    /// Display name of the client.
    pub client_name: &'a str,
    /// The full `client_id`.
    pub client_id: &'a str,
    /// Host of the `client_id` (for URL client ids) or `None`.
    pub client_id_host: Option<&'a str>,
    /// Host the browser will be sent back to.
    pub redirect_host: &'a str,
    /// Whether the redirect goes to this machine (loopback).
    pub redirect_is_local: bool,
    /// The protected resource.
    pub resource: &'a str,
    /// Requested scopes.
    pub scopes: Vec<ScopeLine>,
    /// Scopes requested that the user's account may not grant.
    pub withheld: Vec<String>,
    /// Whether a refresh token (offline access) is part of the request.
    pub offline_access: bool,
    /// The original authorization request (query string).
    pub request: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
}

/// Words for a scope.
pub fn describe_scope(scope: &str) -> String {
    match scope {
        "mcp:tools" => "Use the MCP server's tools on your behalf".to_owned(),
        "weather:read" => "Read weather forecasts".to_owned(),
        "mcp:admin" => "Administer the MCP server".to_owned(),
        other => format!("Access \u{201c}{other}\u{201d}"),
    }
}
