//! The authorization code flow's front half (OAuth 2.1 §4.1, RFC 7636, RFC 8707, RFC 9207,
//! RFC 8252): PKCE S256, `state`, `resource` and scope on the request; a loopback listener
//! (`127.0.0.1`, ephemeral port) that catches the redirect; the browser or headless user
//! agent; and the checks on the response (`state`, then `iss`, then `error`, then `code`).

use std::io::Write as _;
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::response::Html;
use axum::routing::get;
use mcp_auth_core::ScopeSet;
use mcp_auth_core::pkce::{CodeChallengeMethod, CodeVerifier};
use mcp_auth_core::secret::{constant_time_eq, random_urlsafe};
use mcp_auth_core::{ErrorResponse, OAuthErrorCode};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use url::Url;

use crate::error::{ClientError, Result};
use crate::http::check_browser_url;
use crate::report::Reporter;
use crate::settings::AuthorizeMode;

/// The loopback listener that receives the authorization response.
#[derive(Debug)]
pub struct CallbackListener {
    redirect_uri: String,
    rx: mpsc::Receiver<String>,
    _shutdown: oneshot::Sender<()>,
}

const DONE_PAGE: &str = "<!doctype html><meta charset=utf-8><title>mcp-client</title>\
<p>The authorization response reached mcp-client. You can close this page and return to the terminal.</p>";

impl CallbackListener {
    /// Binds `127.0.0.1:port` (0: ephemeral) and serves `/callback` until dropped.
    pub async fn bind(port: u16) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| {
                ClientError::io(
                    format!("binding the callback listener on 127.0.0.1:{port}"),
                    e,
                )
            })?;
        let addr = listener
            .local_addr()
            .map_err(|e| ClientError::io("reading the callback listener address", e))?;
        let (tx, rx) = mpsc::channel::<String>(8);
        let (shutdown, stop) = oneshot::channel::<()>();
        let app = axum::Router::new()
            .route(
                "/callback",
                get(
                    |State(tx): State<mpsc::Sender<String>>, RawQuery(query): RawQuery| async move {
                        let _ = tx.send(query.unwrap_or_default()).await;
                        Html(DONE_PAGE)
                    },
                ),
            )
            .with_state(tx);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.await;
                })
                .await;
        });
        Ok(Self {
            redirect_uri: format!("http://127.0.0.1:{}/callback", addr.port()),
            rx,
            _shutdown: shutdown,
        })
    }

    /// `http://127.0.0.1:<port>/callback`.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }
}

/// A prepared authorization request. One-shot: the verifier leaves with [`Self::finish`].
#[derive(Debug)]
pub struct AuthorizationRequest {
    /// The URL to open.
    pub url: Url,
    /// The scopes asked for.
    pub scope: Option<ScopeSet>,
    state: String,
    verifier: CodeVerifier,
}

/// Inputs of [`AuthorizationRequest::new`].
#[derive(Debug)]
pub struct RequestParams<'a> {
    /// The authorization endpoint.
    pub authorization_endpoint: &'a str,
    /// The client id.
    pub client_id: &'a str,
    /// The loopback redirect URI.
    pub redirect_uri: &'a str,
    /// The RFC 8707 resource.
    pub resource: &'a str,
    /// Scopes (omitted when `None` or empty).
    pub scope: Option<ScopeSet>,
}

impl AuthorizationRequest {
    /// Builds the request with a fresh PKCE verifier and `state`.
    pub fn new(params: RequestParams<'_>) -> Result<Self> {
        let mut url = Url::parse(params.authorization_endpoint)
            .map_err(|e| ClientError::invalid_url(params.authorization_endpoint, e.to_string()))?;
        let verifier = CodeVerifier::generate();
        let state = random_urlsafe(32);
        let scope = params.scope.filter(|s| !s.is_empty());
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", params.client_id)
                .append_pair("redirect_uri", params.redirect_uri)
                .append_pair("code_challenge", verifier.challenge().as_str())
                .append_pair("code_challenge_method", CodeChallengeMethod::S256.as_str())
                .append_pair("state", &state)
                .append_pair("resource", params.resource);
            if let Some(scope) = &scope {
                q.append_pair("scope", &scope.to_string());
            }
        }
        Ok(Self {
            url,
            scope,
            state,
            verifier,
        })
    }

    /// Checks the callback's query and hands back the code with the verifier.
    pub fn finish(
        self,
        query: &str,
        issuer: &str,
        iss_advertised: bool,
    ) -> Result<(String, CodeVerifier)> {
        let code = validate_callback(query, &self.state, issuer, iss_advertised)?;
        Ok((code, self.verifier))
    }
}

