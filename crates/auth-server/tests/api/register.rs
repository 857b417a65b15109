//! RFC 7591 dynamic client registration.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{CALLBACK, error_of, spawn_app, spawn_app_with};

/// A public client gets 201, every field echoed, an opaque id and no secret.
#[tokio::test]
async fn public_registration_echoes_metadata_and_issues_no_secret() {
    let app = spawn_app().await;
    let r = app
        .register(json!({
            "redirect_uris": [CALLBACK, CALLBACK, "https://app.example.com/cb"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "client_name": "MCP Inspector",
            "client_uri": "https://inspector.example.com",
            "scope": "mcp:tools",
            "software_id": "inspector",
            "x_custom": {"kept": true},
        }))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    let id = body["client_id"].as_str().unwrap();
    assert!(!id.starts_with("https://"));
    assert!(id.len() >= 20);
    assert!(body.get("client_secret").is_none());
    assert!(body.get("client_secret_expires_at").is_none());
    assert!(body["client_id_issued_at"].is_i64());
    // Duplicates tolerated and folded.
    assert_eq!(
        body["redirect_uris"],
        json!([CALLBACK, "https://app.example.com/cb"])
    );
    assert_eq!(body["token_endpoint_auth_method"], "none");
    assert_eq!(
        body["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(body["client_name"], "MCP Inspector");
    assert_eq!(body["client_uri"], "https://inspector.example.com");
    assert_eq!(body["scope"], "mcp:tools");
    assert_eq!(body["software_id"], "inspector");
    assert_eq!(body["x_custom"], json!({"kept": true}));
    assert_eq!(body["application_type"], "web");
}

/// A confidential client gets a secret that works at the token endpoint; the database holds
/// only its hash.
#[tokio::test]
async fn confidential_registration_issues_a_secret_stored_hashed() {
    let app = spawn_app().await;
    let r = app
        .register(json!({"redirect_uris": [CALLBACK], "client_name": "Backend"}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(body["client_secret_expires_at"], 0);
    assert_eq!(body["application_type"], "native");
    let id = body["client_id"].as_str().unwrap();
    let secret = body["client_secret"].as_str().unwrap();
    let stored = app.state.store.get_client(id).await.unwrap().unwrap();
    let hash = stored.secret_hash.unwrap();
    // A 256-bit generated secret is stored as its SHA-256 (argon2 is for weak secrets).
    assert_eq!(
        hash,
        format!(
            "$sha256${}",
            mcp_auth_core::secret::sha256_urlsafe(secret.as_bytes())
        )
    );
    assert!(!hash.contains(secret));
    assert!(secret.len() >= 43, "a generated secret carries 256 bits");
    // The secret authenticates (wrong code, but the client is accepted).
    let r = app
        .http
        .post(app.url("/token"))
        .basic_auth(id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "nope"),
            ("code_verifier", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    // Any other secret (here: the right one with its last character changed) is refused.
    let mut wrong = secret.to_owned();
    let last = wrong.pop().unwrap();
    wrong.push(if last == 'A' { 'B' } else { 'A' });
    let r = app
        .http
        .post(app.url("/token"))
        .basic_auth(id, Some(&wrong))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "nope"),
            ("code_verifier", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
}

/// Each of the four RFC 7591 error codes.
#[tokio::test]
async fn each_registration_error_code() {
    let app = spawn_app().await;
    let cases = [
        (json!({"client_name": "x"}), "invalid_redirect_uri"),
        (json!({"redirect_uris": []}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": ["http://evil.example.com/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb#frag"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "application_type": "web"}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "grant_types": ["password"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "grant_types": ["implicit"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "scope": "bad\"scope"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "application_type": "tv"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": "not-a-list"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "software_statement": "garbage"}),
            "invalid_software_statement",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "software_statement": "a.b.c"}),
            "unapproved_software_statement",
        ),
    ];
    for (body, expected) in cases {
        let r = app.register(body.clone()).await;
        assert_eq!(
            error_of(r).await,
            (StatusCode::BAD_REQUEST, expected.to_owned()),
            "{body}"
        );
    }
    let r = app
        .http
        .post(app.url("/register"))
        .header("content-type", "application/json")
        .body("[1,2]")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.1, "invalid_client_metadata");
}

/// The per-IP rate limit answers 429 with Retry-After.
#[tokio::test]
async fn registration_is_rate_limited_per_ip() {
    let app = spawn_app_with(|s| s.dcr.rate_limit_per_minute = 2).await;
    let body = json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"});
    assert_eq!(
        app.register(body.clone()).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.register(body.clone()).await.status(),
        StatusCode::CREATED
    );
    let r = app.register(body.clone()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    app.clock.advance(61);
    assert_eq!(app.register(body).await.status(), StatusCode::CREATED);
}

/// With an initial access token configured, registration needs it.
#[tokio::test]
async fn initial_access_token_is_required_when_configured() {
    let app = spawn_app_with(|s| s.dcr.initial_access_token = "let-me-register".into()).await;
    let body = json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"});
    let r = app.register(body.clone()).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let r = app
        .http
        .post(app.url("/register"))
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .http
        .post(app.url("/register"))
        .bearer_auth("let-me-register")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// Clients never used within the configured time are reaped; used ones stay.
#[tokio::test]
async fn never_used_dynamic_clients_are_reaped() {
    let app = spawn_app_with(|s| s.dcr.unused_client_ttl_seconds = 3600).await;
    let unused = app.register_public().await;
    let used = app.register_public().await;
    app.tokens_for(&used, &[]).await;
    app.clock.advance(3601);
    app.state.maintain().await.unwrap();
    assert!(app.state.store.get_client(&unused).await.unwrap().is_none());
    assert!(app.state.store.get_client(&used).await.unwrap().is_some());
    // Pre-registered clients are never reaped.
    assert!(
        app.state
            .store
            .get_client("public-client")
            .await
            .unwrap()
            .is_some()
    );
}

/// A client's use is written at most hourly: a token request within the hour after the
/// recorded use leaves `last_used_at` alone, the first one after it moves it.
#[tokio::test]
async fn client_use_is_recorded_at_most_hourly() {
    let app = spawn_app().await;
    let client = app.register_public().await;
    let last_used = || async {
        let record = app.state.store.get_client(&client).await.unwrap().unwrap();
        record.last_used_at
    };
    assert_eq!(last_used().await, None);
    let first_use = app.clock_now();
    let tokens = app.tokens_for(&client, &[]).await;
    assert_eq!(last_used().await, Some(first_use));

    app.clock.advance(3599);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let r = app.refresh(&client, refresh).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        last_used().await,
        Some(first_use),
        "rewritten within the hour"
    );

    app.clock.advance(1);
    let refresh = r.json::<Value>().await.unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.refresh(&client, &refresh).await.status(),
        StatusCode::OK
    );
    assert_eq!(last_used().await, Some(first_use + 3600));
}

/// Oversized bodies are refused before parsing.
#[tokio::test]
async fn oversized_registration_bodies_are_refused() {
    let app = spawn_app().await;
    let body = json!({"redirect_uris": [CALLBACK], "client_name": "x".repeat(100 * 1024)});
    let r = app.register(body).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// Behind a trusted proxy the limit applies per forwarded client; from anyone else the
/// header is ignored.
#[tokio::test]
async fn rate_limits_use_x_forwarded_for_only_from_trusted_proxies() {
    let body = json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"});
    let post = |app: &crate::helpers::TestApp, xff: &'static str| {
        app.http
            .post(app.url("/register"))
            .header("x-forwarded-for", xff)
            .json(&body)
            .send()
    };
    let behind_proxy = spawn_app_with(|s| {
        s.dcr.rate_limit_per_minute = 1;
        s.http.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    assert_eq!(
        post(&behind_proxy, "198.51.100.1").await.unwrap().status(),
        StatusCode::CREATED
    );
    assert_eq!(
        post(&behind_proxy, "198.51.100.2").await.unwrap().status(),
        StatusCode::CREATED
    );
    assert_eq!(
        post(&behind_proxy, "198.51.100.1").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    let direct = spawn_app_with(|s| s.dcr.rate_limit_per_minute = 1).await;
    assert_eq!(
        post(&direct, "198.51.100.1").await.unwrap().status(),
        StatusCode::CREATED
    );
    assert_eq!(
        post(&direct, "198.51.100.2").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}
