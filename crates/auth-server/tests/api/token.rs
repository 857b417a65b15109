//! `POST /token`: authorization code and refresh token grants, client authentication.

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{CALLBACK, RESOURCE, error_of, pkce, spawn_app, spawn_app_with};

pub(crate) fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn header_of(jwt: &str) -> Value {
    let header = jwt.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The token response has the RFC 6749 §5.1 shape, no-store, and an RFC 9068 JWT whose
/// `aud` is the canonical resource and which verifies against /jwks.
#[tokio::test]
async fn code_exchange_returns_a_verifiable_rfc9068_token() {
    let app = spawn_app().await;
    let p = pkce();
    let q = app
        .authorize_code("public-client", &p, &[("scope", "mcp:tools weather:read")])
        .await;
    let r = app.redeem("public-client", &q["code"], &p.verifier).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 900);
    assert!(t["refresh_token"].is_string());
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(header_of(at)["typ"], "at+jwt");
    let c = claims_of(at);
    assert_eq!(c["iss"], app.base);
    assert_eq!(c["aud"], RESOURCE);
    assert_eq!(c["client_id"], "public-client");
    assert_eq!(c["scope"], "mcp:tools weather:read");
    for claim in ["sub", "jti", "iat", "exp"] {
        assert!(!c[claim].is_null(), "{claim}");
    }
    let jwks: jsonwebtoken::jwk::JwkSet = app.get("/jwks").await.json().await.unwrap();
    let verifier = mcp_auth_core::jwt::AccessTokenVerifier::new(
        app.base.clone(),
        mcp_auth_core::ResourceUri::parse(RESOURCE).unwrap(),
        &mcp_auth_core::jwt::SigningAlgorithm::ALL,
        &jwks,
    );
    verifier.verify(at, app.clock_now()).unwrap();
}

/// PKCE: a wrong or missing verifier is invalid_grant.
#[tokio::test]
async fn wrong_or_missing_code_verifier_is_invalid_grant() {
    let app = spawn_app().await;
    let p = pkce();
    let q = app.authorize_code("public-client", &p, &[]).await;
    let other = pkce();
    let r = app
        .redeem("public-client", &q["code"], &other.verifier)
        .await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    let q = app.authorize_code("public-client", &p, &[]).await;
    let r = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", CALLBACK),
            ("client_id", "public-client"),
        ])
        .await;
    assert_eq!(error_of(r).await.1, "invalid_grant");
}

/// A replayed code is refused and the tokens issued from it are revoked.
#[tokio::test]
async fn replayed_code_is_refused_and_revokes_the_tokens_it_issued() {
    let app = spawn_app().await;
    let p = pkce();
    let q = app.authorize_code("public-client", &p, &[]).await;
    let first: Value = app
        .redeem("public-client", &q["code"], &p.verifier)
        .await
        .json()
        .await
        .unwrap();
    let at = first["access_token"].as_str().unwrap();
    let rt = first["refresh_token"].as_str().unwrap();
    assert_eq!(app.introspect(at).await["active"], true);
    let r = app.redeem("public-client", &q["code"], &p.verifier).await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    assert_eq!(
        app.introspect(at).await,
        serde_json::json!({"active": false})
    );
    assert_eq!(
        error_of(app.refresh("public-client", rt).await).await.1,
        "invalid_grant"
    );
}

