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
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mcp_auth_core::pkce::{CodeChallenge, CodeChallengeMethod};
use mcp_auth_core::{OAuthErrorCode, RedirectUri, ResourceUri, ScopeSet};
use url::Url;

use super::interaction::{auto_approve, continue_as, login_page};
use crate::AppState;
use crate::error::AppError;
use crate::scopes::{self};
use crate::session::session_user;
use crate::settings::ResourceSettings;
use crate::store::{ClientRecord, ClientSource};

/// Routes of this module (no CORS: RFC 9700 §2.6 / H6).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/authorize", get(get_authorize))
        .route("/authorize/login", post(super::interaction::post_login))
        .route("/authorize/consent", post(super::interaction::post_consent))
}

/// How recent a sign-in must be to satisfy `prompt=login`.
const FRESH_LOGIN_SECONDS: i64 = 60;

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
pub(crate) fn redirect(
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

pub(crate) fn error_redirect(
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

pub(crate) fn base(state: &AppState) -> String {
    state
        .settings
        .issuer
        .to_url()
        .path()
        .trim_end_matches('/')
        .to_owned()
}

pub(crate) fn host_of(uri: &str) -> String {
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

pub(crate) fn client_name(client: &ClientRecord) -> String {
    client
        .client_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| client.client_id.clone())
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
        return Ok(auto_approve(&state, &request, &user).await?);
    }
    // prompt=login: a session counts only if the user signed in just now (the login form
    // sends the browser back here).
    let fresh_enough = |auth_time: i64| {
        request.prompt.as_deref() != Some("login")
            || state.clock.now() - auth_time <= FRESH_LOGIN_SECONDS
    };
    match session_user(&state, &headers).await? {
        Some((user, auth_time)) if fresh_enough(auth_time) => Ok(continue_as(
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
