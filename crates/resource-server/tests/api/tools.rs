//! The tools' behaviour over raw HTTP.

use serde_json::json;

use crate::helpers::*;

/// whoami reports the caller from the token.
#[tokio::test]
async fn whoami_reports_subject_client_and_scopes() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let token = app.token(&key, "alice", "weather:read mcp:tools");
    let session = app.open_session(&token).await;
    let response = app.call_tool(&token, &session, "whoami", json!({})).await;
    assert_eq!(response.status(), 200);
    let result = jsonrpc_result(response).await;
    let me = &result["result"]["structuredContent"];
    assert_eq!(me["subject"], "alice");
    assert_eq!(me["client_id"], "test-client");
    assert_eq!(me["scopes"], json!(["mcp:tools", "weather:read"]));
    assert_eq!(result["result"]["isError"], false);
}

/// get_weather is deterministic and validates its argument.
#[tokio::test]
async fn get_weather_is_deterministic_and_validates_the_city() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let token = app.token(&key, "alice", "mcp:tools weather:read");
    let session = app.open_session(&token).await;
    let mut answers = Vec::new();
    for _ in 0..2 {
        let response = app
            .call_tool(&token, &session, "get_weather", json!({"city": "Porto"}))
            .await;
        assert_eq!(response.status(), 200);
        answers.push(jsonrpc_result(response).await["result"]["structuredContent"].clone());
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0]["city"], "Porto");
    let response = app
        .call_tool(&token, &session, "get_weather", json!({"city": "  "}))
        .await;
    let result = jsonrpc_result(response).await;
    assert!(result.get("error").is_some(), "{result}");
}

/// Listing tools needs a valid token but no tool scope; every tool has a description.
#[tokio::test]
async fn tools_list_needs_only_a_valid_token() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let token = app.token(&key, "alice", "");
    let session = app.open_session(&token).await;
    let response = app
        .post_mcp(
            Some(&token),
            Some(&session),
            &json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let result = jsonrpc_result(response).await;
    let tools = result["result"]["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 3);
    for tool in tools {
        assert!(
            tool["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{tool}"
        );
    }
}