/// A failed redemption (wrong verifier, wrong client, wrong redirect URI) does not spend the
/// code: the legitimate client's redemption then succeeds and its tokens work.
#[tokio::test]
async fn a_failed_redemption_leaves_the_code_usable() {
    let app = spawn_app().await;
    let p = pkce();
    let q = app.authorize_code("public-client", &p, &[]).await;
    let thief = pkce();
    let r = app
        .redeem("public-client", &q["code"], &thief.verifier)
        .await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    let other = app.register_public().await;
    let r = app.redeem(&other, &q["code"], &p.verifier).await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    let r = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", "http://127.0.0.1:3000/other"),
            ("code_verifier", &p.verifier),
            ("client_id", "public-client"),
        ])
        .await;
    assert_eq!(error_of(r).await.1, "invalid_grant");

    let r = app.redeem("public-client", &q["code"], &p.verifier).await;
    assert_eq!(r.status(), StatusCode::OK);
    let t: Value = r.json().await.unwrap();
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(app.introspect(at).await["active"], true);
    let r = app
        .refresh("public-client", t["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// Two concurrent redemptions of one code: exactly one succeeds.
#[tokio::test]
async fn concurrent_redemptions_of_one_code_succeed_exactly_once() {
    let app = spawn_app().await;
    for _ in 0..3 {
        let p = pkce();
        let q = app.authorize_code("public-client", &p, &[]).await;
        let code = q["code"].clone();
        let (a, b) = tokio::join!(
            app.redeem("public-client", &code, &p.verifier),
            app.redeem("public-client", &code, &p.verifier)
        );
        let ok = [a.status(), b.status()]
            .iter()
            .filter(|s| **s == StatusCode::OK)
            .count();
        assert_eq!(ok, 1, "{} {}", a.status(), b.status());
    }
}

/// Codes expire (≤ 10 minutes) and are bound to their client and redirect URI.
#[tokio::test]
async fn codes_expire_and_are_bound_to_client_and_redirect_uri() {
    let app = spawn_app().await;
    let p = pkce();
    let q = app.authorize_code("public-client", &p, &[]).await;
    app.clock.advance(301);
    assert_eq!(
        error_of(app.redeem("public-client", &q["code"], &p.verifier).await)
            .await
            .1,
        "invalid_grant"
    );

    let other = app.register_public().await;
    let q = app.authorize_code("public-client", &p, &[]).await;
    assert_eq!(
        error_of(app.redeem(&other, &q["code"], &p.verifier).await)
            .await
            .1,
        "invalid_grant"
    );

    let q = app.authorize_code("public-client", &p, &[]).await;
    let r = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", "http://127.0.0.1:3000/other"),
            ("code_verifier", &p.verifier),
            ("client_id", "public-client"),
        ])
        .await;
    assert_eq!(error_of(r).await.1, "invalid_grant");

    let q = app.authorize_code("public-client", &p, &[]).await;
    let r = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", CALLBACK),
            ("code_verifier", &p.verifier),
            ("client_id", "public-client"),
            ("resource", "https://other.example.com/mcp"),
        ])
        .await;
    assert_eq!(error_of(r).await.1, "invalid_target");
}

