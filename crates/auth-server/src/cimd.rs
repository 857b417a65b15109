//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, MCP 2025-11-25
//! "Client ID Metadata Documents"): fetch, validate and cache the document behind an https
//! `client_id`.
//!
//! The fetch is SSRF-safe (CIMD -01 §6.5, RFC 9700 §4.15): https only, the host resolved
//! first and every address checked against the special-use ranges (RFC 6890), the connection
//! pinned to the checked address (reqwest `resolve`), no redirects, 200 only, a size cap and
//! connect/read timeouts. Valid documents are cached per `Cache-Control` within configured
//! bounds; errors and invalid documents are never cached.

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use mcp_auth_core::ClientId;
use mcp_auth_core::metadata::ClientIdMetadataDocument;
use mcp_auth_core::uri::is_special_use_ip;
use mcp_auth_core::{RedirectUri, ScopeSet};
use url::{Host, Url};

use crate::settings::CimdSettings;
use crate::store::{ClientRecord, ClientSource};

/// Why a metadata document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CimdError {
    /// The `client_id` is not a valid metadata document URL.
    #[error("client_id is not a valid metadata document URL: {0}")]
    InvalidUrl(String),
    /// The host resolves to an address the server will not contact.
    #[error("client_id host resolves to a special-use address ({0})")]
    Blocked(String),
    /// DNS, connection, TLS or timeout failure.
    #[error("metadata document could not be fetched: {0}")]
    Fetch(String),
    /// Not a 200 response (redirects included).
    #[error("metadata document fetch returned HTTP {0}")]
    Status(u16),
    /// Bigger than the configured cap.
    #[error("metadata document exceeds {0} bytes")]
    TooLarge(usize),
    /// The document is not acceptable.
    #[error("invalid metadata document: {0}")]
    Invalid(String),
}

/// Fetches and caches metadata documents.
#[derive(Debug)]
pub struct CimdResolver {
    settings: CimdSettings,
    extra_root: Option<reqwest::Certificate>,
    // Process-local cache keyed by client_id; never serialised.
    #[allow(clippy::disallowed_types)]
    cache: Mutex<std::collections::HashMap<String, (ClientRecord, i64)>>,
}

/// Whether `ip` is loopback, including the IPv4-mapped form.
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

impl CimdResolver {
    /// Builds a resolver; loads the extra root certificate if configured.
    pub fn new(settings: CimdSettings) -> anyhow::Result<Self> {
        let extra_root = if settings.extra_root_certificate.is_empty() {
            None
        } else {
            let pem = std::fs::read(&settings.extra_root_certificate).map_err(|e| {
                anyhow::anyhow!(
                    "cimd.extra_root_certificate {:?}: {e}",
                    settings.extra_root_certificate
                )
            })?;
            tracing::warn!(
                path = %settings.extra_root_certificate,
                "TEST SETTING: an extra root certificate is trusted for client metadata documents"
            );
            Some(reqwest::Certificate::from_pem(&pem)?)
        };
        if settings.allow_insecure_loopback {
            tracing::warn!(
                "DEVELOPMENT SETTING: client metadata documents may be fetched over http and from loopback addresses"
            );
        }
        Ok(Self {
            settings,
            extra_root,
            cache: Mutex::default(),
        })
    }

    /// Whether `client_id` names a metadata document this resolver would consider.
    pub fn handles(&self, client_id: &str) -> bool {
        self.settings.enabled
            && (client_id.starts_with("https://")
                || (self.settings.allow_insecure_loopback && client_id.starts_with("http://")))
    }

    fn document_url(&self, client_id: &str) -> Result<Url, CimdError> {
        let id = ClientId::parse(client_id).map_err(|e| CimdError::InvalidUrl(e.to_string()))?;
        if self.settings.allow_insecure_loopback && client_id.starts_with("http://") {
            // Same rules, but http on a loopback host.
            let as_https = format!("https://{}", &client_id["http://".len()..]);
            ClientId::parse(&as_https)
                .and_then(|c| c.metadata_document_url())
                .map_err(|e| CimdError::InvalidUrl(e.to_string()))?;
            let url = Url::parse(client_id).map_err(|e| CimdError::InvalidUrl(e.to_string()))?;
            if !mcp_auth_core::uri::is_loopback(&url) {
                return Err(CimdError::InvalidUrl(
                    "http is only allowed for loopback hosts".to_owned(),
                ));
            }
            return Ok(url);
        }
        id.metadata_document_url()
            .map_err(|e| CimdError::InvalidUrl(e.to_string()))
    }

    fn address_allowed(&self, ip: IpAddr) -> bool {
        !is_special_use_ip(ip) || (self.settings.allow_insecure_loopback && is_loopback(ip))
    }

