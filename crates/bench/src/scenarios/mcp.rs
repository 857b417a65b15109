//! The resource server's load: MCP `tools/call whoami` over Streamable HTTP (MCP
//! 2025-11-25 transports), in a session per connection (`initialize` and
//! `notifications/initialized` once, then every call with `Mcp-Session-Id`) or in stateless
//! JSON mode (each POST stands alone); with a bearer token from the real auth server, or
//! with authorization switched off (`dev.disable_authorization`, loopback only).

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{StatusCode, Uri};

use super::auth::judge;
use super::{Bench, Spec, measure, measure_pair};
use crate::http::{Http, path};
use crate::load::{Connection, Outcome};
use crate::oauth::{self, Authorization};
use crate::report::ScenarioResult;
use crate::servers::{Service, Site};

const PROTOCOL_VERSION: &str = "2025-11-25";
const SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
const PROTOCOL_VERSION_HEADER: HeaderName = HeaderName::from_static("mcp-protocol-version");

/// Runs one `rs-*` MCP scenario: starts the RS in the scenario's mode next to
/// `auth_server`, gets a token per connection (when authorizing), loads it.
pub(super) fn run(
    spec: &Spec,
    bench: &Bench<'_>,
    site: &mut Site,
    auth_server: &Service,
    authorization: &Arc<Authorization>,
) -> Result<ScenarioResult> {
    let port = site.rs_port;
    let (server, connections) = start(spec, bench, site, auth_server, authorization, port)?;
    measure(spec, bench, &server, connections)
}

/// Runs two `rs-*` MCP scenarios interleaved ([`super::PAIRS`]): both servers side by side
/// (the first on the site's resource port, whose tokens the auth server issues), loaded in
/// turn.
pub(super) fn run_pair(
    specs: [&Spec; 2],
    bench: &Bench<'_>,
    site: &mut Site,
    auth_server: &Service,
    authorization: &Arc<Authorization>,
) -> Result<[ScenarioResult; 2]> {
    let [first, second] = specs;
    let port = site.rs_port;
    let (a, a_connections) = start(first, bench, site, auth_server, authorization, port)?;
    let port = demo::ports::pick_free()?;
    let (b, b_connections) = start(second, bench, site, auth_server, authorization, port)?;
    measure_pair(specs, bench, [&a, &b], [a_connections, b_connections])
}

/// Starts the RS of an `rs-*` scenario on `port` and makes its connections (with a token
/// each from `auth_server` when the scenario authorizes).
fn start(
    spec: &Spec,
    bench: &Bench<'_>,
    site: &mut Site,
    auth_server: &Service,
    authorization: &Arc<Authorization>,
    port: u16,
) -> Result<(Service, Vec<McpCaller>)> {
    let (authorize, session) = match spec.name {
        "rs-jwt-session" => (true, true),
        "rs-noauth-session" => (false, true),
        "rs-jwt-stateless" => (true, false),
        "rs-noauth-stateless" => (false, false),
        other => bail!("unknown scenario {other}"),
    };
    let mut settings: Vec<(&str, &str)> = Vec::new();
    if session {
        settings.push(("RESOURCE_SERVER_MCP__STATEFUL", "true"));
    } else {
        settings.push(("RESOURCE_SERVER_MCP__STATEFUL", "false"));
        settings.push(("RESOURCE_SERVER_MCP__JSON_RESPONSE", "true"));
    }
    if !authorize {
        settings.push(("RESOURCE_SERVER_DEV__DISABLE_AUTHORIZATION", "true"));
    }
    let resource_server = site.start_resource_server_on(bench.bins, port, &settings)?;
    let n = bench.connections;
    let tokens: Vec<Option<String>> = if authorize {
        let authorization = Authorization {
            scope: "mcp:tools".to_owned(),
            ..(**authorization).clone()
        };
        bench.runtime.block_on(async {
            let mut http = Http::connect(auth_server.addr, &auth_server.host).await?;
            let mut tokens = Vec::with_capacity(n);
            for _ in 0..n {
                tokens.push(Some(
                    oauth::tokens(&mut http, &authorization).await?.access_token,
                ));
            }
            anyhow::Ok(tokens)
        })?
    } else {
        vec![None; n]
    };
    let connections = tokens
        .into_iter()
        .map(|token| McpCaller::new(token.as_deref(), session))
        .collect::<Result<Vec<_>>>()?;
    Ok((resource_server, connections))
}

/// One MCP client connection calling `whoami` over and over.
#[derive(Debug)]
pub struct McpCaller {
    target: Uri,
    headers: HeaderMap,
    session: bool,
    next_id: u64,
}

impl McpCaller {
    /// A caller sending `token` (if any) as its bearer token.
    pub fn new(token: Option<&str>, session: bool) -> Result<Self> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        headers.insert(
            PROTOCOL_VERSION_HEADER,
            HeaderValue::from_static(PROTOCOL_VERSION),
        );
        if let Some(token) = token {
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {token}")).context("token header")?,
            );
        }
        Ok(Self {
            target: path("/mcp")?,
            headers,
            session,
            next_id: 1,
        })
    }

    fn body(&mut self, method: &str, params: &str) -> Bytes {
        self.next_id += 1;
        Bytes::from(format!(
            r#"{{"jsonrpc":"2.0","id":{},"method":"{method}","params":{params}}}"#,
            self.next_id
        ))
    }
}

impl Connection for McpCaller {
    async fn prepare(&mut self, http: &mut Http) -> Result<()> {
        self.headers.remove(SESSION_ID);
        if !self.session {
            return Ok(());
        }
        let body = self.body(
            "initialize",
            &format!(
                r#"{{"protocolVersion":"{PROTOCOL_VERSION}","capabilities":{{}},"clientInfo":{{"name":"mcp-bench","version":"0.1.0"}}}}"#
            ),
        );
        let reply = http
            .send(http.post(&self.target, &self.headers, body))
            .await?;
        if reply.status != StatusCode::OK || !contains(&reply.body, b"\"result\"") {
            bail!("initialize answered {}", reply.describe());
        }
        let session = reply
            .headers
            .get(SESSION_ID)
            .context("initialize answered without Mcp-Session-Id")?
            .clone();
        self.headers.insert(SESSION_ID, session);
        let notification =
            Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        let reply = http
            .send(http.post(&self.target, &self.headers, notification))
            .await?;
        if reply.status != StatusCode::ACCEPTED {
            bail!("notifications/initialized answered {}", reply.describe());
        }
        Ok(())
    }

    async fn iteration(&mut self, http: &mut Http) -> Outcome {
        let body = self.body("tools/call", r#"{"name":"whoami","arguments":{}}"#);
        let sent = http
            .send(http.post(&self.target, &self.headers, body))
            .await;
        let reply = match judge(sent, "tools/call") {
            Ok(reply) => reply,
            Err(outcome) => return outcome,
        };
        if !contains(&reply.body, b"\"result\"") || contains(&reply.body, b"\"isError\":true") {
            return Outcome::failed("tools/call: not a successful result", reply.describe());
        }
        Outcome::Ok
    }
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
