//! S4, S5: a 403 `insufficient_scope` leads to a new authorization for granted ∪
//! challenged scopes and a retry on the same MCP session, a bounded number of times.

use mcp_client::ClientError;

use crate::helpers::{AsConfig, RsConfig, World};

/// `get_weather` needs `weather:read`: the client steps up with the union and the call
/// succeeds on the same session (one `initialize`, same session id).
#[tokio::test]
async fn step_up_reauthorizes_with_the_union_and_retries_on_the_same_session() {
    let mut world = World::default().await;
    let client = world.client();
    let connection = client.connect().await.unwrap();
    connection.call_tool("whoami", None).await.unwrap();
    let result = connection.call_tool("get_weather", None).await.unwrap();
    assert_eq!(result.is_error, Some(false));
    // the earlier tool still works with the new token (S5)
    connection.call_tool("whoami", None).await.unwrap();
    connection.close().await;

    let authorizations = world.authorizations();
    assert_eq!(authorizations.len(), 2);
    assert_eq!(authorizations[0].params["scope"], "mcp:tools");
    assert_eq!(authorizations[1].params["scope"], "mcp:tools weather:read");
    assert_eq!(world.resource_server.initializes(), 1);
    let sessions: Vec<Option<String>> = world
        .resource_server
        .log()
        .into_iter()
        .filter(|s| s.body.get("method").and_then(|m| m.as_str()) == Some("tools/call"))
        .map(|s| s.session)
        .collect();
    assert!(
        sessions.iter().all(|s| s.as_deref() == Some("session-1")),
        "{sessions:?}"
    );
    let step = world.step("step_up").unwrap();
    assert_eq!(step.detail["requested"], "mcp:tools weather:read");
    // the step-up registered no second client
    assert_eq!(world.authorization_server.requests_to("/register").len(), 1);
}

/// Step-up keeps scopes granted earlier even when the challenge lists only the new one.
#[tokio::test]
async fn step_up_unions_when_the_challenge_names_only_the_missing_scope() {
    let mut world = World::start(
        AsConfig::default(),
        RsConfig {
            challenge_only_missing: true,
            ..RsConfig::default()
        },
    )
    .await;
    let client = world.client();
    let connection = client.connect().await.unwrap();
    connection.call_tool("whoami", None).await.unwrap();
    let result = connection.call_tool("admin", None).await.unwrap();
    assert_eq!(result.is_error, Some(false));
    let last = world.authorizations().pop().unwrap();
    let scope = last.params["scope"].clone();
    assert!(
        scope.contains("mcp:tools") && scope.contains("mcp:admin"),
        "{scope}"
    );
    connection.close().await;
}

/// A server that never accepts gets at most three authorizations for one operation.
#[tokio::test]
async fn step_up_gives_up_after_three_authorizations() {
    let mut world = World::start(
        AsConfig::default(),
        RsConfig {
            initialize_without_token: true,
            always_insufficient: Some("mcp:admin".into()),
            ..RsConfig::default()
        },
    )
    .await;
    let client = world.client();
    let connection = client.connect().await.unwrap();
    let err = connection.list_tools().await.unwrap_err();
    assert!(
        matches!(err, ClientError::TooManyAuthorizations(3)),
        "{err}"
    );
    assert_eq!(world.authorizations().len(), 3);
    assert!(world.kinds().contains(&"authorize.limit".to_owned()));
    connection.close().await;
}

/// A server that lets `initialize` through without a token (as the conformance suite's
/// does) gets its first challenge on `tools/list`; the client authorizes there.
#[tokio::test]
async fn first_challenge_on_a_later_request_is_handled_in_session() {
    let mut world = World::start(
        AsConfig::default(),
        RsConfig {
            initialize_without_token: true,
            ..RsConfig::default()
        },
    )
    .await;
    let client = world.client();
    let connection = client.connect().await.unwrap();
    assert!(world.authorizations().is_empty());
    assert_eq!(connection.list_tools().await.unwrap().len(), 3);
    assert_eq!(world.authorizations().len(), 1);
    assert_eq!(world.resource_server.initializes(), 1);
    connection.close().await;
}

/// Parallel calls refused together for the same missing scope cause one step-up, not one
/// each; all of them then succeed.
#[tokio::test]
async fn parallel_refusals_share_one_step_up() {
    let mut world = World::default().await;
    let client = world.client();
    let connection = client.connect().await.unwrap();
    connection.call_tool("whoami", None).await.unwrap();
    let calls = (0..4).map(|_| connection.call_tool("get_weather", None));
    for result in futures::future::join_all(calls).await {
        assert_eq!(result.unwrap().is_error, Some(false));
    }
    connection.close().await;
    assert_eq!(world.authorizations().len(), 2);
}

/// `login` against a server that lets `initialize` through: no challenge, so discovery
/// starts from the well-known URLs and scope comes from `scopes_supported`.
#[tokio::test]
async fn login_without_a_challenge_discovers_through_well_known_urls() {
    let mut world = World::start(
        AsConfig::default(),
        RsConfig {
            initialize_without_token: true,
            ..RsConfig::default()
        },
    )
    .await;
    let summary = world.client().login().await.unwrap();
    assert_eq!(summary.scope.as_deref(), Some("mcp:tools"));
    let kinds = world.kinds();
    assert_eq!(kinds[0], "discovery.probe", "{kinds:?}");
    assert_eq!(
        world.step("discovery.prm").unwrap().detail["source"],
        "path_inserted"
    );
    assert_eq!(
        world.step("authorize.scope").unwrap().detail["source"],
        "from the resource's scopes_supported"
    );
}
