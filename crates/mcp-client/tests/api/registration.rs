//! R1: pre-registered → stored → CIMD → DCR → error, and what DCR sends.

use mcp_client::ClientError;
use mcp_client::settings::PreRegistered;

use crate::helpers::{AsConfig, RsConfig, World};

const CIMD: &str = "https://client.example.com/mcp-client.json";

fn everything_offered() -> AsConfig {
    AsConfig {
        cimd: true,
        registration: true,
        confidential: Some(("pre-id".into(), "pre-secret".into())),
        ..AsConfig::default()
    }
}

/// Pre-registered credentials win over CIMD and DCR; the secret goes in HTTP Basic.
#[tokio::test]
async fn pre_registered_credentials_come_first() {
    let mut world = World::start(everything_offered(), RsConfig::default()).await;
    let mut settings = world.settings();
    settings.metadata_url = Some(CIMD.into());
    settings.pre_registered = Some(PreRegistered {
        client_id: "pre-id".into(),
        client_secret: Some("pre-secret".into()),
        issuer: None,
    });
    let client = world.client_with(settings);
    client.connect().await.unwrap().close().await;
    assert!(
        world
            .kinds()
            .contains(&"registration.pre_registered".to_owned())
    );
    assert_eq!(world.authorizations()[0].params["client_id"], "pre-id");
    assert!(
        world
            .authorization_server
            .requests_to("/register")
            .is_empty()
    );
    let token = &world.authorization_server.requests_to("/token")[0];
    assert!(
        token
            .authorization
            .as_deref()
            .unwrap()
            .starts_with("Basic ")
    );
    assert!(!token.params.contains_key("client_secret"));
}

/// Pre-registered credentials bound to another issuer are not sent to this one.
#[tokio::test]
async fn pre_registered_credentials_for_another_issuer_are_not_used() {
    let mut world = World::default().await;
    let mut settings = world.settings();
    settings.pre_registered = Some(PreRegistered {
        client_id: "pre-id".into(),
        client_secret: None,
        issuer: Some("https://other-as.example.com".into()),
    });
    let client = world.client_with(settings);
    client.connect().await.unwrap().close().await;
    assert!(
        world
            .kinds()
            .contains(&"registration.pre_registered_skipped".to_owned())
    );
    assert!(world.kinds().contains(&"registration.dcr".to_owned()));
    assert!(
        world.authorization_server.log().iter().all(|s| s
            .params
            .get("client_id")
            .map(String::as_str)
            != Some("pre-id"))
    );
}

/// With CIMD advertised and a URL configured, the URL is the client id and DCR is skipped.
#[tokio::test]
async fn cimd_is_used_when_supported_and_configured() {
    let mut world = World::start(
        AsConfig {
            cimd: true,
            ..AsConfig::default()
        },
        RsConfig::default(),
    )
    .await;
    let mut settings = world.settings();
    settings.metadata_url = Some(CIMD.into());
    let client = world.client_with(settings);
    client.connect().await.unwrap().close().await;
    assert!(world.kinds().contains(&"registration.cimd".to_owned()));
    assert_eq!(world.authorizations()[0].params["client_id"], CIMD);
    assert_eq!(
        world.authorization_server.requests_to("/token")[0].params["client_id"],
        CIMD
    );
    assert!(
        world
            .authorization_server
            .requests_to("/register")
            .is_empty()
    );
}

/// A configured CIMD URL is not used with a server that does not support CIMD: DCR it is.
#[tokio::test]
async fn cimd_url_without_server_support_falls_back_to_dcr() {
    let mut world = World::default().await;
    let mut settings = world.settings();
    settings.metadata_url = Some(CIMD.into());
    let client = world.client_with(settings);
    client.connect().await.unwrap().close().await;
    assert!(world.kinds().contains(&"registration.dcr".to_owned()));
    assert_ne!(world.authorizations()[0].params["client_id"], CIMD);
}

/// DCR registers a public native client with one loopback redirect URI, and the result is
/// stored per issuer and reused by the next run.
#[tokio::test]
async fn dcr_registers_a_native_public_client_once_per_issuer() {
    let mut world = World::default().await;
    let client = world.client();
    client.connect().await.unwrap().close().await;
    let register = world.authorization_server.requests_to("/register");
    assert_eq!(register.len(), 1);
    let body = &register[0].body;
    assert_eq!(body["application_type"], "native");
    assert_eq!(body["token_endpoint_auth_method"], "none");
    assert_eq!(
        body["grant_types"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    let redirect = body["redirect_uris"][0].as_str().unwrap();
    assert!(
        redirect.starts_with("http://127.0.0.1:") && redirect.ends_with("/callback"),
        "{redirect}"
    );

    // A second run without tokens reuses the stored registration.
    mcp_client::store::Store::new(world.store_path())
        .remove_tokens_for_server(&world.resource_server.url)
        .unwrap();
    let client = world.client();
    client.connect().await.unwrap().close().await;
    assert!(world.kinds().contains(&"registration.stored".to_owned()));
    assert_eq!(world.authorization_server.requests_to("/register").len(), 1);
    assert_eq!(
        world.authorization_server.requests_to("/authorize").len(),
        2
    );
}

/// No pre-registration, no CIMD, no registration endpoint: a clear error, no authorization.
#[tokio::test]
async fn no_registration_method_is_a_clear_error() {
    let mut world = World::start(
        AsConfig {
            registration: false,
            ..AsConfig::default()
        },
        RsConfig::default(),
    )
    .await;
    let client = world.client();
    let err = client.connect().await.unwrap_err();
    assert!(
        matches!(err, ClientError::NoRegistrationMethod { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("--client-id"), "{err}");
    assert!(world.authorizations().is_empty());
}

/// A confidential client registered with `client_secret_post` sends both in the body.
#[tokio::test]
async fn pre_registered_post_method_sends_credentials_in_the_body() {
    let mut world = World::start(
        AsConfig {
            registration: false,
            token_auth_methods: Some(vec!["client_secret_post".into()]),
            confidential: Some(("pre-id".into(), "pre-secret".into())),
            ..AsConfig::default()
        },
        RsConfig::default(),
    )
    .await;
    let mut settings = world.settings();
    settings.pre_registered = Some(PreRegistered {
        client_id: "pre-id".into(),
        client_secret: Some("pre-secret".into()),
        issuer: None,
    });
    let client = world.client_with(settings);
    client.connect().await.unwrap().close().await;
    let token = &world.authorization_server.requests_to("/token")[0];
    assert_eq!(token.params["client_secret"], "pre-secret");
    assert!(token.authorization.is_none());
}
