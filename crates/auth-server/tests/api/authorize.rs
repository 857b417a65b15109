//! `GET /authorize`: PKCE, state, iss, redirect URI rules, resource and scope rules.

use reqwest::StatusCode;

use crate::helpers::{CALLBACK, RESOURCE, pkce, query_of, spawn_app};

fn base_params<'a>(client_id: &'a str, challenge: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", CALLBACK),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("state", "xyz"),
        ("resource", RESOURCE),
    ]
}

fn with<'a>(
    mut p: Vec<(&'a str, &'a str)>,
    key: &'a str,
    value: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    p.retain(|(k, _)| *k != key);
    if let Some(v) = value {
        p.push((key, v));
    }
    p
}

/// Success: 302 (never 307) to the registered URI with code, the unchanged state and iss.
#[tokio::test]
async fn success_redirects_with_code_state_and_iss() {
    let app = spawn_app().await;
    let p = pkce();
    let r = app
        .authorize(&base_params("public-client", &p.challenge))
        .await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let location = r.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(CALLBACK));
    let q = query_of(location);
    assert_eq!(q["state"], "xyz");
    assert_eq!(q["iss"], app.base);
    assert!(q["code"].len() >= 43);
}

/// Loopback redirect URIs match on any port; anything else must match exactly.
#[tokio::test]
async fn loopback_redirect_uris_match_any_port() {
    let app = spawn_app().await;
    let p = pkce();
    let params = with(
        base_params("public-client", &p.challenge),
        "redirect_uri",
        Some("http://127.0.0.1:54321/callback"),
    );
    let r = app.authorize(&params).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("http://127.0.0.1:54321/callback?")
    );
}

