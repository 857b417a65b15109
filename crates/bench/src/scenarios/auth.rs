//! The authorization server's load: fixed GETs (metadata, JWKS), dynamic registration,
//! code redemption with pre-minted codes, refresh-token rotation chains, and the whole
//! authorization-code flow.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{HeaderMap, Uri};
use mcp_auth_core::pkce::CodeVerifier;

use crate::http::{Http, Reply, form_headers, path};
use crate::load::{Connection, Outcome};
use crate::oauth::{Authorization, TokenResponse, code_from_redirect};

/// A reply, or the outcome that ends the iteration: a transport error breaks the
/// connection, a non-2xx/3xx status fails it.
pub(crate) fn judge(sent: anyhow::Result<Reply>, step: &str) -> Result<Reply, Outcome> {
    match sent {
        Ok(reply) if reply.is_success() => Ok(reply),
        Ok(reply) => Err(Outcome::failed(
            format!("{step}: HTTP {}", reply.status.as_u16()),
            reply.describe(),
        )),
        Err(e) => Err(Outcome::Broken(format!("{step}: {e:#}"))),
    }
}

/// `GET` of one fixed path.
#[derive(Debug)]
pub struct Get {
    target: Uri,
    headers: HeaderMap,
}

impl Get {
    /// `GET target`.
    pub fn new(target: &str) -> anyhow::Result<Self> {
        Ok(Self {
            target: path(target)?,
            headers: HeaderMap::new(),
        })
    }
}

impl Connection for Get {
    async fn iteration(&mut self, http: &mut Http) -> Outcome {
        let sent = http.send(http.get(&self.target, &self.headers)).await;
        match judge(sent, "GET") {
            Ok(_) => Outcome::Ok,
            Err(outcome) => outcome,
        }
    }
}

/// `POST` of one fixed body (each `POST /register` creates a new client).
#[derive(Debug)]
pub struct Post {
    target: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Post {
    /// `POST target` with `body` and `headers`.
    pub fn new(target: &str, headers: HeaderMap, body: Bytes) -> anyhow::Result<Self> {
        Ok(Self {
            target: path(target)?,
            headers,
            body,
        })
    }
}

impl Connection for Post {
    async fn iteration(&mut self, http: &mut Http) -> Outcome {
        let sent = http
            .send(http.post(&self.target, &self.headers, self.body.clone()))
            .await;
        match judge(sent, "POST") {
            Ok(_) => Outcome::Ok,
            Err(outcome) => outcome,
        }
    }
}

/// Pre-built `authorization_code` token requests, shared by the connections: each is sent
/// once.
#[derive(Debug)]
pub struct CodePool {
    bodies: Vec<Bytes>,
    next: AtomicUsize,
}

impl CodePool {
    /// A pool of request bodies.
    pub fn new(bodies: Vec<Bytes>) -> Arc<Self> {
        Arc::new(Self {
            bodies,
            next: AtomicUsize::new(0),
        })
    }

    /// How many were taken (at most the pool's size).
    pub fn used(&self) -> usize {
        self.next.load(Ordering::Relaxed).min(self.bodies.len())
    }
}

/// Redeems pre-minted codes until the pool is empty.
#[derive(Debug)]
pub struct RedeemCode {
    pool: Arc<CodePool>,
    target: Uri,
    headers: HeaderMap,
}

impl RedeemCode {
    /// A connection drawing from `pool`.
    pub fn new(pool: Arc<CodePool>) -> anyhow::Result<Self> {
        Ok(Self {
            pool,
            target: path("/token")?,
            headers: form_headers(),
        })
    }
}

impl Connection for RedeemCode {
    async fn iteration(&mut self, http: &mut Http) -> Outcome {
        let index = self.pool.next.fetch_add(1, Ordering::Relaxed);
        let Some(body) = self.pool.bodies.get(index) else {
            return Outcome::Exhausted;
        };
        let sent = http
            .send(http.post(&self.target, &self.headers, body.clone()))
            .await;
        match judge(sent, "token") {
            Ok(_) => Outcome::Ok,
            Err(outcome) => outcome,
        }
    }
}

/// One refresh-token rotation chain: each response's refresh token is the next request's.
#[derive(Debug)]
pub struct RefreshChain {
    authorization: Arc<Authorization>,
    refresh_token: String,
    target: Uri,
    headers: HeaderMap,
}

impl RefreshChain {
    /// A chain starting at `refresh_token`.
    pub fn new(authorization: Arc<Authorization>, refresh_token: String) -> anyhow::Result<Self> {
        Ok(Self {
            authorization,
            refresh_token,
            target: path("/token")?,
            headers: form_headers(),
        })
    }
}

impl Connection for RefreshChain {
    async fn iteration(&mut self, http: &mut Http) -> Outcome {
        let body = self.authorization.refresh_form(&self.refresh_token);
        let sent = http
            .send(http.post(&self.target, &self.headers, body))
            .await;
        let reply = match judge(sent, "refresh") {
            Ok(reply) => reply,
            Err(outcome) => return outcome,
        };
        match serde_json::from_slice::<TokenResponse>(&reply.body) {
            Ok(TokenResponse {
                refresh_token: Some(next),
                ..
            }) => {
                self.refresh_token = next;
                Outcome::Ok
            }
            _ => Outcome::failed("refresh: no refresh_token", reply.describe()),
        }
    }
}

/// The whole authorization-code flow: `GET /authorize` (auto-approve: a 302 with the code,
/// whose `state` is checked) with a fresh PKCE pair, then `POST /token`.
#[derive(Debug)]
pub struct Flow {
    authorization: Arc<Authorization>,
    connection: usize,
    count: u64,
    headers: HeaderMap,
    token_target: Uri,
    form_headers: HeaderMap,
}

impl Flow {
    /// Connection number `connection` (part of each `state`).
    pub fn new(authorization: Arc<Authorization>, connection: usize) -> anyhow::Result<Self> {
        Ok(Self {
            authorization,
            connection,
            count: 0,
            headers: HeaderMap::new(),
            token_target: path("/token")?,
            form_headers: form_headers(),
        })
    }
}

impl Connection for Flow {
    async fn iteration(&mut self, http: &mut Http) -> Outcome {
        self.count += 1;
        let state = format!("s{}x{}", self.connection, self.count);
        let verifier = CodeVerifier::generate();
        let Ok(target) = path(&self.authorization.authorize_target(&verifier, &state)) else {
            return Outcome::failed("authorize: bad target", "");
        };
        let sent = http.send(http.get(&target, &self.headers)).await;
        let reply = match judge(sent, "authorize") {
            Ok(reply) => reply,
            Err(outcome) => return outcome,
        };
        let code = match code_from_redirect(&reply, &self.authorization.redirect_uri, &state) {
            Ok(code) => code,
            Err(e) => return Outcome::failed("authorize: bad redirect", format!("{e:#}")),
        };
        let body = self.authorization.code_form(&code, &verifier);
        let sent = http
            .send(http.post(&self.token_target, &self.form_headers, body))
            .await;
        match judge(sent, "token") {
            Ok(_) => Outcome::Ok,
            Err(outcome) => outcome,
        }
    }
}
