//! JWT validation (RFC 9068 §4, checklist T2, A5): the tampered-token matrix, key rotation,
//! the JWKS refresh rate limit, the JWKS cache surviving an AS outage, and the validation
//! cache never outliving a token.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_core::challenge::BearerChallenge;
use mcp_auth_core::token::Audience;
use mcp_auth_core::{FixedClock, OAuthErrorCode};
use serde_json::{Value, json};

use crate::helpers::*;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn status_and_error(app: &TestApp, token: &str) -> (u16, Option<OAuthErrorCode>) {
    let response = app.send_initialize(Some(token)).await;
    let status = response.status().as_u16();
    let error = response
        .headers()
        .get("www-authenticate")
        .and_then(|h| BearerChallenge::parse(h.to_str().unwrap()))
        .and_then(|c| c.error);
    (status, error)
}

/// Every tampered or foreign token is refused with 401 `invalid_token`; the untampered one
/// is accepted.
#[tokio::test]
async fn tampered_and_foreign_tokens_are_rejected_with_invalid_token() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let good = app.claims("alice", "mcp:tools");
    let good_token = key.sign_access_token(&good).unwrap();
    assert_eq!(status_and_error(&app, &good_token).await, (200, None));

    let claims_json = serde_json::to_value(&good).unwrap();
    let [header_b64, payload_b64, signature_b64]: [&str; 3] = good_token
        .split('.')
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();

    let mut cases: Vec<(&str, String)> = Vec::new();
    // the signature of another payload
    let other = key
        .sign_access_token(&app.claims("mallory", "mcp:tools mcp:admin"))
        .unwrap();
    let other_payload = other.split('.').nth(1).unwrap();
    cases.push((
        "signature",
        format!("{header_b64}.{other_payload}.{signature_b64}"),
    ));
    // alg: none with an empty signature
    let none_header = json!({"alg": "none", "typ": "at+jwt", "kid": "k1"});
    cases.push((
        "alg none",
        format!(
            "{}.{payload_b64}.",
            b64(&serde_json::to_vec(&none_header).unwrap())
        ),
    ));
    // HS256 keyed with the public key (algorithm confusion)
    let public_key_bytes = serde_json::to_vec(key.public_jwk()).unwrap();
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.typ = Some("at+jwt".into());
    hs_header.kid = Some("k1".into());
    let hs = jsonwebtoken::encode(
        &hs_header,
        &claims_json,
        &jsonwebtoken::EncodingKey::from_secret(&public_key_bytes),
    )
    .unwrap();
    cases.push(("HS256 with the public key", hs));
    // typ JWT instead of at+jwt
    cases.push(("typ JWT", key.sign("JWT", &good).unwrap()));
    // wrong issuer
    let mut c = good.clone();
    c.iss = "http://evil.example.com".into();
    cases.push(("iss", key.sign_access_token(&c).unwrap()));
    // wrong audience
    let mut c = good.clone();
    c.aud = Audience::single("http://127.0.0.1:1/mcp");
    cases.push(("aud", key.sign_access_token(&c).unwrap()));
    // expired beyond the leeway
    let mut c = good.clone();
    c.iat = now() - 600;
    c.exp = now() - 120;
    cases.push(("expired", key.sign_access_token(&c).unwrap()));
    // not valid for another two minutes
    let mut c = good.clone();
    c.nbf = Some(now() + 120);
    cases.push(("future nbf", key.sign_access_token(&c).unwrap()));
    // missing required claim (jti)
    let mut v: Value = claims_json.clone();
    v.as_object_mut().unwrap().remove("jti");
    cases.push(("missing jti", key.sign("at+jwt", &v).unwrap()));
    // signed by a key the AS never published
    let stranger = es256("k1");
    cases.push((
        "foreign key, same kid",
        stranger.sign_access_token(&good).unwrap(),
    ));
    // not a JWT at all
    cases.push(("garbage", "not-a-jwt".to_owned()));

    for (name, token) in cases {
        assert_eq!(
            status_and_error(&app, &token).await,
            (401, Some(OAuthErrorCode::InvalidToken)),
            "{name}"
        );
    }
}

