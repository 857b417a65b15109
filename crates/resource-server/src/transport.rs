//! Streamable HTTP transport security (MCP 2025-11-25 "Security Warning", checklist H1, H2,
//! H6): `Host` and `Origin` allow-lists against DNS rebinding, the `MCP-Protocol-Version`
//! header, and CORS for browser clients.
//!
//! rmcp runs its own Host/Origin checks too (configured with the same lists); these run
//! first, before authentication, so that a forbidden browser origin learns nothing, not even
//! a challenge.

use std::borrow::Cow;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode, Uri};
use rmcp::model::ProtocolVersion;
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};
use url::Url;

use crate::settings::SecuritySettings;

/// `MCP-Protocol-Version`.
pub const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// `Mcp-Session-Id`.
pub const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
/// `Last-Event-ID`.
pub const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// The newest protocol revision this server speaks.
pub const MAX_PROTOCOL_VERSION: ProtocolVersion = ProtocolVersion::V_2025_11_25;

/// The protocol versions this server negotiates: every known one up to 2025-11-25.
pub fn supported_protocol_versions() -> Cow<'static, [ProtocolVersion]> {
    Cow::Borrowed(ProtocolVersion::known_up_to(&MAX_PROTOCOL_VERSION))
}

/// A JSON-RPC error without an id (MCP transports: the body of a 4xx MAY be one).
pub fn jsonrpc_error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32600, "message": message.into()},
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Splits an authority (`host[:port]`, `[v6][:port]`) into a host and a port, borrowed:
/// hosts are compared without regard to ASCII case, so nothing is lowercased or copied.
fn split_authority(authority: &str) -> (&str, Option<u16>) {
    let authority = authority.trim();
    if let Some(rest) = authority.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
            return (host, port);
        }
        return (authority, None);
    }
    // An unbracketed IPv6 literal (only in configuration) has more than one colon.
    if authority.bytes().filter(|&b| b == b':').count() > 1 {
        return (authority, None);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (authority, None),
        },
        None => (authority, None),
    }
}

/// Whether the request's `Host` (or HTTP/2 `:authority`) is allowed. An allow-list entry
/// without a port matches any port. Allocates nothing.
pub fn host_is_allowed(allowed: &[String], headers: &HeaderMap, uri: &Uri) -> bool {
    let authority = match headers.get(header::HOST) {
        Some(value) => match value.to_str() {
            Ok(v) => v,
            Err(_) => return false,
        },
        None => match uri.authority() {
            Some(a) => a.as_str(),
            None => return false,
        },
    };
    let (host, port) = split_authority(authority);
    allowed.iter().any(|entry| {
        let (allowed_host, allowed_port) = split_authority(entry);
        allowed_host.eq_ignore_ascii_case(host) && (allowed_port.is_none() || allowed_port == port)
    })
}

/// Whether `origin` (a header value) is on the allow-list, compared as serialised origins
/// (scheme and host lowercase, default port dropped).
pub fn origin_is_allowed(allowed: &[String], origin: &HeaderValue) -> bool {
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let Ok(url) = Url::parse(origin) else {
        return false;
    };
    let origin = url.origin();
    origin.is_tuple() && allowed.iter().any(|a| *a == origin.ascii_serialization())
}

