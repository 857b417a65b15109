//! S1: the challenge's scope, else the resource's `scopes_supported`, else no scope; and
//! `offline_access` only when the authorization server lists it.

use crate::helpers::{AsConfig, RsConfig, World};

async fn requested_scope(as_config: AsConfig, rs_config: RsConfig) -> Option<String> {
    let mut world = World::start(as_config, rs_config).await;
    let client = world.client();
    client.connect().await.unwrap().close().await;
    world.authorizations()[0].params.get("scope").cloned()
}

/// The challenge's scope wins over `scopes_supported`.
#[tokio::test]
async fn scope_comes_from_the_challenge_first() {
    let scope = requested_scope(
        AsConfig::default(),
        RsConfig {
            challenge_scope: Some("mcp:basic".into()),
            scopes_supported: Some(vec!["mcp:tools".into(), "mcp:read".into()]),
            ..RsConfig::default()
        },
    )
    .await;
    assert_eq!(scope.as_deref(), Some("mcp:basic"));
}

/// Without a challenge scope, all of `scopes_supported`.
#[tokio::test]
async fn scope_comes_from_scopes_supported_second() {
    let scope = requested_scope(
        AsConfig::default(),
        RsConfig {
            challenge_scope: None,
            scopes_supported: Some(vec![
                "mcp:basic".into(),
                "mcp:read".into(),
                "mcp:write".into(),
            ]),
            ..RsConfig::default()
        },
    )
    .await;
    assert_eq!(scope.as_deref(), Some("mcp:basic mcp:read mcp:write"));
}

/// Neither: the parameter is omitted.
#[tokio::test]
async fn scope_is_omitted_when_nothing_is_advertised() {
    let scope = requested_scope(
        AsConfig::default(),
        RsConfig {
            challenge_scope: None,
            scopes_supported: None,
            ..RsConfig::default()
        },
    )
    .await;
    assert_eq!(scope, None);
}

/// `offline_access` is added when the authorization server lists it, and only then.
#[tokio::test]
async fn offline_access_is_added_only_when_the_server_lists_it() {
    let with = requested_scope(
        AsConfig {
            scopes_supported: Some(vec!["mcp:tools".into(), "offline_access".into()]),
            ..AsConfig::default()
        },
        RsConfig::default(),
    )
    .await;
    assert_eq!(with.as_deref(), Some("mcp:tools offline_access"));
    let without = requested_scope(
        AsConfig {
            scopes_supported: Some(vec!["mcp:tools".into(), "mcp:read".into()]),
            ..AsConfig::default()
        },
        RsConfig::default(),
    )
    .await;
    assert_eq!(without.as_deref(), Some("mcp:tools"));
}