/// A token signed with a new key is accepted once the AS publishes it: the unknown `kid`
/// triggers a JWKS refresh (key rotation).
#[tokio::test]
async fn key_rotation_is_picked_up_on_an_unknown_kid() {
    let old = es256("k1");
    let new = es256("k2");
    let test_as = TestAs::start(&[&old]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let token = app.token(&new, "alice", "mcp:tools");
    assert_eq!(
        status_and_error(&app, &token).await,
        (401, Some(OAuthErrorCode::InvalidToken))
    );
    test_as.publish(&[&old, &new]);
    assert_eq!(status_and_error(&app, &token).await, (200, None));
    // the old key still works too
    assert_eq!(
        status_and_error(&app, &app.token(&old, "bob", "mcp:tools")).await,
        (200, None)
    );
}

/// A key the AS withdraws stops being accepted after the periodic refresh, even for a token
/// already in the validation cache.
#[tokio::test]
async fn a_withdrawn_key_stops_working_after_the_periodic_refresh() {
    let old = es256("k1");
    let new = es256("k2");
    let test_as = TestAs::start(&[&old, &new]).await;
    let app = spawn_app(&test_as, |s| {
        s.authorization_server.jwks_max_age = Some(Duration::from_millis(100));
    })
    .await;
    let token = app.token(&old, "alice", "mcp:tools");
    assert_eq!(status_and_error(&app, &token).await.0, 200);
    test_as.publish(&[&new]);
    let mut status = 200;
    for _ in 0..50 {
        status = status_and_error(&app, &token).await.0;
        if status == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status, 401,
        "the withdrawn key is refused within a few refresh periods"
    );
    assert_eq!(
        status_and_error(&app, &app.token(&new, "bob", "mcp:tools"))
            .await
            .0,
        200
    );
}

/// Unknown `kid`s refresh the JWKS at most once per interval.
#[tokio::test]
async fn jwks_refreshes_are_rate_limited() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |s| {
        s.authorization_server.jwks_refresh_min_interval = Duration::from_secs(3600);
    })
    .await;
    assert_eq!(test_as.jwks_hits(), 1, "primed once at start");
    for i in 0..5 {
        let stranger = es256(&format!("unknown-{i}"));
        let token = app.token(&stranger, "mallory", "mcp:tools");
        assert_eq!(status_and_error(&app, &token).await.0, 401);
    }
    assert_eq!(test_as.jwks_hits(), 1, "no refresh inside the interval");
    // a rotation inside the interval is not seen yet, and the known key keeps working
    let new = es256("k2");
    test_as.publish(&[&key, &new]);
    assert_eq!(
        status_and_error(&app, &app.token(&new, "alice", "mcp:tools"))
            .await
            .0,
        401
    );
    assert_eq!(
        status_and_error(&app, &app.token(&key, "alice", "mcp:tools"))
            .await
            .0,
        200
    );
    assert_eq!(test_as.jwks_hits(), 1);
}

/// With the AS down, the cached keys still validate new tokens; an unknown `kid` is a 401,
/// not a 5xx.
#[tokio::test]
async fn cached_keys_keep_validating_while_the_authorization_server_is_down() {
    let key = es256("k1");
    let mut test_as = TestAs::start(&[&key]).await;
    let app = spawn_app(&test_as, |_| {}).await;
    let before = app.token(&key, "alice", "mcp:tools");
    assert_eq!(status_and_error(&app, &before).await.0, 200);
    test_as.stop().await;
    // a token never seen before (not in the validation cache), signed with the cached key
    let after = app.token(&key, "bob", "mcp:tools");
    assert_eq!(status_and_error(&app, &after).await, (200, None));
    assert_eq!(status_and_error(&app, &before).await.0, 200);
    let stranger = es256("k9");
    let unknown = app.token(&stranger, "mallory", "mcp:tools");
    assert_eq!(
        status_and_error(&app, &unknown).await,
        (401, Some(OAuthErrorCode::InvalidToken))
    );
}

/// The resource server starts while the AS's JWKS is failing and loads the keys on the
/// first token once it answers again.
#[tokio::test]
async fn keys_are_loaded_lazily_when_the_jwks_failed_at_start() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    test_as.set_jwks_down(true);
    let app = spawn_app(&test_as, |_| {}).await;
    let token = app.token(&key, "alice", "mcp:tools");
    assert_eq!(status_and_error(&app, &token).await.0, 401);
    test_as.set_jwks_down(false);
    assert_eq!(status_and_error(&app, &token).await, (200, None));
}

