//! The user-agent side: a server that shows a page (no auto-approval) makes the headless
//! client print the URL and wait for the redirect on its loopback listener; nobody
//! approving ends in a timeout; a stored client the server forgot is registered again.

use std::time::Duration;

use mcp_client::ClientError;

use crate::helpers::{AsConfig, RsConfig, World};

/// Headless against an interactive server: the URL is printed, the "user" approves in a
/// browser (here: a GET of the redirect), the listener catches it, the flow completes.
#[tokio::test]
async fn headless_prints_the_url_and_waits_for_the_redirect() {
    let mut world = World::start(
        AsConfig {
            interactive: true,
            ..AsConfig::default()
        },
        RsConfig::default(),
    )
    .await;
    let client = world.client();
    let connecting = tokio::spawn(async move {
        client.connect().await?.close().await;
        Ok::<_, ClientError>(())
    });
    let location = world.authorization_server.next_approval().await;
    assert!(location.starts_with("http://127.0.0.1:"), "{location}");
    let page = reqwest::get(&location).await.unwrap();
    assert!(page.status().is_success());
    assert!(page.text().await.unwrap().contains("close this page"));
    connecting.await.unwrap().unwrap();
    assert!(world.kinds().contains(&"authorize.headless".to_owned()));
    let step = world.step("authorize.headless").unwrap();
    assert!(step.detail["url"].as_str().unwrap().contains("/authorize?"));
}

/// Nobody approves: the wait ends with a timeout error, and no token request is made.
#[tokio::test]
async fn waiting_for_the_browser_times_out() {
    let mut world = World::start(
        AsConfig {
            interactive: true,
            ..AsConfig::default()
        },
        RsConfig::default(),
    )
    .await;
    let mut settings = world.settings();
    settings.authorize_timeout = Duration::from_secs(1);
    let client = world.client_with(settings);
    let err = client.connect().await.unwrap_err();
    assert!(matches!(err, ClientError::CallbackTimeout(1)), "{err}");
    assert!(world.authorization_server.requests_to("/token").is_empty());
}

/// A stored dynamic registration the server no longer knows (its store was reset) is
/// dropped and replaced by a new registration, once.
#[tokio::test]
async fn a_forgotten_stored_client_is_registered_again() {
    let mut world = World::start(
        AsConfig {
            check_clients: true,
            ..AsConfig::default()
        },
        RsConfig::default(),
    )
    .await;
    world.client().connect().await.unwrap().close().await;
    mcp_client::store::Store::new(world.store_path())
        .remove_tokens_for_server(&world.resource_server.url)
        .unwrap();
    world.authorization_server.forget_clients();

    world.client().connect().await.unwrap().close().await;
    let kinds = world.kinds();
    assert!(
        kinds.contains(&"registration.stored".to_owned()),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"registration.stale".to_owned()),
        "{kinds:?}"
    );
    assert_eq!(world.authorization_server.requests_to("/register").len(), 2);
}
