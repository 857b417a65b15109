//! `GET /authorize` and its login and consent steps — OAuth 2.1 §4.1.1, RFC 7636, RFC 8707,
//! RFC 9207.
//!
//! Validation runs in two phases (OAuth 2.1 §4.1.2.1): while the client or the redirect URI
//! is unknown, errors are an HTML page and never a redirect; after that, errors go back to
//! the client's redirect URI with `error`, `state` and `iss`. The login and consent forms
//! carry the original query string and re-run the whole validation when posted, so no
//! authorization state lives on the server between the steps. Successful responses are 302
//! (GET) or 303 (form POST), never 307.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mcp_auth_core::pkce::{CodeChallenge, CodeChallengeMethod};
use mcp_auth_core::secret::AuthorizationCode;
use mcp_auth_core::{OAuthErrorCode, RedirectUri, ResourceUri, ScopeSet};
use url::Url;

use crate::AppState;
use crate::client_auth::FormParams;
use crate::error::AppError;
use crate::pages::{self, ConsentPage, LoginPage, ScopeLine};
use crate::scopes::{self, OFFLINE_ACCESS};
use crate::security::{dummy_hash, verify_password_blocking};
use crate::settings::ResourceSettings;
use crate::store::{AuthorizationCodeRecord, ClientRecord, ClientSource, UserRecord};

/// Routes of this module (no CORS: RFC 9700 §2.6 / H6).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/authorize", get(get_authorize))
        .route("/authorize/login", post(post_login))
        .route("/authorize/consent", post(post_consent))
}

const CSRF_COOKIE: &str = "as_csrf";

/// A validated authorization request.
#[derive(Debug)]
pub struct AuthorizationRequest {
    /// The raw query string (re-validated at each step).
    pub raw: String,
    /// The client.
    pub client: ClientRecord,
    /// `redirect_uri` as sent, if sent.
    pub redirect_uri_param: Option<String>,
    /// Where the response goes.
    pub redirect_uri: String,
    /// `state`, echoed.
    pub state: Option<String>,
    /// S256 challenge.
    pub code_challenge: String,
    /// The resource.
    pub resource: ResourceSettings,
    /// The requested scope, checked against the resource.
    pub scope: scopes::ScopeRequest,
    /// `prompt`.
    pub prompt: Option<String>,
}

/// A request that could not be accepted.
#[derive(Debug)]
pub enum Rejection {
    /// Unknown client or redirect URI: show a page, never redirect.
    Page(AppError),
    /// Send the error to the validated redirect URI.
    Redirect(Box<Response>),
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Self::Page(e) => e.into_response(),
            Self::Redirect(r) => *r,
        }
    }
}

impl From<AppError> for Rejection {
    fn from(e: AppError) -> Self {
        Self::Page(e)
    }
}

