//! Opaque (or any) access tokens checked by RFC 7662 introspection at the AS.
//!
//! The AS answers `active`; this server still checks, as RFC 7662 §4 and MCP require, that
//! the token is for this resource (`aud`), from our issuer (`iss`, when given) and inside its
//! validity window. A positive answer is reused for at most `introspection_cache_ttl_secs`
//! and never past `exp`, so a revocation is seen within that TTL.

use std::sync::Arc;

use mcp_auth_core::secret::ClientSecret;
use mcp_auth_core::token::IntrospectionResponse;
use mcp_auth_core::{ResourceUri, ScopeSet};
use tokio::sync::Mutex;
use url::Url;

use super::{AuthContext, TokenError};
use crate::authorization_server::{AuthorizationServerClient, AuthorizationServerError};

/// Validates tokens by asking the AS.
#[derive(Debug)]
pub struct IntrospectionValidator {
    authorization_server: Arc<AuthorizationServerClient>,
    configured_endpoint: Option<Url>,
    endpoint: Mutex<Option<Url>>,
    client_id: String,
    client_secret: ClientSecret,
    issuer: String,
    audience: ResourceUri,
    leeway: i64,
    cache_ttl: i64,
}

impl IntrospectionValidator {
    /// A validator that authenticates to the AS as `client_id`.
    #[allow(clippy::too_many_arguments)] // one constructor, called once, from settings
    pub fn new(
        authorization_server: Arc<AuthorizationServerClient>,
        configured_endpoint: Option<Url>,
        client_id: String,
        client_secret: ClientSecret,
        issuer: String,
        audience: ResourceUri,
        leeway: i64,
        cache_ttl: i64,
    ) -> Self {
        Self {
            authorization_server,
            configured_endpoint,
            endpoint: Mutex::new(None),
            client_id,
            client_secret,
            issuer,
            audience,
            leeway,
            cache_ttl,
        }
    }

    /// Resolves the endpoint ahead of the first request (failure is retried later).
    pub async fn prime(&self) {
        if let Err(e) = self.endpoint().await {
            tracing::warn!(error = %e, "introspection endpoint not known yet; will retry on the first token");
        }
    }

    async fn endpoint(&self) -> Result<Url, AuthorizationServerError> {
        let mut endpoint = self.endpoint.lock().await;
        if let Some(url) = endpoint.as_ref() {
            return Ok(url.clone());
        }
        let url = self
            .authorization_server
            .introspection_endpoint(self.configured_endpoint.as_ref())
            .await?;
        *endpoint = Some(url.clone());
        Ok(url)
    }

    /// Introspects `token` at `now`; returns the caller and until when the answer may be
    /// reused.
    pub async fn validate(&self, token: &str, now: i64) -> Result<(AuthContext, i64), TokenError> {
        let endpoint = self.endpoint().await.map_err(|e| {
            tracing::warn!(error = %e, "introspection endpoint unavailable");
            TokenError::Unavailable
        })?;
        let response = self
            .authorization_server
            .introspect(endpoint, &self.client_id, &self.client_secret, token)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "introspection failed");
                TokenError::Unavailable
            })?;
        self.judge(response, now)
    }

    /// The checks of RFC 7662 §4 on an introspection answer.
    fn judge(&self, r: IntrospectionResponse, now: i64) -> Result<(AuthContext, i64), TokenError> {
        let invalid = |s: &str| Err(TokenError::Invalid(s.to_owned()));
        if !r.active {
            return invalid("the token is not active");
        }
        if r.iss.as_deref().is_some_and(|iss| iss != self.issuer) {
            return invalid("the token was issued by another authorization server");
        }
        if !r
            .aud
            .as_ref()
            .is_some_and(|aud| aud.contains_resource(&self.audience))
        {
            return invalid("token audience does not include this resource");
        }
        if r.exp
            .is_some_and(|exp| now >= exp.saturating_add(self.leeway))
        {
            return invalid("token has expired");
        }
        if r.nbf
            .is_some_and(|nbf| nbf > now.saturating_add(self.leeway))
        {
            return invalid("token is not valid yet");
        }
        let Some(subject) = r.sub.or(r.username) else {
            return invalid("the token has no subject");
        };
        let Ok(scopes) = ScopeSet::parse(r.scope.as_deref().unwrap_or("")) else {
            return invalid("the token's scope is malformed");
        };
        let expires_at = r.exp.unwrap_or(0);
        let ttl_deadline = now.saturating_add(self.cache_ttl);
        let valid_until = r.exp.map_or(ttl_deadline, |exp| exp.min(ttl_deadline));
        Ok((
            AuthContext {
                subject,
                client_id: r.client_id.unwrap_or_default(),
                scopes,
                expires_at,
            },
            valid_until,
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mcp_auth_core::Issuer;
    use mcp_auth_core::token::Audience;

    use super::*;

    const RESOURCE: &str = "http://localhost:8001/mcp";
    const ISSUER: &str = "http://localhost:9000";

    fn validator(ttl: i64) -> IntrospectionValidator {
        let client = AuthorizationServerClient::new(
            Issuer::parse(ISSUER).unwrap(),
            None,
            Duration::from_secs(1),
        )
        .unwrap();
        IntrospectionValidator::new(
            Arc::new(client),
            None,
            "rs".into(),
            ClientSecret::new("s"),
            ISSUER.into(),
            ResourceUri::parse(RESOURCE).unwrap(),
            0,
            ttl,
        )
    }

    fn active() -> IntrospectionResponse {
        IntrospectionResponse {
            active: true,
            scope: Some("mcp:tools weather:read".into()),
            client_id: Some("client-1".into()),
            sub: Some("alice".into()),
            aud: Some(Audience::single(RESOURCE)),
            iss: Some(ISSUER.into()),
            exp: Some(1_000),
            ..IntrospectionResponse::default()
        }
    }

    #[test]
    fn an_active_token_for_this_resource_is_accepted_until_min_exp_ttl() {
        let (ctx, until) = validator(30).judge(active(), 500).unwrap();
        assert_eq!(ctx.subject, "alice");
        assert_eq!(ctx.client_id, "client-1");
        assert_eq!(ctx.scopes.to_string(), "mcp:tools weather:read");
        assert_eq!(until, 530);
        let (_, until) = validator(30).judge(active(), 990).unwrap();
        assert_eq!(until, 1_000, "never past exp");
    }

    #[test]
    fn inactive_foreign_expired_and_subjectless_answers_are_refused() {
        let v = validator(30);
        let cases: Vec<(IntrospectionResponse, &str)> = vec![
            (IntrospectionResponse::inactive(), "not active"),
            (
                IntrospectionResponse {
                    aud: Some(Audience::single("http://other/mcp")),
                    ..active()
                },
                "audience",
            ),
            (
                IntrospectionResponse {
                    aud: None,
                    ..active()
                },
                "audience",
            ),
            (
                IntrospectionResponse {
                    iss: Some("http://evil".into()),
                    ..active()
                },
                "another authorization server",
            ),
            (
                IntrospectionResponse {
                    exp: Some(400),
                    ..active()
                },
                "expired",
            ),
            (
                IntrospectionResponse {
                    nbf: Some(600),
                    ..active()
                },
                "not valid yet",
            ),
            (
                IntrospectionResponse {
                    sub: None,
                    ..active()
                },
                "no subject",
            ),
        ];
        for (response, expected) in cases {
            match v.judge(response, 500) {
                Err(TokenError::Invalid(msg)) => assert!(msg.contains(expected), "{msg}"),
                other => panic!("expected {expected}, got {other:?}"),
            }
        }
    }
}