/// Confidential clients: Basic works for a client_secret_basic client (post does not); a failed Basic attempt is 401 with
/// `WWW-Authenticate: Basic`; a missing secret is 401 invalid_client.
#[tokio::test]
async fn confidential_client_authentication() {
    let app = spawn_app().await;
    let p = pkce();
    let q = app.authorize_code("confidential-client", &p, &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", p.verifier.as_str()),
    ];
    let r = app.token_basic("confidential-client", "wrong", &form).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(error_of(r).await.1, "invalid_client");

    let mut post_form = form.to_vec();
    post_form.push(("client_id", "confidential-client"));
    let r = app.token(&post_form).await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );

    // Registered for client_secret_basic: the right secret in the body is refused.
    post_form.push(("client_secret", "s3cr3t-confidential"));
    let r = app.token(&post_form).await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );

    let q = app.authorize_code("confidential-client", &p, &[]).await;
    let r = app
        .token_basic(
            "confidential-client",
            "s3cr3t-confidential",
            &[
                ("grant_type", "authorization_code"),
                ("code", q["code"].as_str()),
                ("redirect_uri", CALLBACK),
                ("code_verifier", p.verifier.as_str()),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// The registered `token_endpoint_auth_method` is enforced at /token, /revoke and /introspect:
/// a client_secret_post client cannot use Basic, a client_secret_basic client cannot post its
/// secret, a `none` client cannot send a secret.
#[tokio::test]
async fn the_registered_client_authentication_method_is_enforced() {
    let app = spawn_app().await;
    let reg: Value = app
        .register(serde_json::json!({
            "redirect_uris": [CALLBACK],
            "token_endpoint_auth_method": "client_secret_post",
            "grant_types": ["authorization_code", "refresh_token"],
        }))
        .await
        .json()
        .await
        .unwrap();
    let id = reg["client_id"].as_str().unwrap().to_owned();
    let secret = reg["client_secret"].as_str().unwrap().to_owned();
    let p = pkce();
    let q = app.authorize_code(&id, &p, &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", p.verifier.as_str()),
    ];
    let basic = |path: &str, id: &str, secret: &str, form: &[(&str, &str)]| {
        app.http
            .post(app.url(path))
            .basic_auth(id, Some(secret))
            .form(form)
            .send()
    };
    // client_secret_post client with Basic: refused, at /token and /revoke.
    let r = basic("/token", &id, &secret, &form).await.unwrap();
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    let r = basic("/revoke", &id, &secret, &[("token", "x")])
        .await
        .unwrap();
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    // ... and in the body: accepted (the failed attempt did not spend the code).
    let mut post_form = form.to_vec();
    post_form.extend([
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ]);
    let r = app.token(&post_form).await;
    assert_eq!(r.status(), StatusCode::OK);
    let t: Value = r.json().await.unwrap();
    let r = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // client_secret_basic introspector posting its secret: refused at /introspect and /revoke.
    for path in ["/introspect", "/revoke"] {
        let r = app
            .http
            .post(app.url(path))
            .form(&[
                ("token", "x"),
                ("client_id", "introspector"),
                ("client_secret", "introspector-secret"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_of(r).await,
            (StatusCode::UNAUTHORIZED, "invalid_client".into()),
            "{path}"
        );
    }

    // A `none` client presenting a secret, in the body or with Basic.
    let q = app.authorize_code("public-client", &p, &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", p.verifier.as_str()),
    ];
    let r = basic("/token", "public-client", "guess", &form)
        .await
        .unwrap();
    assert_eq!(error_of(r).await.1, "invalid_client");
    let mut post_form = form.to_vec();
    post_form.extend([("client_id", "public-client"), ("client_secret", "guess")]);
    assert_eq!(
        error_of(app.token(&post_form).await).await.1,
        "invalid_client"
    );
}

/// A public client may identify itself with Basic and an empty secret.
#[tokio::test]
async fn public_clients_may_use_basic_with_an_empty_secret() {
    let app = spawn_app().await;
    let p = pkce();
    let q = app.authorize_code("public-client", &p, &[]).await;
    let r = app
        .token_basic(
            "public-client",
            "",
            &[
                ("grant_type", "authorization_code"),
                ("code", q["code"].as_str()),
                ("redirect_uri", CALLBACK),
                ("code_verifier", p.verifier.as_str()),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// Unknown clients are invalid_client; unsupported grants are unsupported_grant_type;
/// malformed requests are invalid_request.
#[tokio::test]
async fn token_endpoint_error_codes() {
    let app = spawn_app().await;
    let r = app
        .token(&[
            ("grant_type", "password"),
            ("username", "demo"),
            ("password", "demo"),
            ("client_id", "public-client"),
        ])
        .await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, "unsupported_grant_type".into())
    );
    let r = app
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", "public-client"),
        ])
        .await;
    assert_eq!(error_of(r).await.1, "unsupported_grant_type");
    let r = app.token(&[("client_id", "public-client")]).await;
    assert_eq!(error_of(r).await.1, "invalid_request");
    let r = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_id", "ghost"),
        ])
        .await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
    let r = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", "public-client"),
        ])
        .await;
    assert_eq!(error_of(r).await.1, "invalid_request");
    let r = app
        .http
        .post(app.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=authorization_code&grant_type=refresh_token&client_id=public-client")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.1, "invalid_request");
    let r = app
        .http
        .post(app.url("/token"))
        .json(&serde_json::json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.1, "invalid_request");
}

/// Refresh rotates the token; the old one then fails, and reusing it revokes the family.
#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = spawn_app_with(|s| s.tokens.refresh_reuse_grace_seconds = 0).await;
    let t = app.tokens_for("public-client", &[]).await;
    let rt1 = t["refresh_token"].as_str().unwrap().to_owned();
    let r = app.refresh("public-client", &rt1).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let t2: Value = r.json().await.unwrap();
    let rt2 = t2["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2);
    assert_eq!(
        claims_of(t2["access_token"].as_str().unwrap())["aud"],
        RESOURCE
    );
    app.clock.advance(1);
    // Reuse of rt1: refused, and rt2 and its access token die with the family.
    assert_eq!(
        error_of(app.refresh("public-client", &rt1).await).await.1,
        "invalid_grant"
    );
    assert_eq!(
        error_of(app.refresh("public-client", &rt2).await).await.1,
        "invalid_grant"
    );
    assert_eq!(
        app.introspect(t2["access_token"].as_str().unwrap()).await["active"],
        false
    );
}

