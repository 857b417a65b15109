//! The 401/400/403 split and the exact `WWW-Authenticate` challenges (RFC 6750 §3,
//! RFC 9728 §5.1, MCP scope challenges; checklist D1, D3, D6, S3, S5, T1, T2).

use mcp_auth_core::OAuthErrorCode;
use mcp_auth_core::ScopeSet;
use mcp_auth_core::challenge::BearerChallenge;
use serde_json::json;

use crate::helpers::*;

fn prm(app: &TestApp) -> String {
    format!("{}/.well-known/oauth-protected-resource/mcp", app.base)
}

/// No token on POST, GET or DELETE: 401 with `resource_metadata` and `scope`, no `error`.
#[tokio::test]
async fn requests_without_a_token_get_401_with_metadata_and_scope_but_no_error() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let expected = format!(
        r#"Bearer scope="mcp:tools", resource_metadata="{}""#,
        prm(&app)
    );
    let requests = [
        app.post_mcp(None, None, &initialize()),
        app.get_mcp(None, None),
        app.delete_mcp(None, Some("whatever")),
        // another scheme is not a bearer credential (RFC 6750 §3.1: no error code)
        app.post_mcp(None, None, &initialize())
            .header("authorization", "Basic dXNlcjpwYXNz"),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let header = www_authenticate(&response);
        assert_eq!(header, expected);
        let parsed = BearerChallenge::parse(&header).unwrap();
        assert_eq!(parsed.error, None);
        assert_eq!(parsed.scope, Some(ScopeSet::parse("mcp:tools").unwrap()));
        assert_eq!(
            parsed.resource_metadata.as_deref(),
            Some(prm(&app).as_str())
        );
        // the challenge points at a document that is really there
        let doc = app
            .http
            .get(parsed.resource_metadata.unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(doc.status(), 200);
    }
}

/// A token that does not verify: 401 `invalid_token`, golden string.
#[tokio::test]
async fn an_invalid_token_gets_401_invalid_token() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let token = app.token(&key, "alice", "mcp:tools");
    let other = app.token(&key, "mallory", "mcp:tools mcp:admin");
    // alice's header and signature around mallory's claims
    let parts: Vec<&str> = token.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        other.split('.').nth(1).unwrap(),
        parts[2]
    );
    let response = app.send_initialize(Some(&tampered)).await;
    assert_eq!(response.status(), 401);
    let header = www_authenticate(&response);
    assert_eq!(
        header,
        format!(
            r#"Bearer error="invalid_token", scope="mcp:tools", resource_metadata="{}", error_description="signature does not verify""#,
            prm(&app)
        )
    );
    let parsed = BearerChallenge::parse(&header).unwrap();
    assert_eq!(parsed.error, Some(OAuthErrorCode::InvalidToken));
}

/// A token in the query string, two Authorization headers, or a malformed Bearer credential:
/// 400 `invalid_request` (T1, RFC 6750 §3.1).
#[tokio::test]
async fn malformed_requests_and_query_tokens_get_400_invalid_request() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let token = app.token(&key, "alice", "mcp:tools");
    let in_query = format!("{}?access_token={token}", app.mcp_url);
    let query = post_json_rpc(&app.http, &in_query, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 400);
    assert_eq!(
        www_authenticate(&query),
        format!(
            r#"Bearer error="invalid_request", resource_metadata="{}", error_description="access tokens are accepted only in the Authorization header""#,
            prm(&app)
        )
    );
    let cases = [
        app.post_mcp(None, None, &initialize())
            .header("authorization", "Bearer"),
        app.post_mcp(None, None, &initialize())
            .header("authorization", "Bearer a b"),
        app.post_mcp(Some(&token), None, &initialize())
            .header("authorization", format!("Bearer {token}")),
    ];
    for request in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 400);
        let parsed = BearerChallenge::parse(&www_authenticate(&response)).unwrap();
        assert_eq!(parsed.error, Some(OAuthErrorCode::InvalidRequest));
    }
}

