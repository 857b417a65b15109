//! Discovery (MCP 2025-11-25 "Authorization Server Discovery"; checklist D10–D14, P1):
//!
//! 1. the 401 challenge (`WWW-Authenticate: Bearer resource_metadata=…, scope=…`, RFC 9728 §5.1);
//! 2. protected resource metadata: the header URL, then the path-inserted well-known URL,
//!    then the root one (RFC 9728 §3.1), the first that answers 200 with a document;
//! 3. its `resource` checked against the server URL (RFC 9728 §3.3): equal as canonical
//!    resource URIs, or the same origin with a path that is a whole-segment prefix;
//! 4. authorization server metadata in the MCP order (RFC 8414 path-insert, OIDC
//!    path-insert, OIDC path-append; continue on 4xx), its `issuer` equal to the issuer as an
//!    exact string (RFC 8414 §3.3), and PKCE `S256` advertised (refused otherwise).

use mcp_auth_core::challenge::BearerChallenge;
use mcp_auth_core::metadata::{AuthorizationServerMetadata, ProtectedResourceMetadata};
use mcp_auth_core::{Issuer, ResourceUri, well_known};
use serde_json::json;
use url::Url;

use crate::error::{ClientError, Result};
use crate::http::UrlPolicy;
use crate::report::Reporter;

/// The protocol version sent on discovery requests and negotiated over MCP.
pub const PROTOCOL_VERSION: &str = "2025-11-25";

/// Where the protected resource metadata was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrmSource {
    /// The `resource_metadata` URL of the challenge.
    Header,
    /// `/.well-known/oauth-protected-resource/<path>`.
    PathInserted,
    /// `/.well-known/oauth-protected-resource`.
    Root,
    /// None found: 2025-03-26 discovery (the MCP server's origin is the authorization
    /// server), only when enabled.
    Legacy,
}

/// How the metadata's `resource` relates to the server URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceMatch {
    /// The same canonical resource URI.
    Exact,
    /// Same origin, and the resource path is a prefix (whole segments) of the server path.
    PathPrefix,
}

/// Everything discovery found.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// The MCP server URL.
    pub server: Url,
    /// The challenge that started it, if any.
    pub challenge: Option<BearerChallenge>,
    /// The metadata URL that answered.
    pub prm_url: Url,
    /// How it was found.
    pub prm_source: PrmSource,
    /// The document.
    pub prm: ProtectedResourceMetadata,
    /// The `resource` value sent on every authorization, token and refresh request: the
    /// metadata's `resource`, unchanged (RFC 8707, checklist A1).
    pub resource: String,
    /// The authorization server.
    pub issuer: Issuer,
    /// Where its metadata came from.
    pub as_metadata_url: Url,
    /// Its metadata.
    pub as_metadata: AuthorizationServerMetadata,
}

impl Discovery {
    /// The authorization endpoint (checked present during discovery).
    pub fn authorization_endpoint(&self) -> &str {
        self.as_metadata
            .authorization_endpoint
            .as_deref()
            .unwrap_or_default()
    }

    /// The token endpoint (checked present during discovery).
    pub fn token_endpoint(&self) -> &str {
        self.as_metadata
            .token_endpoint
            .as_deref()
            .unwrap_or_default()
    }
}

/// Sends an unauthenticated `initialize` to see whether the server wants authorization.
/// Returns the challenge of a 401, or `None` if the server let the request through.
pub async fn probe(
    http: &reqwest::Client,
    server: &Url,
    reporter: &Reporter,
) -> Result<Option<BearerChallenge>> {
    let body = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "mcp-client", "version": env!("CARGO_PKG_VERSION")}
        }
    });
    let response = http
        .post(server.clone())
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", PROTOCOL_VERSION)
        .json(&body)
        .send()
        .await
        .map_err(|e| ClientError::http(server.as_str(), e))?;
    let status = response.status();
    let header = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if status == reqwest::StatusCode::UNAUTHORIZED {
        let challenge = header.as_deref().and_then(BearerChallenge::parse);
        report_challenge(
            reporter,
            status.as_u16(),
            header.as_deref(),
            challenge.as_ref(),
        );
        return Ok(Some(challenge.unwrap_or_default()));
    }
    reporter.step(
        "discovery.probe",
        format!("{server} answered {status} without a token: no challenge to follow"),
        json!({"status": status.as_u16()}),
    );
    Ok(None)
}

