//! Test fixtures: a small authorization server (metadata, JWKS, introspection) and the
//! resource server, both real HTTP servers on `127.0.0.1:0`, plus token minting; the MCP
//! requests are in [`requests`].

mod requests;

use std::collections::BTreeMap;
#[allow(clippy::disallowed_types)] // form input of the test AS, never serialised
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use jsonwebtoken::jwk::JwkSet;
use mcp_auth_core::jwt::{AccessTokenClaims, SigningAlgorithm, SigningKey, jwks};
use mcp_auth_core::metadata::{AuthorizationServerMetadata, Extra};
use mcp_auth_core::secret::random_urlsafe;
use mcp_auth_core::token::{Audience, IntrospectionResponse};
use mcp_auth_core::{Clock, Issuer, ResourceUri, ScopeSet, SystemClock};
use resource_server::settings::TokenMode;
use resource_server::{AppState, Settings};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub(crate) use self::requests::*;

/// The credentials the resource server uses at the test AS's introspection endpoint.
pub(crate) const RS_CLIENT_ID: &str = "resource-server";
/// Its secret (with characters that need form-urlencoding in Basic auth).
pub(crate) const RS_CLIENT_SECRET: &str = "s3cr3t:+/&";

/// Shared, observable state of the test AS.
#[derive(Default)]
pub(crate) struct AsState {
    pub(crate) issuer: String,
    pub(crate) jwks: Mutex<JwkSet>,
    pub(crate) jwks_hits: AtomicUsize,
    pub(crate) metadata_hits: AtomicUsize,
    pub(crate) introspection_hits: AtomicUsize,
    /// When set, `/jwks` answers 503.
    pub(crate) jwks_down: AtomicBool,
    /// token → introspection answer (absent: inactive).
    pub(crate) active_tokens: Mutex<BTreeMap<String, IntrospectionResponse>>,
}

/// A running test authorization server.
pub(crate) struct TestAs {
    pub(crate) addr: SocketAddr,
    pub(crate) state: Arc<AsState>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

async fn as_metadata(State(s): State<Arc<AsState>>) -> Json<AuthorizationServerMetadata> {
    s.metadata_hits.fetch_add(1, Ordering::SeqCst);
    Json(AuthorizationServerMetadata {
        issuer: s.issuer.clone(),
        authorization_endpoint: Some(format!("{}/authorize", s.issuer)),
        token_endpoint: Some(format!("{}/token", s.issuer)),
        jwks_uri: Some(format!("{}/jwks", s.issuer)),
        registration_endpoint: None,
        scopes_supported: Some(vec![
            "mcp:tools".into(),
            "weather:read".into(),
            "mcp:admin".into(),
        ]),
        response_types_supported: vec!["code".into()],
        response_modes_supported: None,
        grant_types_supported: None,
        token_endpoint_auth_methods_supported: None,
        token_endpoint_auth_signing_alg_values_supported: None,
        service_documentation: None,
        revocation_endpoint: None,
        revocation_endpoint_auth_methods_supported: None,
        introspection_endpoint: Some(format!("{}/introspect", s.issuer)),
        introspection_endpoint_auth_methods_supported: None,
        code_challenge_methods_supported: Some(vec!["S256".into()]),
        client_id_metadata_document_supported: None,
        authorization_response_iss_parameter_supported: None,
        extra: Extra::new(),
    })
}

async fn as_jwks(State(s): State<Arc<AsState>>) -> Result<Json<JwkSet>, StatusCode> {
    s.jwks_hits.fetch_add(1, Ordering::SeqCst);
    if s.jwks_down.load(Ordering::SeqCst) {
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    }
    Ok(Json(s.jwks.lock().unwrap().clone()))
}

#[allow(clippy::disallowed_types)] // form input, never serialised
async fn as_introspect(
    State(s): State<Arc<AsState>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Json<IntrospectionResponse>, StatusCode> {
    use base64::Engine as _;
    s.introspection_hits.fetch_add(1, Ordering::SeqCst);
    // RFC 7662 §2.1: the caller must authenticate (Basic, form-urlencoded id and secret).
    let encode = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            encode(RS_CLIENT_ID),
            encode(RS_CLIENT_SECRET)
        ))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let token = form.get("token").cloned().unwrap_or_default();
    let answer = s
        .active_tokens
        .lock()
        .unwrap()
        .get(&token)
        .cloned()
        .unwrap_or_else(IntrospectionResponse::inactive);
    Ok(Json(answer))
}

impl TestAs {
    /// Starts a test AS publishing `keys`, its issuer its own address.
    pub(crate) async fn start(keys: &[&SigningKey]) -> Self {
        Self::start_with_issuer(keys, None).await
    }

