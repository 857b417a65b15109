//! Requests to `/mcp` as MCP clients send them, shared by every test file: the JSON-RPC
//! bodies, the POST, GET and DELETE builders (bearer token, session id, protocol version
//! header), and readers of the answers.

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};

use super::TestApp;

/// The protocol revision the tests speak: what `initialize` asks for, and what
/// `MCP-Protocol-Version` says on the requests after it.
pub(crate) const PROTOCOL_VERSION: &str = "2025-11-25";

/// A POST of the JSON-RPC `body` to `url` with the headers Streamable HTTP asks for:
/// `Accept` of both JSON and SSE, a JSON `Content-Type`. No credential, no session.
pub(crate) fn post_json_rpc(http: &reqwest::Client, url: &str, body: &Value) -> RequestBuilder {
    http.post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(body.to_string())
}

/// `request` with the bearer `token` and the session id, when given.
fn with_token_and_session(
    mut request: RequestBuilder,
    token: Option<&str>,
    session: Option<&str>,
) -> RequestBuilder {
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    request
}

impl TestApp {
    /// A POST of `body` to `/mcp`, with the bearer `token` when given; with a `session`, its
    /// id and `MCP-Protocol-Version` (a request inside the session).
    pub(crate) fn post_mcp(
        &self,
        token: Option<&str>,
        session: Option<&str>,
        body: &Value,
    ) -> RequestBuilder {
        let request = with_token_and_session(
            post_json_rpc(&self.http, &self.mcp_url, body),
            token,
            session,
        );
        match session {
            Some(_) => request.header("mcp-protocol-version", PROTOCOL_VERSION),
            None => request,
        }
    }

    /// A POST that stands alone (stateless mode): no session id, `MCP-Protocol-Version` in
    /// its header.
    pub(crate) fn post_alone(&self, token: Option<&str>, body: &Value) -> RequestBuilder {
        self.post_mcp(token, None, body)
            .header("mcp-protocol-version", PROTOCOL_VERSION)
    }

    /// A GET of `/mcp` (the SSE stream): `Accept: text/event-stream`, `MCP-Protocol-Version`,
    /// the bearer `token` and the session id when given.
    pub(crate) fn get_mcp(&self, token: Option<&str>, session: Option<&str>) -> RequestBuilder {
        self.bodiless_mcp(Method::GET, token, session)
            .header("accept", "text/event-stream")
    }

    /// A DELETE of `/mcp` (ending a session): `MCP-Protocol-Version`, the bearer `token` and
    /// the session id when given.
    pub(crate) fn delete_mcp(&self, token: Option<&str>, session: Option<&str>) -> RequestBuilder {
        self.bodiless_mcp(Method::DELETE, token, session)
    }

    fn bodiless_mcp(
        &self,
        method: Method,
        token: Option<&str>,
        session: Option<&str>,
    ) -> RequestBuilder {
        with_token_and_session(self.http.request(method, &self.mcp_url), token, session)
            .header("mcp-protocol-version", PROTOCOL_VERSION)
    }

    /// Sends an `initialize` (outside any session) with the bearer `token` when given.
    pub(crate) async fn send_initialize(&self, token: Option<&str>) -> Response {
        self.post_mcp(token, None, &initialize())
            .send()
            .await
            .unwrap()
    }

    /// initialize + notifications/initialized with `token`; returns the session id.
    pub(crate) async fn open_session(&self, token: &str) -> String {
        let response = self.send_initialize(Some(token)).await;
        assert_eq!(response.status(), 200);
        let session = response
            .headers()
            .get("mcp-session-id")
            .expect("a session id")
            .to_str()
            .unwrap()
            .to_owned();
        let result = jsonrpc_result(response).await;
        assert_eq!(result["result"]["protocolVersion"], PROTOCOL_VERSION);
        let response = self
            .post_mcp(Some(token), Some(&session), &initialized())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        session
    }

    /// A tools/call over raw HTTP.
    pub(crate) async fn call_tool(
        &self,
        token: &str,
        session: &str,
        name: &str,
        arguments: Value,
    ) -> Response {
        self.post_mcp(Some(token), Some(session), &tool_call(name, arguments))
            .send()
            .await
            .unwrap()
    }
}

/// `initialize` asking for [`PROTOCOL_VERSION`].
pub(crate) fn initialize() -> Value {
    initialize_with(PROTOCOL_VERSION)
}

/// `initialize` asking for `version`.
pub(crate) fn initialize_with(version: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "api-test", "version": "1.0"}
        }
    })
}

/// The `notifications/initialized` that completes the handshake.
pub(crate) fn initialized() -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
}

/// A `tools/call` of `name` with `arguments`.
pub(crate) fn tool_call(name: &str, arguments: Value) -> Value {
    let mut call = json!({
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": name}
    });
    call["params"]["arguments"] = arguments;
    call
}

/// The JSON-RPC response in a JSON or SSE body.
pub(crate) async fn jsonrpc_result(response: Response) -> Value {
    let is_sse = content_type(&response).starts_with("text/event-stream");
    let text = response.text().await.unwrap();
    if !is_sse {
        return serde_json::from_str(&text).unwrap();
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|v| v.get("id").is_some())
        .unwrap_or_else(|| panic!("no JSON-RPC response in {text:?}"))
}

/// The `Content-Type` of a response (empty when absent).
pub(crate) fn content_type(response: &Response) -> String {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The `WWW-Authenticate` header of a response.
pub(crate) fn www_authenticate(response: &Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .expect("a WWW-Authenticate header")
        .to_str()
        .unwrap()
        .to_owned()
}
