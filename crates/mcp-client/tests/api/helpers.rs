//! Small real servers for the client to talk to, and the `World` that ties them to a
//! client: a mock authorization server (`mock_as`) and a mock MCP resource server
//! (`mock_rs`, JSON-RPC over Streamable HTTP with JSON responses), both on `127.0.0.1:0`,
//! sharing the issued tokens in memory. Every request they see is logged so tests can
//! assert what the client sent.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mcp_client::{AuthorizeMode, McpClient, Reporter, Settings};
use serde_json::{Value, json};

pub use crate::mock_as::{AsConfig, IssParam, MetadataAt, MockAs};
pub use crate::mock_rs::{MockRs, PrmAt, RsConfig};

/// One request seen by a mock.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Query or form parameters.
    pub params: BTreeMap<String, String>,
    pub authorization: Option<String>,
    pub session: Option<String>,
    pub body: Value,
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn params_of(query: Option<&str>, body: &[u8], form: bool) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    if form {
        out.extend(url::form_urlencoded::parse(body).into_owned());
    }
    out
}

pub fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [
            ("content-type", "application/json"),
            ("cache-control", "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

pub fn oauth_error(status: StatusCode, code: &str) -> Response {
    json_response(status, json!({"error": code, "error_description": code}))
}

/// A mock AS and RS with a client store in a temporary directory.
#[derive(Debug)]
pub struct World {
    pub authorization_server: MockAs,
    pub resource_server: MockRs,
    pub dir: tempfile::TempDir,
    pub reporter: Reporter,
}

impl World {
    pub async fn start(as_config: AsConfig, rs_config: RsConfig) -> Self {
        let authorization_server = MockAs::start(as_config).await;
        let resource_server = MockRs::start(rs_config, &authorization_server).await;
        Self {
            authorization_server,
            resource_server,
            dir: tempfile::tempdir().unwrap(),
            reporter: Reporter::silent(),
        }
    }

    pub async fn default() -> Self {
        Self::start(AsConfig::default(), RsConfig::default()).await
    }

    pub fn store_path(&self) -> std::path::PathBuf {
        self.dir.path().join("credentials.json")
    }

    pub fn settings(&self) -> Settings {
        let mut settings = Settings::defaults_with_store(self.store_path()).unwrap();
        settings.mode = AuthorizeMode::Headless;
        settings.authorize_timeout = Duration::from_secs(10);
        settings
    }

    /// A fresh client (and reporter) with `settings`.
    pub fn client_with(&mut self, settings: Settings) -> Arc<McpClient> {
        self.client_with_clock(settings, Arc::new(mcp_auth_core::SystemClock))
    }

    /// A fresh client (and reporter) with `settings` and `clock`.
    pub fn client_with_clock(
        &mut self,
        settings: Settings,
        clock: Arc<dyn mcp_auth_core::Clock>,
    ) -> Arc<McpClient> {
        self.reporter = Reporter::silent();
        McpClient::new(
            settings,
            &self.resource_server.url,
            clock,
            self.reporter.clone(),
        )
        .unwrap()
    }

    pub fn client(&mut self) -> Arc<McpClient> {
        let settings = self.settings();
        self.client_with(settings)
    }

    pub fn kinds(&self) -> Vec<String> {
        self.reporter.kinds()
    }

    pub fn step(&self, kind: &str) -> Option<mcp_client::report::Step> {
        self.reporter.steps().into_iter().find(|s| s.kind == kind)
    }

    /// Every `/authorize` request the AS saw.
    pub fn authorizations(&self) -> Vec<Seen> {
        self.authorization_server.requests_to("/authorize")
    }
}
