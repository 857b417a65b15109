//! D10–D11: where the client looks for metadata, in which order, and that it stops at the
//! first document.

use crate::helpers::{AsConfig, MetadataAt, PrmAt, RsConfig, World};

async fn tools_work(world: &mut World) {
    let client = world.client();
    let connection = client.connect().await.unwrap();
    let tools = connection.list_tools().await.unwrap();
    assert_eq!(tools.len(), 3);
    connection.close().await;
}

/// The `resource_metadata` URL of the challenge is used first, and nothing else is probed.
#[tokio::test]
async fn prm_is_taken_from_the_challenge_header_url() {
    let mut world = World::start(
        AsConfig::default(),
        RsConfig {
            prm_at: PrmAt::HeaderOnly,
            ..RsConfig::default()
        },
    )
    .await;
    tools_work(&mut world).await;
    let step = world.step("discovery.prm").unwrap();
    assert_eq!(step.detail["source"], "header");
    let paths = world.resource_server.paths();
    assert!(paths.contains(&"/custom/metadata.json".to_owned()));
    assert!(
        !paths.iter().any(|p| p.starts_with("/.well-known")),
        "no well-known probing when the header URL works: {paths:?}"
    );
}

/// Without a header URL the path-inserted well-known URL is tried first, and the root one
/// is not requested once it answered.
#[tokio::test]
async fn prm_falls_back_to_the_path_inserted_well_known_url() {
    let mut world = World::start(
        AsConfig::default(),
        RsConfig {
            prm_at: PrmAt::PathInserted,
            ..RsConfig::default()
        },
    )
    .await;
    tools_work(&mut world).await;
    assert_eq!(
        world.step("discovery.prm").unwrap().detail["source"],
        "path_inserted"
    );
    let paths = world.resource_server.paths();
    assert!(paths.contains(&"/.well-known/oauth-protected-resource/mcp".to_owned()));
    assert!(!paths.contains(&"/.well-known/oauth-protected-resource".to_owned()));
}

/// Then the root URL; a root document whose `resource` is the origin covers `/mcp`.
#[tokio::test]
async fn prm_falls_back_to_the_root_well_known_url() {
    let mut world = World::start(
        AsConfig::default(),
        RsConfig {
            prm_at: PrmAt::Root,
            ..RsConfig::default()
        },
    )
    .await;
    tools_work(&mut world).await;
    assert_eq!(
        world.step("discovery.prm").unwrap().detail["source"],
        "root"
    );
    assert_eq!(
        world.step("discovery.resource").unwrap().detail["match"],
        "path_prefix"
    );
    let wk: Vec<String> = world
        .resource_server
        .paths()
        .into_iter()
        .filter(|p| p.starts_with("/.well-known"))
        .collect();
    assert_eq!(
        wk,
        [
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-protected-resource"
        ]
    );
    // The resource sent is the metadata's, unchanged (A1).
    let authorize = &world.authorizations()[0];
    assert_eq!(authorize.params["resource"], world.resource_server.base);
}

async fn as_metadata_order(at: MetadataAt, expected_tries: &[&str]) {
    let mut world = World::start(
        AsConfig {
            issuer_path: "/tenant1".into(),
            metadata_at: at,
            ..AsConfig::default()
        },
        RsConfig::default(),
    )
    .await;
    tools_work(&mut world).await;
    let gets: Vec<String> = world
        .authorization_server
        .log()
        .into_iter()
        .filter(|s| s.path.contains("/.well-known/"))
        .map(|s| s.path)
        .collect();
    assert_eq!(gets, expected_tries, "{at:?}");
}

/// RFC 8414 path insertion comes first for an issuer with a path.
#[tokio::test]
async fn as_metadata_via_rfc8414_path_insertion() {
    as_metadata_order(
        MetadataAt::Rfc8414,
        &["/.well-known/oauth-authorization-server/tenant1"],
    )
    .await;
}

/// Then OpenID Connect discovery with path insertion.
#[tokio::test]
async fn as_metadata_via_oidc_path_insertion() {
    as_metadata_order(
        MetadataAt::OidcInsert,
        &[
            "/.well-known/oauth-authorization-server/tenant1",
            "/.well-known/openid-configuration/tenant1",
        ],
    )
    .await;
}

/// Then OpenID Connect discovery with path appending.
#[tokio::test]
async fn as_metadata_via_oidc_path_appending() {
    as_metadata_order(
        MetadataAt::OidcAppend,
        &[
            "/.well-known/oauth-authorization-server/tenant1",
            "/.well-known/openid-configuration/tenant1",
            "/tenant1/.well-known/openid-configuration",
        ],
    )
    .await;
}

