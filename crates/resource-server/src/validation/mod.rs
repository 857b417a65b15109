//! Access token validation (OAuth 2.1 §5.2, RFC 6750): who is calling, with which scopes.
//!
//! Two backends, chosen by `token.mode`:
//! * [`jwt::JwtValidator`]: RFC 9068 JWTs checked locally against the AS's JWKS;
//! * [`introspection::IntrospectionValidator`]: RFC 7662 introspection at the AS.
//!
//! Both sit behind [`TokenValidator`], which first looks the token's digest
//! ([`cache::digest`], BLAKE3) up in a bounded [`cache::TokenCache`]. A hit costs one hash
//! and one map lookup, with no I/O and no key parsing; an entry is never used past the
//! token's `exp` (nor, for introspection, past the configured TTL, so that revocation is
//! seen).

pub mod cache;
pub mod introspection;
pub mod jwt;

use std::sync::Arc;

use mcp_auth_core::{Clock, ScopeSet};

use self::cache::TokenCache;

/// The caller, as established from a valid access token. Inserted into the request's
/// extensions for the MCP tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthContext {
    /// `sub`: the resource owner.
    pub subject: String,
    /// `client_id`: the client the token was issued to.
    pub client_id: String,
    /// The granted scopes.
    pub scopes: ScopeSet,
    /// `exp` (Unix seconds; 0 when the AS did not say).
    pub expires_at: i64,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token is invalid, expired, revoked, or for someone else (401 `invalid_token`).
    /// The text is safe to show to the client.
    #[error("{0}")]
    Invalid(String),
    /// The AS could not be asked (introspection mode only): 503.
    #[error("the authorization server is unavailable")]
    Unavailable,
}

/// The configured validation backend.
#[derive(Debug)]
pub enum Backend {
    /// Local JWT verification.
    Jwt(jwt::JwtValidator),
    /// Introspection at the AS.
    Introspection(introspection::IntrospectionValidator),
}

/// Validates access tokens, with a cache in front of the backend.
#[derive(Debug)]
pub struct TokenValidator {
    backend: Backend,
    cache: TokenCache,
    clock: Arc<dyn Clock>,
}

impl TokenValidator {
    /// A validator over `backend` caching at most `max_entries` tokens.
    pub fn new(backend: Backend, max_entries: usize, clock: Arc<dyn Clock>) -> Self {
        Self {
            backend,
            cache: TokenCache::new(max_entries),
            clock,
        }
    }

    /// Validates `token` now.
    pub async fn validate(&self, token: &str) -> Result<Arc<AuthContext>, TokenError> {
        let now = self.clock.now();
        let digest = cache::digest(token);
        if let Some(context) = self.cache.get(&digest, now) {
            return Ok(context);
        }
        // Boxed: the backend's future (a JWKS fetch, an introspection request) is large, and
        // only a cache miss needs it; inline, every request's future would carry its size.
        Box::pin(self.validate_uncached(token, digest, now)).await
    }

    /// A cache miss: asks the backend, then caches the answer.
    async fn validate_uncached(
        &self,
        token: &str,
        digest: cache::Digest,
        now: i64,
    ) -> Result<Arc<AuthContext>, TokenError> {
        let (context, valid_until) = match &self.backend {
            Backend::Jwt(v) => {
                let (context, refreshed) = v.validate(token, now).await?;
                if refreshed {
                    // The key set changed: identities vouched for by removed keys go.
                    self.cache.clear();
                }
                let until = context.expires_at;
                (context, until)
            }
            Backend::Introspection(v) => v.validate(token, now).await?,
        };
        let context = Arc::new(context);
        self.cache.insert(digest, context.clone(), valid_until, now);
        Ok(context)
    }

    /// Loads what the backend needs ahead of the first request (the JWKS). Failure is
    /// logged, not fatal: keys are fetched again on the first unknown `kid`.
    pub async fn prime(&self) {
        match &self.backend {
            Backend::Jwt(v) => v.prime().await,
            Backend::Introspection(v) => v.prime().await,
        }
    }

    /// The periodic JWKS refresh (JWT mode): re-fetches the keys and, when a new set is in
    /// place, forgets every cached validation, so a withdrawn key stops working at once.
    pub async fn refresh_keys(&self) {
        if let Backend::Jwt(v) = &self.backend
            && v.refresh_now().await
        {
            self.cache.clear();
        }
    }

    /// The backend.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// How many validated tokens are cached.
    pub fn cached_tokens(&self) -> usize {
        self.cache.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mcp_auth_core::SystemClock;

    use crate::{AppState, Settings};

    /// Every request's future holds `validate`'s; the backend's requests (a JWKS fetch, an
    /// introspection call, over a kilobyte inline) are boxed behind a cache miss.
    #[test]
    fn a_validation_future_does_not_carry_the_backend_requests() {
        let settings = Settings::defaults().unwrap();
        let state = AppState::new(settings, Arc::new(SystemClock)).unwrap();
        let future = state.validator.validate("a.b.c");
        assert!(
            std::mem::size_of_val(&future) <= 256,
            "{} bytes",
            std::mem::size_of_val(&future)
        );
    }
}
