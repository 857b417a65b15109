//! The interactive part of `/authorize`: the login and consent pages, their form posts, and
//! the code issued at the end. Each post re-validates the original request
//! ([`super::authorize::validate`]), so nothing is stored between the steps.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mcp_auth_core::secret::AuthorizationCode;
use mcp_auth_core::{OAuthErrorCode, RedirectUri, ScopeSet};

use super::authorize::{
    AuthorizationRequest, Rejection, base, client_name, error_redirect, host_of, redirect, validate,
};
use crate::AppState;
use crate::client_auth::FormParams;
use crate::error::AppError;
use crate::pages::{self, ConsentPage, LoginPage, ScopeLine};
use crate::scopes::{self, OFFLINE_ACCESS};
use crate::security::{dummy_hash, verify_password_blocking};
use crate::session::{
    csrf_cookie, csrf_ok, csrf_token, session_cookie, session_user, with_csrf_cookie,
};
use crate::store::{AuthorizationCodeRecord, UserRecord};

/// The login page for `request`, with a CSRF token bound to the browser's CSRF and session
/// cookies.
pub(crate) fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    request: &AuthorizationRequest,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let (csrf, new) = csrf_cookie(state, headers);
    let token = csrf_token(state, headers, &csrf);
    let client_host = if request.client.client_id.starts_with("https://") {
        host_of(&request.client.client_id)
    } else {
        host_of(&request.redirect_uri)
    };
    let page = LoginPage {
        base: &base(state),
        client_name: &client_name(&request.client),
        client_host: &client_host,
        request: &request.raw,
        csrf: &token,
        username,
        error,
    };
    with_csrf_cookie(state, pages::html(status, &page), &csrf, new)
}

/// What the user is asked to grant, and what their account withholds.
pub(crate) fn grantable(
    state: &AppState,
    user: &UserRecord,
    request: &AuthorizationRequest,
) -> (ScopeSet, Vec<String>) {
    let own = user.scopes.as_deref().and_then(|s| ScopeSet::parse(s).ok());
    let allowed = scopes::user_allowed(&state.settings, &user.role, own.as_ref());
    let wanted = request.scope.granted();
    let granted = scopes::restrict(&wanted, allowed.as_ref());
    let withheld = wanted
        .difference(&granted)
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    (granted, withheld)
}

/// Stores a code (digest only) for the approved request and redirects with `code`, `state`, `iss`.
pub(crate) async fn issue_code(
    state: &AppState,
    request: &AuthorizationRequest,
    user: &UserRecord,
    auth_time: i64,
    granted: &ScopeSet,
    status: StatusCode,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let code = AuthorizationCode::generate();
    let record = AuthorizationCodeRecord {
        code_digest: code.digest(),
        // Time-ordered, like access-token ids: grants are appended to their key index.
        grant_id: format!("g-{}", uuid::Uuid::now_v7()),
        client_id: request.client.client_id.clone(),
        user_id: user.user_id.clone(),
        redirect_uri: request.redirect_uri_param.clone(),
        effective_redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        resource: request.resource.uri.as_str().to_owned(),
        scope: granted.to_string(),
        auth_time,
        expires_at: now + state.settings.tokens.authorization_code_ttl_seconds,
    };
    state.store.insert_code(&record).await?;
    crate::grants::record_client_use(state, &request.client, now).await?;
    tracing::info!(client_id = %request.client.client_id, user = %user.username, "authorization code issued");
    let mut params = vec![("code", code.secret())];
    if let Some(s) = &request.state {
        params.push(("state", s.as_str()));
    }
    Ok(redirect(state, &request.redirect_uri, &params, status))
}

/// `access_denied`, redirected with `state` and `iss`.
pub(crate) fn denied(
    state: &AppState,
    request: &AuthorizationRequest,
    description: &str,
    status: StatusCode,
) -> Response {
    error_redirect(
        state,
        &request.redirect_uri,
        request.state.as_deref(),
        &OAuthErrorCode::AccessDenied,
        description,
        status,
    )
}

