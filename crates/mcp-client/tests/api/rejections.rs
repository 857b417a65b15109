//! D12, P1, O4, RFC 9207: what the client refuses, and that it refuses before any
//! authorization request (or, for the response checks, before any token request).

use mcp_client::ClientError;

use crate::helpers::{AsConfig, IssParam, RsConfig, World};

async fn connect_error(world: &mut World) -> ClientError {
    let client = world.client();
    client.connect().await.unwrap_err()
}

/// A protected resource metadata document for another resource is refused, and the client
/// never goes to the authorization server.
#[tokio::test]
async fn prm_resource_mismatch_stops_before_authorization() {
    let mut world = World::start(
        AsConfig::default(),
        RsConfig {
            resource_override: Some("https://evil.example.com/mcp".into()),
            ..RsConfig::default()
        },
    )
    .await;
    let err = connect_error(&mut world).await;
    assert!(matches!(err, ClientError::ResourceMismatch { .. }), "{err}");
    assert!(world.authorization_server.log().is_empty());
}

/// A sibling path on the same origin is not this server either.
#[tokio::test]
async fn prm_resource_for_a_sibling_path_is_refused() {
    let mut world = World::start(AsConfig::default(), RsConfig::default()).await;
    let sibling = format!("{}/mcp-admin", world.resource_server.base);
    world.resource_server.config().resource_override = Some(sibling);
    let err = connect_error(&mut world).await;
    assert!(matches!(err, ClientError::ResourceMismatch { .. }), "{err}");
    assert!(world.authorizations().is_empty());
}

/// Metadata whose `issuer` is not exactly the issuer is refused (RFC 8414 §3.3), also when
/// it differs only by a trailing slash.
#[tokio::test]
async fn as_metadata_issuer_mismatch_is_refused() {
    for issuer in ["https://attacker.example.com".to_owned(), String::new()] {
        let mut world = World::default().await;
        let wrong = if issuer.is_empty() {
            format!("{}/", world.authorization_server.issuer)
        } else {
            issuer
        };
        world.authorization_server.config().issuer_override = Some(wrong);
        let err = connect_error(&mut world).await;
        assert!(matches!(err, ClientError::IssuerMismatch { .. }), "{err}");
        assert!(world.authorizations().is_empty());
        assert!(
            world
                .authorization_server
                .requests_to("/register")
                .is_empty()
        );
    }
}

/// An authorization server that does not list S256 (absent field, or `plain` only) is
/// refused before registration and authorization (P1).
#[tokio::test]
async fn as_without_s256_is_refused() {
    for methods in [None, Some(vec!["plain".to_owned()])] {
        let mut world = World::start(
            AsConfig {
                pkce_methods: methods.clone(),
                ..AsConfig::default()
            },
            RsConfig::default(),
        )
        .await;
        let err = connect_error(&mut world).await;
        assert!(
            matches!(err, ClientError::PkceNotSupported { .. }),
            "{methods:?}: {err}"
        );
        assert!(world.authorizations().is_empty());
        assert!(
            world
                .authorization_server
                .requests_to("/register")
                .is_empty()
        );
    }
}

/// A response with another `state` is discarded: no token request.
#[tokio::test]
async fn wrong_state_is_refused_without_a_token_request() {
    let mut world = World::start(
        AsConfig {
            tamper_state: true,
            ..AsConfig::default()
        },
        RsConfig::default(),
    )
    .await;
    let err = connect_error(&mut world).await;
    assert!(matches!(err, ClientError::StateMismatch), "{err}");
    assert_eq!(world.authorizations().len(), 1);
    assert!(world.authorization_server.requests_to("/token").is_empty());
}

/// A wrong `iss` is refused, and so is a missing one when the server advertises it; a
/// missing one is fine when it does not.
#[tokio::test]
async fn wrong_or_missing_iss_is_refused() {
    for (advertise, iss, refused) in [
        (true, IssParam::Wrong, true),
        (false, IssParam::Wrong, true),
        (true, IssParam::Absent, true),
        (false, IssParam::Absent, false),
    ] {
        let mut world = World::start(
            AsConfig {
                advertise_iss: advertise,
                iss,
                ..AsConfig::default()
            },
            RsConfig::default(),
        )
        .await;
        let client = world.client();
        let result = client.connect().await;
        if refused {
            let err = result.unwrap_err();
            assert!(
                matches!(err, ClientError::IssuerParameter(_)),
                "{advertise} {iss:?}: {err}"
            );
            assert!(world.authorization_server.requests_to("/token").is_empty());
        } else {
            result.unwrap().close().await;
            assert_eq!(world.authorization_server.requests_to("/token").len(), 1);
        }
    }
}

/// D14: a discovered URL whose host name resolves to a special-use address (here loopback,
/// through an injected lookup) is refused by the OAuth client's resolver, before any
/// connection, when the MCP server is public. The server's own name may resolve anywhere.
#[tokio::test]
async fn discovered_name_resolving_to_a_special_use_address_is_never_fetched() {
    use std::net::IpAddr;
    use std::sync::Arc;

    let world = World::default().await;
    let port = world
        .resource_server
        .base
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    world.resource_server.config().prm_metadata_url_override = Some(format!(
        "http://prm.example.com:{port}/.well-known/oauth-protected-resource/elsewhere"
    ));
    let lookup: mcp_client::http::Lookup = Arc::new(|host: String| {
        Box::pin(async move {
            match host.as_str() {
                "mcp.example.com" | "prm.example.com" => {
                    Ok(vec!["127.0.0.1".parse::<IpAddr>().unwrap()])
                }
                _ => Err(std::io::Error::other("unknown name")),
            }
        })
    });
    let mut settings = world.settings();
    settings.allow_insecure_http = true;
    let reporter = mcp_client::Reporter::silent();
    let client = mcp_client::McpClient::with_lookup(
        settings,
        &format!("http://mcp.example.com:{port}/mcp"),
        Arc::new(mcp_auth_core::SystemClock),
        reporter.clone(),
        lookup,
    )
    .unwrap();
    let _ = client.login().await;
    let miss = reporter
        .steps()
        .into_iter()
        .find(|s| s.kind == "discovery.prm_miss")
        .expect("the header's PRM URL is reported as not fetched");
    assert!(miss.message.contains("prm.example.com"), "{}", miss.message);
    assert!(miss.message.contains("SSRF guard"), "{}", miss.message);
    let paths: Vec<String> = world
        .resource_server
        .log()
        .into_iter()
        .map(|s| s.path)
        .collect();
    assert!(paths.iter().any(|p| p == "/mcp"), "{paths:?}");
    assert!(
        !paths.iter().any(|p| p.ends_with("/elsewhere")),
        "{paths:?}"
    );
    assert!(world.authorizations().is_empty());
}