/// The response checks, in order: `state` (CSRF), `iss` (mix-up, exact string, required
/// when advertised), `error`, `code`.
pub fn validate_callback(
    query: &str,
    expected_state: &str,
    issuer: &str,
    iss_advertised: bool,
) -> Result<String> {
    let mut state = None;
    let mut iss = None;
    let mut code = None;
    let mut error = None;
    let mut description = None;
    let mut uri = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match key.as_ref() {
            "state" => &mut state,
            "iss" => &mut iss,
            "code" => &mut code,
            "error" => &mut error,
            "error_description" => &mut description,
            "error_uri" => &mut uri,
            _ => continue,
        };
        if slot.is_some() {
            return Err(ClientError::AuthorizationDenied(ErrorResponse::new(
                OAuthErrorCode::InvalidRequest,
                format!("the response repeats {key}"),
            )));
        }
        *slot = Some(value.into_owned());
    }
    match &state {
        Some(s) if constant_time_eq(s.as_bytes(), expected_state.as_bytes()) => {}
        _ => return Err(ClientError::StateMismatch),
    }
    match (&iss, iss_advertised) {
        (Some(i), _) if i == issuer => {}
        (Some(i), _) => {
            return Err(ClientError::IssuerParameter(format!(
                "has iss {i:?}, expected exactly {issuer:?}"
            )));
        }
        (None, true) => {
            return Err(ClientError::IssuerParameter(
                "has no iss although the server advertises authorization_response_iss_parameter_supported".to_owned(),
            ));
        }
        (None, false) => {}
    }
    if let Some(error) = error {
        return Err(ClientError::AuthorizationDenied(ErrorResponse {
            error: OAuthErrorCode::parse(&error),
            error_description: description,
            error_uri: uri,
            extra: Default::default(),
        }));
    }
    code.filter(|c| !c.is_empty())
        .ok_or(ClientError::MissingCode)
}

/// Sends the user (or, headless, ourselves) to the authorization URL and waits for the
/// redirect on `listener`. Returns the raw callback query.
pub async fn run_user_agent(
    mode: AuthorizeMode,
    http: &reqwest::Client,
    url: &Url,
    listener: &mut CallbackListener,
    timeout: Duration,
    reporter: &Reporter,
) -> Result<String> {
    let url = check_browser_url(url.as_str())?;
    match mode {
        AuthorizeMode::Browser => {
            reporter.step(
                "authorize.browser",
                "Opening the authorization page in the system browser",
                json!({"url": url.as_str(), "redirect_uri": listener.redirect_uri()}),
            );
            if let Err(e) = webbrowser::open(url.as_str()) {
                reporter.say(format!(
                    "Could not open a browser ({e}). Open this URL yourself:"
                ));
            } else {
                reporter.say("If no browser opened, open this URL yourself:");
            }
            reporter.say(url.as_str());
        }
        AuthorizeMode::Headless => {
            if !follow_immediate_redirect(http, &url, listener, reporter).await? {
                reporter.step(
                    "authorize.headless",
                    "Headless: open this URL in any browser on this machine to authorize",
                    json!({"url": url.as_str(), "redirect_uri": listener.redirect_uri()}),
                );
                reporter.say(url.as_str());
                if reporter.mode() == crate::report::OutputMode::Json {
                    // Scripts driving the login need the URL while the client waits.
                    let line = json!({"authorization_url": url.as_str()});
                    let _ = writeln!(std::io::stderr(), "{line}");
                }
            }
        }
    }
    wait_for_callback(listener, timeout, reporter).await
}

/// Headless: GETs the authorization URL without following redirects. An auto-approving
/// server answers at once with a redirect to our listener, which we deliver ourselves.
async fn follow_immediate_redirect(
    http: &reqwest::Client,
    url: &Url,
    listener: &CallbackListener,
    reporter: &Reporter,
) -> Result<bool> {
    let response = match http.get(url.clone()).send().await {
        Ok(r) => r,
        Err(e) => {
            reporter.say(format!("Could not reach the authorization endpoint ({e})"));
            return Ok(false);
        }
    };
    let status = response.status();
    if status.is_client_error() {
        // The server refused outright (unknown client, bad redirect URI): no page for a
        // person to act on, so waiting would only time out.
        let body = response.text().await.unwrap_or_default();
        let detail = serde_json::from_str::<ErrorResponse>(&body)
            .map_or_else(|_| body.chars().take(200).collect(), |e| e.to_string());
        return Err(ClientError::AuthorizationRejected {
            status: status.as_u16(),
            detail,
        });
    }
    if !status.is_redirection() {
        return Ok(false);
    }
    let Some(location) = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| url.join(l).ok())
    else {
        return Ok(false);
    };
    let ours = Url::parse(listener.redirect_uri())
        .map_err(|e| ClientError::invalid_url(listener.redirect_uri(), e.to_string()))?;
    if location.origin() != ours.origin() || location.path() != ours.path() {
        return Ok(false);
    }
    reporter.step(
        "authorize.auto_approved",
        format!(
            "Authorization server redirected at once (HTTP {}): delivering the response to the loopback listener",
            response.status().as_u16()
        ),
        json!({"redirect_uri": listener.redirect_uri()}),
    );
    http.get(location)
        .send()
        .await
        .map_err(|e| ClientError::http(listener.redirect_uri(), e))?;
    Ok(true)
}