/// Records the challenge step.
pub fn report_challenge(
    reporter: &Reporter,
    status: u16,
    raw: Option<&str>,
    challenge: Option<&BearerChallenge>,
) {
    let message = match challenge {
        Some(c) => format!(
            "Server answered {status} with a Bearer challenge (resource_metadata: {}, scope: {}{})",
            c.resource_metadata.as_deref().unwrap_or("none"),
            c.scope
                .as_ref()
                .map_or_else(|| "none".to_owned(), ToString::to_string),
            c.error
                .as_ref()
                .map_or_else(String::new, |e| format!(", error: {e}")),
        ),
        None => format!("Server answered {status} without a usable Bearer challenge"),
    };
    reporter.step(
        "discovery.challenge",
        message,
        json!({"status": status, "www_authenticate": raw}),
    );
}

/// Runs discovery from a challenge (or none) to validated authorization server metadata.
pub async fn discover(
    http: &reqwest::Client,
    server: &Url,
    challenge: Option<&BearerChallenge>,
    policy: &UrlPolicy,
    legacy: bool,
    reporter: &Reporter,
) -> Result<Discovery> {
    // D10: the header URL first, then the well-known candidates, each once.
    let mut candidates: Vec<(Url, PrmSource)> = Vec::new();
    if let Some(raw) = challenge.and_then(|c| c.resource_metadata.as_deref()) {
        candidates.push((
            policy.check(raw, "resource_metadata from WWW-Authenticate")?,
            PrmSource::Header,
        ));
    }
    let well_known = well_known::protected_resource_metadata_candidates(server);
    let root = well_known.last().cloned();
    for url in well_known {
        let source = if Some(&url) == root.as_ref() {
            PrmSource::Root
        } else {
            PrmSource::PathInserted
        };
        if !candidates.iter().any(|(u, _)| *u == url) {
            candidates.push((url, source));
        }
    }
    let mut tried = Vec::new();
    let mut found = None;
    for (url, source) in candidates {
        match fetch_json::<ProtectedResourceMetadata>(http, &url).await {
            Ok(doc) => {
                found = Some((url, source, doc));
                break;
            }
            Err(why) => {
                reporter.step(
                    "discovery.prm_miss",
                    format!(
                        "No protected resource metadata at {url} ({why}); trying the next location"
                    ),
                    json!({"url": url.as_str(), "source": source, "reason": why}),
                );
                tried.push(url.to_string());
            }
        }
    }
    let Some((prm_url, prm_source, prm)) = found else {
        if legacy {
            return legacy_discovery(http, server, challenge, policy, &tried, reporter).await;
        }
        return Err(ClientError::NoResourceMetadata {
            tried: tried.join(", "),
        });
    };
    let how = match prm_source {
        PrmSource::Header => "from the WWW-Authenticate header",
        PrmSource::PathInserted => "path-inserted well-known URL",
        PrmSource::Root => "root well-known URL",
        PrmSource::Legacy => "2025-03-26 fallback",
    };
    reporter.step(
        "discovery.prm",
        format!(
            "Protected resource metadata at {prm_url} ({how}): resource {}, authorization servers [{}], scopes_supported [{}]",
            prm.resource,
            prm.authorization_servers.join(", "),
            prm.scopes_supported.as_deref().unwrap_or_default().join(" ")
        ),
        json!({"url": prm_url.as_str(), "source": prm_source, "document": prm}),
    );

    // D12: the resource must be this server.
    let matched = resource_matches(server, &prm.resource)?;
    reporter.step(
        "discovery.resource",
        match matched {
            ResourceMatch::Exact => {
                format!("Resource {} is this server (exact match)", prm.resource)
            }
            ResourceMatch::PathPrefix => format!(
                "Resource {} covers this server (same origin, path prefix of {server})",
                prm.resource
            ),
        },
        json!({"resource": prm.resource, "server": server.as_str(), "match": matched}),
    );

    // D13: the first authorization server.
    let issuer_raw = prm
        .authorization_servers
        .first()
        .ok_or(ClientError::NoAuthorizationServer)?;
    let issuer = Issuer::parse(issuer_raw)
        .map_err(|e| ClientError::invalid_url(issuer_raw, e.to_string()))?;
    policy.check(issuer.as_str(), "authorization server issuer")?;

    let (as_metadata_url, as_metadata) =
        authorization_server_metadata(http, &issuer, policy, reporter).await?;
    Ok(Discovery {
        server: server.clone(),
        challenge: challenge.cloned(),
        prm_url,
        prm_source,
        resource: prm.resource.clone(),
        prm,
        issuer,
        as_metadata_url,
        as_metadata,
    })
}