/// A redirect to `redirect_uri` with `params` (and `iss`) appended to its query.
fn redirect(
    state: &AppState,
    redirect_uri: &str,
    params: &[(&str, &str)],
    status: StatusCode,
) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return AppError::page("Invalid redirect URI", "The redirect URI cannot be used.")
            .into_response();
    };
    {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in params {
            pairs.append_pair(k, v);
        }
        pairs.append_pair("iss", state.settings.issuer.as_str());
    }
    let mut response = status.into_response();
    if let Ok(location) = HeaderValue::from_str(url.as_str()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn error_redirect(
    state: &AppState,
    redirect_uri: &str,
    client_state: Option<&str>,
    code: &OAuthErrorCode,
    description: &str,
    status: StatusCode,
) -> Response {
    let mut params = vec![("error", code.as_str()), ("error_description", description)];
    if let Some(s) = client_state {
        params.push(("state", s));
    }
    redirect(state, redirect_uri, &params, status)
}

/// Finds the client: a metadata document for URL ids, the registry otherwise.
async fn find_client(state: &AppState, client_id: &str) -> Result<ClientRecord, AppError> {
    let now = state.clock.now();
    if state.cimd.handles(client_id) {
        let mut record = state.cimd.resolve(client_id, now).await.map_err(|e| {
            tracing::info!(error = %e, "client metadata document refused");
            AppError::page(
                "This application could not be verified",
                format!("The application's metadata document was refused: {e}."),
            )
        })?;
        if let Some(existing) = state.store.get_client(client_id).await? {
            record.created_at = existing.created_at;
            record.last_used_at = existing.last_used_at;
        }
        state.store.upsert_client(&record).await?;
        return Ok(record);
    }
    match state.store.get_client(client_id).await? {
        Some(c) if c.source != ClientSource::MetadataDocument => Ok(c),
        _ => Err(AppError::page(
            "Unknown application",
            "The application that sent you here is not registered with this server.",
        )),
    }
}

/// Validates an authorization request (the query string of `GET /authorize`).
pub async fn validate(
    state: &AppState,
    raw: &str,
    redirect_status: StatusCode,
) -> Result<AuthorizationRequest, Rejection> {
    let mut params: Vec<(String, String)> = Vec::new();
    let mut resources: Vec<String> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        if k == "resource" {
            resources.push(v.into_owned());
        } else {
            params.push((k.into_owned(), v.into_owned()));
        }
    }
    let count = |name: &str| params.iter().filter(|(k, _)| k == name).count();
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    // Phase 1: client and redirect URI. Errors are pages.
    if count("client_id") > 1 || count("redirect_uri") > 1 {
        return Err(AppError::page(
            "Invalid request",
            "The request repeats client_id or redirect_uri.",
        )
        .into());
    }
    let Some(client_id) = get("client_id") else {
        return Err(AppError::page("Invalid request", "The request has no client_id.").into());
    };
    let client = find_client(state, client_id).await?;
    let redirect_uri_param = get("redirect_uri").map(str::to_owned);
    let redirect_uri = match &redirect_uri_param {
        Some(requested) => {
            let matches = client
                .redirect_uris
                .iter()
                .filter_map(|r| RedirectUri::parse(r).ok())
                .any(|r| r.matches(requested));
            if !matches {
                return Err(AppError::page(
                    "Invalid redirect URI",
                    "The redirect URI in the request is not registered for this application.",
                )
                .into());
            }
            requested.clone()
        }
        None => match client.redirect_uris.as_slice() {
            [only] => only.clone(),
            _ => {
                return Err(AppError::page(
                    "Invalid request",
                    "The request has no redirect_uri and the application registered several.",
                )
                .into());
            }
        },
    };
    // Phase 2: errors are redirected, with state and iss.
    let client_state = get("state").map(str::to_owned);
    let fail = |code: OAuthErrorCode, description: &str| {
        Rejection::Redirect(Box::new(error_redirect(
            state,
            &redirect_uri,
            client_state.as_deref(),
            &code,
            description,
            redirect_status,
        )))
    };
    if let Some((name, _)) = params
        .iter()
        .find(|(k, _)| params.iter().filter(|(k2, _)| k2 == k).count() > 1)
    {
        return Err(fail(
            OAuthErrorCode::InvalidRequest,
            &format!("parameter {name} is repeated"),
        ));
    }
    match get("response_type") {
        Some("code") => {}
        None => {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "response_type is required",
            ));
        }
        Some(_) => {
            return Err(fail(
                OAuthErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    if !client.grant_types.iter().any(|g| g == "authorization_code") {
        return Err(fail(
            OAuthErrorCode::UnauthorizedClient,
            "this client is not registered for the authorization code grant",
        ));
    }
    let Some(challenge) = get("code_challenge") else {
        return Err(fail(
            OAuthErrorCode::InvalidRequest,
            "code_challenge is required (PKCE with S256)",
        ));
    };
    match get("code_challenge_method") {
        Some(m) if m.parse::<CodeChallengeMethod>().is_ok() => {}
        _ => {
            return Err(fail(
                OAuthErrorCode::InvalidRequest,
                "code_challenge_method must be S256",
            ));
        }
    }
    if CodeChallenge::parse(challenge).is_err() {
        return Err(fail(
            OAuthErrorCode::InvalidRequest,
            "code_challenge is not an S256 challenge",
        ));
    }
    // RFC 8707: one resource, canonicalised, known; none = the default resource.
    let mut canonical: Vec<ResourceUri> = Vec::new();
    for r in &resources {
        let Ok(uri) = ResourceUri::parse(r) else {
            return Err(fail(
                OAuthErrorCode::InvalidTarget,
                "resource is not a valid absolute URI",
            ));
        };
        if !canonical.contains(&uri) {
            canonical.push(uri);
        }
    }
    let resource = match canonical.as_slice() {
        [] => state.settings.default_resource().cloned(),
        [one] => state.settings.resource(one).cloned(),
        _ => {
            return Err(fail(
                OAuthErrorCode::InvalidTarget,
                "tokens are issued for one resource at a time",
            ));
        }
    };
    let Some(resource) = resource else {
        return Err(fail(OAuthErrorCode::InvalidTarget, "unknown resource"));
    };
    let requested = match get("scope") {
        None => None,
        Some(s) => Some(
            ScopeSet::parse(s).map_err(|e| fail(OAuthErrorCode::InvalidScope, &e.to_string()))?,
        ),
    };
    let scope = scopes::evaluate(requested.as_ref(), &resource).map_err(|unknown| {
        fail(
            OAuthErrorCode::InvalidScope,
            &format!("scope not known for this resource: {unknown}"),
        )
    })?;
    Ok(AuthorizationRequest {
        raw: raw.to_owned(),
        redirect_uri_param,
        redirect_uri,
        state: client_state,
        code_challenge: challenge.to_owned(),
        resource,
        scope,
        prompt: get("prompt").map(str::to_owned),
        client,
    })
}

fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    cookies(headers)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn session_cookie_name(state: &AppState) -> &'static str {
    if state.settings.is_https() {
        "__Host-as_session"
    } else {
        "as_session"
    }
}

fn set_cookie(state: &AppState, name: &str, value: &str, max_age: i64) -> HeaderValue {
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
async fn session_user(
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
fn csrf_cookie(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, CSRF_COOKIE).filter(|c| c.len() >= 32) {
        Some(c) => (c, false),
        None => (mcp_auth_core::secret::random_urlsafe(32), true),
    }
}

fn with_csrf_cookie(state: &AppState, mut response: Response, value: &str, new: bool) -> Response {
    if new {
        let cookie = set_cookie(
            state,
            CSRF_COOKIE,
            value,
            state.settings.session.ttl_seconds,
        );
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

fn base(state: &AppState) -> String {
    state
        .settings
        .issuer
        .to_url()
        .path()
        .trim_end_matches('/')
        .to_owned()
}

fn host_of(uri: &str) -> String {
    Url::parse(uri)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_owned(),
            })
        })
        .unwrap_or_else(|| uri.to_owned())
}