/// H1 and DNS rebinding: `Host` must be allowed; `Origin`, when present, must be allowed.
#[allow(clippy::result_large_err)] // the error is the response itself
pub fn check_host_and_origin(
    security: &SecuritySettings,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<(), Response> {
    if !host_is_allowed(&security.allowed_hosts, headers, uri) {
        tracing::info!("rejected a request with a Host that is not allowed");
        return Err(jsonrpc_error(
            StatusCode::FORBIDDEN,
            "Forbidden: Host header is not allowed",
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN)
        && !origin_is_allowed(&security.allowed_origins, origin)
    {
        tracing::info!("rejected a request with an Origin that is not allowed");
        return Err(jsonrpc_error(
            StatusCode::FORBIDDEN,
            "Forbidden: Origin is not allowed",
        ));
    }
    Ok(())
}

/// H2: an `MCP-Protocol-Version` header, when present, names a version this server speaks.
#[allow(clippy::result_large_err)] // the error is the response itself
pub fn check_protocol_version(headers: &HeaderMap) -> Result<(), Response> {
    let mut values = headers.get_all(&MCP_PROTOCOL_VERSION).iter();
    let Some(value) = values.next() else {
        return Ok(()); // absent: 2025-03-26 is assumed
    };
    let version = value.to_str().unwrap_or("");
    let supported = supported_protocol_versions();
    if values.next().is_some() || !supported.iter().any(|v| v.as_str() == version) {
        let list: Vec<&str> = supported.iter().map(ProtocolVersion::as_str).collect();
        return Err(jsonrpc_error(
            StatusCode::BAD_REQUEST,
            format!(
                "Bad Request: unsupported MCP-Protocol-Version {version:?} (supported: {})",
                list.join(", ")
            ),
        ));
    }
    Ok(())
}

/// CORS for `/mcp` (H6): the allowed origins only; the MCP headers allowed; the challenge
/// and session headers exposed on every response, 401 and 403 included.
pub fn mcp_cors(security: &SecuritySettings) -> CorsLayer {
    let allowed = security.allowed_origins.clone();
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            origin_is_allowed(&allowed, origin)
        }))
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            MCP_PROTOCOL_VERSION,
            MCP_SESSION_ID,
            LAST_EVENT_ID,
        ])
        .expose_headers([
            header::WWW_AUTHENTICATE,
            MCP_SESSION_ID,
            MCP_PROTOCOL_VERSION,
        ])
        .max_age(Duration::from_secs(3600))
}

/// CORS for the public metadata: any origin may read it (RFC 8414 and RFC 9728 documents
/// are public), with the headers SDKs send on discovery requests.
pub fn metadata_cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([Method::GET, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            MCP_PROTOCOL_VERSION,
        ])
        .max_age(Duration::from_secs(3600))
}

/// An empty response with a status (used where no body is needed).
pub fn empty(status: StatusCode) -> Response {
    (status, Body::empty()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn allowed(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn hosts_match_with_any_port_unless_a_port_is_configured() {
        let list = allowed(&["localhost", "127.0.0.1:8001", "::1", "MCP.Example.com"]);
        let uri = Uri::from_static("/mcp");
        let ok = |h: &'static str| host_is_allowed(&list, &headers(&[("host", h)]), &uri);
        assert!(ok("localhost"));
        assert!(ok("LOCALHOST:1234"));
        assert!(ok("127.0.0.1:8001"));
        assert!(!ok("127.0.0.1:8002"));
        assert!(ok("[::1]:8001"));
        assert!(!ok("evil.example.com"));
        assert!(!ok("localhost.evil.example.com"));
        assert!(
            ok("mcp.example.COM:443"),
            "hosts compare without regard to case"
        );
        assert!(!ok("mcp.example.co"));
        assert!(!ok("[::1"));
        assert!(!host_is_allowed(&list, &HeaderMap::new(), &uri));
    }

    #[test]
    fn origins_compare_as_serialised_origins() {
        let list = allowed(&["http://localhost:6274", "https://app.example.com"]);
        let ok = |o: &'static str| origin_is_allowed(&list, &HeaderValue::from_static(o));
        assert!(ok("http://localhost:6274"));
        assert!(ok("HTTP://LOCALHOST:6274"));
        assert!(ok("https://app.example.com:443"));
        assert!(!ok("http://localhost:6275"));
        assert!(!ok("http://evil.example.com"));
        assert!(!ok("null"));
        assert!(!ok("garbage"));
    }

    #[test]
    fn protocol_versions_up_to_2025_11_25_are_accepted() {
        for v in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
            let h = headers(&[("mcp-protocol-version", v)]);
            assert!(check_protocol_version(&h).is_ok(), "{v}");
        }
        assert!(check_protocol_version(&HeaderMap::new()).is_ok());
        for v in ["2026-07-28", "1999-01-01", "garbage"] {
            let h = headers(&[("mcp-protocol-version", v)]);
            let r = check_protocol_version(&h).unwrap_err();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{v}");
        }
    }
}
