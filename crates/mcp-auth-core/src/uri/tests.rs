use super::*;
use proptest::prelude::*;

#[test]
fn resource_canonicalisation_table() {
    let cases = [
        ("https://mcp.example.com/mcp", "https://mcp.example.com/mcp"),
        ("HTTPS://MCP.Example.COM/mcp", "https://mcp.example.com/mcp"),
        (
            "https://mcp.example.com:443/mcp",
            "https://mcp.example.com/mcp",
        ),
        ("http://localhost:80/mcp", "http://localhost/mcp"),
        ("http://localhost:8001/mcp", "http://localhost:8001/mcp"),
        ("https://h", "https://h"),
        ("https://h/", "https://h"),
        ("https://h/mcp/", "https://h/mcp"),
        ("https://h/MCP", "https://h/MCP"),
        ("https://h/mcp?tenant=a", "https://h/mcp?tenant=a"),
        ("http://[::1]:8001/mcp", "http://[::1]:8001/mcp"),
    ];
    for (input, canonical) in cases {
        let parsed = ResourceUri::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(parsed.as_str(), canonical, "{input}");
    }
}

#[test]
fn resource_rejections() {
    assert!(matches!(
        ResourceUri::parse("https://h/mcp#frag"),
        Err(UriError::Fragment(_))
    ));
    assert!(matches!(
        ResourceUri::parse("https://h/mcp#"),
        Err(UriError::Fragment(_))
    ));
    assert!(matches!(
        ResourceUri::parse("mcp.example.com"),
        Err(UriError::NotAbsolute(_))
    ));
    assert!(matches!(
        ResourceUri::parse("/mcp"),
        Err(UriError::NotAbsolute(_))
    ));
    assert!(matches!(
        ResourceUri::parse("ftp://h/mcp"),
        Err(UriError::Scheme { .. })
    ));
    assert!(matches!(
        ResourceUri::parse("https://u:p@h/mcp"),
        Err(UriError::UserInfo(_))
    ));
}

#[test]
fn resource_matching_ignores_case_of_host_default_port_and_trailing_slash() {
    let resource = ResourceUri::parse("https://h").unwrap();
    assert!(resource.matches("https://h/"));
    assert!(resource.matches("HTTPS://H:443"));
    assert!(!resource.matches("https://h/mcp"));
    assert!(!resource.matches("http://h"));
    assert!(!resource.matches("https://h:8443"));
    assert!(!resource.matches("not a uri"));
    let mcp = ResourceUri::parse("http://localhost:8001/mcp").unwrap();
    assert!(mcp.matches("http://LOCALHOST:8001/mcp/"));
    assert!(!mcp.matches("http://127.0.0.1:8001/mcp"));
}

#[test]
fn resource_serde_canonicalises() {
    let r: ResourceUri = serde_json::from_str("\"HTTPS://H/\"").unwrap();
    assert_eq!(serde_json::to_string(&r).unwrap(), "\"https://h\"");
}

#[test]
fn issuer_is_kept_exactly_and_refuses_query_and_fragment() {
    assert_eq!(
        Issuer::parse("http://localhost:9000").unwrap().as_str(),
        "http://localhost:9000"
    );
    assert_eq!(
        Issuer::parse("https://as.example.com/tenant1")
            .unwrap()
            .as_str(),
        "https://as.example.com/tenant1"
    );
    assert!(matches!(
        Issuer::parse("https://as?x=1"),
        Err(UriError::Query(_))
    ));
    assert!(matches!(
        Issuer::parse("https://as#f"),
        Err(UriError::Fragment(_))
    ));
    assert!(Issuer::parse("as.example.com").is_err());
    assert_eq!(
        Issuer::parse("http://localhost:9000")
            .unwrap()
            .endpoint("/token"),
        "http://localhost:9000/token"
    );
}

#[test]
fn redirect_uri_validation() {
    for ok in [
        "https://app.example.com/cb",
        "https://claude.ai/api/mcp/auth_callback",
        "http://127.0.0.1/cb",
        "http://127.0.0.1:6276/oauth/callback",
        "http://localhost:6274/oauth/callback",
        "http://[::1]:8080/cb",
        "com.example.app:/oauth2redirect",
    ] {
        assert!(RedirectUri::parse(ok).is_ok(), "{ok} should be accepted");
    }
    for bad in [
        "http://evil.com/cb",
        "javascript:alert(1)",
        "data:text/html,hi",
        "file:///etc/passwd",
        "https://app.example.com/cb#frag",
        "https://u:p@app.example.com/cb",
        "/relative/cb",
        "myapp:/cb",
    ] {
        assert!(RedirectUri::parse(bad).is_err(), "{bad} should be refused");
    }
}

