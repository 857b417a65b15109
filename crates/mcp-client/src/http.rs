//! The HTTP side of OAuth: one `reqwest` client (no redirects followed, a timeout, JSON
//! accepted) and the policy for URLs found in documents (checklist D14, O5): only `http(s)`,
//! `http` only on loopback hosts unless allowed, and no private or special-use IP literal
//! unless the MCP server itself lives on one.

use std::net::IpAddr;
use std::time::Duration;

use mcp_auth_core::uri::{is_loopback, is_special_use_ip};
use url::{Host, Url};

use crate::error::{ClientError, Result};

/// Builds the client used for discovery, registration and token requests. Redirects are
/// never followed: a metadata or token endpoint that redirects is not trusted blindly, and
/// the headless authorization reads `Location` itself.
pub fn oauth_client(timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .user_agent(concat!("mcp-client/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ClientError::http("(client setup)", e))
}

/// Which discovered URLs may be fetched or opened.
#[derive(Debug, Clone, Copy)]
pub struct UrlPolicy {
    /// `http` allowed on any host.
    pub allow_insecure_http: bool,
    /// Private and special-use IP literals allowed.
    pub allow_private: bool,
}

impl UrlPolicy {
    /// The policy for a journey that starts at `server`: a server on loopback or a private
    /// address may point at such addresses (local development); a public one may not.
    pub fn for_server(server: &Url, allow_insecure_http: bool, allow_private: bool) -> Self {
        Self {
            allow_insecure_http,
            allow_private: allow_private || is_loopback(server) || host_is_special(server),
        }
    }

    /// Checks a URL taken from a document or a header before it is fetched or opened.
    pub fn check(&self, raw: &str, what: &str) -> Result<Url> {
        let url = Url::parse(raw)
            .map_err(|e| ClientError::invalid_url(raw, format!("{what} is not a URL: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_insecure_http || is_loopback(&url) => {}
            "http" => {
                return Err(ClientError::invalid_url(
                    raw,
                    format!(
                        "{what} uses plain http on a non-loopback host (set http.allow_insecure_http to allow)"
                    ),
                ));
            }
            other => {
                return Err(ClientError::invalid_url(
                    raw,
                    format!("{what} has the scheme {other:?}: only http and https are allowed"),
                ));
            }
        }
        if url.host().is_none() {
            return Err(ClientError::invalid_url(raw, format!("{what} has no host")));
        }
        if !self.allow_private && host_is_special(&url) {
            return Err(ClientError::invalid_url(
                raw,
                format!(
                    "{what} points at a private or special-use address, and the MCP server is public (SSRF guard)"
                ),
            ));
        }
        Ok(url)
    }
}

fn host_is_special(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => is_special_use_ip(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_special_use_ip(IpAddr::V6(ip)),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Checks that a URL is safe to hand to the system browser: absolute `http(s)` only
/// (checklist O5: never `javascript:`, `data:`, `file:`; never through a shell).
pub fn check_browser_url(raw: &str) -> Result<Url> {
    let url = Url::parse(raw).map_err(|e| ClientError::invalid_url(raw, e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ClientError::invalid_url(
            raw,
            "only http and https URLs are opened in the browser",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_server_may_not_point_at_metadata_service_or_private_ranges() {
        let server = Url::parse("https://mcp.example.com/mcp").unwrap();
        let policy = UrlPolicy::for_server(&server, false, false);
        assert!(
            policy
                .check("http://169.254.169.254/latest", "PRM")
                .is_err()
        );
        assert!(policy.check("https://10.0.0.1/x", "PRM").is_err());
        assert!(policy.check("https://[::1]/x", "PRM").is_err());
        assert!(policy.check("http://as.example.com/x", "PRM").is_err());
        assert!(policy.check("javascript:alert(1)", "PRM").is_err());
        assert!(policy.check("https://as.example.com/x", "PRM").is_ok());
    }

    #[test]
    fn local_server_may_use_loopback_http() {
        let server = Url::parse("http://localhost:8001/mcp").unwrap();
        let policy = UrlPolicy::for_server(&server, false, false);
        assert!(policy.check("http://127.0.0.1:9000/x", "AS").is_ok());
        assert!(policy.check("http://localhost:9000/x", "AS").is_ok());
        assert!(policy.check("http://as.example.com/x", "AS").is_err());
    }

    #[test]
    fn browser_urls_are_http_or_https_only() {
        assert!(check_browser_url("https://as/authorize?x=1").is_ok());
        for bad in [
            "javascript:alert(1)",
            "file:///etc/passwd",
            "data:text/html,x",
            "not a url",
        ] {
            assert!(check_browser_url(bad).is_err(), "{bad}");
        }
    }
}
