//! Sessions are bound to the subject that created them; every request is authenticated by
//! its own token (MCP security best practices "Session Hijacking"; checklist H4).

use serde_json::json;

use crate::helpers::*;

/// A session created by alice, used with bob's valid token: 404 and no data, for POST, GET
/// and DELETE; alice's session keeps working afterwards.
#[tokio::test]
async fn a_session_used_with_another_subjects_token_is_not_found() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let alice = app.token(&key, "alice", "mcp:tools weather:read");
    let bob = app.token(&key, "bob", "mcp:tools weather:read");
    let session = app.open_session(&alice).await;

    let response = app.call_tool(&bob, &session, "whoami", json!({})).await;
    assert_eq!(response.status(), 404);
    let body = response.text().await.unwrap();
    assert!(!body.contains("alice"), "{body}");
    assert!(!body.contains("result"), "{body}");

    let get = app
        .get_mcp(Some(&bob), Some(&session))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 404);

    let delete = app
        .delete_mcp(Some(&bob), Some(&session))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 404);

    // alice still owns a working session
    let response = app.call_tool(&alice, &session, "whoami", json!({})).await;
    assert_eq!(response.status(), 200);
    let result = jsonrpc_result(response).await;
    assert_eq!(result["result"]["structuredContent"]["subject"], "alice");
}

/// The same subject may continue the session with a new token (refresh, step-up), and a
/// session without a token is still challenged (the session authenticates nothing).
#[tokio::test]
async fn the_session_authenticates_nothing_but_survives_a_new_token_of_the_same_subject() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let first = app.token(&key, "alice", "mcp:tools");
    let session = app.open_session(&first).await;
    let response = app
        .post_mcp(None, Some(&session), &tool_call("whoami", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let second = app.token(&key, "alice", "mcp:tools");
    let response = app.call_tool(&second, &session, "whoami", json!({})).await;
    assert_eq!(response.status(), 200);
}

/// A GET SSE stream ends when the token that opened it expires.
#[tokio::test]
async fn an_sse_stream_ends_when_its_token_expires() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let long = app.token(&key, "alice", "mcp:tools");
    let session = app.open_session(&long).await;
    let mut claims = app.claims("alice", "mcp:tools");
    claims.exp = now() + 2;
    let short = key.sign_access_token(&claims).unwrap();
    let stream = app
        .get_mcp(Some(&short), Some(&session))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    // The body completes (the stream is closed by the server) within a few seconds.
    tokio::time::timeout(std::time::Duration::from_secs(10), stream.bytes())
        .await
        .expect("the stream ends at the token's exp")
        .unwrap();
}

/// DELETE by the owner ends the session and forgets the binding.
#[tokio::test]
async fn deleting_a_session_forgets_its_binding() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let alice = app.token(&key, "alice", "mcp:tools");
    let session = app.open_session(&alice).await;
    assert_eq!(app.state.sessions.len(), 1);
    let delete = app
        .delete_mcp(Some(&alice), Some(&session))
        .send()
        .await
        .unwrap();
    assert!(delete.status().is_success(), "{}", delete.status());
    assert_eq!(app.state.sessions.len(), 0);
    let response = app.call_tool(&alice, &session, "whoami", json!({})).await;
    assert_eq!(response.status(), 404);
}

/// A live session whose binding is gone (as after an eviction from the full binding table)
/// is answered 404 for every subject, its creator included: it is never served unbound,
/// where any valid token could use it.
#[tokio::test]
async fn a_session_without_a_binding_is_not_found_for_anyone() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let alice = app.token(&key, "alice", "mcp:tools");
    let bob = app.token(&key, "bob", "mcp:tools");
    let session = app.open_session(&alice).await;
    app.state.sessions.unbind(&session);
    for token in [&alice, &bob] {
        let response = app.call_tool(token, &session, "whoami", json!({})).await;
        assert_eq!(response.status(), 404);
        let body = response.text().await.unwrap();
        assert!(!body.contains("result"), "{body}");
    }
    // the client's way out: a new session
    let session = app.open_session(&alice).await;
    let response = app.call_tool(&alice, &session, "whoami", json!({})).await;
    assert_eq!(response.status(), 200);
}
