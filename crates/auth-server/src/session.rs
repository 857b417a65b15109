//! Browser state between the login and consent steps: the HMAC-signed session cookie
//! (`HttpOnly`, `SameSite=Lax`, `Secure` and `__Host-` on https) and the CSRF cookie (the same
//! attributes and prefix) whose HMAC, bound to the session cookie, every form must carry.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use crate::AppState;
use crate::client_auth::FormParams;
use crate::error::AppError;
use crate::store::UserRecord;

/// `__Host-as_csrf` on https (a sibling subdomain cannot plant it), `as_csrf` otherwise.
pub(crate) fn csrf_cookie_name(state: &AppState) -> &'static str {
    if state.settings.is_https() {
        "__Host-as_csrf"
    } else {
        "as_csrf"
    }
}

/// Every `name=value` pair of the `Cookie` headers.
pub(crate) fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// One cookie by name.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    cookies(headers)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// `__Host-as_session` on https (requires `Secure`), `as_session` otherwise.
pub(crate) fn session_cookie_name(state: &AppState) -> &'static str {
    if state.settings.is_https() {
        "__Host-as_session"
    } else {
        "as_session"
    }
}

/// A `Set-Cookie` value: `Path=/; HttpOnly; SameSite=Lax`, plus `Secure` on https.
pub(crate) fn set_cookie(state: &AppState, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.settings.is_https() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The signed-in user and their authentication time.
pub(crate) async fn session_user(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(UserRecord, i64)>, AppError> {
    let Some(raw) = cookie(headers, session_cookie_name(state)) else {
        return Ok(None);
    };
    let Some(value) = state.cookie_key.verify("session", &raw) else {
        return Ok(None);
    };
    let mut parts = value.split('|');
    let (Some(user_id), Some(auth_time), Some(expires)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Ok(None);
    };
    let (Ok(auth_time), Ok(expires)) = (auth_time.parse::<i64>(), expires.parse::<i64>()) else {
        return Ok(None);
    };
    if expires <= state.clock.now() {
        return Ok(None);
    }
    Ok(state.store.get_user(user_id).await?.map(|u| (u, auth_time)))
}

/// The CSRF cookie value (existing or new) and whether it must be set.
pub(crate) fn csrf_cookie(state: &AppState, headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, csrf_cookie_name(state)).filter(|c| c.len() >= 32) {
        Some(c) => (c, false),
        None => (mcp_auth_core::secret::random_urlsafe(32), true),
    }
}

/// Adds the CSRF cookie to `response` when it is new.
pub(crate) fn with_csrf_cookie(
    state: &AppState,
    mut response: Response,
    value: &str,
    new: bool,
) -> Response {
    if new {
        let cookie = set_cookie(
            state,
            csrf_cookie_name(state),
            value,
            state.settings.session.ttl_seconds,
        );
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// The raw session cookie value the CSRF token is bound to (empty before sign-in).
fn csrf_session(state: &AppState, headers: &HeaderMap) -> String {
    cookie(headers, session_cookie_name(state)).unwrap_or_default()
}

/// The CSRF token for the CSRF cookie value `csrf`, bound to the request's session cookie.
pub(crate) fn csrf_token(state: &AppState, headers: &HeaderMap, csrf: &str) -> String {
    state
        .cookie_key
        .csrf_token(csrf, &csrf_session(state, headers))
}

/// Whether the form carries the CSRF token of the browser's CSRF cookie and session.
pub(crate) fn csrf_ok(state: &AppState, headers: &HeaderMap, form: &FormParams) -> bool {
    let cookie = cookie(headers, csrf_cookie_name(state)).unwrap_or_default();
    let session = csrf_session(state, headers);
    form.get("csrf")
        .is_some_and(|token| state.cookie_key.check_csrf(&cookie, &session, token))
}

/// A `Set-Cookie` value for a signed-in `user` at `now`.
pub(crate) fn session_cookie(state: &AppState, user: &UserRecord, now: i64) -> HeaderValue {
    let ttl = state.settings.session.ttl_seconds;
    let value = state
        .cookie_key
        .sign("session", &format!("{}|{now}|{}", user.user_id, now + ttl));
    set_cookie(state, session_cookie_name(state), &value, ttl)
}
