//! Well-known metadata locations, in the order MCP clients probe them.
//!
//! * Protected resource metadata, RFC 9728 §3.1: `/.well-known/oauth-protected-resource` is
//!   inserted between the host and the path of the resource (a terminating `/` of the path
//!   is dropped first, a query is kept). MCP 2025-11-25 ("Protected Resource Metadata
//!   Discovery") has clients try the path-inserted URL, then the root one.
//! * Authorization server metadata, MCP 2025-11-25 ("Authorization Server Metadata
//!   Discovery"): for an issuer with a path, RFC 8414 §3.1 path-insert, then OpenID Connect
//!   Discovery path-insert, then OpenID Connect Discovery 1.0 §4 path-append; for an issuer
//!   without a path, the RFC 8414 root, then the OpenID Connect root.

use url::Url;

/// The RFC 9728 well-known suffix.
pub const OAUTH_PROTECTED_RESOURCE: &str = "/.well-known/oauth-protected-resource";
/// The RFC 8414 well-known suffix.
pub const OAUTH_AUTHORIZATION_SERVER: &str = "/.well-known/oauth-authorization-server";
/// The OpenID Connect Discovery well-known suffix.
pub const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

fn trimmed_path(url: &Url) -> &str {
    url.path().trim_end_matches('/')
}

fn with_query(mut s: String, url: &Url) -> Url {
    if let Some(q) = url.query() {
        s.push('?');
        s.push_str(q);
    }
    // Built from the parts of a valid URL, so it parses.
    Url::parse(&s).unwrap_or_else(|_| unreachable!("well-known URL from a valid URL: {s}"))
}

/// The path-inserted protected resource metadata URL of `resource` (what a resource server
/// advertises in `resource_metadata`). For a resource without a path this is the root URL.
pub fn protected_resource_metadata_url(resource: &Url) -> Url {
    let s = format!(
        "{}{}{}",
        origin(resource),
        OAUTH_PROTECTED_RESOURCE,
        trimmed_path(resource)
    );
    with_query(s, resource)
}

/// Where a client looks for protected resource metadata when the challenge named none:
/// the path-inserted URL, then the root URL (once, if they are the same).
pub fn protected_resource_metadata_candidates(resource: &Url) -> Vec<Url> {
    let path_inserted = protected_resource_metadata_url(resource);
    let root = format!("{}{}", origin(resource), OAUTH_PROTECTED_RESOURCE);
    let root = Url::parse(&root).unwrap_or_else(|_| unreachable!("well-known URL: {root}"));
    if path_inserted == root {
        vec![root]
    } else {
        vec![path_inserted, root]
    }
}

/// The RFC 8414 metadata URL of `issuer` (what an authorization server serves).
pub fn authorization_server_metadata_url(issuer: &Url) -> Url {
    let s = format!(
        "{}{}{}",
        origin(issuer),
        OAUTH_AUTHORIZATION_SERVER,
        trimmed_path(issuer)
    );
    with_query(s, issuer)
}

/// Where a client looks for authorization server metadata, in the MCP order.
pub fn authorization_server_metadata_candidates(issuer: &Url) -> Vec<Url> {
    let origin = origin(issuer);
    let path = trimmed_path(issuer);
    let urls = if path.is_empty() {
        vec![
            format!("{origin}{OAUTH_AUTHORIZATION_SERVER}"),
            format!("{origin}{OPENID_CONFIGURATION}"),
        ]
    } else {
        vec![
            format!("{origin}{OAUTH_AUTHORIZATION_SERVER}{path}"),
            format!("{origin}{OPENID_CONFIGURATION}{path}"),
            format!("{origin}{path}{OPENID_CONFIGURATION}"),
        ]
    };
    urls.into_iter()
        .map(|s| Url::parse(&s).unwrap_or_else(|_| unreachable!("well-known URL: {s}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(urls: Vec<Url>) -> Vec<String> {
        urls.into_iter().map(String::from).collect()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn protected_resource_metadata_golden() {
        let cases: &[(&str, &[&str])] = &[
            (
                "https://mcp.example.com/mcp",
                &[
                    "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
                    "https://mcp.example.com/.well-known/oauth-protected-resource",
                ],
            ),
            (
                "https://mcp.example.com/mcp/",
                &[
                    "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
                    "https://mcp.example.com/.well-known/oauth-protected-resource",
                ],
            ),
            (
                "http://localhost:8001/tenant/a/mcp",
                &[
                    "http://localhost:8001/.well-known/oauth-protected-resource/tenant/a/mcp",
                    "http://localhost:8001/.well-known/oauth-protected-resource",
                ],
            ),
            (
                "https://mcp.example.com",
                &["https://mcp.example.com/.well-known/oauth-protected-resource"],
            ),
            (
                "https://mcp.example.com/",
                &["https://mcp.example.com/.well-known/oauth-protected-resource"],
            ),
            (
                "https://mcp.example.com/mcp?tenant=1",
                &[
                    "https://mcp.example.com/.well-known/oauth-protected-resource/mcp?tenant=1",
                    "https://mcp.example.com/.well-known/oauth-protected-resource",
                ],
            ),
        ];
        for (resource, expected) in cases {
            assert_eq!(
                strings(protected_resource_metadata_candidates(&url(resource))),
                *expected,
                "{resource}"
            );
            assert_eq!(
                protected_resource_metadata_url(&url(resource)).as_str(),
                expected[0]
            );
        }
    }

    #[test]
    fn authorization_server_metadata_golden() {
        let cases: &[(&str, &[&str])] = &[
            (
                "https://as.example.com",
                &[
                    "https://as.example.com/.well-known/oauth-authorization-server",
                    "https://as.example.com/.well-known/openid-configuration",
                ],
            ),
            (
                "https://as.example.com/",
                &[
                    "https://as.example.com/.well-known/oauth-authorization-server",
                    "https://as.example.com/.well-known/openid-configuration",
                ],
            ),
            (
                "http://localhost:9000",
                &[
                    "http://localhost:9000/.well-known/oauth-authorization-server",
                    "http://localhost:9000/.well-known/openid-configuration",
                ],
            ),
            (
                "https://as.example.com/tenant1",
                &[
                    "https://as.example.com/.well-known/oauth-authorization-server/tenant1",
                    "https://as.example.com/.well-known/openid-configuration/tenant1",
                    "https://as.example.com/tenant1/.well-known/openid-configuration",
                ],
            ),
            (
                "https://as.example.com/tenant1/",
                &[
                    "https://as.example.com/.well-known/oauth-authorization-server/tenant1",
                    "https://as.example.com/.well-known/openid-configuration/tenant1",
                    "https://as.example.com/tenant1/.well-known/openid-configuration",
                ],
            ),
        ];
        for (issuer, expected) in cases {
            assert_eq!(
                strings(authorization_server_metadata_candidates(&url(issuer))),
                *expected,
                "{issuer}"
            );
            assert_eq!(
                authorization_server_metadata_url(&url(issuer)).as_str(),
                expected[0]
            );
        }
    }
}