    /// The client described by the document at `client_id`, from cache or freshly fetched.
    pub async fn resolve(&self, client_id: &str, now: i64) -> Result<ClientRecord, CimdError> {
        if let Ok(cache) = self.cache.lock()
            && let Some((record, expires_at)) = cache.get(client_id)
            && *expires_at > now
        {
            return Ok(record.clone());
        }
        let url = self.document_url(client_id)?;
        let (body, max_age) = self.fetch(&url).await?;
        let record = validate(client_id, &body, now)?;
        if let Some(max_age) = max_age {
            let ttl = max_age.clamp(
                self.settings.cache_min_seconds,
                self.settings.cache_max_seconds,
            );
            if ttl > 0
                && let Ok(mut cache) = self.cache.lock()
            {
                if cache.len() > 10_000 {
                    cache.retain(|_, (_, exp)| *exp > now);
                }
                cache.insert(client_id.to_owned(), (record.clone(), now + ttl));
            }
        }
        Ok(record)
    }

    async fn resolve_addresses(&self, url: &Url) -> Result<Vec<IpAddr>, CimdError> {
        let port = url.port_or_known_default().unwrap_or(443);
        match url.host() {
            Some(Host::Ipv4(ip)) => Ok(vec![IpAddr::V4(ip)]),
            Some(Host::Ipv6(ip)) => Ok(vec![IpAddr::V6(ip)]),
            Some(Host::Domain(domain)) => {
                let lookup = tokio::net::lookup_host((domain, port));
                let timeout = Duration::from_millis(self.settings.connect_timeout_ms);
                let addrs = tokio::time::timeout(timeout, lookup)
                    .await
                    .map_err(|_| CimdError::Fetch("DNS lookup timed out".to_owned()))?
                    .map_err(|e| CimdError::Fetch(format!("DNS lookup failed: {e}")))?;
                let ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
                if ips.is_empty() {
                    return Err(CimdError::Fetch("host has no address".to_owned()));
                }
                Ok(ips)
            }
            None => Err(CimdError::InvalidUrl("no host".to_owned())),
        }
    }

