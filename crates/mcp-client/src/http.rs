//! The HTTP side of OAuth: one `reqwest` client (no redirects followed, a timeout, JSON
//! accepted) and the policy for URLs found in documents (checklist D14, O5): only `http(s)`,
//! `http` only on loopback hosts unless allowed, and no private or special-use address
//! unless the MCP server itself lives on one.
//!
//! The address check has two halves. [`UrlPolicy::check`] looks at the URL itself (scheme,
//! IP literals, `localhost`) before anything is fetched. [`GuardedResolver`] is the OAuth
//! client's DNS resolver: every host name that client connects to is resolved by it, and a
//! name with any special-use address is refused before a connection is opened. The client
//! connects only to the addresses the resolver returned, so the checked address is the one
//! used (no gap for DNS rebinding between check and connect).

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use mcp_auth_core::uri::{is_loopback, is_special_use_ip};
use url::{Host, Url};

use crate::error::{ClientError, Result};

/// Resolves a host name to addresses: [`system_lookup`] in production; tests inject a table.
pub type Lookup = Arc<dyn Fn(String) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> + Send + Sync>;

/// The system resolver (`tokio::net::lookup_host`).
pub fn system_lookup() -> Lookup {
    Arc::new(|host: String| {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    })
}

/// Builds the client used for discovery, registration and token requests. Redirects are
/// never followed: a metadata or token endpoint that redirects is not trusted blindly, and
/// the headless authorization reads `Location` itself. Host names are resolved by a
/// [`GuardedResolver`] for `policy`; proxies are not used (a proxy would resolve names
/// itself, out of the guard's reach).
pub fn oauth_client(
    timeout: Duration,
    policy: &UrlPolicy,
    server: &Url,
    lookup: Lookup,
) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .no_proxy()
        .dns_resolver(GuardedResolver::new(policy, server, lookup))
        .user_agent(concat!("mcp-client/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ClientError::http("(client setup)", e))
}

/// The OAuth client's DNS resolver (checklist D14): resolves a name and refuses it when any
/// of its addresses is special-use (private, loopback, link-local, ...) unless the policy
/// allows private addresses. The MCP server's own host name, which the user chose, is not
/// refused (as an IP literal it would not be either).
#[derive(Clone)]
pub struct GuardedResolver {
    allow_private: bool,
    server_host: Option<String>,
    lookup: Lookup,
}

impl fmt::Debug for GuardedResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedResolver")
            .field("allow_private", &self.allow_private)
            .field("server_host", &self.server_host)
            .finish_non_exhaustive()
    }
}

/// Why the resolver refused a name.
#[derive(Debug, thiserror::Error)]
#[error(
    "{host} resolves to the special-use address {ip}, and the MCP server is public (SSRF guard; set http.allow_private_addresses to allow)"
)]
pub struct SpecialUseAddress {
    /// The name.
    pub host: String,
    /// The first special-use address found.
    pub ip: IpAddr,
}

impl GuardedResolver {
    /// The resolver for a journey to `server` under `policy`.
    pub fn new(policy: &UrlPolicy, server: &Url, lookup: Lookup) -> Self {
        Self {
            allow_private: policy.allow_private,
            server_host: server
                .domain()
                .map(|d| d.trim_end_matches('.').to_ascii_lowercase()),
            lookup,
        }
    }

    /// Resolves `host` and applies the check: the addresses to connect to, or the refusal.
    pub async fn resolve_checked(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        let addrs = (self.lookup)(host.to_owned()).await?;
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host} has no address"),
            ));
        }
        let normalised = host.trim_end_matches('.').to_ascii_lowercase();
        let exempt = self.allow_private || self.server_host.as_deref() == Some(normalised.as_str());
        if let Some(ip) = addrs
            .iter()
            .copied()
            .find(|ip| !exempt && is_special_use_ip(*ip))
        {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                SpecialUseAddress {
                    host: host.to_owned(),
                    ip,
                },
            ));
        }
        Ok(addrs)
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = this.resolve_checked(&host).await?;
            // Port 0: reqwest puts in the URL's port (or the scheme's default).
            let addrs: reqwest::dns::Addrs =
                Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// A request error with its causes (reqwest's own message omits them), for reports.