/// An issuer without a path: RFC 8414 root, then OIDC root.
#[tokio::test]
async fn as_metadata_for_a_root_issuer_tries_rfc8414_then_oidc() {
    let mut world = World::start(
        AsConfig {
            metadata_at: MetadataAt::OidcInsert,
            ..AsConfig::default()
        },
        RsConfig::default(),
    )
    .await;
    tools_work(&mut world).await;
    let gets: Vec<String> = world
        .authorization_server
        .paths()
        .into_iter()
        .filter(|p| p.contains("/.well-known/"))
        .collect();
    assert_eq!(
        gets,
        [
            "/.well-known/oauth-authorization-server",
            "/.well-known/openid-configuration"
        ]
    );
}

/// The numbered steps tell the whole journey in order, and never contain a token.
#[tokio::test]
async fn steps_tell_the_journey_in_order_without_secrets() {
    let mut world = World::default().await;
    let client = world.client();
    let connection = client.connect().await.unwrap();
    connection.call_tool("whoami", None).await.unwrap();
    connection.close().await;
    let kinds = world.kinds();
    let expected = [
        "discovery.challenge",
        "discovery.prm",
        "discovery.resource",
        "discovery.as_metadata",
        "registration.dcr",
        "authorize.scope",
        "authorize.request",
        "authorize.auto_approved",
        "authorize.callback",
        "token.obtained",
        "mcp.initialize",
        "mcp.tools_call",
    ];
    assert_eq!(kinds, expected);
    let all = serde_json::to_string(&world.reporter.steps()).unwrap();
    for (token, _) in world
        .authorization_server
        .state
        .tokens
        .lock()
        .unwrap()
        .iter()
    {
        assert!(
            !all.contains(&format!("\"{token}\"")),
            "token {token} leaked into the steps"
        );
    }
    assert!(
        !all.contains("rt-"),
        "a refresh token leaked into the steps"
    );
    assert!(
        !all.contains("code-"),
        "an authorization code leaked into the steps"
    );
}

fn legacy_world_configs(metadata: bool) -> (AsConfig, RsConfig) {
    (
        AsConfig {
            advertise_iss: false,
            iss: crate::helpers::IssParam::Absent,
            ..AsConfig::default()
        },
        RsConfig {
            prm_at: PrmAt::Nowhere,
            challenge_scope: None,
            legacy_as: Some(metadata),
            ..RsConfig::default()
        },
    )
}

/// A server with no protected resource metadata is refused by default, before any request
/// to an authorization server.
#[tokio::test]
async fn without_prm_the_client_stops_unless_legacy_discovery_is_on() {
    let (a, r) = legacy_world_configs(true);
    let mut world = World::start(a, r).await;
    let err = world.client().connect().await.unwrap_err();
    assert!(
        matches!(err, mcp_client::ClientError::NoResourceMetadata { .. }),
        "{err}"
    );
    assert!(world.authorization_server.log().is_empty());
}

/// 2025-03-26 discovery (opt-in): the AS metadata at the MCP server's origin, its issuer
/// still checked exactly.
#[tokio::test]
async fn legacy_discovery_uses_metadata_at_the_server_origin() {
    let (a, r) = legacy_world_configs(true);
    let mut world = World::start(a, r).await;
    world.authorization_server.config().issuer_override = Some(world.resource_server.base.clone());
    let mut settings = world.settings();
    settings.legacy_discovery = true;
    let client = world.client_with(settings);
    client.connect().await.unwrap().close().await;
    let kinds = world.kinds();
    assert!(kinds.contains(&"discovery.legacy".to_owned()), "{kinds:?}");
    assert!(
        kinds.contains(&"discovery.as_metadata".to_owned()),
        "{kinds:?}"
    );
    assert_eq!(
        world.authorizations()[0].params["resource"],
        world.resource_server.url
    );

    // a wrong issuer is still refused on this path
    world.authorization_server.config().issuer_override =
        Some(format!("{}/oauth", world.resource_server.base));
    mcp_client::store::Store::new(world.store_path())
        .remove_tokens_for_server(&world.resource_server.url)
        .unwrap();
    let mut settings = world.settings();
    settings.legacy_discovery = true;
    let err = world.client_with(settings).connect().await.unwrap_err();
    assert!(
        matches!(err, mcp_client::ClientError::IssuerMismatch { .. }),
        "{err}"
    );
}

/// 2025-03-26 discovery without any metadata: `/authorize`, `/token`, `/register` at the
/// MCP server's origin.
#[tokio::test]
async fn legacy_discovery_falls_back_to_default_endpoints() {
    let (a, r) = legacy_world_configs(false);
    let mut world = World::start(a, r).await;
    let mut settings = world.settings();
    settings.legacy_discovery = true;
    let client = world.client_with(settings);
    client.connect().await.unwrap().close().await;
    assert!(
        world
            .kinds()
            .contains(&"discovery.legacy_endpoints".to_owned())
    );
    let paths = world.resource_server.paths();
    for p in ["/register", "/authorize", "/token"] {
        assert!(
            paths.contains(&p.to_owned()),
            "{p} not used at the MCP origin: {paths:?}"
        );
    }
}
