//! What the resource server's benches share: a JWKS endpoint, the production state with
//! its keys loaded, and tokens for the default resource.

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use mcp_auth_core::jwt::{AccessTokenClaims, SigningKey, jwks};
use mcp_auth_core::metadata::Extra;
use mcp_auth_core::token::Audience;
use mcp_auth_core::{Clock, ScopeSet, SystemClock};
use resource_server::{AppState, Settings};
use tokio::runtime::Runtime;
use url::Url;

/// A JWKS endpoint on `127.0.0.1:0` serving `keys`, on `runtime`; returns its URL.
pub(crate) fn serve_jwks(runtime: &Runtime, keys: &[&SigningKey]) -> Url {
    let set = jwks(keys.iter().copied());
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind the JWKS server");
    let addr = listener.local_addr().expect("local address");
    let app = Router::new().route("/jwks", get(move || async move { Json(set.clone()) }));
    runtime.spawn(async move { axum::serve(listener, app).await });
    Url::parse(&format!("http://{addr}/jwks")).expect("JWKS URL")
}

/// The production state from the default settings with `tweak` applied, its keys loaded
/// from `jwks_uri` as at start-up.
pub(crate) fn state(
    runtime: &Runtime,
    jwks_uri: &Url,
    tweak: impl FnOnce(&mut Settings),
) -> AppState {
    let mut settings = Settings::defaults().expect("default settings");
    settings.authorization_server.jwks_uri = Some(jwks_uri.clone());
    tweak(&mut settings);
    let state = AppState::new(settings, Arc::new(SystemClock)).expect("state");
    runtime.block_on(state.validator.prime());
    state
}

/// A token for the default resource with `scope`, valid for an hour, signed by `key`.
pub(crate) fn token(key: &SigningKey, subject: &str, scope: &str) -> String {
    let settings = Settings::defaults().expect("default settings");
    let now = SystemClock.now();
    let claims = AccessTokenClaims {
        iss: settings.authorization_server.issuer.as_str().to_owned(),
        sub: subject.to_owned(),
        aud: Audience::single(settings.resource.uri.as_str()),
        client_id: "https://app.example.com/client.json".into(),
        scope: ScopeSet::parse(scope).expect("valid scope"),
        iat: now,
        exp: now + 3600,
        nbf: None,
        jti: mcp_auth_core::secret::random_urlsafe(16),
        auth_time: None,
        extra: Extra::new(),
    };
    key.sign_access_token(&claims).expect("sign")
}
