//! The mock authorization server: metadata at one configurable location, DCR, an
//! authorization endpoint that approves at once (or shows a page), and a token endpoint
//! that checks PKCE, `redirect_uri` and `resource` and rotates refresh tokens.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use mcp_auth_core::pkce::{CodeChallenge, CodeVerifier};
use serde_json::{Value, json};

use crate::helpers::{Seen, json_response, lock, oauth_error, params_of};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataAt {
    /// `/.well-known/oauth-authorization-server{path}`
    Rfc8414,
    /// `/.well-known/openid-configuration{path}`
    OidcInsert,
    /// `{path}/.well-known/openid-configuration`
    OidcAppend,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssParam {
    Correct,
    Absent,
    Wrong,
}

#[derive(Debug, Clone)]
pub struct AsConfig {
    pub issuer_path: String,
    pub metadata_at: MetadataAt,
    pub issuer_override: Option<String>,
    pub pkce_methods: Option<Vec<String>>,
    pub cimd: bool,
    pub registration: bool,
    pub advertise_iss: bool,
    pub iss: IssParam,
    pub tamper_state: bool,
    pub expires_in: u64,
    pub issue_refresh: bool,
    pub rotate_refresh: bool,
    pub refresh_fails: bool,
    pub refresh_delay: Duration,
    pub scopes_supported: Option<Vec<String>>,
    pub token_auth_methods: Option<Vec<String>>,
    /// Pre-registered confidential client (id, secret).
    pub confidential: Option<(String, String)>,
    /// `/authorize` refuses (400, no redirect) client ids it did not issue.
    pub check_clients: bool,
    /// `/authorize` shows a page instead of redirecting at once; the test plays the user.
    pub interactive: bool,
}

impl Default for AsConfig {
    fn default() -> Self {
        Self {
            issuer_path: String::new(),
            metadata_at: MetadataAt::Rfc8414,
            issuer_override: None,
            pkce_methods: Some(vec!["S256".into()]),
            cimd: false,
            registration: true,
            advertise_iss: true,
            iss: IssParam::Correct,
            tamper_state: false,
            expires_in: 3600,
            issue_refresh: true,
            rotate_refresh: true,
            refresh_fails: false,
            refresh_delay: Duration::ZERO,
            scopes_supported: None,
            token_auth_methods: None,
            confidential: None,
            check_clients: false,
            interactive: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub scope: String,
    pub resource: String,
    pub client_id: String,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
struct PendingCode {
    challenge: String,
    scope: String,
    resource: String,
    client_id: String,
    redirect_uri: String,
}

#[derive(Debug, Default)]
pub struct AsState {
    pub config: Mutex<AsConfig>,
    pub issuer: Mutex<String>,
    pub log: Mutex<Vec<Seen>>,
    pub tokens: Mutex<BTreeMap<String, IssuedToken>>,
    refresh_tokens: Mutex<BTreeMap<String, IssuedToken>>,
    codes: Mutex<BTreeMap<String, PendingCode>>,
    counter: AtomicU32,
    pub refreshes: AtomicU32,
    pub clients: Mutex<std::collections::BTreeSet<String>>,
    pending: Mutex<Vec<String>>,
    approval: tokio::sync::Notify,
}

impl AsState {
    fn next(&self) -> u32 {
        self.counter.fetch_add(1, Ordering::SeqCst) + 1
    }
}

#[derive(Debug, Clone)]
pub struct MockAs {
    pub base: String,
    pub issuer: String,
    pub state: Arc<AsState>,
}

impl MockAs {
    pub async fn start(config: AsConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let issuer = format!("{base}{}", config.issuer_path);
        let state = Arc::new(AsState::default());
        *lock(&state.config) = config;
        *lock(&state.issuer) = issuer.clone();
        let app = axum::Router::new()
            .fallback(as_handler)
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base,
            issuer,
            state,
        }
    }

    pub fn config(&self) -> std::sync::MutexGuard<'_, AsConfig> {
        lock(&self.state.config)
    }

    pub fn log(&self) -> Vec<Seen> {
        lock(&self.state.log).clone()
    }

    pub fn requests_to(&self, path_suffix: &str) -> Vec<Seen> {
        self.log()
            .into_iter()
            .filter(|s| s.path.ends_with(path_suffix))
            .collect()
    }

    pub fn paths(&self) -> Vec<String> {
        self.log().into_iter().map(|s| s.path).collect()
    }

    pub fn refreshes(&self) -> u32 {
        self.state.refreshes.load(Ordering::SeqCst)
    }

    /// Forgets every dynamically registered client (a restarted in-memory server).
    pub fn forget_clients(&self) {
        lock(&self.state.clients).clear();
    }

    /// Waits until the client opened the authorization page, and returns where the
    /// server will send the user once they approve.
    pub async fn next_approval(&self) -> String {
        loop {
            let notified = self.state.approval.notified();
            if let Some(location) = lock(&self.state.pending).pop() {
                return location;
            }
            notified.await;
        }
    }

    pub fn revoke_all_access_tokens(&self) {
        for t in lock(&self.state.tokens).values_mut() {
            t.revoked = true;
        }
    }
}

async fn as_handler(
    State(st): State<Arc<AsState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let is_form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let params = params_of(uri.query(), &body, is_form);
    let json_body = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    lock(&st.log).push(Seen {
        method: method.to_string(),
        path: path.clone(),
        params: params.clone(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        session: None,
        body: json_body.clone(),
    });
    let config = lock(&st.config).clone();
    let issuer = lock(&st.issuer).clone();
    let base = issuer.trim_end_matches(&config.issuer_path).to_owned();
    let metadata_path = match config.metadata_at {
        MetadataAt::Rfc8414 => format!(
            "/.well-known/oauth-authorization-server{}",
            config.issuer_path
        ),
        MetadataAt::OidcInsert => {
            format!("/.well-known/openid-configuration{}", config.issuer_path)
        }
        MetadataAt::OidcAppend => {
            format!("{}/.well-known/openid-configuration", config.issuer_path)
        }
    };
    let p = &config.issuer_path;
    match (method.as_str(), path.as_str()) {
        ("GET", x) if x == metadata_path => {
            let mut doc = json!({
                "issuer": config.issuer_override.clone().unwrap_or(issuer.clone()),
                "authorization_endpoint": format!("{base}{p}/authorize"),
                "token_endpoint": format!("{base}{p}/token"),
                "revocation_endpoint": format!("{base}{p}/revoke"),
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
            });
            if let Some(m) = &config.pkce_methods {
                doc["code_challenge_methods_supported"] = json!(m);
            }
            if config.registration {
                doc["registration_endpoint"] = json!(format!("{base}{p}/register"));
            }
            if config.cimd {
                doc["client_id_metadata_document_supported"] = json!(true);
            }
            if config.advertise_iss {
                doc["authorization_response_iss_parameter_supported"] = json!(true);
            }
            if let Some(s) = &config.scopes_supported {
                doc["scopes_supported"] = json!(s);
            }
            if let Some(m) = &config.token_auth_methods {
                doc["token_endpoint_auth_methods_supported"] = json!(m);
            }
            json_response(StatusCode::OK, doc)
        }
        ("POST", x) if x == format!("{p}/register") && config.registration => {
            let id = format!(
                "dcr-{}-{}",
                base.rsplit(':').next().unwrap_or(""),
                st.next()
            );
            lock(&st.clients).insert(id.clone());
            let mut doc = json_body.clone();
            doc["client_id"] = json!(id);
            json_response(StatusCode::CREATED, doc)
        }
        ("GET", x) if x == format!("{p}/authorize") => {
            let Some(redirect) = params.get("redirect_uri") else {
                return (StatusCode::BAD_REQUEST, "no redirect_uri").into_response();
            };
            if params.get("code_challenge_method").map(String::as_str) != Some("S256") {
                return (StatusCode::BAD_REQUEST, "PKCE S256 required").into_response();
            }
            let client_id = params.get("client_id").cloned().unwrap_or_default();
            let known = lock(&st.clients).contains(&client_id)
                || client_id.starts_with("https://")
                || config
                    .confidential
                    .as_ref()
                    .is_some_and(|(id, _)| *id == client_id);
            if config.check_clients && !known {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_client");
            }
            let code = format!("code-{}", st.next());
            lock(&st.codes).insert(
                code.clone(),
                PendingCode {
                    challenge: params.get("code_challenge").cloned().unwrap_or_default(),
                    scope: params.get("scope").cloned().unwrap_or_default(),
                    resource: params.get("resource").cloned().unwrap_or_default(),
                    client_id: params.get("client_id").cloned().unwrap_or_default(),
                    redirect_uri: redirect.clone(),
                },
            );
            let mut state = params.get("state").cloned().unwrap_or_default();
            if config.tamper_state {
                state.push('x');
            }
            let mut location = url::Url::parse(redirect).unwrap();
            {
                let mut q = location.query_pairs_mut();
                q.append_pair("code", &code).append_pair("state", &state);
                match config.iss {
                    IssParam::Correct => {
                        q.append_pair("iss", &issuer);
                    }
                    IssParam::Wrong => {
                        q.append_pair("iss", "https://evil.example.com");
                    }
                    IssParam::Absent => {}
                }
            }
            if config.interactive {
                lock(&st.pending).push(location.to_string());
                st.approval.notify_one();
                return (
                    StatusCode::OK,
                    [("content-type", "text/html")],
                    "<p>Log in</p>",
                )
                    .into_response();
            }
            (StatusCode::FOUND, [("location", location.to_string())]).into_response()
        }
        ("POST", x) if x == format!("{p}/token") => token(&st, &config, &headers, &params).await,
        ("POST", x) if x == format!("{p}/revoke") => {
            // RFC 7009: 200 whether or not the token was known.
            let token = params.get("token").cloned().unwrap_or_default();
            lock(&st.refresh_tokens).remove(&token);
            StatusCode::OK.into_response()
        }
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

async fn token(
    st: &AsState,
    config: &AsConfig,
    headers: &HeaderMap,
    params: &BTreeMap<String, String>,
) -> Response {
    if let Some((id, secret)) = &config.confidential {
        use base64::Engine as _;
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        );
        let basic_ok =
            headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str());
        let post_ok =
            params.get("client_id") == Some(id) && params.get("client_secret") == Some(secret);
        if !basic_ok && !post_ok {
            return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
        }
    }
    let issue = |scope: String, resource: String, client_id: String| {
        let n = st.next();
        let access = format!("at-{n}");
        let record = IssuedToken {
            scope: scope.clone(),
            resource,
            client_id,
            revoked: false,
        };
        lock(&st.tokens).insert(access.clone(), record.clone());
        let mut body = json!({"access_token": access, "token_type": "Bearer", "expires_in": config.expires_in, "scope": scope});
        if config.issue_refresh {
            let rt = format!("rt-{n}");
            lock(&st.refresh_tokens).insert(rt.clone(), record);
            body["refresh_token"] = json!(rt);
        }
        body
    };
    match params.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(code) = params.get("code").and_then(|c| lock(&st.codes).remove(c)) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            let verified = params
                .get("code_verifier")
                .and_then(|v| CodeVerifier::parse(v).ok())
                .zip(CodeChallenge::parse(&code.challenge).ok())
                .is_some_and(|(v, c)| c.verify(&v));
            if !verified
                || params.get("redirect_uri") != Some(&code.redirect_uri)
                || params.get("resource") != Some(&code.resource)
            {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            json_response(
                StatusCode::OK,
                issue(code.scope, code.resource, code.client_id),
            )
        }
        Some("refresh_token") => {
            st.refreshes.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(config.refresh_delay).await;
            if config.refresh_fails {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            let rt = params.get("refresh_token").cloned().unwrap_or_default();
            let record = if config.rotate_refresh {
                lock(&st.refresh_tokens).remove(&rt)
            } else {
                lock(&st.refresh_tokens).get(&rt).cloned()
            };
            let Some(record) = record else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            if params.get("resource") != Some(&record.resource) {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_target");
            }
            let mut body = issue(
                record.scope.clone(),
                record.resource.clone(),
                record.client_id.clone(),
            );
            if !config.rotate_refresh {
                // keep the old refresh token: the response carries none
                if let Some(new_rt) = body.get("refresh_token").and_then(Value::as_str) {
                    lock(&st.refresh_tokens).remove(new_rt);
                }
                body.as_object_mut().unwrap().remove("refresh_token");
            }
            json_response(StatusCode::OK, body)
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
}
