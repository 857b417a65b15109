//! Identifiers that are URIs: resources, issuers, redirect URIs and client ids.
//!
//! * [`ResourceUri`]: the canonical form of an RFC 8707 resource indicator as MCP defines it
//!   (2025-11-25 "Canonical Server URI"): absolute `http`/`https`, scheme and host lowercased
//!   (accepted in any case), default port dropped, no fragment, no userinfo, and **no trailing
//!   slash** (`https://h/` ≡ `https://h`, `https://h/mcp/` ≡ `https://h/mcp`). Two resource
//!   URIs are the same resource exactly when their canonical strings are equal.
//! * [`Issuer`]: an RFC 8414 §2 issuer. Issuers are compared as exact strings (RFC 8414 §3.3,
//!   RFC 9207 §2.4), so the original string is kept; it must have no query and no fragment.
//! * [`RedirectUri`]: a redirect URI as registered (OAuth 2.1 §2.3.1, RFC 8252 §7). Matching is
//!   exact string comparison (RFC 3986 §6.2.1), except that a loopback `http` redirect URI
//!   matches any port (RFC 8252 §7.3).
//! * [`ClientId`]: a client identifier; [`ClientId::metadata_document_url`] applies the Client
//!   ID Metadata Document rules for URL-shaped ids (draft-ietf-oauth-client-id-metadata-document
//!   §3).

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::{Host, Url};

/// Why a URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// Not an absolute URI.
    #[error("{0:?} is not an absolute URI")]
    NotAbsolute(String),
    /// A scheme this kind of URI may not use.
    #[error("{uri:?} uses the scheme {scheme:?}, which is not allowed here")]
    Scheme {
        /// The URI.
        uri: String,
        /// Its scheme.
        scheme: String,
    },
    /// No host.
    #[error("{0:?} has no host")]
    NoHost(String),
    /// A fragment (`#...`).
    #[error("{0:?} has a fragment, which is not allowed")]
    Fragment(String),
    /// A query where none is allowed.
    #[error("{0:?} has a query, which is not allowed here")]
    Query(String),
    /// A userinfo part (`user:pass@`).
    #[error("{0:?} has userinfo, which is not allowed")]
    UserInfo(String),
    /// A `.` or `..` path segment.
    #[error("{0:?} has a dot segment in its path")]
    DotSegment(String),
    /// A path that must not be empty is.
    #[error("{0:?} needs a path")]
    NoPath(String),
}

fn parse_absolute(s: &str) -> Result<Url, UriError> {
    Url::parse(s).map_err(|_| UriError::NotAbsolute(s.to_owned()))
}

fn check_no_fragment_or_userinfo(raw: &str, url: &Url) -> Result<(), UriError> {
    if url.fragment().is_some() {
        return Err(UriError::Fragment(raw.to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UriError::UserInfo(raw.to_owned()));
    }
    Ok(())
}

/// An absolute `http`/`https` URL with a host and neither fragment nor userinfo: the shape
/// resource identifiers and issuers share.
fn parse_http_url(s: &str) -> Result<Url, UriError> {
    let url = parse_absolute(s)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UriError::Scheme {
            uri: s.to_owned(),
            scheme: url.scheme().to_owned(),
        });
    }
    if url.host().is_none() {
        return Err(UriError::NoHost(s.to_owned()));
    }
    check_no_fragment_or_userinfo(s, &url)?;
    Ok(url)
}

/// Whether `url` is `http(s)` on a loopback host: `127.0.0.0/8`, `::1` or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The path segments of the raw string, before any normalisation: `Url::parse` removes dot
/// segments, so they can only be seen here.
fn raw_path_has_dot_segment(raw: &str) -> bool {
    let after_scheme = raw.split_once("://").map_or(raw, |(_, rest)| rest);
    let path_and_more = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    let path = path_and_more.split(['?', '#']).next().unwrap_or("");
    path.split('/').any(|segment| {
        let lower = segment.to_ascii_lowercase();
        matches!(
            lower.as_str(),
            "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e."
        )
    })
}

