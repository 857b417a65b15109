//! Talking to the authorization server: its metadata (RFC 8414 §3, in the MCP discovery
//! order), its JWKS (RFC 7517) and its introspection endpoint (RFC 7662 §2).
//!
//! The "two names" problem: tokens and metadata carry the *public* issuer
//! (`http://localhost:9000`), while this server may have to reach the AS under another name
//! (`http://auth-server:9000` inside docker-compose). With `internal_url` set, every URL that
//! starts with the issuer is rebased onto it before it is fetched; the `issuer` in the
//! metadata must still equal the configured issuer exactly (RFC 8414 §3.3).

use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use mcp_auth_core::Issuer;
use mcp_auth_core::metadata::AuthorizationServerMetadata;
use mcp_auth_core::secret::ClientSecret;
use mcp_auth_core::token::IntrospectionResponse;
use mcp_auth_core::well_known;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use url::Url;

/// Largest document accepted from the AS.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// Why a request to the AS failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizationServerError {
    /// Network or HTTP failure.
    #[error("request to {url} failed: {message}")]
    Http {
        /// The URL.
        url: String,
        /// What happened.
        message: String,
    },
    /// The document is not what was expected.
    #[error("unusable document from {url}: {message}")]
    Document {
        /// The URL.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// No metadata location answered.
    #[error("no authorization server metadata found for issuer {0}")]
    NoMetadata(String),
    /// The metadata lacks an endpoint this server needs.
    #[error("the authorization server metadata has no {0}")]
    MissingEndpoint(&'static str),
}

/// An HTTP client for one authorization server.
#[derive(Debug)]
pub struct AuthorizationServerClient {
    http: reqwest::Client,
    issuer: Issuer,
    internal_url: Option<Url>,
    metadata: Mutex<Option<AuthorizationServerMetadata>>,
}

impl AuthorizationServerClient {
    /// A client for `issuer`, reached at `internal_url` when given.
    pub fn new(
        issuer: Issuer,
        internal_url: Option<Url>,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!(
                "mcp-auth-resource-server/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()?;
        Ok(Self {
            http,
            issuer,
            internal_url,
            metadata: Mutex::new(None),
        })
    }

    /// `url` with the issuer prefix replaced by `internal_url` (when configured and the URL
    /// is below the issuer); otherwise `url` parsed as is.
    pub fn rebase(&self, url: &str) -> Result<Url, AuthorizationServerError> {
        let document_error = |message: String| AuthorizationServerError::Document {
            url: url.to_owned(),
            message,
        };
        let rebased = match &self.internal_url {
            Some(internal) => {
                let issuer = self.issuer.as_str().trim_end_matches('/');
                let issuer_origin = self.issuer.to_url().origin().ascii_serialization();
                let internal_base = internal.as_str().trim_end_matches('/');
                if let Some(rest) = url.strip_prefix(issuer) {
                    format!("{internal_base}{rest}")
                } else if let Some(rest) = url.strip_prefix(&issuer_origin) {
                    let internal_origin = internal.origin().ascii_serialization();
                    format!("{internal_origin}{rest}")
                } else {
                    url.to_owned()
                }
            }
            None => url.to_owned(),
        };
        Url::parse(&rebased).map_err(|e| document_error(format!("not a URL: {e}")))
    }

    /// The AS metadata, fetched once and then kept.
    pub async fn metadata(&self) -> Result<AuthorizationServerMetadata, AuthorizationServerError> {
        let mut cached = self.metadata.lock().await;
        if let Some(metadata) = cached.as_ref() {
            return Ok(metadata.clone());
        }
        let mut last_error = None;
        for candidate in well_known::authorization_server_metadata_candidates(&self.issuer.to_url())
        {
            let url = self.rebase(candidate.as_str())?;
            match self
                .get_json::<AuthorizationServerMetadata>(url.clone())
                .await
            {
                Ok(metadata) => {
                    // RFC 8414 §3.3: the issuer in the document is exactly the one we trust.
                    if metadata.issuer != self.issuer.as_str() {
                        return Err(AuthorizationServerError::Document {
                            url: url.to_string(),
                            message: format!(
                                "issuer {:?} is not the configured issuer {:?}",
                                metadata.issuer,
                                self.issuer.as_str()
                            ),
                        });
                    }
                    *cached = Some(metadata.clone());
                    return Ok(metadata);
                }
                Err(e) => {
                    tracing::debug!(url = %url, error = %e, "no authorization server metadata here");
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| {
            AuthorizationServerError::NoMetadata(self.issuer.as_str().to_owned())
        }))
    }

    /// The JWKS URL: `configured` if given, else the metadata's `jwks_uri`, rebased.
    pub async fn jwks_uri(
        &self,
        configured: Option<&Url>,
    ) -> Result<Url, AuthorizationServerError> {
        match configured {
            Some(url) => Ok(url.clone()),
            None => {
                let metadata = self.metadata().await?;
                let uri = metadata
                    .jwks_uri
                    .ok_or(AuthorizationServerError::MissingEndpoint("jwks_uri"))?;
                self.rebase(&uri)
            }
        }
    }

    /// The introspection endpoint: `configured` if given, else the metadata's, rebased.
    pub async fn introspection_endpoint(
        &self,
        configured: Option<&Url>,
    ) -> Result<Url, AuthorizationServerError> {
        match configured {
            Some(url) => Ok(url.clone()),
            None => {
                let metadata = self.metadata().await?;
                let uri = metadata.introspection_endpoint.ok_or(
                    AuthorizationServerError::MissingEndpoint("introspection_endpoint"),
                )?;
                self.rebase(&uri)
            }
        }
    }

    /// Fetches a JWK Set.
    pub async fn fetch_jwks(&self, url: Url) -> Result<JwkSet, AuthorizationServerError> {
        self.get_json(url).await
    }

    /// RFC 7662 §2.1: asks the AS about `token`, authenticating with HTTP Basic
    /// (RFC 6749 §2.3.1: id and secret form-urlencoded first).
    pub async fn introspect(
        &self,
        endpoint: Url,
        client_id: &str,
        client_secret: &ClientSecret,
        token: &str,
    ) -> Result<IntrospectionResponse, AuthorizationServerError> {
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let request = self
            .http
            .post(endpoint.clone())
            .basic_auth(encode(client_id), Some(encode(client_secret.secret())))
            .header(http::header::ACCEPT, "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")]);
        let response = request
            .send()
            .await
            .map_err(|e| http_error(&endpoint, &e))?;
        read_json(&endpoint, response).await
    }

    async fn get_json<T: DeserializeOwned>(&self, url: Url) -> Result<T, AuthorizationServerError> {
        let response = self
            .http
            .get(url.clone())
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| http_error(&url, &e))?;
        read_json(&url, response).await
    }
}

