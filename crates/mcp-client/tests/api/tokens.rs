//! Tokens: proactive and reactive refresh with `resource`, rotation, one refresh for many
//! parallel calls, fallback to a new authorization, reuse across runs, the `0600` file and
//! its binding to the issuer.

use std::sync::Arc;

use mcp_auth_core::{Clock, FixedClock, SystemClock};
use mcp_client::store::Store;

use crate::helpers::{AsConfig, MockAs, RsConfig, World};

fn fixed_clock() -> FixedClock {
    FixedClock::new(SystemClock.now())
}

fn refresh_requests(world: &World) -> Vec<crate::helpers::Seen> {
    world
        .authorization_server
        .requests_to("/token")
        .into_iter()
        .filter(|s| s.params.get("grant_type").map(String::as_str) == Some("refresh_token"))
        .collect()
}

/// An access token about to expire is refreshed before use, with `resource`; a rotated
/// refresh token is adopted (the old one would be refused by the server).
#[tokio::test]
async fn expiring_token_is_refreshed_first_and_rotation_is_adopted() {
    let mut world = World::default().await;
    let clock = fixed_clock();
    let settings = world.settings();
    let client = world.client_with_clock(settings, Arc::new(clock.clone()));
    let connection = client.connect().await.unwrap();
    for _ in 0..2 {
        clock.advance(3600);
        connection.call_tool("whoami", None).await.unwrap();
    }
    connection.close().await;
    let refreshes = refresh_requests(&world);
    assert_eq!(refreshes.len(), 2);
    for r in &refreshes {
        assert_eq!(r.params["resource"], world.resource_server.url);
    }
    assert_ne!(
        refreshes[0].params["refresh_token"],
        refreshes[1].params["refresh_token"]
    );
    assert_eq!(
        world.authorizations().len(),
        1,
        "no new authorization was needed"
    );
    assert!(world.kinds().contains(&"token.refresh".to_owned()));
    // the file holds the newest refresh token
    let stored = Store::new(world.store_path())
        .tokens_for_server(&world.resource_server.url)
        .unwrap()
        .unwrap();
    let newest = world
        .authorization_server
        .state
        .tokens
        .lock()
        .unwrap()
        .keys()
        .max_by_key(|k| k[3..].parse::<u32>().unwrap())
        .cloned()
        .unwrap();
    assert_eq!(stored.access_token.secret(), newest);
    assert_eq!(
        stored.refresh_token.unwrap().secret(),
        newest.replace("at-", "rt-")
    );
}

/// A server that does not rotate: the old refresh token is kept and used again.
#[tokio::test]
async fn refresh_token_is_kept_when_the_server_sends_none() {
    let mut world = World::start(
        AsConfig {
            rotate_refresh: false,
            ..AsConfig::default()
        },
        RsConfig::default(),
    )
    .await;
    let clock = fixed_clock();
    let settings = world.settings();
    let client = world.client_with_clock(settings, Arc::new(clock.clone()));
    let connection = client.connect().await.unwrap();
    for _ in 0..2 {
        clock.advance(3600);
        connection.call_tool("whoami", None).await.unwrap();
    }
    connection.close().await;
    let refreshes = refresh_requests(&world);
    assert_eq!(refreshes.len(), 2);
    assert_eq!(
        refreshes[0].params["refresh_token"],
        refreshes[1].params["refresh_token"]
    );
    assert_eq!(world.authorizations().len(), 1);
}

/// A 401 `invalid_token` for the token we sent refreshes once and retries.
#[tokio::test]
async fn invalid_token_triggers_one_refresh_and_a_retry() {
    let mut world = World::default().await;
    let client = world.client();
    let connection = client.connect().await.unwrap();
    world.authorization_server.revoke_all_access_tokens();
    connection.call_tool("whoami", None).await.unwrap();
    connection.close().await;
    assert_eq!(world.authorization_server.refreshes(), 1);
    assert_eq!(world.authorizations().len(), 1);
}

