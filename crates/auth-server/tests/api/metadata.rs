//! RFC 8414 metadata, JWKS, health, CORS.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with};

/// The document lists exactly what MCP clients and the conformance suite look for, and
/// `issuer` is the configured string, byte for byte.
#[tokio::test]
async fn metadata_has_the_required_fields_and_an_identical_issuer() {
    let app = spawn_app().await;
    let r = app.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["issuer"], app.base.as_str());
    assert_eq!(m["authorization_endpoint"], app.url("/authorize"));
    assert_eq!(m["token_endpoint"], app.url("/token"));
    assert_eq!(m["registration_endpoint"], app.url("/register"));
    assert_eq!(m["jwks_uri"], app.url("/jwks"));
    assert_eq!(m["revocation_endpoint"], app.url("/revoke"));
    assert_eq!(m["introspection_endpoint"], app.url("/introspect"));
    assert_eq!(m["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        m["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        m["grant_types_supported"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    let methods = m["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    for needed in ["none", "client_secret_basic", "client_secret_post"] {
        assert!(methods.iter().any(|x| x == needed), "{needed}");
    }
    assert_eq!(m["client_id_metadata_document_supported"], true);
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    let scopes = m["scopes_supported"].as_array().unwrap();
    for s in ["mcp:tools", "weather:read", "mcp:admin", "offline_access"] {
        assert!(scopes.iter().any(|x| x == s), "{s}");
    }
    // No incomplete OpenID document.
    assert_eq!(
        app.get("/.well-known/openid-configuration").await.status(),
        StatusCode::NOT_FOUND
    );
}

/// An issuer with a path: metadata at the path-inserted location, endpoints under the path.
#[tokio::test]
async fn an_issuer_with_a_path_is_served_at_the_path_inserted_location() {
    let app = spawn_app_with(|s| {
        let issuer = format!("{}/tenant1", s.issuer.as_str());
        s.set_issuer(&issuer).unwrap();
    })
    .await;
    let r = app
        .get("/.well-known/oauth-authorization-server/tenant1")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["issuer"], format!("{}/tenant1", app.base));
    assert_eq!(m["token_endpoint"], format!("{}/tenant1/token", app.base));
    assert_eq!(
        app.get("/.well-known/oauth-authorization-server")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get("/tenant1/jwks").await.status(), StatusCode::OK);
}

/// JWKS publishes the signing key with kid/alg/use.
#[tokio::test]
async fn jwks_publishes_the_active_key() {
    let app = spawn_app().await;
    let jwks: Value = app.get("/jwks").await.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["alg"], "ES256");
    assert_eq!(keys[0]["use"], "sig");
    assert!(keys[0]["kid"].is_string());
    assert!(keys[0].get("d").is_none(), "no private part");
}

#[tokio::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

/// Every response carries a request id; a caller's id is kept.
#[tokio::test]
async fn responses_carry_a_request_id() {
    let app = spawn_app().await;
    let r = app.get("/healthz").await;
    assert!(!r.headers()["x-request-id"].to_str().unwrap().is_empty());
    let r = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
}

/// Browser clients may preflight metadata, token, register, revoke, introspect — never
/// /authorize (RFC 9700 §2.6).
#[tokio::test]
async fn cors_is_offered_on_api_endpoints_and_never_on_authorize() {
    let app = spawn_app().await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/jwks",
        "/register",
        "/token",
        "/revoke",
        "/introspect",
    ] {
        let r = app
            .http
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("origin", "http://localhost:6274")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type, mcp-protocol-version",
            )
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        assert_eq!(r.headers()["access-control-allow-origin"], "*", "{path}");
        let allowed = r.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        for h in ["authorization", "content-type", "mcp-protocol-version"] {
            assert!(allowed.contains(h), "{path}: {allowed}");
        }
    }
    let r = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/authorize"))
        .header("origin", "http://localhost:6274")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = app
        .http
        .get(app.url("/authorize"))
        .header("origin", "http://localhost:6274")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}