fn http_error(url: &Url, e: &reqwest::Error) -> AuthorizationServerError {
    // reqwest's Display can include the URL (never a token: tokens travel in bodies).
    AuthorizationServerError::Http {
        url: url.to_string(),
        message: e.to_string(),
    }
}

async fn read_json<T: DeserializeOwned>(
    url: &Url,
    mut response: reqwest::Response,
) -> Result<T, AuthorizationServerError> {
    let status = response.status();
    if !status.is_success() {
        return Err(AuthorizationServerError::Http {
            url: url.to_string(),
            message: format!("status {status}"),
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| http_error(url, &e))? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(AuthorizationServerError::Document {
                url: url.to_string(),
                message: format!("larger than {MAX_DOCUMENT_BYTES} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| AuthorizationServerError::Document {
        url: url.to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(issuer: &str, internal: Option<&str>) -> AuthorizationServerClient {
        AuthorizationServerClient::new(
            Issuer::parse(issuer).unwrap(),
            internal.map(|u| Url::parse(u).unwrap()),
            Duration::from_secs(1),
        )
        .unwrap()
    }

    #[test]
    fn urls_below_the_issuer_are_rebased_onto_the_internal_url() {
        let c = client("http://localhost:9000", Some("http://auth-server:9000"));
        assert_eq!(
            c.rebase("http://localhost:9000/jwks").unwrap().as_str(),
            "http://auth-server:9000/jwks"
        );
        assert_eq!(
            c.rebase("http://localhost:9000/.well-known/oauth-authorization-server")
                .unwrap()
                .as_str(),
            "http://auth-server:9000/.well-known/oauth-authorization-server"
        );
        // another host is left alone
        assert_eq!(
            c.rebase("https://keys.example.com/jwks").unwrap().as_str(),
            "https://keys.example.com/jwks"
        );
    }

    #[test]
    fn issuer_with_a_path_rebases_the_origin_for_well_known_urls() {
        let c = client(
            "http://localhost:9000/tenant",
            Some("http://as:9000/tenant"),
        );
        assert_eq!(
            c.rebase("http://localhost:9000/tenant/jwks")
                .unwrap()
                .as_str(),
            "http://as:9000/tenant/jwks"
        );
        assert_eq!(
            c.rebase("http://localhost:9000/.well-known/oauth-authorization-server/tenant")
                .unwrap()
                .as_str(),
            "http://as:9000/.well-known/oauth-authorization-server/tenant"
        );
    }

    #[test]
    fn without_an_internal_url_nothing_changes() {
        let c = client("http://localhost:9000", None);
        assert_eq!(
            c.rebase("http://localhost:9000/jwks").unwrap().as_str(),
            "http://localhost:9000/jwks"
        );
    }
}