/// Eight parallel calls with an expiring token cause exactly one refresh; so do eight
/// parallel calls that all get `invalid_token`.
#[tokio::test]
async fn parallel_calls_share_one_refresh() {
    let mut world = World::start(
        AsConfig {
            refresh_delay: std::time::Duration::from_millis(150),
            ..AsConfig::default()
        },
        RsConfig::default(),
    )
    .await;
    let clock = fixed_clock();
    let settings = world.settings();
    let client = world.client_with_clock(settings, Arc::new(clock.clone()));
    let connection = client.connect().await.unwrap();

    clock.advance(3600);
    let calls = (0..8).map(|_| connection.call_tool("whoami", None));
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(world.authorization_server.refreshes(), 1);

    world.authorization_server.revoke_all_access_tokens();
    let calls = (0..8).map(|_| connection.call_tool("whoami", None));
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(world.authorization_server.refreshes(), 2);
    assert_eq!(world.authorizations().len(), 1);
    connection.close().await;
}

/// A refresh the server refuses falls back to a new authorization.
#[tokio::test]
async fn failed_refresh_falls_back_to_a_new_authorization() {
    let mut world = World::start(
        AsConfig {
            refresh_fails: true,
            ..AsConfig::default()
        },
        RsConfig::default(),
    )
    .await;
    let clock = fixed_clock();
    let settings = world.settings();
    let client = world.client_with_clock(settings, Arc::new(clock.clone()));
    let connection = client.connect().await.unwrap();
    clock.advance(3600);
    connection.call_tool("whoami", None).await.unwrap();
    connection.close().await;
    assert_eq!(world.authorization_server.refreshes(), 1);
    assert_eq!(world.authorizations().len(), 2);
    assert!(world.kinds().contains(&"token.refresh_failed".to_owned()));
}

/// A second run reuses the stored tokens: no discovery, no authorization.
#[tokio::test]
async fn stored_tokens_are_reused_by_the_next_run() {
    let mut world = World::default().await;
    world.client().connect().await.unwrap().close().await;
    let client = world.client();
    client.connect().await.unwrap().close().await;
    assert_eq!(world.authorizations().len(), 1);
    assert_eq!(world.kinds()[0], "store.tokens");
    assert!(!world.kinds().iter().any(|k| k.starts_with("discovery")));
}

/// The credential file and its directory are private (0600 / 0700), and a file made
/// readable by others is narrowed again when read.
#[cfg(unix)]
#[tokio::test]
async fn credential_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let mut world = World::default().await;
    let nested = world.dir.path().join("deep/er/credentials.json");
    let mut settings = world.settings();
    settings.store_path = nested.clone();
    world
        .client_with(settings)
        .connect()
        .await
        .unwrap()
        .close()
        .await;
    let mode = std::fs::metadata(&nested).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(nested.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    std::fs::set_permissions(&nested, std::fs::Permissions::from_mode(0o644)).unwrap();
    Store::new(&nested).load().unwrap();
    let mode = std::fs::metadata(&nested).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

/// A server that moves to another authorization server: the client registers afresh
/// there and never sends the first server's client id to the second.
#[tokio::test]
async fn credentials_are_bound_to_the_issuer() {
    let mut world = World::default().await;
    world.client().connect().await.unwrap().close().await;
    let first_client_id = world.authorizations()[0].params["client_id"].clone();

    let second = MockAs::start(AsConfig::default()).await;
    world.resource_server.move_to(&second);
    let client = world.client();
    let connection = client.connect().await.unwrap();
    connection.call_tool("whoami", None).await.unwrap();
    connection.close().await;

    assert_eq!(second.requests_to("/register").len(), 1);
    let second_client_id = second.requests_to("/authorize")[0].params["client_id"].clone();
    assert_ne!(first_client_id, second_client_id);
    assert!(
        second
            .log()
            .iter()
            .all(|s| s.params.get("client_id") != Some(&first_client_id)),
        "the first authorization server's client id went to the second"
    );
    let file = Store::new(world.store_path()).load().unwrap();
    assert_eq!(file.registrations.len(), 2);
    assert_eq!(
        file.registrations[&second.issuer].client_id,
        second_client_id
    );
    let tokens = Store::new(world.store_path())
        .tokens_for_server(&world.resource_server.url)
        .unwrap()
        .unwrap();
    assert_eq!(tokens.issuer, second.issuer);
}
