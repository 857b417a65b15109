//! RFC 7662 introspection and RFC 7009 revocation.

use reqwest::StatusCode;
use serde_json::{Value, json};

use auth_server::settings::ClientSettings;
use mcp_auth_core::ResourceUri;

use crate::helpers::{CALLBACK, RESOURCE, error_of, spawn_app, spawn_app_with};

/// Active tokens are described; the caller must be a confidential client.
#[tokio::test]
async fn introspection_describes_active_tokens_to_confidential_clients_only() {
    let app = spawn_app().await;
    let t = app
        .tokens_for("public-client", &[("scope", "mcp:tools weather:read")])
        .await;
    let at = t["access_token"].as_str().unwrap();
    let info = app.introspect(at).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["client_id"], "public-client");
    assert_eq!(info["scope"], "mcp:tools weather:read");
    assert_eq!(info["aud"], RESOURCE);
    assert_eq!(info["iss"], app.base);
    assert_eq!(info["username"], "demo");
    assert_eq!(info["token_type"], "Bearer");
    let info = app.introspect(t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["token_type"], "refresh_token");

    // Unauthenticated, public, or wrong secret: 401.
    let r = app
        .http
        .post(app.url("/introspect"))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    let r = app
        .http
        .post(app.url("/introspect"))
        .form(&[("token", at), ("client_id", "public-client")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .http
        .post(app.url("/introspect"))
        .basic_auth("introspector", Some("nope"))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// Only pre-registered clients with `introspection_resources` may introspect, and only tokens
/// for those resources: a confidential client without the setting and a dynamically registered
/// confidential client get 401 invalid_client; a token for another resource is inactive.
#[tokio::test]
async fn only_allowed_clients_introspect_and_only_tokens_for_their_resources() {
    let other = "http://localhost:8002/other";
    let app = spawn_app_with(|s| {
        let mut extra = s.resources[0].clone();
        extra.uri = ResourceUri::parse(other).unwrap();
        s.resources.push(extra);
        s.clients.push(ClientSettings {
            client_id: "other-rs".into(),
            client_secret: Some("other-rs-secret".into()),
            client_name: None,
            redirect_uris: vec![],
            introspection_resources: vec![ResourceUri::parse(other).unwrap()],
        });
    })
    .await;
    let t = app.tokens_for("public-client", &[]).await;
    let at = t["access_token"].as_str().unwrap();
    let rt = t["refresh_token"].as_str().unwrap();
    assert_eq!(app.introspect(at).await["active"], true);

    let call = |id: String, secret: String, token: String| {
        let app = &app;
        async move {
            app.http
                .post(app.url("/introspect"))
                .basic_auth(id, Some(secret))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap()
        }
    };
    // A confidential client without the setting.
    let r = call(
        "confidential-client".into(),
        "s3cr3t-confidential".into(),
        at.into(),
    )
    .await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    // A dynamically registered confidential client, even one that asks for the setting.
    let reg: Value = app
        .register(json!({
            "redirect_uris": [CALLBACK],
            "token_endpoint_auth_method": "client_secret_basic",
            "introspection_resources": [RESOURCE],
        }))
        .await
        .json()
        .await
        .unwrap();
    let (id, secret) = (
        reg["client_id"].as_str().unwrap().to_owned(),
        reg["client_secret"].as_str().unwrap().to_owned(),
    );
    let r = call(id, secret, at.into()).await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    // A resource server serving another resource learns nothing about this token.
    for token in [at, rt] {
        let r = call("other-rs".into(), "other-rs-secret".into(), token.into()).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<Value>().await.unwrap(), json!({"active": false}));
    }
}

/// Inactive, unknown, expired, tampered: `{"active":false}` and nothing else.
#[tokio::test]
async fn inactive_tokens_are_only_active_false() {
    let app = spawn_app().await;
    let t = app.tokens_for("public-client", &[]).await;
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(app.introspect("garbage").await, json!({"active": false}));
    let mut tampered = at.to_owned();
    tampered.pop();
    tampered.push(if at.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(app.introspect(&tampered).await, json!({"active": false}));
    app.clock.advance(901);
    assert_eq!(app.introspect(at).await, json!({"active": false}));
}

/// Revoking a refresh token revokes its grant (refresh fails, access token inactive);
/// unknown tokens get 200; only the owning client may revoke.
#[tokio::test]
async fn revocation_semantics() {
    let app = spawn_app().await;
    let t = app.tokens_for("public-client", &[]).await;
    let at = t["access_token"].as_str().unwrap();
    let rt = t["refresh_token"].as_str().unwrap();

    // Another client cannot revoke it (200, but nothing happens).
    let other = app.register_public().await;
    let r = app
        .http
        .post(app.url("/revoke"))
        .form(&[("token", rt), ("client_id", other.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.introspect(rt).await["active"], true);

    let r = app
        .http
        .post(app.url("/revoke"))
        .form(&[("token", "unknown"), ("client_id", "public-client")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let r = app
        .http
        .post(app.url("/revoke"))
        .form(&[
            ("token", rt),
            ("token_type_hint", "refresh_token"),
            ("client_id", "public-client"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        error_of(app.refresh("public-client", rt).await).await.1,
        "invalid_grant"
    );
    assert_eq!(app.introspect(at).await, json!({"active": false}));

    // Access token revocation.
    let t = app.tokens_for("public-client", &[]).await;
    let at = t["access_token"].as_str().unwrap();
    let r = app
        .http
        .post(app.url("/revoke"))
        .form(&[("token", at), ("client_id", "public-client")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.introspect(at).await, json!({"active": false}));

    // Client authentication is required.
    let r = app
        .http
        .post(app.url("/revoke"))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .http
        .post(app.url("/revoke"))
        .form(&[
            ("token", at),
            ("client_id", "public-client"),
            ("token_type_hint", "id_token"),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_token_type");
}

/// A confidential client with no redirect URIs (a resource server) introspects but can
/// never start an authorization.
#[tokio::test]
async fn a_client_without_redirect_uris_cannot_authorize() {
    let app = spawn_app().await;
    let p = crate::helpers::pkce();
    let r = app
        .authorize(&[
            ("response_type", "code"),
            ("client_id", "introspector"),
            ("redirect_uri", "https://rs.example.com/cb"),
            ("code_challenge", &p.challenge),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
}