fn client_name(client: &ClientRecord) -> String {
    client
        .client_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| client.client_id.clone())
}

fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    request: &AuthorizationRequest,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let (csrf, new) = csrf_cookie(headers);
    let token = state.cookie_key.csrf_token(&csrf);
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
fn grantable(
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

async fn issue_code(
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
        grant_id: format!("g-{}", uuid::Uuid::new_v4()),
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
    state
        .store
        .touch_client(&request.client.client_id, now)
        .await?;
    tracing::info!(client_id = %request.client.client_id, user = %user.username, "authorization code issued");
    let mut params = vec![("code", code.secret())];
    if let Some(s) = &request.state {
        params.push(("state", s.as_str()));
    }
    Ok(redirect(state, &request.redirect_uri, &params, status))
}

fn denied(
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

/// After authentication: approve from remembered consent, or show the consent page.
async fn continue_as(
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
    let (csrf, new) = csrf_cookie(headers);
    let token = state.cookie_key.csrf_token(&csrf);
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

async fn get_authorize(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, Rejection> {
    let raw = query.unwrap_or_default();
    let request = validate(&state, &raw, StatusCode::FOUND).await?;
    if state.settings.dev.auto_approve {
        let user = state
            .store
            .get_user_by_name(&state.settings.dev.auto_approve_user)
            .await
            .map_err(AppError::from)?
            .ok_or_else(|| {
                AppError::page(
                    "Server misconfigured",
                    "dev.auto_approve_user does not name a user.",
                )
            })?;
        let (granted, _) = grantable(&state, &user, &request);
        let now = state.clock.now();
        return Ok(issue_code(&state, &request, &user, now, &granted, StatusCode::FOUND).await?);
    }
    match session_user(&state, &headers).await? {
        Some((user, auth_time)) if request.prompt.as_deref() != Some("login") => Ok(continue_as(
            &state,
            &headers,
            &request,
            &user,
            auth_time,
            StatusCode::FOUND,
        )
        .await?),
        _ if request.prompt.as_deref() == Some("none") => Ok(error_redirect(
            &state,
            &request.redirect_uri,
            request.state.as_deref(),
            &OAuthErrorCode::Other("login_required".to_owned()),
            "the user is not signed in",
            StatusCode::FOUND,
        )),
        _ => Ok(login_page(
            &state,
            &headers,
            &request,
            "",
            None,
            StatusCode::OK,
        )),
    }
}

fn csrf_ok(state: &AppState, headers: &HeaderMap, form: &FormParams) -> bool {
    let cookie = cookie(headers, CSRF_COOKIE).unwrap_or_default();
    form.get("csrf")
        .is_some_and(|token| state.cookie_key.check_csrf(&cookie, token))
}

fn csrf_refused() -> Rejection {
    Rejection::Page(AppError::Page {
        status: StatusCode::FORBIDDEN,
        title: "Request expired".to_owned(),
        message: "The form could not be verified (CSRF check failed). Go back to the application and start again.".to_owned(),
    })
}

fn parse_form(headers: &HeaderMap, body: &Bytes) -> Result<FormParams, Rejection> {
    FormParams::from_request(headers, body).map_err(|_| {
        Rejection::Page(AppError::page(
            "Invalid form",
            "The form could not be read.",
        ))
    })
}

async fn post_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Rejection> {
    let form = parse_form(&headers, &body)?;
    if !csrf_ok(&state, &headers, &form) {
        return Err(csrf_refused());
    }
    let raw = form.get("request").unwrap_or("").to_owned();
    let request = validate(&state, &raw, StatusCode::SEE_OTHER).await?;
    let username = form.get("username").unwrap_or("").trim().to_owned();
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
    let ttl = state.settings.session.ttl_seconds;
    let value = state
        .cookie_key
        .sign("session", &format!("{}|{now}|{}", user.user_id, now + ttl));
    let location = format!(
        "{}/authorize?{}",
        state.settings.issuer.as_str(),
        request.raw
    );
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, session_cookie_name(&state), &value, ttl),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    tracing::info!(user = %user.username, "signed in");
    Ok(response)
}

async fn post_consent(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Rejection> {
    let form = parse_form(&headers, &body)?;
    if !csrf_ok(&state, &headers, &form) {
        return Err(csrf_refused());
    }
    let raw = form.get("request").unwrap_or("").to_owned();
    let request = validate(&state, &raw, StatusCode::SEE_OTHER).await?;
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
