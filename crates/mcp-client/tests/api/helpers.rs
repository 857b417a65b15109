//! Small real servers for the client to talk to: a mock authorization server and a mock
//! MCP resource server (JSON-RPC over Streamable HTTP, JSON responses), both on
//! `127.0.0.1:0`, sharing the issued tokens in memory. Every request they see is logged so
//! tests can assert what the client sent.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use mcp_auth_core::pkce::{CodeChallenge, CodeVerifier};
use mcp_client::{AuthorizeMode, McpClient, Reporter, Settings};
use serde_json::{Value, json};

/// One request seen by a mock.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Query or form parameters.
    pub params: BTreeMap<String, String>,
    pub authorization: Option<String>,
    pub session: Option<String>,
    pub body: Value,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------
// Authorization server
// ---------------------------------------------------------------------------------------

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

fn params_of(query: Option<&str>, body: &[u8], form: bool) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    if form {
        out.extend(url::form_urlencoded::parse(body).into_owned());
    }
    out
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [
            ("content-type", "application/json"),
            ("cache-control", "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

fn oauth_error(status: StatusCode, code: &str) -> Response {
    json_response(status, json!({"error": code, "error_description": code}))
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

// ---------------------------------------------------------------------------------------
// Resource server
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrmAt {
    /// Only at `/custom/metadata.json`, named in the challenge.
    HeaderOnly,
    /// `/.well-known/oauth-protected-resource/mcp`, named in the challenge.
    PathInsertedAdvertised,
    /// `/.well-known/oauth-protected-resource/mcp`, not named in the challenge.
    PathInserted,
    /// `/.well-known/oauth-protected-resource`, not named; `resource` is the origin.
    Root,
    /// No protected resource metadata at all (a 2025-03-26 server).
    Nowhere,
}

#[derive(Debug, Clone)]
pub struct RsConfig {
    pub prm_at: PrmAt,
    pub resource_override: Option<String>,
    pub scopes_supported: Option<Vec<String>>,
    pub challenge_scope: Option<String>,
    pub initialize_without_token: bool,
    pub always_insufficient: Option<String>,
    pub prm_metadata_url_override: Option<String>,
    /// 403 challenges name only the missing scope (not granted ∪ missing).
    pub challenge_only_missing: bool,
    /// 2025-03-26 co-hosting: `Some(true)` serves the AS metadata at this origin,
    /// `Some(false)` serves `/authorize`, `/token`, `/register` here (both forwarded to the AS).
    pub legacy_as: Option<bool>,
}

impl Default for RsConfig {
    fn default() -> Self {
        Self {
            prm_at: PrmAt::PathInsertedAdvertised,
            resource_override: None,
            scopes_supported: Some(vec!["mcp:tools".into()]),
            challenge_scope: Some("mcp:tools".into()),
            initialize_without_token: false,
            always_insufficient: None,
            prm_metadata_url_override: None,
            challenge_only_missing: false,
            legacy_as: None,
        }
    }
}

/// The tools and the scope each needs.
pub const TOOLS: &[(&str, &str)] = &[
    ("whoami", "mcp:tools"),
    ("get_weather", "weather:read"),
    ("admin", "mcp:admin"),
];

#[derive(Debug)]
pub struct RsState {
    pub config: Mutex<RsConfig>,
    pub authorization_server: Mutex<MockAs>,
    pub base: String,
    pub log: Mutex<Vec<Seen>>,
    pub initializes: AtomicU32,
}

#[derive(Debug, Clone)]
pub struct MockRs {
    pub base: String,
    pub url: String,
    pub state: Arc<RsState>,
}

impl MockRs {
    pub async fn start(config: RsConfig, authorization_server: &MockAs) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(RsState {
            config: Mutex::new(config),
            authorization_server: Mutex::new(authorization_server.clone()),
            base: base.clone(),
            log: Mutex::default(),
            initializes: AtomicU32::new(0),
        });
        let app = axum::Router::new()
            .fallback(rs_handler)
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("{base}/mcp"),
            base,
            state,
        }
    }

    pub fn config(&self) -> std::sync::MutexGuard<'_, RsConfig> {
        lock(&self.state.config)
    }

    pub fn move_to(&self, authorization_server: &MockAs) {
        *lock(&self.state.authorization_server) = authorization_server.clone();
    }

    pub fn log(&self) -> Vec<Seen> {
        lock(&self.state.log).clone()
    }

    pub fn paths(&self) -> Vec<String> {
        self.log().into_iter().map(|s| s.path).collect()
    }

    pub fn mcp_methods(&self) -> Vec<String> {
        self.log()
            .into_iter()
            .filter_map(|s| {
                s.body
                    .get("method")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect()
    }

    pub fn initializes(&self) -> u32 {
        self.state.initializes.load(Ordering::SeqCst)
    }

    fn prm_url(&self) -> String {
        prm_url(&self.base, lock(&self.state.config).prm_at)
    }
}

fn prm_url(base: &str, at: PrmAt) -> String {
    match at {
        PrmAt::HeaderOnly => format!("{base}/custom/metadata.json"),
        PrmAt::PathInsertedAdvertised | PrmAt::PathInserted => {
            format!("{base}/.well-known/oauth-protected-resource/mcp")
        }
        PrmAt::Root => format!("{base}/.well-known/oauth-protected-resource"),
        PrmAt::Nowhere => format!("{base}/nowhere"),
    }
}

fn challenge(status: StatusCode, value: String) -> Response {
    (status, [("www-authenticate", value)], "").into_response()
}

async fn rs_handler(
    State(st): State<Arc<RsState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(_q): Query<BTreeMap<String, String>>,
    raw: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    lock(&st.log).push(Seen {
        method: method.to_string(),
        path: path.clone(),
        params: BTreeMap::new(),
        authorization: authorization.clone(),
        session: headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.clone(),
    });
    let config = lock(&st.config).clone();
    let authorization_server = lock(&st.authorization_server).clone();
    let prm_location = prm_url(&st.base, config.prm_at);
    let resource = config.resource_override.clone().unwrap_or_else(|| {
        if config.prm_at == PrmAt::Root {
            st.base.clone()
        } else {
            format!("{}/mcp", st.base)
        }
    });

    if let Some(metadata) = config.legacy_as {
        let forwarded = if metadata {
            path == "/.well-known/oauth-authorization-server"
        } else {
            matches!(path.as_str(), "/authorize" | "/token" | "/register")
        };
        if forwarded {
            return forward(&authorization_server.base, &method, &uri, &headers, raw).await;
        }
    }
    if method == Method::GET
        && config.prm_at != PrmAt::Nowhere
        && format!("{}{}", st.base, path) == prm_location
    {
        let mut doc =
            json!({"resource": resource, "authorization_servers": [authorization_server.issuer]});
        if let Some(s) = &config.scopes_supported {
            doc["scopes_supported"] = json!(s);
        }
        return json_response(StatusCode::OK, doc);
    }
    if path != "/mcp" {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    if method == Method::GET {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    if method == Method::DELETE {
        return StatusCode::OK.into_response();
    }

    let advertised = config.prm_metadata_url_override.clone().or_else(|| {
        matches!(
            config.prm_at,
            PrmAt::HeaderOnly | PrmAt::PathInsertedAdvertised
        )
        .then(|| prm_location.clone())
    });
    let rpc_method = body
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let needs_token = !(config.initialize_without_token
        && (rpc_method == "initialize" || rpc_method.starts_with("notifications/")));
    let mut granted = String::new();
    if needs_token {
        let token = authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "));
        let mut params = Vec::new();
        let valid = token.and_then(|t| lock(&authorization_server.state.tokens).get(t).cloned());
        let ok = match (token, valid) {
            (Some(_), Some(t)) if !t.revoked => {
                granted = t.scope;
                true
            }
            (None, _) => false,
            (Some(_), _) => {
                params.push(r#"error="invalid_token""#.to_owned());
                false
            }
        };
        if !ok {
            if let Some(scope) = &config.challenge_scope {
                params.push(format!(r#"scope="{scope}""#));
            }
            if let Some(url) = &advertised {
                params.push(format!(r#"resource_metadata="{url}""#));
            }
            return challenge(
                StatusCode::UNAUTHORIZED,
                format!("Bearer {}", params.join(", ")),
            );
        }
    }
    let Some(id) = body.get("id").cloned() else {
        return StatusCode::ACCEPTED.into_response();
    };
    let result = match rpc_method.as_str() {
        "initialize" => {
            st.initializes.fetch_add(1, Ordering::SeqCst);
            let result = json!({
                "protocolVersion": "2025-11-25",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "mock-rs", "version": "1"}
            });
            return (
                StatusCode::OK,
                [
                    ("content-type", "application/json"),
                    ("mcp-session-id", "session-1"),
                ],
                json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string(),
            )
                .into_response();
        }
        "tools/list" => {
            if let Some(scope) = &config.always_insufficient {
                return challenge(
                    StatusCode::FORBIDDEN,
                    format!(
                        r#"Bearer error="insufficient_scope", scope="{scope}", resource_metadata="{prm_location}""#
                    ),
                );
            }
            json!({"tools": TOOLS.iter().map(|(name, scope)| json!({
                "name": name, "description": format!("needs {scope}"), "inputSchema": {"type": "object"}
            })).collect::<Vec<_>>()})
        }
        "tools/call" => {
            let name = body["params"]["name"].as_str().unwrap_or("");
            let Some((_, needed)) = TOOLS.iter().find(|(n, _)| *n == name) else {
                return json_response(
                    StatusCode::OK,
                    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": "unknown tool"}}),
                );
            };
            let has: Vec<&str> = granted.split(' ').collect();
            if config.always_insufficient.is_some() || !has.contains(needed) {
                // S5: the challenge lists everything the token will need.
                let mut all: Vec<&str> = if config.challenge_only_missing {
                    Vec::new()
                } else {
                    has.iter()
                        .copied()
                        .filter(|s| !s.is_empty() && *s != "offline_access")
                        .collect()
                };
                let wanted = config.always_insufficient.as_deref().unwrap_or(needed);
                if !all.contains(&wanted) {
                    all.push(wanted);
                }
                return challenge(
                    StatusCode::FORBIDDEN,
                    format!(
                        r#"Bearer error="insufficient_scope", scope="{}", resource_metadata="{prm_location}""#,
                        all.join(" ")
                    ),
                );
            }
            json!({"content": [{"type": "text", "text": format!("{name} ok")}], "isError": false})
        }
        other => {
            return json_response(
                StatusCode::OK,
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": format!("no method {other}")}}),
            );
        }
    };
    json_response(
        StatusCode::OK,
        json!({"jsonrpc": "2.0", "id": id, "result": result}),
    )
}

/// Forwards a request to the authorization server, redirects included as they are.
async fn forward(
    base: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("{base}{}", uri.path_and_query().map_or("/", |p| p.as_str()));
    let mut request = client.request(method.clone(), url).body(body);
    for name in ["content-type", "authorization", "accept"] {
        if let Some(v) = headers.get(name) {
            request = request.header(name, v.clone());
        }
    }
    let response = request.send().await.unwrap();
    let mut out = axum::http::Response::builder().status(response.status().as_u16());
    for name in ["content-type", "location", "cache-control"] {
        if let Some(v) = response.headers().get(name) {
            out = out.header(name, v.clone());
        }
    }
    out.body(axum::body::Body::from(response.bytes().await.unwrap()))
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// The client side
// ---------------------------------------------------------------------------------------

/// A mock AS and RS with a client store in a temporary directory.
#[derive(Debug)]
pub struct World {
    pub authorization_server: MockAs,
    pub resource_server: MockRs,
    pub dir: tempfile::TempDir,
    pub reporter: Reporter,
}

impl World {
    pub async fn start(as_config: AsConfig, rs_config: RsConfig) -> Self {
        let authorization_server = MockAs::start(as_config).await;
        let resource_server = MockRs::start(rs_config, &authorization_server).await;
        Self {
            authorization_server,
            resource_server,
            dir: tempfile::tempdir().unwrap(),
            reporter: Reporter::silent(),
        }
    }

    pub async fn default() -> Self {
        Self::start(AsConfig::default(), RsConfig::default()).await
    }

    pub fn store_path(&self) -> std::path::PathBuf {
        self.dir.path().join("credentials.json")
    }

    pub fn settings(&self) -> Settings {
        let mut settings = Settings::defaults_with_store(self.store_path());
        settings.mode = AuthorizeMode::Headless;
        settings.authorize_timeout = Duration::from_secs(10);
        settings
    }

    /// A fresh client (and reporter) with `settings`.
    pub fn client_with(&mut self, settings: Settings) -> Arc<McpClient> {
        self.client_with_clock(settings, Arc::new(mcp_auth_core::SystemClock))
    }

    /// A fresh client (and reporter) with `settings` and `clock`.
    pub fn client_with_clock(
        &mut self,
        settings: Settings,
        clock: Arc<dyn mcp_auth_core::Clock>,
    ) -> Arc<McpClient> {
        self.reporter = Reporter::silent();
        McpClient::new(
            settings,
            &self.resource_server.url,
            clock,
            self.reporter.clone(),
        )
        .unwrap()
    }

    pub fn client(&mut self) -> Arc<McpClient> {
        let settings = self.settings();
        self.client_with(settings)
    }

    pub fn kinds(&self) -> Vec<String> {
        self.reporter.kinds()
    }

    pub fn step(&self, kind: &str) -> Option<mcp_client::report::Step> {
        self.reporter.steps().into_iter().find(|s| s.kind == kind)
    }

    /// Every `/authorize` request the AS saw.
    pub fn authorizations(&self) -> Vec<Seen> {
        self.authorization_server.requests_to("/authorize")
    }
}
