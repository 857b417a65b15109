//! The OAuth requests the scenarios send: an authorization request in auto-approve mode
//! (OAuth 2.1 §4.1.1, PKCE S256 per RFC 7636, `resource` per RFC 8707), its redirect read
//! back (code, `state` checked), and the token requests (OAuth 2.1 §3.2). Setup uses them to
//! pre-mint codes and tokens; the `as-flow` scenario uses them as its load.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::HeaderMap;
use mcp_auth_core::pkce::CodeVerifier;
use serde::Deserialize;
use url::Url;
use url::form_urlencoded::Serializer;

use crate::http::{Http, Reply, form_headers, path};

/// The client, redirect URI, resource and scope every authorization uses.
#[derive(Debug, Clone)]
pub struct Authorization {
    /// `client_id`.
    pub client_id: String,
    /// `redirect_uri`.
    pub redirect_uri: String,
    /// `resource` (the RS's canonical URI).
    pub resource: String,
    /// `scope`.
    pub scope: String,
}

/// A code and the verifier of its challenge.
#[derive(Debug)]
pub struct MintedCode {
    /// The authorization code.
    pub code: String,
    /// The PKCE verifier.
    pub verifier: CodeVerifier,
}

/// The fields of a token response the benchmark uses.
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    /// The JWT.
    pub access_token: String,
    /// The next refresh token.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

impl Authorization {
    /// `GET /authorize?…` with a fresh S256 challenge for `verifier` and `state`.
    pub fn authorize_target(&self, verifier: &CodeVerifier, state: &str) -> String {
        let challenge = verifier.challenge();
        let start = "/authorize?".len();
        Serializer::for_suffix(String::from("/authorize?"), start)
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("code_challenge", challenge.as_str())
            .append_pair("code_challenge_method", "S256")
            .append_pair("resource", &self.resource)
            .append_pair("scope", &self.scope)
            .append_pair("state", state)
            .finish()
    }

    /// The `authorization_code` token request body.
    pub fn code_form(&self, code: &str, verifier: &CodeVerifier) -> Bytes {
        Bytes::from(
            Serializer::new(String::new())
                .append_pair("grant_type", "authorization_code")
                .append_pair("code", code)
                .append_pair("redirect_uri", &self.redirect_uri)
                .append_pair("code_verifier", verifier.secret())
                .append_pair("client_id", &self.client_id)
                .append_pair("resource", &self.resource)
                .finish(),
        )
    }

    /// The `refresh_token` token request body.
    pub fn refresh_form(&self, refresh_token: &str) -> Bytes {
        Bytes::from(
            Serializer::new(String::new())
                .append_pair("grant_type", "refresh_token")
                .append_pair("refresh_token", refresh_token)
                .append_pair("client_id", &self.client_id)
                .finish(),
        )
    }
}

/// The code from an auto-approved authorization's redirect, after checking that it goes to
/// the redirect URI and carries our `state` (RFC 6749 §4.1.2).
pub fn code_from_redirect(reply: &Reply, redirect_uri: &str, state: &str) -> Result<String> {
    if reply.status != http::StatusCode::FOUND {
        bail!("authorize answered {}, not 302", reply.describe());
    }
    let location = reply.header("location").context("302 without Location")?;
    if !location.starts_with(redirect_uri) {
        bail!("redirected elsewhere than the redirect URI");
    }
    let url = Url::parse(location).context("Location is not a URL")?;
    let (mut code, mut returned_state, mut error) = (None, None, None);
    for (k, v) in url.query_pairs() {
        match &*k {
            "code" => code = Some(v.into_owned()),
            "state" => returned_state = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            _ => {}
        }
    }
    if let Some(error) = error {
        bail!("authorization refused: {error}");
    }
    if returned_state.as_deref() != Some(state) {
        bail!("the redirect's state differs from the request's");
    }
    code.context("the redirect has no code")
}

/// Authorizes once (auto-approve) and returns the code with its verifier.
pub async fn mint_code(
    http: &mut Http,
    authorization: &Authorization,
    state: &str,
) -> Result<MintedCode> {
    let verifier = CodeVerifier::generate();
    let target = path(&authorization.authorize_target(&verifier, state))?;
    let reply = http.send(http.get(&target, &HeaderMap::new())).await?;
    let code = code_from_redirect(&reply, &authorization.redirect_uri, state)?;
    Ok(MintedCode { code, verifier })
}

/// Sends a token request and reads the response.
pub async fn token_request(http: &mut Http, body: Bytes) -> Result<TokenResponse> {
    let reply = http
        .send(http.post(&path("/token")?, &form_headers(), body))
        .await?;
    if !reply.status.is_success() {
        bail!("token endpoint answered {}", reply.describe());
    }
    serde_json::from_slice(&reply.body).context("the token response is not the expected JSON")
}

/// A complete authorization: a code, redeemed.
pub async fn tokens(http: &mut Http, authorization: &Authorization) -> Result<TokenResponse> {
    let minted = mint_code(http, authorization, "setup").await?;
    token_request(
        http,
        authorization.code_form(&minted.code, &minted.verifier),
    )
    .await
}

/// Mints `count` codes over `connections` parallel connections.
pub async fn mint_codes(
    addr: SocketAddr,
    host: &str,
    authorization: &Authorization,
    count: usize,
    connections: usize,
) -> Result<Vec<MintedCode>> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections.max(1) {
        let mut http = Http::connect(addr, host).await?;
        let (next, authorization) = (next.clone(), authorization.clone());
        tasks.push(tokio::spawn(async move {
            let mut minted = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                minted.push(mint_code(&mut http, &authorization, "mint").await?);
            }
            anyhow::Ok(minted)
        }));
    }
    let mut all = Vec::with_capacity(count);
    for task in tasks {
        all.extend(task.await.context("minting task")??);
    }
    Ok(all)
}
