//! The resource server driven by the rmcp client (Streamable HTTP, protocol 2025-11-25 and
//! older): the 401 challenge, step-up on the same session (S3–S5), and older revisions.

#![allow(clippy::disallowed_types)] // rmcp's client trait takes a HashMap of headers

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use mcp_auth_core::ScopeSet;
use mcp_auth_core::challenge::BearerChallenge;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, ClientJsonRpcMessage, Implementation,
    ProtocolVersion,
};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::{
    InsufficientScopeError, SseError, StreamableHttpClient, StreamableHttpClientTransportConfig,
    StreamableHttpError, StreamableHttpPostResponse,
};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use sse_stream::Sse;

use crate::helpers::*;

/// A reqwest-backed rmcp HTTP client whose bearer token can be replaced mid-session, as a
/// client does after a step-up authorization.
#[derive(Clone)]
struct SwappableToken {
    inner: reqwest::Client,
    token: Arc<Mutex<Option<String>>>,
}

impl SwappableToken {
    fn new(token: Option<&str>) -> Self {
        Self {
            inner: reqwest::Client::new(),
            token: Arc::new(Mutex::new(token.map(str::to_owned))),
        }
    }

    fn set(&self, token: &str) {
        *self.token.lock().unwrap() = Some(token.to_owned());
    }

    fn current(&self) -> Option<String> {
        self.token.lock().unwrap().clone()
    }
}

impl StreamableHttpClient for SwappableToken {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.inner
            .post_message(uri, message, session_id, self.current(), custom_headers)
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.inner
            .delete_session(uri, session_id, self.current(), custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.inner
            .get_stream(
                uri,
                session_id,
                last_event_id,
                self.current(),
                custom_headers,
            )
            .await
    }
}

fn client_config(version: ProtocolVersion) -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("resource-server-tests", "1.0"),
    )
    .with_protocol_version(version)
}

async fn connect(
    app: &TestApp,
    client: SwappableToken,
    version: ProtocolVersion,
) -> Result<RunningService<RoleClient, ClientConfig>, rmcp::service::ClientInitializeError> {
    let transport = StreamableHttpClientTransport::with_client(
        client,
        StreamableHttpClientTransportConfig::with_uri(app.mcp_url.clone()),
    );
    client_config(version).serve(transport).await
}

async fn call(
    service: &RunningService<RoleClient, ClientConfig>,
    name: &str,
    arguments: Value,
) -> Result<rmcp::model::CallToolResult, rmcp::ServiceError> {
    let arguments = arguments.as_object().cloned().unwrap_or_default();
    service
        .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(arguments))
        .await
}

/// The challenge of the InsufficientScopeError inside a transport error (rmcp 3.9 reports a
/// 403 as `ServiceError::TransportSend` wrapping `StreamableHttpError::InsufficientScope`).
fn insufficient_scope(error: &rmcp::ServiceError) -> Option<String> {
    let rmcp::ServiceError::TransportSend(transport) = error else {
        return None;
    };
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(transport.error.as_ref());
    while let Some(e) = source {
        if let Some(found) = e.downcast_ref::<InsufficientScopeError>() {
            return Some(found.www_authenticate_header.clone());
        }
        if let Some(StreamableHttpError::<reqwest::Error>::InsufficientScope(found)) =
            e.downcast_ref::<StreamableHttpError<reqwest::Error>>()
        {
            return Some(found.www_authenticate_header.clone());
        }
        source = e.source();
    }
    None
}

/// Without a token the rmcp client sees an authorization-required error carrying our
/// challenge.
#[tokio::test]
async fn the_rmcp_client_sees_the_401_challenge() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let result = connect(
        &app,
        SwappableToken::new(None),
        ProtocolVersion::V_2025_11_25,
    )
    .await;
    let Err(error) = result else {
        panic!("initialize succeeded without a token");
    };
    assert!(error.is_authorization_required(), "{error}");
    let challenge = BearerChallenge::parse(error.auth_challenge().unwrap()).unwrap();
    assert_eq!(
        challenge.resource_metadata.as_deref(),
        Some(format!("{}/.well-known/oauth-protected-resource/mcp", app.base).as_str())
    );
    assert_eq!(challenge.error, None);
}

/// Step-up in place: base token → whoami works, get_weather gets 403 with the union scope →
/// the client swaps in a stepped-up token → get_weather works, and whoami still does, all on
/// the same MCP session.
#[tokio::test]
async fn step_up_on_the_same_session() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let client = SwappableToken::new(Some(&app.token(&key, "alice", "mcp:tools")));
    let service = connect(&app, client.clone(), ProtocolVersion::V_2025_11_25)
        .await
        .unwrap();
    assert_eq!(
        service.peer_info().unwrap().protocol_version,
        ProtocolVersion::V_2025_11_25
    );
    let tools = service.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(names, ["admin_stats", "get_weather", "whoami"]);

    let me = call(&service, "whoami", json!({})).await.unwrap();
    assert_eq!(me.structured_content.unwrap()["subject"], "alice");

    let error = call(&service, "get_weather", json!({"city": "Lisbon"}))
        .await
        .expect_err("needs weather:read");
    let needed = insufficient_scope(&error)
        .unwrap_or_else(|| panic!("an insufficient_scope error, got {error:?}"));
    let challenge = BearerChallenge::parse(&needed).unwrap();
    let union = challenge.scope.unwrap();
    assert_eq!(union, ScopeSet::parse("mcp:tools weather:read").unwrap());

    // the client re-authorizes with the challenged scope and carries on
    client.set(&app.token(&key, "alice", &union.to_string()));
    let weather = call(&service, "get_weather", json!({"city": "Lisbon"}))
        .await
        .unwrap();
    let weather = weather.structured_content.unwrap();
    assert_eq!(weather["city"], "Lisbon");
    assert_eq!(weather["source"], "sample data");
    let me = call(&service, "whoami", json!({})).await.unwrap();
    let me = me.structured_content.unwrap();
    assert_eq!(me["scopes"], json!(["mcp:tools", "weather:read"]));
    assert_eq!(app.state.sessions.len(), 1, "still one session");

    // the admin tool still needs its own scope
    let error = call(&service, "admin_stats", json!({})).await.unwrap_err();
    let needed = insufficient_scope(&error).unwrap();
    assert_eq!(
        BearerChallenge::parse(&needed).unwrap().scope.unwrap(),
        ScopeSet::parse("mcp:admin mcp:tools weather:read").unwrap()
    );
    client.set(&app.token(&key, "alice", "mcp:admin mcp:tools weather:read"));
    let stats = call(&service, "admin_stats", json!({})).await.unwrap();
    let stats = stats.structured_content.unwrap();
    assert_eq!(stats["token_mode"], "jwt");
    assert_eq!(stats["bound_sessions"], 1);
    service.cancel().await.unwrap();
}

/// Clients speaking 2025-03-26 and 2025-06-18 keep working.
#[tokio::test]
async fn older_rmcp_clients_negotiate_their_version() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    for version in [ProtocolVersion::V_2025_03_26, ProtocolVersion::V_2025_06_18] {
        let client = SwappableToken::new(Some(&app.token(&key, "alice", "mcp:tools")));
        let service = connect(&app, client, version.clone()).await.unwrap();
        assert_eq!(service.peer_info().unwrap().protocol_version, version);
        let me = call(&service, "whoami", json!({})).await.unwrap();
        assert_eq!(me.structured_content.unwrap()["subject"], "alice");
        service.cancel().await.unwrap();
    }
}