    /// Starts a test AS whose issuer (and so every URL in its metadata) is `issuer` when
    /// given: the public name, while the AS listens on another address.
    pub(crate) async fn start_with_issuer(keys: &[&SigningKey], issuer: Option<&str>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(AsState {
            issuer: issuer.map_or_else(
                || format!("http://127.0.0.1:{}", addr.port()),
                str::to_owned,
            ),
            jwks: Mutex::new(jwks(keys.iter().copied())),
            ..AsState::default()
        });
        let app = Router::new()
            .route("/.well-known/oauth-authorization-server", get(as_metadata))
            .route("/jwks", get(as_jwks))
            .route("/introspect", post(as_introspect))
            .with_state(state.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Self {
            addr,
            state,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    pub(crate) fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// Where the AS really listens.
    pub(crate) fn internal_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn metadata_hits(&self) -> usize {
        self.state.metadata_hits.load(Ordering::SeqCst)
    }

    /// Replaces the published key set.
    pub(crate) fn publish(&self, keys: &[&SigningKey]) {
        *self.state.jwks.lock().unwrap() = jwks(keys.iter().copied());
    }

    /// Makes `/jwks` fail (503) or answer again.
    pub(crate) fn set_jwks_down(&self, down: bool) {
        self.state.jwks_down.store(down, Ordering::SeqCst);
    }

    pub(crate) fn jwks_hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    /// Makes `token` active at the introspection endpoint with these claims.
    pub(crate) fn activate(&self, token: &str, answer: IntrospectionResponse) {
        self.state
            .active_tokens
            .lock()
            .unwrap()
            .insert(token.to_owned(), answer);
    }

    /// Revokes `token` (introspection answers inactive).
    pub(crate) fn revoke(&self, token: &str) {
        self.state.active_tokens.lock().unwrap().remove(token);
    }

    /// Stops the AS and waits until its port is closed.
    pub(crate) async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap();
        }
    }
}

/// A running resource server.
pub(crate) struct TestApp {
    pub(crate) addr: SocketAddr,
    pub(crate) base: String,
    pub(crate) mcp_url: String,
    pub(crate) resource: String,
    pub(crate) issuer: String,
    pub(crate) state: AppState,
    pub(crate) http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Settings for a resource server on `port` trusting `issuer`.
pub(crate) fn test_settings(port: u16, issuer: &str) -> Settings {
    let mut settings = Settings::defaults().unwrap();
    settings.http.host = "127.0.0.1".parse().unwrap();
    settings.http.port = port;
    settings.resource.uri = ResourceUri::parse(&format!("http://127.0.0.1:{port}/mcp")).unwrap();
    settings.authorization_server.issuer = Issuer::parse(issuer).unwrap();
    settings.authorization_server.jwks_refresh_min_interval = std::time::Duration::ZERO;
    settings.introspection.client_id = RS_CLIENT_ID.to_owned();
    settings.introspection.client_secret =
        mcp_auth_core::secret::ClientSecret::new(RS_CLIENT_SECRET);
    settings
}

/// Starts the resource server against `test_as`, with `tweak` applied to the settings.
pub(crate) async fn spawn_app(test_as: &TestAs, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with_clock(test_as, Arc::new(SystemClock), tweak).await
}

/// [`spawn_app`] with a chosen clock.
pub(crate) async fn spawn_app_with_clock(
    test_as: &TestAs,
    clock: Arc<dyn Clock>,
    tweak: impl FnOnce(&mut Settings),
) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut settings = test_settings(addr.port(), test_as.issuer());
    tweak(&mut settings);
    let resource = settings.resource.uri.as_str().to_owned();
    let state = AppState::new(settings, clock).unwrap();
    state.validator.prime().await;
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(resource_server::run(listener, state.clone(), async {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        base: format!("http://{addr}"),
        mcp_url: format!("http://{addr}/mcp"),
        resource,
        issuer: test_as.issuer().to_owned(),
        state,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

/// Introspection-mode settings tweak.
pub(crate) fn introspection_mode(settings: &mut Settings) {
    settings.token.mode = TokenMode::Introspection;
}

pub(crate) fn now() -> i64 {
    SystemClock.now()
}

pub(crate) fn es256(kid: &str) -> SigningKey {
    SigningKey::generate(SigningAlgorithm::ES256, kid).unwrap()
}

impl TestApp {
    /// Claims for `sub` with `scope`, valid for five minutes, for this resource.
    pub(crate) fn claims(&self, sub: &str, scope: &str) -> AccessTokenClaims {
        let now = now();
        AccessTokenClaims {
            iss: self.issuer.clone(),
            sub: sub.to_owned(),
            aud: Audience::single(self.resource.clone()),
            client_id: "test-client".to_owned(),
            scope: ScopeSet::parse(scope).unwrap(),
            iat: now,
            exp: now + 300,
            nbf: None,
            jti: random_urlsafe(12),
            auth_time: None,
            extra: Extra::new(),
        }
    }

    /// A signed token for `sub` with `scope`.
    pub(crate) fn token(&self, key: &SigningKey, sub: &str, scope: &str) -> String {
        key.sign_access_token(&self.claims(sub, scope)).unwrap()
    }

    /// The URL of a path on this server.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server and waits for it to finish.
    pub(crate) async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap().unwrap();
        }
    }
}