/// Unknown client, missing client, or a redirect URI that is not registered: an HTML error
/// page, no Location header.
#[tokio::test]
async fn bad_client_or_redirect_uri_shows_a_page_and_never_redirects() {
    let app = spawn_app().await;
    let p = pkce();
    let cases = [
        with(
            base_params("public-client", &p.challenge),
            "client_id",
            Some("nobody"),
        ),
        with(
            base_params("public-client", &p.challenge),
            "client_id",
            None,
        ),
        with(
            base_params("public-client", &p.challenge),
            "redirect_uri",
            Some("http://127.0.0.1:3000/callback2"),
        ),
        with(
            base_params("public-client", &p.challenge),
            "redirect_uri",
            Some("https://evil.example.com/callback"),
        ),
        with(
            base_params("public-client", &p.challenge),
            "redirect_uri",
            Some("http://127.0.0.1:3000/Callback"),
        ),
        with(
            base_params("public-client", &p.challenge),
            "redirect_uri",
            Some("http://127.0.0.1:3000/callback?x=1"),
        ),
    ];
    for params in cases {
        let r = app.authorize(&params).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{params:?}");
        assert!(r.headers().get("location").is_none(), "{params:?}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        let body = r.text().await.unwrap();
        assert!(body.contains("<h1"), "{body}");
    }
}

async fn error_redirect(
    app: &crate::helpers::TestApp,
    params: &[(&str, &str)],
) -> std::collections::BTreeMap<String, String> {
    let r = app.authorize(params).await;
    assert_eq!(r.status(), StatusCode::FOUND, "{params:?}");
    let q = query_of(r.headers()["location"].to_str().unwrap());
    assert_eq!(q["iss"], app.base, "iss on errors too");
    assert_eq!(q.get("state").map(String::as_str), Some("xyz"));
    assert!(!q.contains_key("code"));
    q
}

/// PKCE is mandatory and S256 only.
#[tokio::test]
async fn missing_or_plain_pkce_is_invalid_request() {
    let app = spawn_app().await;
    let p = pkce();
    for params in [
        with(
            base_params("public-client", &p.challenge),
            "code_challenge",
            None,
        ),
        with(
            base_params("public-client", &p.challenge),
            "code_challenge_method",
            None,
        ),
        with(
            base_params("public-client", &p.challenge),
            "code_challenge_method",
            Some("plain"),
        ),
        with(
            base_params("public-client", "too-short"),
            "code_challenge_method",
            Some("S256"),
        ),
    ] {
        let q = error_redirect(&app, &params).await;
        assert_eq!(q["error"], "invalid_request", "{params:?}");
    }
}

#[tokio::test]
async fn only_the_code_response_type_exists() {
    let app = spawn_app().await;
    let p = pkce();
    let q = error_redirect(
        &app,
        &with(
            base_params("public-client", &p.challenge),
            "response_type",
            Some("token"),
        ),
    )
    .await;
    assert_eq!(q["error"], "unsupported_response_type");
}

/// RFC 8707: an unknown resource is invalid_target; variants of the known one are accepted
/// after canonicalisation; no resource means the default one.
#[tokio::test]
async fn resources_are_canonicalised_and_unknown_ones_are_invalid_target() {
    let app = spawn_app().await;
    let p = pkce();
    for bad in [
        "https://evil.example.com/mcp",
        "http://localhost:8001/other",
        "not a uri",
        "http://localhost:8001/mcp#frag",
    ] {
        let q = error_redirect(
            &app,
            &with(
                base_params("public-client", &p.challenge),
                "resource",
                Some(bad),
            ),
        )
        .await;
        assert_eq!(q["error"], "invalid_target", "{bad}");
    }
    for good in ["http://localhost:8001/mcp/", "HTTP://LOCALHOST:8001/mcp"] {
        let r = app
            .authorize(&with(
                base_params("public-client", &p.challenge),
                "resource",
                Some(good),
            ))
            .await;
        let q = query_of(r.headers()["location"].to_str().unwrap());
        assert!(q.contains_key("code"), "{good}: {q:?}");
    }
    let r = app
        .authorize(&with(
            base_params("public-client", &p.challenge),
            "resource",
            None,
        ))
        .await;
    let q = query_of(r.headers()["location"].to_str().unwrap());
    let token = app
        .redeem_without_resource("public-client", &q["code"], &p.verifier)
        .await;
    let claims = crate::token::claims_of(token["access_token"].as_str().unwrap());
    assert_eq!(
        claims["aud"], RESOURCE,
        "missing resource → the default resource"
    );
}

/// Unknown scopes for the resource are invalid_scope; OIDC scopes and offline_access never
/// break a flow.
#[tokio::test]
async fn scopes_are_checked_per_resource_but_oidc_scopes_never_break_a_flow() {
    let app = spawn_app().await;
    let p = pkce();
    let q = error_redirect(
        &app,
        &with(
            base_params("public-client", &p.challenge),
            "scope",
            Some("mcp:tools files:write"),
        ),
    )
    .await;
    assert_eq!(q["error"], "invalid_scope");
    let tokens = app
        .tokens_for(
            "public-client",
            &[("scope", "openid profile email offline_access weather:read")],
        )
        .await;
    assert_eq!(tokens["scope"], "offline_access weather:read");
    let claims = crate::token::claims_of(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "weather:read");
    // No scope → the resource's default scopes.
    let tokens = app.tokens_for("public-client", &[]).await;
    assert_eq!(tokens["scope"], "mcp:tools");
}

/// A role that may not have a scope does not get it.
#[tokio::test]
async fn per_user_allowed_scopes_restrict_the_grant() {
    let app = crate::helpers::spawn_app_with(|s| s.dev.auto_approve_user = "guest".into()).await;
    let tokens = app
        .tokens_for("public-client", &[("scope", "mcp:tools mcp:admin")])
        .await;
    assert_eq!(tokens["scope"], "mcp:tools");
}

/// Repeated parameters are invalid_request.
#[tokio::test]
async fn repeated_parameters_are_refused() {
    let app = spawn_app().await;
    let p = pkce();
    let mut params = base_params("public-client", &p.challenge);
    params.push(("state", "again"));
    let r = app.authorize(&params).await;
    let q = query_of(r.headers()["location"].to_str().unwrap());
    assert_eq!(q["error"], "invalid_request");
    let mut params = base_params("public-client", &p.challenge);
    params.push(("client_id", "public-client"));
    let r = app.authorize(&params).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
}

/// When the user may grant none of the requested scopes, the answer is access_denied.
#[tokio::test]
async fn nothing_grantable_is_access_denied() {
    let app = crate::helpers::spawn_app_with(|s| s.dev.auto_approve_user = "guest".into()).await;
    let p = pkce();
    let q = error_redirect(
        &app,
        &with(
            base_params("public-client", &p.challenge),
            "scope",
            Some("mcp:admin"),
        ),
    )
    .await;
    assert_eq!(q["error"], "access_denied");
}
