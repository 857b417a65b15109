//! State survives a restart: the signing key and refresh tokens; key rotation keeps old
//! keys published.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_in};

/// After a graceful restart on the same data directory, the JWKS is the same and a refresh
/// token issued before the restart still works.
#[tokio::test]
async fn refresh_tokens_and_the_signing_key_survive_a_restart() {
    let app = spawn_app().await;
    let jwks_before: Value = app.get("/jwks").await.json().await.unwrap();
    let t = app.tokens_for("public-client", &[]).await;
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    let at = t["access_token"].as_str().unwrap().to_owned();
    let clock = app.clock.clone();
    let old_issuer = app.base.clone();
    let dir = app.stop().await;

    let app = spawn_in(dir, clock, |_| {}).await;
    let jwks_after: Value = app.get("/jwks").await.json().await.unwrap();
    assert_eq!(jwks_before, jwks_after);
    // The new process listens on another port (another issuer string), so check the old
    // token's signature against the reloaded JWKS directly.
    let jwks: jsonwebtoken::jwk::JwkSet = app.get("/jwks").await.json().await.unwrap();
    let verifier = mcp_auth_core::jwt::AccessTokenVerifier::new(
        old_issuer,
        mcp_auth_core::ResourceUri::parse(crate::helpers::RESOURCE).unwrap(),
        &mcp_auth_core::jwt::SigningAlgorithm::ALL,
        &jwks,
    );
    verifier.verify(&at, app.clock_now()).unwrap();
    let r = app.refresh("public-client", &rt).await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// Rotation: a new active key signs new tokens; the old key stays in the JWKS until its
/// tokens have expired, then disappears.
#[tokio::test]
async fn rotated_keys_stay_published_until_their_tokens_expire() {
    let app = spawn_app().await;
    let old_token = app.tokens_for("public-client", &[]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = app.clock_now();
    let new_kid = auth_server::keys::rotate(
        app.state.store.as_ref(),
        app.state.settings.signing_algorithm,
        now,
    )
    .await
    .unwrap();
    app.state.maintain().await.unwrap();
    let jwks: Value = app.get("/jwks").await.json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let new_token = app.tokens_for("public-client", &[]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            new_token.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], new_kid.as_str());
    assert_eq!(app.introspect(&old_token).await["active"], true);
    app.clock.advance(900 + 31);
    app.state.maintain().await.unwrap();
    let jwks: Value = app.get("/jwks").await.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kid"], new_kid.as_str());
}

/// Without a configured session secret, the generated one is kept: a signed-in browser is
/// still signed in after a restart.
#[tokio::test]
async fn sessions_survive_a_restart() {
    use crate::login::{Jar, authorize_query, get_with, sign_in};
    let app = crate::helpers::spawn_app_with(|s| s.dev.auto_approve = false).await;
    let mut jar = Jar::default();
    let p = crate::helpers::pkce();
    let query = authorize_query(&p.challenge, "mcp:tools");
    sign_in(&app, &mut jar, &query).await;
    let clock = app.clock.clone();
    let dir = app.stop().await;
    let app = spawn_in(dir, clock, |s| s.dev.auto_approve = false).await;
    let html = get_with(&app, &jar, &format!("/authorize?{query}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"approve\""), "still signed in: {html}");
}

/// The whole server on PostgreSQL (when `TEST_DATABASE_URL` is set): a flow, a refresh, and
/// a restart that keeps the key and the refresh token.
#[tokio::test]
async fn the_server_runs_on_postgres_and_survives_a_restart() {
    use auth_server::store::postgres::PgStore;
    let Some(url) = crate::store::postgres_url() else {
        return;
    };
    let schema = crate::store::fresh_schema();
    auth_server::store::Lifecycle::close(&PgStore::open_in_schema(&url, &schema).await.unwrap())
        .await;
    let separator = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    let configure = |s: &mut auth_server::Settings| s.database.url = scoped.clone();
    let app = crate::helpers::spawn_app_with(configure).await;
    assert_eq!(app.state.store.backend(), "postgres");
    let t = app.tokens_for("public-client", &[]).await;
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.introspect(t["access_token"].as_str().unwrap()).await["active"],
        true
    );
    let jwks: Value = app.get("/jwks").await.json().await.unwrap();
    let clock = app.clock.clone();
    let dir = app.stop().await;
    let app = spawn_in(dir, clock, configure).await;
    assert_eq!(jwks, app.get("/jwks").await.json::<Value>().await.unwrap());
    assert_eq!(
        app.refresh("public-client", &rt).await.status(),
        StatusCode::OK
    );
    app.stop().await;
    PgStore::drop_schema(&url, &schema).await.unwrap();
}

fn pem(der: &[u8]) -> String {
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

/// A configured key file (here RS256, PEM) becomes the active key, keeps its kid across
/// restarts, and signs the tokens.
#[tokio::test]
async fn a_configured_signing_key_is_used() {
    let key =
        mcp_auth_core::jwt::SigningKey::generate(mcp_auth_core::jwt::SigningAlgorithm::RS256, "x")
            .unwrap();
    let keydir = tempfile::tempdir().unwrap();
    let path = keydir.path().join("signing.pem");
    std::fs::write(&path, pem(key.pkcs8_der())).unwrap();
    let file = path.to_string_lossy().into_owned();
    let configure = |s: &mut auth_server::Settings| {
        s.tokens.signing_algorithm = "RS256".into();
        s.signing_algorithm = mcp_auth_core::jwt::SigningAlgorithm::RS256;
        s.tokens.signing_key_file = file.clone();
    };
    let app = crate::helpers::spawn_app_with(configure).await;
    let jwks: Value = app.get("/jwks").await.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "no generated key besides the configured one");
    assert_eq!(keys[0]["alg"], "RS256");
    let public = serde_json::to_value(key.public_jwk()).unwrap();
    assert_eq!(
        keys[0]["n"], public["n"],
        "the configured key's public part"
    );
    let kid = keys[0]["kid"].as_str().unwrap().to_owned();
    assert!(kid.starts_with("cfg-"));
    let token = app.tokens_for("public-client", &[]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            header["kid"].as_str().unwrap(),
            header["alg"].as_str().unwrap()
        ),
        (kid.as_str(), "RS256")
    );
    let clock = app.clock.clone();
    let dir = app.stop().await;
    let app = spawn_in(dir, clock, configure).await;
    let again: Value = app.get("/jwks").await.json().await.unwrap();
    assert_eq!(again, jwks, "same key, same kid, not imported twice");
}

/// A key file of the wrong algorithm stops the start with the setting named.
#[tokio::test]
async fn a_bad_signing_key_file_is_refused_at_start() {
    let key =
        mcp_auth_core::jwt::SigningKey::generate(mcp_auth_core::jwt::SigningAlgorithm::ES256, "x")
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signing.pem");
    std::fs::write(&path, pem(key.pkcs8_der())).unwrap();
    let mut settings = crate::helpers::test_settings(dir.path());
    settings.tokens.signing_algorithm = "RS256".into();
    settings.signing_algorithm = mcp_auth_core::jwt::SigningAlgorithm::RS256;
    settings.tokens.signing_key_file = path.to_string_lossy().into_owned();
    let err =
        auth_server::AppState::open(settings, std::sync::Arc::new(mcp_auth_core::SystemClock))
            .await
            .unwrap_err()
            .to_string();
    assert!(err.contains("tokens.signing_key_file"), "{err}");
}
