//! JWT access tokens (RFC 9068 §4) checked locally with the AS's keys.
//!
//! The [`AccessTokenVerifier`] (keys already decoded) lives in an [`ArcSwap`]: a request
//! loads it without a lock, without I/O and without parsing a key. The JWKS is fetched at
//! start ([`JwtValidator::prime`]) and again only when a token names a `kid` the verifier
//! does not know (key rotation), at most once per `jwks_refresh_min_interval`, so a flood of
//! made-up `kid`s cannot turn into a flood of requests to the AS. When a refresh fails (the
//! AS is down) the previous keys stay in use. Until a first key set has loaded (the AS was
//! not up when this server started), a refresh may be retried every second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::JwkSet;
use mcp_auth_core::ResourceUri;
use mcp_auth_core::jwt::{AccessTokenClaims, AccessTokenVerifier, JwtError, SigningAlgorithm};
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::{AuthContext, TokenError};
use crate::authorization_server::{AuthorizationServerClient, AuthorizationServerError};

/// Validates RFC 9068 access tokens against a cached, rotating JWKS.
#[derive(Debug)]
pub struct JwtValidator {
    verifier: ArcSwap<AccessTokenVerifier>,
    authorization_server: Arc<AuthorizationServerClient>,
    configured_jwks_uri: Option<Url>,
    /// When the JWKS was last fetched (or tried); also serialises refreshes.
    last_refresh: Mutex<Option<Instant>>,
    min_refresh_interval: Duration,
    issuer: String,
    audience: ResourceUri,
    algorithms: Vec<SigningAlgorithm>,
    leeway: i64,
    refreshes: AtomicU64,
}

/// Until the first key set has loaded (the AS was not up yet), a refresh may be tried this
/// often even when the configured interval is longer.
const RETRY_BEFORE_FIRST_LOAD: Duration = Duration::from_secs(1);

/// What a refresh attempt for an unknown `kid` achieved.
enum Refresh {
    /// The `kid` is known now; `replaced` says whether this call replaced the key set.
    Known { replaced: bool },
    /// Still unknown (not refreshed because of the rate limit, the AS is down, or the AS
    /// does not have it either).
    Unknown,
}

impl JwtValidator {
    /// A validator with no keys yet (see [`JwtValidator::prime`]).
    pub fn new(
        authorization_server: Arc<AuthorizationServerClient>,
        configured_jwks_uri: Option<Url>,
        min_refresh_interval: Duration,
        issuer: String,
        audience: ResourceUri,
        algorithms: Vec<SigningAlgorithm>,
        leeway: i64,
    ) -> Self {
        let empty = AccessTokenVerifier::new(
            issuer.clone(),
            audience.clone(),
            &algorithms,
            &JwkSet { keys: Vec::new() },
        )
        .with_leeway(leeway);
        Self {
            verifier: ArcSwap::from_pointee(empty),
            authorization_server,
            configured_jwks_uri,
            last_refresh: Mutex::new(None),
            min_refresh_interval,
            issuer,
            audience,
            algorithms,
            leeway,
            refreshes: AtomicU64::new(0),
        }
    }

    /// Fetches the JWKS once, ahead of the first request.
    pub async fn prime(&self) {
        let mut last = self.last_refresh.lock().await;
        *last = Some(Instant::now());
        if let Err(e) = self.reload().await {
            tracing::warn!(error = %e, "could not load the authorization server's keys yet; will retry on the first token");
        }
    }

    /// Re-fetches the JWKS now (the periodic refresh), subject to no rate limit. Returns
    /// whether a new key set is in place.
    pub async fn refresh_now(&self) -> bool {
        let mut last = self.last_refresh.lock().await;
        *last = Some(Instant::now());
        match self.reload().await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "periodic JWKS refresh failed; keeping the cached keys");
                false
            }
        }
    }

    /// How many times the JWKS has been fetched successfully.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    /// Verifies `token` at `now`. The flag says whether the key set was replaced on the way.
    pub async fn validate(&self, token: &str, now: i64) -> Result<(AuthContext, bool), TokenError> {
        match self.verifier.load().verify(token, now) {
            Ok(claims) => Ok((context(claims), false)),
            Err(JwtError::UnknownKeyId(kid)) => match self.refresh_for(&kid).await {
                Refresh::Known { replaced } => {
                    let claims = self
                        .verifier
                        .load()
                        .verify(token, now)
                        .map_err(|e| rejected(&e))?;
                    Ok((context(claims), replaced))
                }
                Refresh::Unknown => Err(rejected(&JwtError::UnknownKeyId(kid))),
            },
            Err(e) => Err(rejected(&e)),
        }
    }

    async fn refresh_for(&self, kid: &str) -> Refresh {
        let mut last = self.last_refresh.lock().await;
        // Someone else may have refreshed while this request waited for the lock.
        if self.verifier.load().knows_kid(kid) {
            return Refresh::Known { replaced: false };
        }
        let interval = if self.refreshes() == 0 {
            self.min_refresh_interval.min(RETRY_BEFORE_FIRST_LOAD)
        } else {
            self.min_refresh_interval
        };
        if let Some(at) = *last
            && at.elapsed() < interval
        {
            tracing::debug!(kid, "unknown kid; JWKS refresh rate-limited");
            return Refresh::Unknown;
        }
        *last = Some(Instant::now());
        match self.reload().await {
            Ok(()) if self.verifier.load().knows_kid(kid) => Refresh::Known { replaced: true },
            Ok(()) => Refresh::Unknown,
            Err(e) => {
                tracing::warn!(error = %e, "JWKS refresh failed; keeping the cached keys");
                Refresh::Unknown
            }
        }
    }

    async fn reload(&self) -> Result<(), AuthorizationServerError> {
        let url = self
            .authorization_server
            .jwks_uri(self.configured_jwks_uri.as_ref())
            .await?;
        let jwks = self.authorization_server.fetch_jwks(url.clone()).await?;
        // Keys are decoded here, once per key set, never per token.
        let verifier = AccessTokenVerifier::new(
            self.issuer.clone(),
            self.audience.clone(),
            &self.algorithms,
            &jwks,
        )
        .with_leeway(self.leeway);
        tracing::info!(jwks_uri = %url, keys = jwks.keys.len(), "loaded the authorization server's keys");
        self.verifier.store(Arc::new(verifier));
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn context(claims: AccessTokenClaims) -> AuthContext {
    AuthContext {
        subject: claims.sub,
        client_id: claims.client_id,
        scopes: claims.scope,
        expires_at: claims.exp,
    }
}

/// The client-facing reason: fixed texts, so that nothing the token carries (an issuer, a
/// `kid`, a `typ`) is echoed into a header or a log line.
fn rejected(e: &JwtError) -> TokenError {
    let reason = match e {
        JwtError::Malformed => "malformed token",
        JwtError::WrongType(_) => "token type is not at+jwt",
        JwtError::AlgorithmNotAllowed(_) => "the token's algorithm is not allowed",
        JwtError::MissingKeyId => "token header has no kid",
        JwtError::UnknownKeyId(_) => "unknown signing key",
        JwtError::BadSignature => "signature does not verify",
        JwtError::InvalidClaims(_) => "the token's claims are missing or malformed",
        JwtError::WrongIssuer(_) => "the token was issued by another authorization server",
        JwtError::WrongAudience => "token audience does not include this resource",
        JwtError::Expired => "token has expired",
        JwtError::NotYetValid => "token is not valid yet",
        JwtError::Key(_) | JwtError::Signing => "the token could not be verified",
    };
    TokenError::Invalid(reason.to_owned())
}