    /// Fetches the body and the cache lifetime (`None` = do not cache).
    async fn fetch(&self, url: &Url) -> Result<(Vec<u8>, Option<i64>), CimdError> {
        let ips = self.resolve_addresses(url).await?;
        // Every address must be acceptable: a name that also resolves to an internal address
        // is refused whole.
        if let Some(bad) = ips.iter().find(|ip| !self.address_allowed(**ip)) {
            return Err(CimdError::Blocked(bad.to_string()));
        }
        let port = url.port_or_known_default().unwrap_or(443);
        let pinned = SocketAddr::new(ips[0], port);
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_millis(self.settings.connect_timeout_ms))
            .timeout(Duration::from_millis(self.settings.read_timeout_ms))
            .no_proxy()
            .user_agent(concat!("mcp-auth-server/", env!("CARGO_PKG_VERSION")));
        if !self.settings.allow_insecure_loopback {
            builder = builder.https_only(true);
        }
        if let Some(Host::Domain(domain)) = url.host() {
            builder = builder.resolve(domain, pinned);
        }
        if let Some(root) = &self.extra_root {
            builder = builder.add_root_certificate(root.clone());
        }
        let client = builder
            .build()
            .map_err(|e| CimdError::Fetch(format!("client setup: {e}")))?;
        let mut response = client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| CimdError::Fetch(error_chain(&e)))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(CimdError::Status(response.status().as_u16()));
        }
        let max = self.settings.max_bytes;
        if response
            .content_length()
            .is_some_and(|len| len > max as u64)
        {
            return Err(CimdError::TooLarge(max));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_owned();
        if !(essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json")))
        {
            return Err(CimdError::Invalid(format!(
                "content type {essence:?} is not JSON"
            )));
        }
        let max_age = cache_lifetime(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| CimdError::Fetch(error_chain(&e)))?
        {
            if body.len() + chunk.len() > max {
                return Err(CimdError::TooLarge(max));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, max_age))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// `max-age` from `Cache-Control`; `None` for `no-store`/`no-cache`/`private`=irrelevant.
fn cache_lifetime(headers: &reqwest::header::HeaderMap) -> Option<i64> {
    let Some(value) = headers
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
    else {
        return Some(0);
    };
    let mut max_age = Some(0);
    for directive in value.split(',') {
        let directive = directive.trim().to_ascii_lowercase();
        if directive == "no-store" || directive == "no-cache" {
            return None;
        }
        if let Some(v) = directive.strip_prefix("max-age=") {
            max_age = v.trim_matches('"').parse::<i64>().ok().or(Some(0));
        }
    }
    max_age
}

/// Validates a fetched document for `client_id` (CIMD §4.1, MCP "Client ID Metadata
/// Documents").
pub fn validate(client_id: &str, body: &[u8], now: i64) -> Result<ClientRecord, CimdError> {
    let raw: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| CimdError::Invalid("body is not JSON".to_owned()))?;
    let Some(object) = raw.as_object() else {
        return Err(CimdError::Invalid("body is not a JSON object".to_owned()));
    };
    // 1. No shared secrets in a public document.
    for forbidden in ["client_secret", "client_secret_expires_at"] {
        if object.contains_key(forbidden) {
            return Err(CimdError::Invalid(format!(
                "{forbidden} must not be present"
            )));
        }
    }
    let doc: ClientIdMetadataDocument = serde_json::from_value(raw.clone())
        .map_err(|e| CimdError::Invalid(format!("malformed document: {e}")))?;
    // 2. client_id equals the URL, by simple string comparison.
    if doc.client_id != client_id {
        return Err(CimdError::Invalid(
            "client_id in the document does not equal its URL".to_owned(),
        ));
    }
    let m = &doc.metadata;
    // 3. Required fields.
    if m.client_name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(CimdError::Invalid("client_name is required".to_owned()));
    }
    if m.redirect_uris.is_empty() {
        return Err(CimdError::Invalid("redirect_uris is required".to_owned()));
    }
    // 4. Authentication method: public clients only here (private_key_jwt is not supported).
    let method = m
        .token_endpoint_auth_method
        .as_ref()
        .map_or("none", |m| m.as_str());
    if m.token_endpoint_auth_method
        .as_ref()
        .is_some_and(|m| m.uses_shared_secret())
    {
        return Err(CimdError::Invalid(format!(
            "token_endpoint_auth_method {method} uses a shared secret"
        )));
    }
    if method != "none" {
        return Err(CimdError::Invalid(format!(
            "token_endpoint_auth_method {method} is not supported"
        )));
    }
    // 5. Redirect URIs are well-formed (exact matching happens at /authorize).
    let mut redirect_uris = Vec::new();
    for uri in &m.redirect_uris {
        RedirectUri::parse(uri).map_err(|e| CimdError::Invalid(format!("redirect_uris: {e}")))?;
        if !redirect_uris.contains(uri) {
            redirect_uris.push(uri.clone());
        }
    }
    if let Some(scope) = &m.scope {
        ScopeSet::parse(scope).map_err(|e| CimdError::Invalid(format!("scope: {e}")))?;
    }
    let grant_types = m.grant_types.as_ref().map_or_else(
        || vec!["authorization_code".to_owned(), "refresh_token".to_owned()],
        |g| g.iter().map(|g| g.as_str().to_owned()).collect(),
    );
    Ok(ClientRecord {
        client_id: client_id.to_owned(),
        secret_hash: None,
        auth_method: "none".to_owned(),
        redirect_uris,
        grant_types,
        client_name: m.client_name.clone(),
        metadata: raw,
        source: ClientSource::MetadataDocument,
        created_at: now,
        last_used_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "https://app.example.com/client.json";

    fn doc(extra: &serde_json::Value) -> Vec<u8> {
        let mut base = json!({
            "client_id": ID,
            "client_name": "Example",
            "redirect_uris": ["http://127.0.0.1/callback"],
        });
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                if v.is_null() {
                    b.remove(k);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        serde_json::to_vec(&base).unwrap()
    }

    #[test]
    fn a_good_document_becomes_a_public_client() {
        let record = validate(ID, &doc(&json!({})), 5).unwrap();
        assert_eq!(record.client_id, ID);
        assert!(!record.is_confidential());
        assert_eq!(record.redirect_uris, vec!["http://127.0.0.1/callback"]);
    }

    #[test]
    fn bad_documents_are_refused() {
        let cases = [
            json!({"client_id": "https://app.example.com/other.json"}),
            json!({"client_id": "https://app.example.com/client.json/"}),
            json!({"client_name": null}),
            json!({"redirect_uris": null}),
            json!({"redirect_uris": []}),
            json!({"redirect_uris": ["http://evil.example/cb"]}),
            json!({"token_endpoint_auth_method": "client_secret_basic"}),
            json!({"token_endpoint_auth_method": "client_secret_post"}),
            json!({"client_secret": "s"}),
            json!({"client_secret_expires_at": 0}),
        ];
        for case in cases {
            assert!(
                matches!(validate(ID, &doc(&case), 0), Err(CimdError::Invalid(_))),
                "{case}"
            );
        }
        assert!(validate(ID, b"not json", 0).is_err());
        assert!(validate(ID, b"[]", 0).is_err());
    }

    #[test]
    fn cache_lifetime_reads_max_age_and_no_store() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(cache_lifetime(&h), Some(0));
        h.insert("cache-control", "public, max-age=120".parse().unwrap());
        assert_eq!(cache_lifetime(&h), Some(120));
        h.insert("cache-control", "no-store".parse().unwrap());
        assert_eq!(cache_lifetime(&h), None);
    }
}