/// `dev.auto_approve`: approve as the configured user, without pages.
pub(crate) async fn auto_approve(
    state: &AppState,
    request: &AuthorizationRequest,
    user: &UserRecord,
) -> Result<Response, AppError> {
    let (granted, _) = grantable(state, user, request);
    let mut resource_part = granted.clone();
    resource_part.remove(OFFLINE_ACCESS);
    if resource_part.is_empty() {
        return Ok(denied(
            state,
            request,
            "your account may not grant any of the requested scopes",
            StatusCode::FOUND,
        ));
    }
    let now = state.clock.now();
    issue_code(state, request, user, now, &granted, StatusCode::FOUND).await
}

/// After authentication: approve from remembered consent, or show the consent page.
pub(crate) async fn continue_as(
    state: &AppState,
    headers: &HeaderMap,
    request: &AuthorizationRequest,
    user: &UserRecord,
    auth_time: i64,
    status: StatusCode,
) -> Result<Response, AppError> {
    let (granted, withheld) = grantable(state, user, request);
    let mut resource_part = granted.clone();
    resource_part.remove(OFFLINE_ACCESS);
    if resource_part.is_empty() {
        return Ok(denied(
            state,
            request,
            "your account may not grant any of the requested scopes",
            status,
        ));
    }
    let remembered = state
        .store
        .get_consent(
            &user.user_id,
            &request.client.client_id,
            request.resource.uri.as_str(),
        )
        .await?
        .and_then(|s| ScopeSet::parse(&s).ok())
        .unwrap_or_default();
    let force = request.prompt.as_deref() == Some("consent");
    if !force && granted.is_subset(&remembered) {
        return issue_code(state, request, user, auth_time, &granted, status).await;
    }
    if request.prompt.as_deref() == Some("none") {
        return Ok(error_redirect(
            state,
            &request.redirect_uri,
            request.state.as_deref(),
            &OAuthErrorCode::Other("consent_required".to_owned()),
            "consent is required",
            status,
        ));
    }
    let (csrf, new) = csrf_cookie(state, headers);
    let token = csrf_token(state, headers, &csrf);
    let client_id_host = request
        .client
        .client_id
        .starts_with("https://")
        .then(|| host_of(&request.client.client_id));
    let scopes = resource_part
        .iter()
        .map(|s| ScopeLine {
            name: s.as_str().to_owned(),
            description: pages::describe_scope(s.as_str()),
            is_new: !remembered.is_empty() && !remembered.contains(s.as_str()),
        })
        .collect();
    let user_name = user
        .display_name
        .clone()
        .unwrap_or_else(|| user.username.clone());
    let page = ConsentPage {
        base: &base(state),
        user: &user_name,
        client_name: &client_name(&request.client),
        client_id: &request.client.client_id,
        client_id_host: client_id_host.as_deref(),
        redirect_host: &host_of(&request.redirect_uri),
        redirect_is_local: RedirectUri::parse(&request.redirect_uri).is_ok_and(|r| r.is_loopback()),
        resource: request.resource.uri.as_str(),
        scopes,
        withheld,
        offline_access: granted.contains(OFFLINE_ACCESS),
        request: &request.raw,
        csrf: &token,
    };
    Ok(with_csrf_cookie(
        state,
        pages::html(StatusCode::OK, &page),
        &csrf,
        new,
    ))
}

/// 403 page for a form whose CSRF token does not match its cookie.
pub(crate) fn csrf_refused() -> Rejection {
    Rejection::Page(AppError::Page {
        status: StatusCode::FORBIDDEN,
        title: "Request expired".to_owned(),
        message: "The form could not be verified (CSRF check failed). Go back to the application and start again.".to_owned(),
    })
}

/// Reads a posted form; an unreadable one is a page, not a redirect.
pub(crate) fn parse_form(headers: &HeaderMap, body: &Bytes) -> Result<FormParams, Rejection> {
    FormParams::from_request(headers, body).map_err(|_| {
        Rejection::Page(AppError::page(
            "Invalid form",
            "The form could not be read.",
        ))
    })
}