async fn wait_for_callback(
    listener: &mut CallbackListener,
    timeout: Duration,
    reporter: &Reporter,
) -> Result<String> {
    let started = Instant::now();
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let result = loop {
        tokio::select! {
            query = listener.rx.recv() => {
                break query.ok_or_else(|| ClientError::io(
                    "the callback listener",
                    std::io::Error::other("stopped"),
                ));
            }
            () = &mut deadline => break Err(ClientError::CallbackTimeout(timeout.as_secs())),
            _ = tick.tick() => {
                let waited = started.elapsed().as_secs();
                reporter.progress(&format!(
                    "⏳ waiting for the authorization on {} … {waited}s (gives up after {}s)",
                    listener.redirect_uri(),
                    timeout.as_secs()
                ));
            }
        }
    };
    reporter.end_progress();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "http://localhost:9000";

    #[test]
    fn callback_checks_state_then_iss_then_error_then_code() {
        let ok = validate_callback(
            "code=c&state=s&iss=http%3A%2F%2Flocalhost%3A9000",
            "s",
            ISS,
            true,
        );
        assert_eq!(ok.unwrap(), "c");
        assert!(matches!(
            validate_callback(
                "code=c&state=x&iss=http%3A%2F%2Flocalhost%3A9000",
                "s",
                ISS,
                true
            ),
            Err(ClientError::StateMismatch)
        ));
        assert!(matches!(
            validate_callback("code=c", "s", ISS, false),
            Err(ClientError::StateMismatch)
        ));
        assert!(matches!(
            validate_callback("code=c&state=s", "s", ISS, true),
            Err(ClientError::IssuerParameter(_))
        ));
        assert_eq!(
            validate_callback("code=c&state=s", "s", ISS, false).unwrap(),
            "c"
        );
        // exact comparison: a trailing slash is another issuer
        assert!(matches!(
            validate_callback(
                "code=c&state=s&iss=http%3A%2F%2Flocalhost%3A9000%2F",
                "s",
                ISS,
                false
            ),
            Err(ClientError::IssuerParameter(_))
        ));
        assert!(matches!(
            validate_callback("error=access_denied&state=s", "s", ISS, false),
            Err(ClientError::AuthorizationDenied(e)) if e.error == OAuthErrorCode::AccessDenied
        ));
        assert!(matches!(
            validate_callback("state=s", "s", ISS, false),
            Err(ClientError::MissingCode)
        ));
        assert!(validate_callback("code=a&code=b&state=s", "s", ISS, false).is_err());
    }

    #[test]
    fn request_carries_pkce_state_resource_and_scope() {
        let request = AuthorizationRequest::new(RequestParams {
            authorization_endpoint: "http://localhost:9000/authorize?tenant=1",
            client_id: "c1",
            redirect_uri: "http://127.0.0.1:5000/callback",
            resource: "http://localhost:8001/mcp",
            scope: Some(ScopeSet::parse("mcp:tools").unwrap()),
        })
        .unwrap();
        let q: std::collections::BTreeMap<String, String> =
            request.url.query_pairs().into_owned().collect();
        assert_eq!(q["tenant"], "1");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["code_challenge"].len(), 43);
        assert_eq!(q["resource"], "http://localhost:8001/mcp");
        assert_eq!(q["scope"], "mcp:tools");
        assert_eq!(q["state"].len(), 43);

        let without_scope = AuthorizationRequest::new(RequestParams {
            authorization_endpoint: "http://localhost:9000/authorize",
            client_id: "c1",
            redirect_uri: "http://127.0.0.1:5000/callback",
            resource: "http://localhost:8001/mcp",
            scope: Some(ScopeSet::new()),
        })
        .unwrap();
        assert!(!without_scope.url.query_pairs().any(|(k, _)| k == "scope"));
    }
}
