//! `spawn_app()`: the real server on 127.0.0.1:0 with a fresh SQLite file in a temp dir, a
//! [`FixedClock`] the test can move, and typed helpers for the OAuth steps.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use auth_server::settings::{ClientSettings, Settings};
use auth_server::state::AppState;
use mcp_auth_core::pkce::CodeVerifier;
use mcp_auth_core::{Clock, FixedClock, RedirectUri, ResourceUri, SystemClock};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use url::Url;

pub(crate) const RESOURCE: &str = "http://localhost:8001/mcp";
pub(crate) const CALLBACK: &str = "http://127.0.0.1:3000/callback";

pub(crate) struct TestApp {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) clock: FixedClock,
    pub(crate) state: AppState,
    pub(crate) dir: Arc<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Spawns `command` (the `auth-server` binary) with stdout piped and waits for its first
/// line, `listening on http://<addr>`; returns the child and `http://<addr>`.
pub(crate) fn spawn_listening(
    command: &mut std::process::Command,
) -> (std::process::Child, String) {
    use std::io::BufRead as _;
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("{line:?}"));
    let base = format!("http://{addr}");
    (child, base)
}

/// Test defaults: auto-approve on (headless flows), a confidential and a public client.
pub(crate) fn test_settings(dir: &Path) -> Settings {
    let mut s = Settings::defaults().unwrap();
    s.http.port = 0;
    s.database.data_dir = dir.to_path_buf();
    s.dev.auto_approve = true;
    s.maintenance.interval_seconds = 3600;
    s.clients = vec![
        ClientSettings {
            client_id: "public-client".into(),
            client_secret: None,
            client_name: Some("Public Test Client".into()),
            redirect_uris: vec![RedirectUri::parse(CALLBACK).unwrap()],
            introspection_resources: vec![],
        },
        ClientSettings {
            client_id: "confidential-client".into(),
            client_secret: Some("s3cr3t-confidential".into()),
            client_name: Some("Confidential Test Client".into()),
            redirect_uris: vec![RedirectUri::parse(CALLBACK).unwrap()],
            introspection_resources: vec![],
        },
        ClientSettings {
            client_id: "introspector".into(),
            client_secret: Some("introspector-secret".into()),
            client_name: Some("Resource Server".into()),
            redirect_uris: vec![],
            introspection_resources: vec![ResourceUri::parse(RESOURCE).unwrap()],
        },
    ];
    s
}

pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub(crate) async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    spawn_in(dir, FixedClock::new(SystemClock.now()), configure).await
}

pub(crate) async fn spawn_in(
    dir: Arc<tempfile::TempDir>,
    clock: FixedClock,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut settings = test_settings(dir.path());
    settings.set_issuer(&format!("http://{addr}")).unwrap();
    configure(&mut settings);
    let state = AppState::open(settings, Arc::new(clock.clone()))
        .await
        .unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let served = state.clone();
    let server = tokio::spawn(async move {
        auth_server::run(listener, served, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    TestApp {
        base: format!("http://{addr}"),
        http: http_client(),
        clock,
        state,
        dir,
        shutdown: Some(tx),
        server: Some(server),
    }
}

pub(crate) struct Pkce {
    pub(crate) verifier: String,
    pub(crate) challenge: String,
}

pub(crate) fn pkce() -> Pkce {
    let v = CodeVerifier::generate();
    Pkce {
        challenge: v.challenge().as_str().to_owned(),
        verifier: v.secret().to_owned(),
    }
}

pub(crate) fn query_of(location: &str) -> BTreeMap<String, String> {
    Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

impl TestApp {
    pub(crate) fn clock_now(&self) -> i64 {
        self.clock.now()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server gracefully and closes the database.
    pub(crate) async fn stop(mut self) -> Arc<tempfile::TempDir> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap();
        }
        self.dir.clone()
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    pub(crate) async fn register(&self, body: Value) -> reqwest::Response {
        self.http
            .post(self.url("/register"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Registers a public client and returns its id.
    pub(crate) async fn register_public(&self) -> String {
        let r = self
            .register(json!({
                "redirect_uris": [CALLBACK],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "client_name": "Registered Test Client",
            }))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.unwrap()["client_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `GET /authorize` with the given parameters.
    pub(crate) async fn authorize(&self, params: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .get(self.url("/authorize"))
            .query(params)
            .send()
            .await
            .unwrap()
    }

    /// A standard authorization request for `client_id`; returns the redirect's query.
    pub(crate) async fn authorize_code(
        &self,
        client_id: &str,
        pkce: &Pkce,
        extra: &[(&str, &str)],
    ) -> BTreeMap<String, String> {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", CALLBACK),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "st-123"),
            ("resource", RESOURCE),
        ];
        params.extend_from_slice(extra);
        let r = self.authorize(&params).await;
        assert_eq!(r.status(), StatusCode::FOUND, "{:?}", r.text().await);
        query_of(r.headers()["location"].to_str().unwrap())
    }

    pub(crate) async fn token(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url("/token"))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// POST /token with the client authenticated by HTTP Basic.
    pub(crate) async fn token_basic(
        &self,
        client_id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(self.url("/token"))
            .basic_auth(client_id, Some(secret))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Redeems `code` for the public test client.
    pub(crate) async fn redeem(
        &self,
        client_id: &str,
        code: &str,
        verifier: &str,
    ) -> reqwest::Response {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
            ("client_id", client_id),
            ("resource", RESOURCE),
        ])
        .await
    }

    pub(crate) async fn redeem_without_resource(
        &self,
        client_id: &str,
        code: &str,
        verifier: &str,
    ) -> Value {
        let r = self
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", verifier),
                ("client_id", client_id),
            ])
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// Full flow for a public client: returns the token response.
    pub(crate) async fn tokens_for(&self, client_id: &str, extra: &[(&str, &str)]) -> Value {
        let pkce = pkce();
        let q = self.authorize_code(client_id, &pkce, extra).await;
        let r = self.redeem(client_id, &q["code"], &pkce.verifier).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    pub(crate) async fn refresh(&self, client_id: &str, refresh_token: &str) -> reqwest::Response {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
        ])
        .await
    }

    pub(crate) async fn introspect(&self, token: &str) -> Value {
        let r = self
            .http
            .post(self.url("/introspect"))
            .basic_auth("introspector", Some("introspector-secret"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }
}

/// Status and `error` of an OAuth error response (which must not be cached).
pub(crate) async fn error_of(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    assert_eq!(
        r.headers()["cache-control"],
        "no-store",
        "error responses are not cached"
    );
    let body: Value = r.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}