#[test]
fn redirect_uri_matching_table() {
    let cases: &[(&str, &str, bool)] = &[
        // exact match
        (
            "https://app.example.com/cb",
            "https://app.example.com/cb",
            true,
        ),
        // non-loopback: nothing may differ
        (
            "https://app.example.com/cb",
            "https://app.example.com:8443/cb",
            false,
        ),
        (
            "https://app.example.com/cb",
            "https://app.example.com/cb/extra",
            false,
        ),
        (
            "https://app.example.com/cb",
            "https://app.example.com/cb?x=1",
            false,
        ),
        (
            "https://app.example.com/cb",
            "https://APP.example.com/cb",
            false,
        ),
        (
            "https://app.example.com/cb",
            "https://app.example.com/CB",
            false,
        ),
        (
            "https://app.example.com/cb",
            "https://app.example.com/cb/",
            false,
        ),
        // loopback: any port
        ("http://127.0.0.1/cb", "http://127.0.0.1:53122/cb", true),
        (
            "http://127.0.0.1:6276/oauth/callback",
            "http://127.0.0.1:40000/oauth/callback",
            true,
        ),
        ("http://[::1]/cb", "http://[::1]:53122/cb", true),
        (
            "http://localhost:6274/oauth/callback",
            "http://localhost:1234/oauth/callback",
            true,
        ),
        // loopback: but only the port
        ("http://127.0.0.1/cb", "http://127.0.0.1:53122/cb2", false),
        (
            "http://127.0.0.1/cb",
            "http://127.0.0.1:53122/cb/extra",
            false,
        ),
        (
            "http://127.0.0.1/cb",
            "http://127.0.0.1:53122/cb?x=1",
            false,
        ),
        ("http://127.0.0.1/cb", "http://127.0.0.1:53122/CB", false),
        ("http://127.0.0.1/cb", "http://127.0.0.1:53122/cb#f", false),
        ("http://127.0.0.1/cb", "https://127.0.0.1:53122/cb", false),
        ("http://127.0.0.1/cb", "http://localhost:53122/cb", false),
        ("http://localhost/cb", "http://127.0.0.1:53122/cb", false),
        ("http://127.0.0.1/cb", "http://[::1]:53122/cb", false),
        ("http://127.0.0.1/cb", "http://u@127.0.0.1:53122/cb", false),
        ("http://127.0.0.1/cb?a=1", "http://127.0.0.1:5/cb?a=1", true),
        ("http://127.0.0.1/cb", "not a uri", false),
    ];
    for (registered, requested, expected) in cases {
        let registered_uri = RedirectUri::parse(registered).unwrap();
        assert_eq!(
            registered_uri.matches(requested),
            *expected,
            "registered {registered}, requested {requested}"
        );
    }
}

#[test]
fn client_id_metadata_url_rules() {
    let ok = ClientId::parse("https://app.example.com/oauth/client.json").unwrap();
    assert!(ok.looks_like_metadata_document_url());
    assert_eq!(
        ok.metadata_document_url().unwrap().as_str(),
        "https://app.example.com/oauth/client.json"
    );
    let refused = [
        ("https://x.com", "no path"),
        ("https://x.com/", "root path"),
        ("https://u:p@x.com/c.json", "userinfo"),
        ("https://x.com/a/../c.json", "dot-dot"),
        ("https://x.com/a/./c.json", "dot"),
        ("https://x.com/a/%2e%2e/c.json", "encoded dot-dot"),
        ("https://x.com/c.json#f", "fragment"),
        ("http://x.com/c.json", "http"),
    ];
    for (id, why) in refused {
        let client_id = ClientId::parse(id).unwrap();
        assert!(client_id.metadata_document_url().is_err(), "{id}: {why}");
    }
    assert!(
        !ClientId::parse("abc123")
            .unwrap()
            .looks_like_metadata_document_url()
    );
    assert!(ClientId::parse("").is_err());
    assert!(ClientId::parse("tab\there").is_err());
}

#[test]
fn special_use_addresses() {
    let blocked = [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "198.18.0.1",
        "192.0.2.1",
        "224.0.0.1",
        "255.255.255.255",
        "240.0.0.1",
        "::1",
        "::",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "2001:db8::1",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
        "64:ff9b::a00:1",
        "ff02::1",
    ];
    for ip in blocked {
        assert!(
            is_special_use_ip(ip.parse().unwrap()),
            "{ip} must be blocked"
        );
    }
    for ip in [
        "93.184.215.14",
        "8.8.8.8",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
    ] {
        assert!(!is_special_use_ip(ip.parse().unwrap()), "{ip} is public");
    }
}

proptest! {
    #[test]
    fn canonical_resource_is_a_fixed_point(
        host in "[a-zA-Z][a-zA-Z0-9]{0,10}(\\.[a-zA-Z]{2,5})?",
        port in proptest::option::of(1u16..),
        path in "(/[a-zA-Z0-9_-]{1,8}){0,3}/?",
        https in any::<bool>(),
    ) {
        let scheme = if https { "https" } else { "http" };
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let input = format!("{scheme}://{host}{port}{path}");
        let once = ResourceUri::parse(&input).unwrap();
        let twice = ResourceUri::parse(once.as_str()).unwrap();
        prop_assert_eq!(&once, &twice);
        prop_assert!(!once.as_str().ends_with('/'));
        let with_slash = input.clone() + "/";
        prop_assert!(once.matches(&with_slash));
    }

    #[test]
    fn loopback_redirect_matches_every_port_and_nothing_else(port in 1u16.., suffix in "[a-z]{1,5}") {
        let registered = RedirectUri::parse("http://127.0.0.1/callback").unwrap();
        let with_port = format!("http://127.0.0.1:{port}/callback");
        let with_suffix = format!("http://127.0.0.1:{port}/callback{suffix}");
        prop_assert!(registered.matches(&with_port));
        prop_assert!(!registered.matches(&with_suffix));
    }
}