pub fn describe(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// Which discovered URLs may be fetched or opened.
#[derive(Debug, Clone, Copy)]
pub struct UrlPolicy {
    /// `http` allowed on any host.
    pub allow_insecure_http: bool,
    /// Private and special-use addresses allowed (IP literals, `localhost`, and names the
    /// [`GuardedResolver`] resolves to such addresses).
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
    use std::sync::Mutex;

    /// A real HTTP server on `127.0.0.1:0` that records the paths it was asked for.
    async fn recording_server() -> (u16, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(uri.path().to_owned());
                "{}"
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (port, seen)
    }

    /// A lookup that maps names from a table (no DNS server needed) and counts calls.
    fn table(entries: &[(&str, &[&str])]) -> Lookup {
        let map: Vec<(String, Vec<IpAddr>)> = entries
            .iter()
            .map(|(name, ips)| {
                (
                    (*name).to_owned(),
                    ips.iter().map(|ip| ip.parse().unwrap()).collect(),
                )
            })
            .collect();
        Arc::new(move |host: String| {
            let found = map
                .iter()
                .find(|(n, _)| *n == host)
                .map(|(_, ips)| ips.clone());
            Box::pin(async move {
                found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "unknown name"))
            })
        })
    }

    fn client(server: &str, allow_private: bool, lookup: Lookup) -> reqwest::Client {
        let server = Url::parse(server).unwrap();
        let policy = UrlPolicy::for_server(&server, true, allow_private);
        oauth_client(Duration::from_secs(5), &policy, &server, lookup).unwrap()
    }

    fn refused(e: &reqwest::Error) -> bool {
        describe(e).contains("SSRF guard")
    }

    #[tokio::test]
    async fn localhost_is_refused_by_name_when_the_server_is_public() {
        let (port, seen) = recording_server().await;
        // The real system resolver: `localhost` resolves to loopback without a DNS server.
        let public = client("https://mcp.example.com/mcp", false, system_lookup());
        let e = public
            .get(format!("http://localhost:{port}/refused"))
            .send()
            .await
            .unwrap_err();
        assert!(refused(&e), "{}", describe(&e));
        // The same request from a local journey goes through, and is the only one seen.
        let local = client("http://127.0.0.1:1/mcp", false, system_lookup());
        local
            .get(format!("http://localhost:{port}/allowed"))
            .send()
            .await
            .unwrap();
        assert_eq!(*seen.lock().unwrap(), vec!["/allowed".to_owned()]);
    }

    #[tokio::test]
    async fn a_public_looking_name_that_resolves_to_loopback_is_refused_unless_allowed() {
        let (port, seen) = recording_server().await;
        let lookup = table(&[("as.example.com", &["127.0.0.1"])]);
        let public = client("https://mcp.example.com/mcp", false, lookup.clone());
        let url = format!("http://as.example.com:{port}/.well-known/oauth-authorization-server");
        let e = public.get(&url).send().await.unwrap_err();
        assert!(refused(&e), "{}", describe(&e));
        assert!(seen.lock().unwrap().is_empty());
        // http.allow_private_addresses: the name is fetched, at the address it was checked
        // at (the table's, which is the only way to reach this server by that name).
        let allowed = client("https://mcp.example.com/mcp", true, lookup);
        allowed.get(&url).send().await.unwrap();
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn names_resolving_to_private_or_metadata_addresses_are_refused() {
        let lookup = table(&[
            ("metadata.example.com", &["169.254.169.254"]),
            ("internal.example.com", &["10.1.2.3"]),
            // One public and one private address: refused (any special-use address).
            ("mixed.example.com", &["93.184.215.14", "192.168.0.1"]),
            ("v6.example.com", &["fd00::1"]),
        ]);
        let public = client("https://mcp.example.com/mcp", false, lookup);
        for host in [
            "metadata.example.com",
            "internal.example.com",
            "mixed.example.com",
            "v6.example.com",
        ] {
            let e = public
                .get(format!("https://{host}/latest"))
                .send()
                .await
                .unwrap_err();
            assert!(refused(&e), "{host}: {}", describe(&e));
        }
    }

    #[tokio::test]
    async fn the_servers_own_name_is_not_refused() {
        let (port, seen) = recording_server().await;
        let lookup = table(&[("mcp.example.com", &["127.0.0.1"])]);
        let public = client("https://mcp.example.com/mcp", false, lookup);
        public
            .get(format!("http://MCP.example.com:{port}/mcp"))
            .send()
            .await
            .unwrap();
        assert_eq!(*seen.lock().unwrap(), vec!["/mcp".to_owned()]);
    }

    #[tokio::test]
    async fn resolve_checked_refuses_before_returning_any_address() {
        let server = Url::parse("https://mcp.example.com/mcp").unwrap();
        let policy = UrlPolicy::for_server(&server, false, false);
        let resolver = GuardedResolver::new(
            &policy,
            &server,
            table(&[
                ("as.example.com", &["93.184.215.14"]),
                ("evil.example.com", &["10.0.0.1"]),
            ]),
        );
        assert_eq!(
            resolver.resolve_checked("as.example.com").await.unwrap(),
            vec!["93.184.215.14".parse::<IpAddr>().unwrap()]
        );
        let e = resolver
            .resolve_checked("evil.example.com")
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(
            resolver
                .resolve_checked("nowhere.example.com")
                .await
                .is_err()
        );
    }

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