/// A valid token without the tool's scope: 403 `insufficient_scope` with scope = granted ∪
/// required, decided before rmcp (which would answer 200), golden string.
#[tokio::test]
async fn a_tool_call_without_its_scope_gets_403_with_the_union_scope() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let token = app.token(&key, "alice", "mcp:tools");
    let session = app.open_session(&token).await;
    let response = app
        .call_tool(&token, &session, "get_weather", json!({"city": "Lisbon"}))
        .await;
    assert_eq!(response.status(), 403);
    let header = www_authenticate(&response);
    assert_eq!(
        header,
        format!(
            r#"Bearer error="insufficient_scope", scope="mcp:tools weather:read", resource_metadata="{}", error_description="get_weather requires the scope weather:read""#,
            prm(&app)
        )
    );
    let parsed = BearerChallenge::parse(&header).unwrap();
    assert_eq!(parsed.error, Some(OAuthErrorCode::InsufficientScope));
    assert_eq!(
        parsed.scope,
        Some(ScopeSet::parse("mcp:tools weather:read").unwrap())
    );

    // the admin tool: the union keeps every granted scope
    let token = app.token(&key, "alice", "mcp:tools weather:read");
    let response = app
        .call_tool(&token, &session, "admin_stats", json!({}))
        .await;
    assert_eq!(response.status(), 403);
    let parsed = BearerChallenge::parse(&www_authenticate(&response)).unwrap();
    assert_eq!(
        parsed.scope,
        Some(ScopeSet::parse("mcp:admin mcp:tools weather:read").unwrap())
    );

    // with the scope, the same call succeeds
    let token = app.token(&key, "alice", "mcp:tools weather:read");
    let response = app
        .call_tool(&token, &session, "get_weather", json!({"city": "Lisbon"}))
        .await;
    assert_eq!(response.status(), 200);
    let result = jsonrpc_result(response).await;
    assert_eq!(result["result"]["structuredContent"]["city"], "Lisbon");
}

/// Tool scopes come from configuration.
#[tokio::test]
async fn tool_scopes_come_from_configuration() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |s| {
        s.tools
            .scopes
            .insert("whoami".into(), ScopeSet::parse("profile:read").unwrap());
    })
    .await;
    let token = app.token(&key, "alice", "mcp:tools");
    let session = app.open_session(&token).await;
    let response = app.call_tool(&token, &session, "whoami", json!({})).await;
    assert_eq!(response.status(), 403);
    let parsed = BearerChallenge::parse(&www_authenticate(&response)).unwrap();
    assert_eq!(
        parsed.scope,
        Some(ScopeSet::parse("mcp:tools profile:read").unwrap())
    );
    // Every scope of the default policy is not every scope of this one.
    let token = app.token(&key, "alice", "mcp:admin mcp:tools weather:read");
    let response = app.call_tool(&token, &session, "whoami", json!({})).await;
    assert_eq!(response.status(), 403);
}

/// A token holding every tool's scopes calls any tool, and an unknown one gets rmcp's
/// error; one scope less and a call is refused again.
#[tokio::test]
async fn a_token_with_every_tools_scope_calls_any_tool() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let token = app.token(&key, "alice", "mcp:admin mcp:tools weather:read");
    let session = app.open_session(&token).await;
    for (tool, arguments) in [
        ("whoami", json!({})),
        ("get_weather", json!({"city": "Lisbon"})),
        ("admin_stats", json!({})),
        ("no_such_tool", json!({})),
    ] {
        let response = app.call_tool(&token, &session, tool, arguments).await;
        assert_eq!(response.status(), 200, "{tool}");
        let body = jsonrpc_result(response).await;
        if tool == "no_such_tool" {
            assert!(body["error"].is_object(), "{tool}: {body}");
        } else {
            assert!(body["result"].is_object(), "{tool}: {body}");
            assert_ne!(body["result"]["isError"], json!(true), "{tool}: {body}");
        }
    }
    let token = app.token(&key, "alice", "mcp:tools weather:read");
    let response = app
        .call_tool(&token, &session, "admin_stats", json!({}))
        .await;
    assert_eq!(response.status(), 403);
}

/// Nothing the token carries is echoed back: a huge, quote-laden issuer yields a short,
/// fixed description.
#[tokio::test]
async fn rejection_reasons_do_not_echo_token_contents() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let mut claims = app.claims("alice", "mcp:tools");
    claims.iss = format!("http://evil\"\\{}", "x".repeat(4000));
    let token = key.sign_access_token(&claims).unwrap();
    let response = app.send_initialize(Some(&token)).await;
    assert_eq!(response.status(), 401);
    let parsed = BearerChallenge::parse(&www_authenticate(&response)).unwrap();
    assert_eq!(
        parsed.error_description.as_deref(),
        Some("the token was issued by another authorization server")
    );
}
