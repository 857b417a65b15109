//! Transport security (checklist H1, H2, H6): Origin and Host allow-lists, the protocol
//! version header and negotiation, and CORS on `/mcp`.

use serde_json::json;

use crate::helpers::*;

const INSPECTOR: &str = "http://localhost:6274";

/// The resource's own origin is allowed without configuration (the conformance suite's
/// valid-Host probe sends it).
#[tokio::test]
async fn the_resources_own_origin_is_allowed() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let token = app.token(&key, "alice", "mcp:tools");
    let response = app
        .post_mcp(Some(&token), None, &initialize())
        .header("origin", &app.base)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// A present, not-allowed Origin gets 403, with or without a token; no Origin is fine.
#[tokio::test]
async fn a_foreign_origin_is_forbidden_and_a_missing_one_is_allowed() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let token = app.token(&key, "alice", "mcp:tools");
    for token in [None, Some(token.as_str())] {
        let response = app
            .post_mcp(token, None, &initialize())
            .header("origin", "http://evil.example.com")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        assert!(
            response
                .headers()
                .get("access-control-allow-origin")
                .is_none()
        );
    }
    let response = app.send_initialize(Some(&token)).await;
    assert_eq!(response.status(), 200);
}

/// The MCP Inspector's origins are allowed by default, and browsers can read the session
/// id of the answer.
#[tokio::test]
async fn the_inspector_origins_are_allowed_and_see_the_session_id() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let token = app.token(&key, "alice", "mcp:tools");
    for origin in [INSPECTOR, "http://127.0.0.1:6274"] {
        let response = app
            .post_mcp(Some(&token), None, &initialize())
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{origin}");
        assert_eq!(response.headers()["access-control-allow-origin"], origin);
        let exposed = response.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        assert!(exposed.contains("mcp-session-id"), "{exposed}");
        assert!(response.headers().get("mcp-session-id").is_some());
    }
}

/// DNS rebinding: a Host that is not allowed gets 403 (the conformance probe: Host and
/// Origin `evil.example.com`, no token); the allow-list is configurable.
#[tokio::test]
async fn a_foreign_host_is_forbidden() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let token = app.token(&key, "alice", "mcp:tools");
    let probe = app
        .post_mcp(None, None, &initialize())
        .header("host", "evil.example.com")
        .header("origin", "http://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 403);
    let with_token = app
        .post_mcp(Some(&token), None, &initialize())
        .header("host", "evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), 403);
    let localhost = app
        .post_mcp(Some(&token), None, &initialize())
        .header("host", format!("localhost:{}", app.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(localhost.status(), 200);

    let app = spawn_app(&test_as, |s| {
        s.security.allowed_hosts = vec!["mcp.example.com".into()];
    })
    .await;
    let token = app.token(&key, "alice", "mcp:tools");
    let response = app
        .post_mcp(Some(&token), None, &initialize())
        .header("host", "mcp.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = app.send_initialize(Some(&token)).await;
    assert_eq!(response.status(), 403, "127.0.0.1 is no longer allowed");
}

/// Preflight on `/mcp` allows the MCP headers and methods for an allowed origin.
#[tokio::test]
async fn cors_preflight_on_mcp_allows_the_mcp_headers() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, &app.mcp_url)
        .header("origin", INSPECTOR)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, mcp-protocol-version, mcp-session-id, last-event-id",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        INSPECTOR
    );
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for h in [
        "authorization",
        "content-type",
        "mcp-protocol-version",
        "mcp-session-id",
        "last-event-id",
    ] {
        assert!(allowed.contains(h), "{h} in {allowed}");
    }
    let methods = preflight.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap();
    for m in ["GET", "POST", "DELETE"] {
        assert!(methods.contains(m), "{m} in {methods}");
    }
    // a foreign origin gets no CORS grant
    let foreign = app
        .http
        .request(reqwest::Method::OPTIONS, &app.mcp_url)
        .header("origin", "http://evil.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

/// 401 and 403 answers expose `WWW-Authenticate` to browser clients.
#[tokio::test]
async fn challenges_are_exposed_to_browsers_on_401_and_403() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let token = app.token(&key, "alice", "mcp:tools");
    let session = app.open_session(&token).await;
    let unauthorized = app
        .post_mcp(None, None, &initialize())
        .header("origin", INSPECTOR)
        .send()
        .await
        .unwrap();
    let forbidden = app
        .post_mcp(
            Some(&token),
            Some(&session),
            &tool_call("get_weather", json!({"city": "Oslo"})),
        )
        .header("origin", INSPECTOR)
        .send()
        .await
        .unwrap();
    for (response, status) in [(unauthorized, 401), (forbidden, 403)] {
        assert_eq!(response.status(), status);
        assert_eq!(response.headers()["access-control-allow-origin"], INSPECTOR);
        let exposed = response.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        assert!(exposed.contains("www-authenticate"), "{exposed}");
        assert!(exposed.contains("mcp-session-id"), "{exposed}");
        assert!(response.headers().get("www-authenticate").is_some());
    }
}

/// An `MCP-Protocol-Version` this server does not speak gets 400.
#[tokio::test]
async fn an_unsupported_protocol_version_header_gets_400() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let token = app.token(&key, "alice", "mcp:tools");
    let session = app.open_session(&token).await;
    for version in ["1999-01-01", "2026-07-28", "not-a-version"] {
        // `post_mcp` with the session would send 2025-11-25 too: the session id alone here.
        let response = app
            .post_mcp(Some(&token), None, &tool_call("whoami", json!({})))
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", version)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{version}");
    }
}

/// 2025-03-26 and 2025-06-18 clients keep working; a client asking for the 2026 draft is
/// answered with 2025-11-25.
#[tokio::test]
async fn older_protocol_versions_are_negotiated_and_newer_ones_pinned() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let token = app.token(&key, "alice", "mcp:tools");
    for (asked, answered) in [
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("2026-07-28", "2025-11-25"),
    ] {
        let response = app
            .post_mcp(Some(&token), None, &initialize_with(asked))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asked}");
        let result = jsonrpc_result(response).await;
        assert_eq!(result["result"]["protocolVersion"], answered, "{asked}");
    }
}