/// What both interaction forms start with: the form, its CSRF token, and the original
/// authorization request it carries, validated again (it came back through the browser).
async fn read_interaction_form(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(FormParams, AuthorizationRequest), Rejection> {
    let form = parse_form(headers, body)?;
    if !csrf_ok(state, headers, &form) {
        return Err(csrf_refused());
    }
    let raw = form.get("request").unwrap_or("");
    let request = validate(state, raw, StatusCode::SEE_OTHER).await?;
    Ok((form, request))
}

/// `POST /authorize/login`: CSRF, rate limit, password check, then the session cookie and
/// a 303 back to `/authorize` with the original request.
pub(crate) async fn post_login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Rejection> {
    let (form, request) = read_interaction_form(&state, &headers, &body).await?;
    let username = form.get("username").unwrap_or("").trim().to_owned();
    let ip = crate::security::client_ip(peer.ip(), &headers, &state.settings.http.trusted_proxies);
    let limited = state
        .login_limiter
        .check(state.store.as_ref(), ip, state.clock.now())
        .await
        .map_err(AppError::from)?;
    if limited.is_err() {
        tracing::warn!(ip = %ip, "sign-in rate limit reached");
        return Ok(login_page(
            &state,
            &headers,
            &request,
            &username,
            Some("Too many sign-in attempts. Wait a minute and try again."),
            StatusCode::TOO_MANY_REQUESTS,
        ));
    }
    let password = form.get("password").unwrap_or("").to_owned();
    let user = state
        .store
        .get_user_by_name(&username)
        .await
        .map_err(AppError::from)?;
    let hash = user
        .as_ref()
        .map_or_else(|| dummy_hash().to_owned(), |u| u.password_hash.clone());
    let ok = verify_password_blocking(password, hash).await && user.is_some();
    let Some(user) = user.filter(|_| ok) else {
        tracing::info!("failed sign-in attempt");
        return Ok(login_page(
            &state,
            &headers,
            &request,
            &username,
            Some("Incorrect username or password."),
            StatusCode::UNAUTHORIZED,
        ));
    };
    let now = state.clock.now();
    let location = format!(
        "{}/authorize?{}",
        state.settings.issuer.as_str(),
        request.raw
    );
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
        .headers_mut()
        .append(header::SET_COOKIE, session_cookie(&state, &user, now));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    tracing::info!(user = %user.username, "signed in");
    Ok(response)
}

/// `POST /authorize/consent`: CSRF and session checks, then `access_denied` or the
/// remembered consent and a code (303).
pub(crate) async fn post_consent(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Rejection> {
    let (form, request) = read_interaction_form(&state, &headers, &body).await?;
    let Some((user, auth_time)) = session_user(&state, &headers).await? else {
        return Ok(login_page(
            &state,
            &headers,
            &request,
            "",
            None,
            StatusCode::OK,
        ));
    };
    if form.get("decision") != Some("approve") {
        return Ok(denied(
            &state,
            &request,
            "the user denied the request",
            StatusCode::SEE_OTHER,
        ));
    }
    let (granted, _) = grantable(&state, &user, &request);
    let resource = request.resource.uri.as_str();
    let previous = state
        .store
        .get_consent(&user.user_id, &request.client.client_id, resource)
        .await
        .map_err(AppError::from)?
        .and_then(|s| ScopeSet::parse(&s).ok())
        .unwrap_or_default();
    state
        .store
        .put_consent(
            &user.user_id,
            &request.client.client_id,
            resource,
            &previous.union(&granted).to_string(),
            state.clock.now(),
        )
        .await
        .map_err(AppError::from)?;
    Ok(issue_code(
        &state,
        &request,
        &user,
        auth_time,
        &granted,
        StatusCode::SEE_OTHER,
    )
    .await?)
}
