//! The stored tokens' lifecycle on request: `refresh` (OAuth 2.1 §4.3, with `resource`,
//! RFC 8707) and `revoke` (RFC 7009), each reported as a step.

use mcp_auth_core::Issuer;
use serde_json::{Value, json};

use crate::discovery;
use crate::error::{ClientError, Result};
use crate::session::McpClient;
use crate::token;

impl McpClient {
    /// Refreshes the stored access token now; returns the new scope and lifetime (no secrets).
    pub async fn refresh(&self) -> Result<Value> {
        let server = self.server.to_string();
        let Some(before) = self.tokens.snapshot().await else {
            return Err(ClientError::NotLoggedIn(server));
        };
        if before.refresh_token.is_none() {
            return Err(ClientError::RefreshFailed(
                server,
                "no refresh token is stored".into(),
            ));
        }
        if !self.tokens.refresh_now().await {
            return Err(ClientError::RefreshFailed(
                server,
                "the authorization server refused the refresh token".into(),
            ));
        }
        let after = self.tokens.snapshot().await.ok_or_else(|| {
            ClientError::RefreshFailed(server.clone(), "no tokens after the refresh".into())
        })?;
        let rotated = match (&before.refresh_token, &after.refresh_token) {
            (Some(old), Some(new)) => old != new,
            _ => false,
        };
        Ok(json!({
            "issuer": after.issuer,
            "resource": after.resource,
            "scope": after.scope.as_ref().map(ToString::to_string),
            "expires_in": after.expires_at.map(|at| at - self.clock.now()),
            "refresh_token_rotated": rotated,
        }))
    }

    /// Revokes the stored refresh token (or, without one, the access token) at the
    /// authorization server's `revocation_endpoint`, forgets the tokens, and checks that the
    /// revoked refresh token no longer refreshes.
    pub async fn revoke(&self) -> Result<Value> {
        let server = self.server.to_string();
        let Some(creds) = self.tokens.snapshot().await else {
            return Err(ClientError::NotLoggedIn(server));
        };
        let issuer = Issuer::parse(&creds.issuer)
            .map_err(|e| ClientError::invalid_url(&creds.issuer, e.to_string()))?;
        let (_, metadata) = discovery::authorization_server_metadata(
            &self.http,
            &issuer,
            &self.policy,
            &self.reporter,
        )
        .await?;
        let endpoint = metadata
            .revocation_endpoint
            .ok_or(ClientError::MetadataIncomplete("revocation_endpoint"))?;
        let endpoint = self
            .policy
            .check(&endpoint, "revocation_endpoint")?
            .to_string();
        let (secret, hint) = match &creds.refresh_token {
            Some(rt) => (rt.secret().to_owned(), "refresh_token"),
            None => (creds.access_token.secret().to_owned(), "access_token"),
        };
        token::revoke(&self.http, &endpoint, &creds.client, &secret, hint).await?;
        self.reporter.step(
            "token.revoked",
            format!(
                "Revoked the {} at {endpoint} (RFC 7009){}",
                hint.replace('_', " "),
                if hint == "refresh_token" {
                    ": its grant and the grant's access tokens end with it"
                } else {
                    ""
                }
            ),
            json!({"revocation_endpoint": endpoint, "token_type_hint": hint}),
        );
        self.store.remove_tokens(&creds.issuer, &creds.resource)?;
        let mut refused_after = Value::Null;
        if let Some(rt) = &creds.refresh_token {
            let check = token::refresh(
                &self.http,
                &creds.token_endpoint,
                &creds.client,
                rt,
                &creds.resource,
            )
            .await;
            let (refused, message) = match &check {
                Err(ClientError::TokenEndpoint(e)) => (
                    true,
                    format!(
                        "Checked: {} now refuses the revoked refresh token ({})",
                        creds.token_endpoint, e.error
                    ),
                ),
                Ok(_) => (
                    false,
                    format!(
                        "Checked: {} still accepts the revoked refresh token",
                        creds.token_endpoint
                    ),
                ),
                Err(e) => (false, format!("Could not check the revocation: {e}")),
            };
            self.reporter.step(
                "token.revocation_checked",
                message,
                json!({"token_endpoint": creds.token_endpoint, "refused": refused}),
            );
            refused_after = Value::Bool(refused);
        }
        self.reporter.step(
            "store.forgotten",
            format!(
                "Forgot the tokens for {server} in {}",
                self.store.path().display()
            ),
            json!({"store": self.store.path().display().to_string()}),
        );
        Ok(json!({
            "issuer": creds.issuer,
            "resource": creds.resource,
            "revoked": hint,
            "refresh_refused_after_revocation": refused_after,
        }))
    }
}
