//! Protected resource metadata (RFC 9728) and `/healthz`.

use serde_json::{Value, json};

use crate::helpers::*;

/// The path-inserted and the root metadata are the same document, with `resource` exactly
/// the canonical `/mcp` URI (D5) and the minimal base scope set (D4).
#[tokio::test]
async fn metadata_is_served_at_the_path_inserted_and_root_locations() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let doc: Value = response.json().await.unwrap();
        assert_eq!(
            doc,
            json!({
                "resource": app.mcp_url,
                "authorization_servers": [test_as.issuer()],
                "scopes_supported": ["mcp:tools"],
                "bearer_methods_supported": ["header"],
                "resource_name": "MCP demo resource server",
            }),
            "{path}"
        );
    }
}

/// Metadata is public and readable cross-origin, preflight included (H6).
#[tokio::test]
async fn metadata_allows_cross_origin_reads_with_the_mcp_protocol_version_header() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let url = app.url("/.well-known/oauth-protected-resource/mcp");
    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://some-browser-client.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "mcp-protocol-version")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("mcp-protocol-version"), "{allowed}");
    let get = app
        .http
        .get(&url)
        .header("origin", "https://some-browser-client.example")
        .send()
        .await
        .unwrap();
    assert_eq!(get.headers()["access-control-allow-origin"], "*");
}

/// `/healthz` answers without a token.
#[tokio::test]
async fn healthz_answers_ok_without_a_token() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let response = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
}

/// Shutdown completes even with an open session and an open SSE stream.
#[tokio::test]
async fn graceful_shutdown_completes_with_an_open_sse_stream() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let token = app.token(&key, "alice", "mcp:tools");
    let session = app.open_session(&token).await;
    let stream = app
        .get_mcp(Some(&token), Some(&session))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    tokio::time::timeout(std::time::Duration::from_secs(10), app.stop())
        .await
        .expect("the server stops with an SSE stream open");
    drop(stream);
}
