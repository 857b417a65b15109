//! Introspection mode (RFC 7662; checklist §4.10): active tokens are accepted, revoked and
//! foreign ones refused, results cached no longer than the TTL and `exp`.

use mcp_auth_core::OAuthErrorCode;
use mcp_auth_core::challenge::BearerChallenge;
use mcp_auth_core::secret::random_urlsafe;
use mcp_auth_core::token::{Audience, IntrospectionResponse};
use serde_json::json;

use crate::helpers::*;

fn answer(app: &TestApp, sub: &str, scope: &str) -> IntrospectionResponse {
    IntrospectionResponse {
        active: true,
        scope: Some(scope.to_owned()),
        client_id: Some("test-client".to_owned()),
        sub: Some(sub.to_owned()),
        aud: Some(Audience::single(app.resource.clone())),
        iss: Some(app.issuer.clone()),
        exp: Some(now() + 300),
        token_type: Some("Bearer".to_owned()),
        ..IntrospectionResponse::default()
    }
}

fn error_of(response: &reqwest::Response) -> Option<OAuthErrorCode> {
    BearerChallenge::parse(&www_authenticate(response)).and_then(|c| c.error)
}

/// An opaque token the AS vouches for works end to end, with its scopes enforced; once
/// revoked it is refused (cache TTL 0 here, so the revocation is seen at once).
#[tokio::test]
async fn active_tokens_work_and_revoked_tokens_are_refused() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |s| {
        introspection_mode(s);
        s.token.introspection_cache_ttl_secs = 0;
    })
    .await;
    let token = random_urlsafe(32);
    test_as.activate(&token, answer(&app, "alice", "mcp:tools"));
    let session = app.open_session(&token).await;
    let response = app.call_tool(&token, &session, "whoami", json!({})).await;
    assert_eq!(response.status(), 200);
    let result = jsonrpc_result(response).await;
    assert_eq!(result["result"]["structuredContent"]["subject"], "alice");
    let response = app
        .call_tool(&token, &session, "get_weather", json!({"city": "Oslo"}))
        .await;
    assert_eq!(response.status(), 403);

    test_as.revoke(&token);
    let response = app.call_tool(&token, &session, "whoami", json!({})).await;
    assert_eq!(response.status(), 401);
    assert_eq!(error_of(&response), Some(OAuthErrorCode::InvalidToken));
}

/// Unknown tokens, and active tokens for another resource or issuer, are refused.
#[tokio::test]
async fn unknown_and_foreign_tokens_are_refused() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, introspection_mode).await;
    let unknown = random_urlsafe(32);
    let foreign_aud = random_urlsafe(32);
    test_as.activate(
        &foreign_aud,
        IntrospectionResponse {
            aud: Some(Audience::single("http://127.0.0.1:1/mcp")),
            ..answer(&app, "alice", "mcp:tools")
        },
    );
    let foreign_iss = random_urlsafe(32);
    test_as.activate(
        &foreign_iss,
        IntrospectionResponse {
            iss: Some("http://evil.example.com".into()),
            ..answer(&app, "alice", "mcp:tools")
        },
    );
    for token in [unknown, foreign_aud, foreign_iss] {
        let response = app.send_initialize(Some(&token)).await;
        assert_eq!(response.status(), 401);
        assert_eq!(error_of(&response), Some(OAuthErrorCode::InvalidToken));
    }
}

/// Within the TTL an answer is reused (one call to the AS); the AS is asked again after.
#[tokio::test]
async fn introspection_answers_are_cached_within_the_ttl() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |s| {
        introspection_mode(s);
        s.token.introspection_cache_ttl_secs = 300;
    })
    .await;
    let token = random_urlsafe(32);
    test_as.activate(&token, answer(&app, "alice", "mcp:tools"));
    let before = test_as
        .state
        .introspection_hits
        .load(std::sync::atomic::Ordering::SeqCst);
    for _ in 0..3 {
        let response = app.send_initialize(Some(&token)).await;
        assert_eq!(response.status(), 200);
    }
    let after = test_as
        .state
        .introspection_hits
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(after - before, 1);
}

/// When the AS cannot be reached, introspection mode answers 503, not 401 or 500.
#[tokio::test]
async fn an_unreachable_introspection_endpoint_gives_503() {
    let key = es256("k1");
    let mut test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, introspection_mode).await;
    test_as.stop().await;
    let response = app.send_initialize(Some(&random_urlsafe(32))).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_some());
}