macro_rules! string_serde {
    ($name:ident) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UriError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

/// A protected resource identifier in canonical form (RFC 8707 §2, MCP canonical URI).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceUri(String);

impl ResourceUri {
    /// Validates and canonicalises a resource URI.
    pub fn parse(s: &str) -> Result<Self, UriError> {
        let url = parse_http_url(s)?;
        // `Url` has already lowercased scheme and host and dropped the default port.
        let mut canonical = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
        if let Some(port) = url.port() {
            canonical.push_str(&format!(":{port}"));
        }
        let path = url.path().trim_end_matches('/');
        canonical.push_str(path);
        if let Some(query) = url.query() {
            canonical.push('?');
            canonical.push_str(query);
        }
        Ok(Self(canonical))
    }

    /// The canonical string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The canonical URI as a [`Url`] (note that `Url` prints an empty path as `/`).
    pub fn to_url(&self) -> Url {
        // The canonical string was produced from a parsed URL, so it parses again.
        Url::parse(&self.0).unwrap_or_else(|_| unreachable!("canonical resource URI reparses"))
    }

    /// Whether `candidate`, canonicalised, is this resource. Invalid candidates never match.
    pub fn matches(&self, candidate: &str) -> bool {
        ResourceUri::parse(candidate).is_ok_and(|c| c == *self)
    }
}

string_serde!(ResourceUri);

/// An authorization server issuer identifier (RFC 8414 §2), kept exactly as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Issuer(String);

impl Issuer {
    /// Validates an issuer: an absolute `http`/`https` URL with a host, no query, no fragment.
    /// The string is kept as given: issuers are compared exactly.
    pub fn parse(s: &str) -> Result<Self, UriError> {
        let url = parse_http_url(s)?;
        if url.query().is_some() {
            return Err(UriError::Query(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }

    /// The issuer string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The issuer as a [`Url`].
    pub fn to_url(&self) -> Url {
        Url::parse(&self.0).unwrap_or_else(|_| unreachable!("a validated issuer reparses"))
    }

    /// An endpoint below the issuer: `issuer + path` (`path` starts with `/`).
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.0.trim_end_matches('/'), path)
    }
}

string_serde!(Issuer);

/// A redirect URI as registered or requested (OAuth 2.1 §2.3.1, RFC 8252 §7).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// Validates a redirect URI: absolute, no fragment, no userinfo, and either `https`,
    /// `http` on a loopback host, or a private-use scheme in reverse-domain form
    /// (RFC 8252 §7.1, e.g. `com.example.app:/callback`). Plain `http` on other hosts and
    /// script-bearing schemes are refused.
    pub fn parse(s: &str) -> Result<Self, UriError> {
        let url = parse_absolute(s)?;
        check_no_fragment_or_userinfo(s, &url)?;
        let scheme = url.scheme();
        let allowed = match scheme {
            "https" => url.host().is_some(),
            "http" => is_loopback(&url),
            "javascript" | "data" | "file" | "vbscript" | "about" | "blob" | "ftp" | "ws"
            | "wss" => false,
            private => private.contains('.'),
        };
        if !allowed {
            return Err(UriError::Scheme {
                uri: s.to_owned(),
                scheme: scheme.to_owned(),
            });
        }
        Ok(Self(s.to_owned()))
    }

    /// The URI as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is an `http` loopback redirect URI (any port may be used with it).
    pub fn is_loopback(&self) -> bool {
        Url::parse(&self.0).is_ok_and(|u| u.scheme() == "http" && is_loopback(&u))
    }

    /// Whether `requested` may be used where `self` was registered: the same string, or,
    /// for an `http` loopback registration, the same URI on any port (RFC 8252 §7.3).
    pub fn matches(&self, requested: &str) -> bool {
        if self.0 == requested {
            return true;
        }
        let (Ok(registered), Ok(mut candidate)) = (Url::parse(&self.0), Url::parse(requested))
        else {
            return false;
        };
        if registered.scheme() != "http" || !is_loopback(&registered) {
            return false;
        }
        if candidate.fragment().is_some() || candidate.scheme() != "http" {
            return false;
        }
        // Only the port may differ; everything else must be exactly as registered.
        if candidate.set_port(registered.port()).is_err() {
            return false;
        }
        candidate.as_str() == registered.as_str()
    }
}

string_serde!(RedirectUri);

/// A client identifier (RFC 6749 §2.2): opaque, or a Client ID Metadata Document URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

impl ClientId {
    /// Any non-empty string of visible ASCII (RFC 6749 Appendix A.1: `*VSCHAR`).
    pub fn parse(s: &str) -> Result<Self, UriError> {
        if s.is_empty() || !s.bytes().all(|b| (0x20..=0x7E).contains(&b)) {
            return Err(UriError::NotAbsolute(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }

    /// The identifier.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this id is URL-shaped (`https://…`) and so names a metadata document. An
    /// authorization server never issues such ids itself (CIMD §5).
    pub fn looks_like_metadata_document_url(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// The metadata document URL of a URL-shaped client id, validated per CIMD §3: `https`,
    /// a host, a non-root path, no dot segments, no fragment, no userinfo.
    pub fn metadata_document_url(&self) -> Result<Url, UriError> {
        let raw = self.0.as_str();
        let url = parse_absolute(raw)?;
        if url.scheme() != "https" {
            return Err(UriError::Scheme {
                uri: raw.to_owned(),
                scheme: url.scheme().to_owned(),
            });
        }
        if url.host().is_none() {
            return Err(UriError::NoHost(raw.to_owned()));
        }
        check_no_fragment_or_userinfo(raw, &url)?;
        if raw_path_has_dot_segment(raw) {
            return Err(UriError::DotSegment(raw.to_owned()));
        }
        if url.path() == "/" || url.path().is_empty() {
            return Err(UriError::NoPath(raw.to_owned()));
        }
        Ok(url)
    }
}

string_serde!(ClientId);

/// Whether an IP address is one an outbound fetch must never reach: loopback, private,
/// link-local, shared, documentation, benchmarking, multicast, reserved and the other
/// special-use blocks of RFC 6890 (and their IPv4-mapped and NAT64 IPv6 forms).
pub fn is_special_use_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0                                  // 0.0.0.0/8 "this network"
                || (a == 100 && (64..=127).contains(&b))   // 100.64.0.0/10 shared address space
                || (a == 192 && b == 0 && c == 0)          // 192.0.0.0/24 IETF protocol assignments
                || (a == 192 && b == 88 && c == 99)        // 192.88.99.0/24 6to4 relay anycast
                || (a == 198 && (18..=19).contains(&b))    // 198.18.0.0/15 benchmarking
                || a >= 240 // 240.0.0.0/4 reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_special_use_ip(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00                 // fc00::/7 unique local
                || (seg[0] & 0xffc0) == 0xfe80                 // fe80::/10 link-local
                || (seg[0] & 0xffc0) == 0xfec0                 // fec0::/10 site-local (deprecated)
                || (seg[0] == 0x2001 && seg[1] == 0x0db8)      // 2001:db8::/32 documentation
                || (seg[0] == 0x2001 && seg[1] < 0x0200)       // 2001::/23 IETF protocol assignments
                || seg[0] == 0x2002                            // 2002::/16 6to4
                || (seg[0] == 0x0064 && seg[1] == 0xff9b)      // 64:ff9b::/96 and /48 NAT64
                || (seg[0] == 0x0100 && seg[1..4] == [0, 0, 0]) // 100::/64 discard
                || (seg[..5] == [0, 0, 0, 0, 0] && seg[5] == 0) // ::/96 IPv4-compatible
        }
    }
}

#[cfg(test)]
mod tests;
