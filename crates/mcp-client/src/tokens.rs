//! The live credentials of one MCP server, shared by every request of a session.
//!
//! * Proactive refresh: a token within `refresh_margin` of its expiry is refreshed before use.
//! * Reactive refresh: a 401 `invalid_token` for a token we sent refreshes it once.
//! * One refresh at a time: both paths hold one async mutex, and the reactive path refreshes
//!   only if the rejected token is still the current one, so parallel calls that fail
//!   together cause one refresh, not one each.
//! * A rotated refresh token is adopted; one the server does not replace is kept.
//! * A refresh that fails drops the credentials (memory and file), so the next request goes
//!   without a token and the session falls back to a new authorization.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mcp_auth_core::secret::{AccessToken, RefreshToken};
use mcp_auth_core::token::TokenResponse;
use mcp_auth_core::{Clock, ScopeSet};
use serde_json::json;
use tokio::sync::Mutex;

use url::Url;

use crate::error::Result;
use crate::report::Reporter;
use crate::settings::Settings;
use crate::store::{Store, TokenRecord};
use crate::token::{ClientCredentials, refresh};

/// Tokens and what is needed to refresh them.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The issuer that granted them.
    pub issuer: String,
    /// The `resource` they were requested for.
    pub resource: String,
    /// The MCP server URL.
    pub server: String,
    /// The token endpoint.
    pub token_endpoint: String,
    /// The client.
    pub client: ClientCredentials,
    /// The access token.
    pub access_token: AccessToken,
    /// The refresh token.
    pub refresh_token: Option<RefreshToken>,
    /// Expiry (Unix seconds).
    pub expires_at: Option<i64>,
    /// Granted scopes.
    pub scope: Option<ScopeSet>,
}

impl Credentials {
    /// Applies a token response (from a code exchange or a refresh). The refresh token is
    /// replaced only when the server sent a new one; the scope only when it said.
    pub fn apply(&mut self, token: TokenResponse, now: i64) {
        self.access_token = token.access_token;
        if let Some(rt) = token.refresh_token {
            self.refresh_token = Some(rt);
        }
        self.expires_at = token
            .expires_in
            .map(|s| now + i64::try_from(s).unwrap_or(i64::MAX / 2));
        if let Some(scope) = token.scope.as_deref().and_then(|s| ScopeSet::parse(s).ok()) {
            self.scope = Some(scope);
        }
    }

    /// The file form.
    pub fn to_record(&self, now: i64) -> TokenRecord {
        TokenRecord {
            issuer: self.issuer.clone(),
            resource: self.resource.clone(),
            server: self.server.clone(),
            client_id: self.client.client_id.clone(),
            token_endpoint: self.token_endpoint.clone(),
            access_token: self.access_token.clone(),
            refresh_token: self.refresh_token.clone(),
            expires_at: self.expires_at,
            scope: self.scope.as_ref().map(ToString::to_string),
            obtained_at: now,
        }
    }
}

/// The shared token holder.
#[derive(Debug)]
pub struct TokenManager {
    current: Mutex<Option<Credentials>>,
    http: reqwest::Client,
    store: Store,
    clock: Arc<dyn Clock>,
    reporter: Reporter,
    margin: i64,
    generation: AtomicU64,
}

impl TokenManager {
    /// A manager starting with `initial` credentials.
    pub fn new(
        initial: Option<Credentials>,
        http: reqwest::Client,
        store: Store,
        clock: Arc<dyn Clock>,
        reporter: Reporter,
        margin: i64,
    ) -> Self {
        Self {
            current: Mutex::new(initial),
            http,
            store,
            clock,
            reporter,
            margin,
            generation: AtomicU64::new(0),
        }
    }

    /// Changes whenever an authorization installs new tokens (not on refresh, which the
    /// transport does inside one request), so a refused operation can tell whether another
    /// one already authorized while it waited.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// A copy of the current credentials.
    pub async fn snapshot(&self) -> Option<Credentials> {
        self.current.lock().await.clone()
    }

