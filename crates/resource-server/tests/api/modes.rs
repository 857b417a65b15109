//! The transport and authorization modes the load benchmark compares: `[mcp] stateful`,
//! `[mcp] json_response` and `[dev] disable_authorization` (loopback only).

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::helpers::*;

fn stateless_json(settings: &mut resource_server::Settings) {
    settings.mcp.stateful = false;
    settings.mcp.json_response = true;
}

fn no_authorization(settings: &mut resource_server::Settings) {
    settings.dev.disable_authorization = true;
}

/// Stateless JSON mode: `initialize` and `tools/call` are each answered with one
/// `application/json` body, no `Mcp-Session-Id`; scopes are still enforced; GET and DELETE
/// have no session to serve (405); nothing is bound.
#[tokio::test]
async fn the_stateless_json_mode_answers_each_post_alone_with_json() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, stateless_json).await;
    let token = app.token(&key, "alice", "mcp:tools");

    let response = app.send_initialize(Some(&token)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(content_type(&response), "application/json");
    assert!(response.headers().get("mcp-session-id").is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25");

    // No initialize needed before a call, and a session id sent anyway means nothing.
    for session in [None, Some("made-up-session")] {
        let mut request = app.post_alone(Some(&token), &tool_call("whoami", json!({})));
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{session:?}");
        assert_eq!(content_type(&response), "application/json");
        assert!(response.headers().get("mcp-session-id").is_none());
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["result"]["structuredContent"]["subject"], "alice");
    }
    assert!(app.state.sessions.is_empty(), "nothing to bind");

    let missing_scope = app
        .post_alone(
            Some(&token),
            &tool_call("get_weather", json!({"city": "Lisbon"})),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(missing_scope.status(), 403);
    assert!(www_authenticate(&missing_scope).contains("insufficient_scope"));
    let no_token = app
        .post_alone(None, &tool_call("whoami", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);

    for (method, request) in [
        ("GET", app.get_mcp(Some(&token), None)),
        ("DELETE", app.delete_mcp(Some(&token), None)),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 405, "{method}");
    }
    app.stop().await;
}

/// Stateless without `json_response`: every POST is still alone, answered as SSE.
#[tokio::test]
async fn the_stateless_mode_without_json_answers_with_sse_and_no_session() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |s| s.mcp.stateful = false).await;
    let token = app.token(&key, "alice", "mcp:tools");
    let response = app
        .post_alone(Some(&token), &tool_call("whoami", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(content_type(&response).starts_with("text/event-stream"));
    assert!(response.headers().get("mcp-session-id").is_none());
    let body = jsonrpc_result(response).await;
    assert_eq!(body["result"]["structuredContent"]["subject"], "alice");
    app.stop().await;
}

/// The default stays stateful, SSE and guarded: `initialize` opens a session bound to its
/// subject and is answered as SSE; no token gets 401.
#[tokio::test]
async fn the_default_is_sessions_over_sse_behind_the_guard() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let token = app.token(&key, "alice", "mcp:tools");
    let response = app.send_initialize(Some(&token)).await;
    assert_eq!(response.status(), 200);
    assert!(content_type(&response).starts_with("text/event-stream"));
    assert!(response.headers().get("mcp-session-id").is_some());
    assert_eq!(app.state.sessions.len(), 1);
    let no_token = app.send_initialize(None).await;
    assert_eq!(no_token.status(), 401);
    app.stop().await;
}

/// Authorization off: `tools/call` is served without a token (a token sent anyway is not
/// even read), `whoami` is anonymous, no scope is checked, Host and Origin still are, and
/// the protected resource metadata is gone.
#[tokio::test]
async fn without_authorization_tools_are_served_to_an_anonymous_caller() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |s| {
        stateless_json(s);
        no_authorization(s);
    })
    .await;

    for token in [None, Some("not-a-token")] {
        let response = app
            .post_alone(token, &tool_call("whoami", json!({})))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{token:?}");
        assert!(response.headers().get("www-authenticate").is_none());
        let body: Value = response.json().await.unwrap();
        let whoami = &body["result"]["structuredContent"];
        assert_eq!(whoami["subject"], "anonymous", "{body}");
        assert_eq!(whoami["authorization"], "disabled");
        assert_eq!(whoami["scopes"], json!([]));
    }
    // Tools whose scopes no anonymous caller has are served: the guard is off.
    for (tool, arguments) in [
        ("get_weather", json!({"city": "Lisbon"})),
        ("admin_stats", json!({})),
    ] {
        let response = app
            .post_alone(None, &tool_call(tool, arguments))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{tool}");
        let body: Value = response.json().await.unwrap();
        assert!(body["result"]["isError"] != json!(true), "{tool}: {body}");
        assert!(body["result"]["structuredContent"].is_object(), "{body}");
    }

    let foreign_origin = app
        .post_alone(None, &tool_call("whoami", json!({})))
        .header("origin", "http://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign_origin.status(), 403);
    let foreign_host = app
        .post_alone(None, &tool_call("whoami", json!({})))
        .header("host", "evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign_host.status(), 403);
    let bad_version = app
        .post_mcp(None, None, &tool_call("whoami", json!({})))
        .header("mcp-protocol-version", "1999-01-01")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_version.status(), 400);

    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    app.stop().await;
}

/// Authorization off in session mode: a session opens without a token and its calls are
/// served; nothing is bound (there is no subject).
#[tokio::test]
async fn without_authorization_sessions_open_without_a_token() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, no_authorization).await;
    let response = app.send_initialize(None).await;
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let initialized = app
        .post_mcp(None, Some(&session), &initialized())
        .send()
        .await
        .unwrap();
    assert_eq!(initialized.status(), 202);
    let response = app
        .post_mcp(None, Some(&session), &tool_call("whoami", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = jsonrpc_result(response).await;
    assert_eq!(body["result"]["structuredContent"]["subject"], "anonymous");
    assert!(app.state.sessions.is_empty());
    app.stop().await;
}

/// `run` refuses to serve without authorization on a listener that is not on loopback,
/// whatever the settings say (they may have been built in code, past the validation).
#[tokio::test]
async fn run_refuses_to_serve_without_authorization_off_loopback() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let mut settings = test_settings(listener.local_addr().unwrap().port(), test_as.issuer());
    settings.dev.disable_authorization = true;
    let state =
        resource_server::AppState::new(settings, std::sync::Arc::new(mcp_auth_core::SystemClock))
            .unwrap();
    // Shut down at once: without the check, `run` would return Ok instead of an error.
    let err = resource_server::run(listener, state, async {})
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("loopback"), "{err}");
}

/// The binary stops at start-up, naming the key, when authorization is switched off on a
/// host that is not loopback; and it never listens.
#[test]
fn the_binary_refuses_to_start_without_authorization_off_loopback() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_resource-server"))
        .env("RESOURCE_SERVER_HTTP__HOST", "0.0.0.0")
        .env("RESOURCE_SERVER_HTTP__PORT", "0")
        .env("RESOURCE_SERVER_DEV__DISABLE_AUTHORIZATION", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first stdout line, or nothing at exit: a server that did start is killed, not
    // waited for.
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    if !line.is_empty() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server started: {line}");
    }
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!child.wait().unwrap().success());
    assert!(
        stderr.contains("RESOURCE_SERVER_DEV__DISABLE_AUTHORIZATION"),
        "{stderr}"
    );
    assert!(stderr.contains("loopback"), "{stderr}");
}