/// D11, D12, P1: fetches and validates the metadata of `issuer`.
pub async fn authorization_server_metadata(
    http: &reqwest::Client,
    issuer: &Issuer,
    policy: &UrlPolicy,
    reporter: &Reporter,
) -> Result<(Url, AuthorizationServerMetadata)> {
    let mut tried = Vec::new();
    for url in well_known::authorization_server_metadata_candidates(&issuer.to_url()) {
        let doc = match fetch_json::<AuthorizationServerMetadata>(http, &url).await {
            Ok(doc) => doc,
            Err(why) => {
                reporter.step(
                    "discovery.as_miss",
                    format!("No authorization server metadata at {url} ({why}); trying the next location"),
                    json!({"url": url.as_str(), "reason": why}),
                );
                tried.push(url.to_string());
                continue;
            }
        };
        validate_as_metadata(&doc, issuer, &url, policy, reporter)?;
        return Ok((url, doc));
    }
    Err(ClientError::NoAuthorizationServerMetadata {
        issuer: issuer.to_string(),
        tried: tried.join(", "),
    })
}

/// D12, P1 and the endpoint checks on a metadata document fetched from `url`.
fn validate_as_metadata(
    doc: &AuthorizationServerMetadata,
    issuer: &Issuer,
    url: &Url,
    policy: &UrlPolicy,
    reporter: &Reporter,
) -> Result<()> {
    // RFC 8414 §3.3: exact string comparison, no normalisation.
    if doc.issuer != issuer.as_str() {
        return Err(ClientError::IssuerMismatch {
            url: url.to_string(),
            expected: issuer.to_string(),
            found: doc.issuer.clone(),
        });
    }
    if !doc.supports_s256() {
        return Err(ClientError::PkceNotSupported {
            issuer: issuer.to_string(),
            found: doc.code_challenge_methods_supported.as_ref().map_or_else(
                || "nothing: the field is absent".to_owned(),
                |m| format!("[{}]", m.join(", ")),
            ),
        });
    }
    let authorization_endpoint = doc
        .authorization_endpoint
        .as_deref()
        .ok_or(ClientError::MetadataIncomplete("authorization_endpoint"))?;
    policy.check(authorization_endpoint, "authorization_endpoint")?;
    let token_endpoint = doc
        .token_endpoint
        .as_deref()
        .ok_or(ClientError::MetadataIncomplete("token_endpoint"))?;
    policy.check(token_endpoint, "token_endpoint")?;
    if let Some(registration) = doc.registration_endpoint.as_deref() {
        policy.check(registration, "registration_endpoint")?;
    }
    if !doc.response_types_supported.is_empty()
        && !doc.response_types_supported.iter().any(|t| t == "code")
    {
        return Err(ClientError::MetadataIncomplete(
            "\"code\" in response_types_supported",
        ));
    }
    reporter.step(
            "discovery.as_metadata",
            format!(
                "Authorization server metadata at {url}: issuer {} matches exactly, PKCE S256 supported{}{}",
                doc.issuer,
                if doc.supports_client_id_metadata_documents() { ", Client ID Metadata Documents supported" } else { "" },
                if doc.registration_endpoint.is_some() { ", dynamic registration available" } else { "" },
            ),
            json!({"url": url.as_str(), "document": doc}),
        );
    Ok(())
}