/// Within the grace period a client that lost the response may retry once.
#[tokio::test]
async fn a_rotated_token_may_be_retried_within_the_grace_period() {
    let app = spawn_app_with(|s| s.tokens.refresh_reuse_grace_seconds = 10).await;
    let t = app.tokens_for("public-client", &[]).await;
    let rt1 = t["refresh_token"].as_str().unwrap().to_owned();
    let lost: Value = app
        .refresh("public-client", &rt1)
        .await
        .json()
        .await
        .unwrap();
    app.clock.advance(3);
    let retry = app.refresh("public-client", &rt1).await;
    assert_eq!(retry.status(), StatusCode::OK);
    let retry: Value = retry.json().await.unwrap();
    // The lost successor is dead; the new one works.
    assert_eq!(
        error_of(
            app.refresh("public-client", lost["refresh_token"].as_str().unwrap())
                .await
        )
        .await
        .1,
        "invalid_grant"
    );
    let t = retry; // the lost one's use revoked the family (it was handed out and then replaced)
    assert_eq!(
        error_of(
            app.refresh("public-client", t["refresh_token"].as_str().unwrap())
                .await
        )
        .await
        .1,
        "invalid_grant"
    );
    // After the grace period, reuse is refused.
    let t = app.tokens_for("public-client", &[]).await;
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.refresh("public-client", &rt).await.status(),
        StatusCode::OK
    );
    app.clock.advance(11);
    assert_eq!(
        error_of(app.refresh("public-client", &rt).await).await.1,
        "invalid_grant"
    );
}

/// A refresh may narrow the scope, never widen it; `resource` is accepted again.
#[tokio::test]
async fn refresh_scope_must_be_a_subset_and_resource_is_accepted() {
    let app = spawn_app().await;
    let t = app
        .tokens_for("public-client", &[("scope", "mcp:tools weather:read")])
        .await;
    let rt = t["refresh_token"].as_str().unwrap();
    let r = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "public-client"),
            ("scope", "mcp:tools mcp:admin"),
        ])
        .await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, "invalid_scope".into())
    );
    let r = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "public-client"),
            ("scope", "mcp:tools"),
            ("resource", "http://localhost:8001/mcp/"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let t2: Value = r.json().await.unwrap();
    assert_eq!(t2["scope"], "mcp:tools");
    // The grant keeps its full scope: the next refresh may ask for weather:read again.
    let r = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", t2["refresh_token"].as_str().unwrap()),
            ("client_id", "public-client"),
            ("resource", "https://other.example.com/mcp"),
        ])
        .await;
    assert_eq!(error_of(r).await.1, "invalid_target");
}

/// Refresh tokens are bound to their client and expire.
#[tokio::test]
async fn refresh_tokens_are_bound_to_the_client_and_expire() {
    let app = spawn_app().await;
    let t = app.tokens_for("public-client", &[]).await;
    let rt = t["refresh_token"].as_str().unwrap();
    let other = app.register_public().await;
    assert_eq!(
        error_of(app.refresh(&other, rt).await).await.1,
        "invalid_grant"
    );
    app.clock.advance(2_592_001);
    assert_eq!(
        error_of(app.refresh("public-client", rt).await).await.1,
        "invalid_grant"
    );
}

/// With `refresh_requires_offline_access`, refresh tokens need `offline_access`.
#[tokio::test]
async fn offline_access_governs_refresh_tokens_when_required() {
    let app = spawn_app_with(|s| s.tokens.refresh_requires_offline_access = true).await;
    let t = app.tokens_for("public-client", &[]).await;
    assert!(t.get("refresh_token").is_none());
    let t = app
        .tokens_for("public-client", &[("scope", "mcp:tools offline_access")])
        .await;
    assert!(t["refresh_token"].is_string());
}

/// Codes and refresh tokens are stored only as digests.
#[tokio::test]
async fn codes_and_refresh_tokens_are_stored_as_digests() {
    let app = spawn_app().await;
    let p = pkce();
    let q = app.authorize_code("public-client", &p, &[]).await;
    let t: Value = app
        .redeem("public-client", &q["code"], &p.verifier)
        .await
        .json()
        .await
        .unwrap();
    let rt = t["refresh_token"].as_str().unwrap();
    let db = std::fs::read(app.dir.path().join("auth-server.db")).unwrap();
    let wal = std::fs::read(app.dir.path().join("auth-server.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains(&q["code"]), "raw code stored");
        assert!(!text.contains(rt), "raw refresh token stored");
    }
    let digest = mcp_auth_core::secret::RefreshToken::new(rt).digest();
    assert!(
        app.state
            .store
            .get_refresh_token(&digest)
            .await
            .unwrap()
            .map(|(token, _)| token)
            .is_some()
    );
}
