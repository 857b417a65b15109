//! The mock MCP resource server: protected resource metadata at one configurable location,
//! bearer checks against the mock AS's tokens (401 with a challenge), per-tool scopes (403
//! `insufficient_scope`), sessions, and optional 2025-03-26 co-hosting of the AS.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::helpers::{Seen, json_response, lock};
use crate::mock_as::MockAs;

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
    /// Speak only the 2026-07-28 draft's stateless wire: `server/discover`, no `initialize`,
    /// and every request must carry `MCP-Protocol-Version: 2026-07-28` and the matching
    /// `_meta` protocol version (400 otherwise, as the conformance suite's mock does).
    pub draft: bool,
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
            draft: false,
        }
    }
}

/// The draft protocol revision.
pub const DRAFT: &str = "2026-07-28";

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
    pub discovers: AtomicU32,
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
            discovers: AtomicU32::new(0),
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

    /// Successful `server/discover` requests (draft mode).
    pub fn discovers(&self) -> u32 {
        self.state.discovers.load(Ordering::SeqCst)
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
    if config.draft {
        let header = headers
            .get("mcp-protocol-version")
            .and_then(|v| v.to_str().ok());
        let meta = body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"].as_str();
        if header != Some(DRAFT) || meta != Some(DRAFT) {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32020, "message": "MCP-Protocol-Version header and _meta must both be 2026-07-28"}}),
            );
        }
        match rpc_method.as_str() {
            "server/discover" => {
                st.discovers.fetch_add(1, Ordering::SeqCst);
                return json_response(
                    StatusCode::OK,
                    json!({"jsonrpc": "2.0", "id": id, "result": {
                        "supportedVersions": [DRAFT],
                        "capabilities": {"tools": {}},
                        "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "mock-rs", "version": "1"}},
                        "resultType": "complete", "ttlMs": 0, "cacheScope": "private"
                    }}),
                );
            }
            "initialize" => {
                return json_response(
                    StatusCode::NOT_FOUND,
                    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "Method not found: initialize"}}),
                );
            }
            _ => {}
        }
    }
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