/// 2025-03-26 discovery, for servers without protected resource metadata: the MCP server's
/// origin is the authorization server; its RFC 8414 metadata at the root, or else the
/// default endpoints `/authorize`, `/token`, `/register`.
async fn legacy_discovery(
    http: &reqwest::Client,
    server: &Url,
    challenge: Option<&BearerChallenge>,
    policy: &UrlPolicy,
    tried: &[String],
    reporter: &Reporter,
) -> Result<Discovery> {
    let origin = server.origin().ascii_serialization();
    let issuer =
        Issuer::parse(&origin).map_err(|e| ClientError::invalid_url(&origin, e.to_string()))?;
    reporter.step(
        "discovery.legacy",
        format!(
            "No protected resource metadata (tried {}): falling back to 2025-03-26 discovery, where the MCP server's origin {origin} is the authorization server",
            tried.join(", ")
        ),
        json!({"issuer": origin}),
    );
    let url = well_known::authorization_server_metadata_url(&issuer.to_url());
    let as_metadata = match fetch_json::<AuthorizationServerMetadata>(http, &url).await {
        Ok(doc) => {
            validate_as_metadata(&doc, &issuer, &url, policy, reporter)?;
            doc
        }
        Err(why) => {
            reporter.step(
                "discovery.legacy_endpoints",
                format!(
                    "No authorization server metadata at {url} ({why}): using the default endpoints {origin}/authorize, {origin}/token and {origin}/register (PKCE S256 is used; the server's support cannot be checked)"
                ),
                json!({"url": url.as_str(), "reason": why}),
            );
            serde_json::from_value(json!({
                "issuer": origin,
                "authorization_endpoint": format!("{origin}/authorize"),
                "token_endpoint": format!("{origin}/token"),
                "registration_endpoint": format!("{origin}/register"),
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
            }))
            .map_err(|e| ClientError::invalid_url(&origin, e.to_string()))?
        }
    };
    // RFC 8707 still applies: the resource is the server itself.
    let resource = ResourceUri::parse(server.as_str())
        .map_err(|e| ClientError::invalid_url(server.as_str(), e.to_string()))?
        .to_string();
    let prm: ProtectedResourceMetadata =
        serde_json::from_value(json!({"resource": resource, "authorization_servers": [origin]}))
            .map_err(|e| ClientError::invalid_url(&origin, e.to_string()))?;
    Ok(Discovery {
        server: server.clone(),
        challenge: challenge.cloned(),
        prm_url: url.clone(),
        prm_source: PrmSource::Legacy,
        resource,
        prm,
        issuer,
        as_metadata_url: url,
        as_metadata,
    })
}

/// RFC 9728 §3.3 as MCP clients apply it: the same resource, or a resource on the same
/// origin whose path is a whole-segment prefix of the server's path.
pub fn resource_matches(server: &Url, resource: &str) -> Result<ResourceMatch> {
    let mismatch = || ClientError::ResourceMismatch {
        expected: server.to_string(),
        found: resource.to_owned(),
    };
    let ours = ResourceUri::parse(server.as_str())
        .map_err(|e| ClientError::invalid_url(server.as_str(), e.to_string()))?;
    let theirs = ResourceUri::parse(resource).map_err(|_| mismatch())?;
    if ours == theirs {
        return Ok(ResourceMatch::Exact);
    }
    let (a, b) = (ours.to_url(), theirs.to_url());
    if a.origin() != b.origin() || b.query().is_some() {
        return Err(mismatch());
    }
    let prefix = b.path().trim_end_matches('/');
    let path = a.path();
    let covered =
        prefix.is_empty() || (path.starts_with(prefix) && path[prefix.len()..].starts_with('/'));
    if covered {
        Ok(ResourceMatch::PathPrefix)
    } else {
        Err(mismatch())
    }
}

/// GETs a JSON document. `Err` carries a short reason (status, parse error) for the report.
async fn fetch_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &Url,
) -> std::result::Result<T, String> {
    let response = http
        .get(url.clone())
        .header("accept", "application/json")
        .header("mcp-protocol-version", PROTOCOL_VERSION)
        .send()
        .await
        .map_err(|e| format!("request failed: {}", crate::http::describe(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {}", status.as_u16()));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| format!("reading the body failed: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("not a valid document: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn resource_match_rules() {
        let server = url("http://localhost:8001/mcp");
        assert_eq!(
            resource_matches(&server, "http://localhost:8001/mcp").unwrap(),
            ResourceMatch::Exact
        );
        assert_eq!(
            resource_matches(&server, "http://LOCALHOST:8001/mcp/").unwrap(),
            ResourceMatch::Exact
        );
        assert_eq!(
            resource_matches(&server, "http://localhost:8001").unwrap(),
            ResourceMatch::PathPrefix
        );
        assert_eq!(
            resource_matches(&url("https://h/api/mcp"), "https://h/api").unwrap(),
            ResourceMatch::PathPrefix
        );
        for bad in [
            "https://evil.example.com/mcp",
            "http://localhost:8002/mcp",
            "https://localhost:8001/mcp",
            "http://localhost:8001/mc",
            "http://localhost:8001/mcp/admin",
            "http://localhost:8001/other",
            "not a url",
        ] {
            assert!(
                matches!(
                    resource_matches(&server, bad),
                    Err(ClientError::ResourceMismatch { .. })
                ),
                "{bad}"
            );
        }
    }
}
