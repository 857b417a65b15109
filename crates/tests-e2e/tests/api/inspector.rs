//! What the MCP Inspector needs, over the real servers: CORS for its "direct" mode (every
//! OAuth and MCP fetch from the browser page at http://localhost:6274 or
//! http://127.0.0.1:6274), and its redirect URIs (v1 and v2 web UI on port 6274, v2 TUI/CLI
//! on 127.0.0.1:6276) accepted at registration and authorization.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Options, World};

const ORIGINS: [&str; 2] = ["http://localhost:6274", "http://127.0.0.1:6274"];

const REDIRECT_URIS: [&str; 3] = [
    "http://localhost:6274/oauth/callback",
    "http://127.0.0.1:6274/oauth/callback",
    "http://127.0.0.1:6276/oauth/callback",
];

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn preflight(url: &str, origin: &str, method: &str, headers: &str) -> reqwest::Response {
    http()
        .request(Method::OPTIONS, url)
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", headers)
        .send()
        .await
        .unwrap()
}

fn allows(r: &reqwest::Response, origin: &str, what: &str) {
    let allowed = r
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned());
    assert!(
        allowed.as_deref() == Some(origin) || allowed.as_deref() == Some("*"),
        "{what}: access-control-allow-origin {allowed:?} for {origin} (status {})",
        r.status()
    );
}

fn header_list(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

/// Direct mode: the browser page reads the 401 challenge, the resource metadata, the AS
/// metadata, and may register, exchange codes and revoke, with the MCP headers.
#[tokio::test]
async fn cors_allows_the_inspectors_direct_mode() {
    let world = tokio::task::spawn_blocking(|| World::start(Options::default()))
        .await
        .unwrap();
    let mcp = world.resource.clone();
    let prm = mcp.replace("/mcp", "/.well-known/oauth-protected-resource/mcp");
    let as_metadata = format!("{}/.well-known/oauth-authorization-server", world.issuer);
    for origin in ORIGINS {
        // MCP endpoint: preflight with every header the Inspector sends.
        let r = preflight(
            &mcp,
            origin,
            "POST",
            "authorization,content-type,mcp-protocol-version,mcp-session-id",
        )
        .await;
        assert!(r.status().is_success(), "preflight /mcp: {}", r.status());
        allows(&r, origin, "preflight /mcp");
        let allowed = header_list(&r, "access-control-allow-headers");
        for h in [
            "authorization",
            "content-type",
            "mcp-protocol-version",
            "mcp-session-id",
        ] {
            assert!(allowed.contains(h), "/mcp allows {h}: {allowed}");
        }
        // The 401 challenge is readable by the page.
        let r = http()
            .post(&mcp)
            .header("origin", origin)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .json(
                &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "inspector", "version": "0"}}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        allows(&r, origin, "401 from /mcp");
        let exposed = header_list(&r, "access-control-expose-headers");
        assert!(exposed.contains("www-authenticate"), "{exposed}");
        assert!(exposed.contains("mcp-session-id"), "{exposed}");

        // Metadata documents, fetched with the MCP-Protocol-Version header.
        for url in [&prm, &as_metadata] {
            let r = preflight(url, origin, "GET", "mcp-protocol-version").await;
            assert!(r.status().is_success(), "preflight {url}: {}", r.status());
            allows(&r, origin, url);
            let r = http()
                .get(url)
                .header("origin", origin)
                .header("mcp-protocol-version", "2025-11-25")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{url}");
            allows(&r, origin, url);
        }
        // Registration, token and revocation endpoints.
        for path in ["/register", "/token", "/revoke"] {
            let url = format!("{}{path}", world.issuer);
            let r = preflight(&url, origin, "POST", "content-type,authorization").await;
            assert!(r.status().is_success(), "preflight {path}: {}", r.status());
            allows(&r, origin, path);
        }
    }
}

/// The Inspector's redirect URIs register (as its DCR request sends them) and each one gets
/// the authorization response.
#[tokio::test]
async fn the_inspectors_redirect_uris_are_accepted() {
    let world = tokio::task::spawn_blocking(|| World::start(Options::default()))
        .await
        .unwrap();
    let r = http()
        .post(format!("{}/register", world.issuer))
        .header("origin", ORIGINS[0])
        .json(&json!({
            "client_name": "MCP Inspector",
            "redirect_uris": REDIRECT_URIS,
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    allows(&r, ORIGINS[0], "/register");
    let client: Value = r.json().await.unwrap();
    let client_id = client["client_id"].as_str().unwrap();
    for redirect_uri in REDIRECT_URIS {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair(
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            )
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", "inspector")
            .append_pair("resource", &world.resource)
            .append_pair("scope", "mcp:tools")
            .finish();
        let r = http()
            .get(format!("{}/authorize?{query}", world.issuer))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FOUND, "{redirect_uri}");
        let location = r.headers()["location"].to_str().unwrap();
        assert!(
            location.starts_with(&format!("{redirect_uri}?code=")),
            "{location}"
        );
    }
}