    /// Installs new credentials and persists them.
    pub async fn set(&self, credentials: Credentials) {
        let record = credentials.to_record(self.clock.now());
        if let Err(e) = self.store.save_tokens(record) {
            self.reporter.step(
                "store.error",
                format!("Could not save the tokens: {e}"),
                json!({}),
            );
        }
        *self.current.lock().await = Some(credentials);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The token to send now, refreshed first if it is about to expire.
    pub async fn access_token(&self) -> Option<String> {
        let mut guard = self.current.lock().await;
        let expiring = guard.as_ref().is_some_and(|c| {
            c.expires_at
                .is_some_and(|at| at - self.margin <= self.clock.now())
        });
        if expiring {
            let has_refresh = guard.as_ref().is_some_and(|c| c.refresh_token.is_some());
            if has_refresh {
                self.refresh_locked(&mut guard, "the access token expires soon")
                    .await;
            } else {
                self.reporter.step(
                    "token.expired",
                    "The access token has expired and there is no refresh token: a new authorization is needed",
                    json!({}),
                );
                self.drop_locked(&mut guard);
            }
        }
        guard.as_ref().map(|c| c.access_token.secret().to_owned())
    }

    /// After the server rejected `sent` with 401: refresh once (unless someone already did)
    /// and return the token to retry with, or `None` when a new authorization is needed.
    pub async fn after_rejection(&self, sent: &str) -> Option<String> {
        let mut guard = self.current.lock().await;
        let current = guard.as_ref()?;
        if current.access_token.secret() != sent {
            // Another request refreshed while we waited for the lock.
            return Some(current.access_token.secret().to_owned());
        }
        if current.refresh_token.is_none() {
            self.reporter.step(
                "token.rejected",
                "The server rejected the access token and there is no refresh token: a new authorization is needed",
                json!({}),
            );
            self.drop_locked(&mut guard);
            return None;
        }
        self.refresh_locked(
            &mut guard,
            "the server rejected the access token (invalid_token)",
        )
        .await;
        guard.as_ref().map(|c| c.access_token.secret().to_owned())
    }

    /// Refreshes now, whatever the expiry (`mcp-client refresh`). `false` when there is no
    /// refresh token or the server refused it (the step says why; the tokens are dropped).
    pub async fn refresh_now(&self) -> bool {
        let mut guard = self.current.lock().await;
        if guard.as_ref().is_none_or(|c| c.refresh_token.is_none()) {
            return false;
        }
        self.refresh_locked(&mut guard, "requested").await;
        guard.is_some()
    }

    async fn refresh_locked(&self, guard: &mut Option<Credentials>, why: &str) {
        let Some(creds) = guard.as_mut() else { return };
        let Some(rt) = creds.refresh_token.clone() else {
            return;
        };
        match refresh(
            &self.http,
            &creds.token_endpoint,
            &creds.client,
            &rt,
            &creds.resource,
        )
        .await
        {
            Ok(token) => {
                let rotated = token.refresh_token.as_ref().is_some_and(|new| *new != rt);
                let expires_in = token.expires_in;
                creds.apply(token, self.clock.now());
                self.reporter.step(
                    "token.refresh",
                    format!(
                        "Refreshed the access token ({why}){}{}",
                        expires_in.map_or_else(String::new, |s| format!(", valid for {s} s")),
                        if rotated { ", refresh token rotated" } else { "" }
                    ),
                    json!({"token_endpoint": creds.token_endpoint, "resource": creds.resource, "rotated": rotated, "expires_in": expires_in}),
                );
                let record = creds.to_record(self.clock.now());
                if let Err(e) = self.store.save_tokens(record) {
                    self.reporter.step(
                        "store.error",
                        format!("Could not save the tokens: {e}"),
                        json!({}),
                    );
                }
            }
            Err(e) => {
                self.reporter.step(
                    "token.refresh_failed",
                    format!(
                        "Refreshing the access token failed ({e}): a new authorization is needed"
                    ),
                    json!({"token_endpoint": creds.token_endpoint, "error": e.to_string()}),
                );
                self.drop_locked(guard);
            }
        }
    }

    fn drop_locked(&self, guard: &mut Option<Credentials>) {
        if let Some(old) = guard.take()
            && let Err(e) = self.store.remove_tokens(&old.issuer, &old.resource)
        {
            self.reporter.step(
                "store.error",
                format!("Could not remove the tokens: {e}"),
                json!({}),
            );
        }
    }
}

/// The stored credentials for `server`, with the client identification to refresh them.
pub fn load_credentials(
    store: &Store,
    settings: &Settings,
    server: &Url,
) -> Result<Option<Credentials>> {
    let Some(record) = store.tokens_for_server(server.as_str())? else {
        return Ok(None);
    };
    let registration = store
        .registration(&record.issuer)?
        .filter(|r| r.client_id == record.client_id);
    let client = match (registration, &settings.pre_registered) {
        (Some(r), _) => ClientCredentials {
            client_id: r.client_id,
            client_secret: r.client_secret,
            method: r.token_endpoint_auth_method,
        },
        (None, Some(pre)) if pre.client_id == record.client_id => ClientCredentials {
            client_id: pre.client_id.clone(),
            client_secret: pre
                .client_secret
                .clone()
                .map(mcp_auth_core::secret::ClientSecret::new),
            method: if pre.client_secret.is_some() {
                mcp_auth_core::metadata::TokenEndpointAuthMethod::ClientSecretBasic
            } else {
                mcp_auth_core::metadata::TokenEndpointAuthMethod::None
            },
        },
        _ => ClientCredentials {
            client_id: record.client_id.clone(),
            client_secret: None,
            method: mcp_auth_core::metadata::TokenEndpointAuthMethod::None,
        },
    };
    Ok(Some(Credentials {
        issuer: record.issuer,
        resource: record.resource,
        server: record.server,
        token_endpoint: record.token_endpoint,
        client,
        access_token: record.access_token,
        refresh_token: record.refresh_token,
        expires_at: record.expires_at,
        scope: record
            .scope
            .as_deref()
            .and_then(|s| ScopeSet::parse(s).ok()),
    }))
}