/// With the JWKS failing at start and a long refresh interval, the keys are still fetched
/// soon after the AS answers: before the first load, retries are allowed every second.
#[tokio::test]
async fn before_the_first_key_load_refreshes_are_retried_quickly() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    test_as.set_jwks_down(true);
    let app = spawn_app(&test_as, |s| {
        s.authorization_server.jwks_refresh_min_interval = Duration::from_secs(3600);
    })
    .await;
    test_as.set_jwks_down(false);
    let token = app.token(&key, "alice", "mcp:tools");
    let mut status = 0;
    for _ in 0..40 {
        status = status_and_error(&app, &token).await.0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "keys loaded within a few seconds");
}

/// The "two names" of docker-compose: tokens and metadata carry the public issuer, while
/// this server reaches the AS at `internal_url`; the discovered `jwks_uri` is rebased.
#[tokio::test]
async fn the_authorization_server_is_reached_at_its_internal_url() {
    let key = es256("k1");
    let public = "http://as.public.example:9000";
    let test_as = TestAs::start_with_issuer(&[&key], Some(public)).await;
    let internal = test_as.internal_url();
    let app = spawn_app(&test_as, |s| {
        s.authorization_server.internal_url = Some(url::Url::parse(&internal).unwrap());
    })
    .await;
    assert_eq!(test_as.metadata_hits(), 1);
    assert_eq!(test_as.jwks_hits(), 1);
    let token = app.token(&key, "alice", "mcp:tools");
    assert_eq!(status_and_error(&app, &token).await, (200, None));
    // the metadata advertises the public issuer, not the internal name
    let prm: Value = app
        .http
        .get(app.url("/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["authorization_servers"], json!([public]));
}

/// A configured `jwks_uri` is used as is: the AS metadata is never fetched.
#[tokio::test]
async fn a_configured_jwks_uri_skips_discovery() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let jwks_uri = format!("{}/jwks", test_as.internal_url());
    let app = spawn_app(&test_as, |s| {
        s.authorization_server.jwks_uri = Some(url::Url::parse(&jwks_uri).unwrap());
    })
    .await;
    let token = app.token(&key, "alice", "mcp:tools");
    assert_eq!(status_and_error(&app, &token).await.0, 200);
    assert_eq!(test_as.metadata_hits(), 0);
    assert_eq!(test_as.jwks_hits(), 1);
}

/// The validation cache never answers for a token past its `exp`, even inside the leeway
/// where a fresh verification would still pass.
#[tokio::test]
async fn a_cached_validation_never_outlives_the_token() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let start = now();
    let clock = FixedClock::new(start);
    let app = spawn_app_with_clock(&test_as, Arc::new(clock.clone()), |s| {
        s.token.leeway_secs = 0;
    })
    .await;
    let mut claims = app.claims("alice", "mcp:tools");
    claims.iat = start;
    claims.exp = start + 60;
    let token = key.sign_access_token(&claims).unwrap();
    assert_eq!(status_and_error(&app, &token).await.0, 200);
    assert_eq!(app.state.validator.cached_tokens(), 1);
    clock.advance(59);
    assert_eq!(status_and_error(&app, &token).await.0, 200);
    clock.advance(1);
    assert_eq!(
        status_and_error(&app, &token).await,
        (401, Some(OAuthErrorCode::InvalidToken))
    );
}

/// RFC 8414 §3.3: AS metadata whose `issuer` is not exactly the configured issuer is not
/// trusted, so no keys are loaded from it (here the configuration has a trailing slash).
#[tokio::test]
async fn metadata_with_another_issuer_string_is_not_trusted() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let configured = format!("{}/", test_as.issuer());
    let app = spawn_app(&test_as, |s| {
        s.authorization_server.issuer = mcp_auth_core::Issuer::parse(&configured).unwrap();
    })
    .await;
    assert_eq!(test_as.metadata_hits(), 1);
    assert_eq!(test_as.jwks_hits(), 0);
    let mut claims = app.claims("alice", "mcp:tools");
    claims.iss = configured;
    let token = key.sign_access_token(&claims).unwrap();
    assert_eq!(
        status_and_error(&app, &token).await,
        (401, Some(OAuthErrorCode::InvalidToken))
    );
}
