//! Client ID Metadata Documents: the validation and SSRF matrix, served by local TLS servers
//! (certificates from rcgen, trusted through the test-only extra root setting).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::helpers::{CALLBACK, TestApp, pkce, spawn_app_with};

#[derive(Clone)]
enum Behaviour {
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    Hang,
}

fn json_doc(body: &Value, extra_headers: &[(&str, &str)]) -> Behaviour {
    let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    headers.extend(
        extra_headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Behaviour::Respond {
        status: 200,
        headers,
        body: serde_json::to_vec(body).unwrap(),
    }
}

struct DocServer {
    id: String,
    hits: Arc<AtomicUsize>,
    _tls: Arc<TlsMaterial>,
}

impl DocServer {
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

struct TlsMaterial {
    _dir: tempfile::TempDir,
    pem_path: String,
    config: Arc<ServerConfig>,
}

fn tls_material() -> Arc<TlsMaterial> {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pem_path = dir.path().join("root.pem");
    std::fs::write(&pem_path, certified.cert.pem()).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(certified.cert.der().to_vec())],
            key,
        )
        .unwrap();
    Arc::new(TlsMaterial {
        pem_path: pem_path.to_string_lossy().into_owned(),
        _dir: dir,
        config: Arc::new(config),
    })
}

/// A TLS server on 127.0.0.1:0 whose document URL is `https://{host}:{port}/client.json`;
/// `make` builds the behaviours from that URL; the n-th connection gets `behaviours[n]`
/// (the last one repeats).
async fn doc_server(
    tls: &Arc<TlsMaterial>,
    host: &str,
    make: impl FnOnce(&str) -> Vec<Behaviour>,
) -> DocServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let id = format!("https://{host}:{}/client.json", addr.port());
    let behaviours = make(&id);
    let hits = Arc::new(AtomicUsize::new(0));
    let acceptor = TlsAcceptor::from(tls.config.clone());
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let behaviour = behaviours[n.min(behaviours.len() - 1)].clone();
            tokio::spawn(respond(acceptor.clone(), tcp, behaviour));
        }
    });
    DocServer {
        id,
        hits,
        _tls: tls.clone(),
    }
}

async fn respond(acceptor: TlsAcceptor, tcp: tokio::net::TcpStream, behaviour: Behaviour) {
    let Ok(mut tls) = acceptor.accept(tcp).await else {
        return;
    };
    let mut buf = vec![0u8; 8192];
    let mut read = 0;
    while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
        match tls.read(&mut buf[read..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => read += n,
        }
    }
    match behaviour {
        // Holds the connection open without answering; the server's read timeout must fire.
        Behaviour::Hang => tokio::time::sleep(std::time::Duration::from_secs(30)).await,
        Behaviour::Respond {
            status,
            headers,
            body,
        } => {
            let mut head = format!("HTTP/1.1 {status} Status\r\nConnection: close\r\n");
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            if !head.to_ascii_lowercase().contains("x-no-length") {
                head.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
            head.push_str("\r\n");
            let _ = tls.write_all(head.as_bytes()).await;
            let _ = tls.write_all(&body).await;
            let _ = tls.shutdown().await;
        }
    }
}

fn good_doc(id: &str) -> Value {
    json!({
        "client_id": id,
        "client_name": "Metadata Document Client",
        "client_uri": "https://app.example.com",
        "redirect_uris": [CALLBACK],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
    })
}

fn with_field(id: &str, key: &str, value: Value) -> Value {
    let mut doc = good_doc(id);
    if value.is_null() {
        doc.as_object_mut().unwrap().remove(key);
    } else {
        doc[key] = value;
    }
    doc
}

async fn dev_app(tls: &TlsMaterial) -> TestApp {
    let pem = tls.pem_path.clone();
    spawn_app_with(move |s| {
        s.cimd.allow_insecure_loopback = true;
        s.cimd.extra_root_certificate = pem;
        s.cimd.read_timeout_ms = 2500;
        s.cimd.connect_timeout_ms = 2500;
    })
    .await
}

async fn authorize_with(app: &TestApp, client_id: &str, redirect_uri: &str) -> reqwest::Response {
    let p = pkce();
    app.authorize(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("code_challenge", &p.challenge),
        ("code_challenge_method", "S256"),
        ("state", "s"),
    ])
    .await
}

async fn assert_refused(r: reqwest::Response, needle: &str) {
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
    let body = r.text().await.unwrap();
    assert!(body.contains(needle), "expected {needle:?} in {body}");
}

/// A valid document: the flow completes with the URL as client_id, and the token names it.
#[tokio::test]
async fn a_valid_metadata_document_client_completes_the_flow() {
    let tls = tls_material();
    let server = doc_server(&tls, "localhost", |id| vec![json_doc(&good_doc(id), &[])]).await;
    let app = dev_app(&tls).await;
    let p = pkce();
    let q = app.authorize_code(&server.id, &p, &[]).await;
    assert!(q.contains_key("code"), "{q:?}");
    let t = app.redeem(&server.id, &q["code"], &p.verifier).await;
    assert_eq!(t.status(), StatusCode::OK);
    let t: Value = t.json().await.unwrap();
    let claims = crate::token::claims_of(t["access_token"].as_str().unwrap());
    assert_eq!(claims["client_id"], server.id.as_str());
}

/// Invalid documents are refused with a page, never a redirect.
#[tokio::test]
async fn invalid_documents_are_refused() {
    let tls = tls_material();
    let app = dev_app(&tls).await;
    type Make = fn(&str) -> Value;
    let cases: [(Make, &str); 6] = [
        (
            |id| with_field(id, "client_id", json!(format!("{id}?other"))),
            "does not equal",
        ),
        (
            |id| with_field(id, "client_name", Value::Null),
            "client_name",
        ),
        (
            |id| with_field(id, "redirect_uris", Value::Null),
            "redirect_uris",
        ),
        (
            |id| {
                with_field(
                    id,
                    "token_endpoint_auth_method",
                    json!("client_secret_basic"),
                )
            },
            "shared secret",
        ),
        (
            |id| {
                with_field(
                    id,
                    "token_endpoint_auth_method",
                    json!("client_secret_post"),
                )
            },
            "shared secret",
        ),
        (
            |id| with_field(id, "client_secret", json!("leaked")),
            "client_secret",
        ),
    ];
    for (make, needle) in cases {
        let server = doc_server(&tls, "localhost", |id| vec![json_doc(&make(id), &[])]).await;
        assert_refused(authorize_with(&app, &server.id, CALLBACK).await, needle).await;
    }
}

/// A redirect URI the document does not list is refused with a page.
#[tokio::test]
async fn an_unlisted_redirect_uri_is_refused() {
    let tls = tls_material();
    let app = dev_app(&tls).await;
    let server = doc_server(&tls, "localhost", |id| vec![json_doc(&good_doc(id), &[])]).await;
    assert_refused(
        authorize_with(&app, &server.id, "http://127.0.0.1:3000/elsewhere").await,
        "not registered",
    )
    .await;
}

/// Transport rules: oversized bodies, redirects, non-200 answers, non-JSON and timeouts.
#[tokio::test]
async fn transport_failures_are_refused() {
    let tls = tls_material();
    let app = dev_app(&tls).await;
    let big = |id: &str| {
        let mut doc = good_doc(id);
        doc["padding"] = json!("x".repeat(6 * 1024));
        json_doc(&doc, &[])
    };
    let server = doc_server(&tls, "localhost", |id| vec![big(id)]).await;
    assert_refused(authorize_with(&app, &server.id, CALLBACK).await, "exceeds").await;
    // Oversized without a Content-Length: the streaming cap stops it.
    let server = doc_server(&tls, "localhost", |id| {
        let Behaviour::Respond { body, .. } = big(id) else {
            unreachable!()
        };
        vec![Behaviour::Respond {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("X-No-Length".into(), "1".into()),
            ],
            body,
        }]
    })
    .await;
    assert_refused(authorize_with(&app, &server.id, CALLBACK).await, "exceeds").await;

    let target = doc_server(&tls, "localhost", |id| vec![json_doc(&good_doc(id), &[])]).await;
    let target_id = target.id.clone();
    let server = doc_server(&tls, "localhost", move |_| {
        vec![Behaviour::Respond {
            status: 302,
            headers: vec![("Location".into(), target_id)],
            body: vec![],
        }]
    })
    .await;
    assert_refused(authorize_with(&app, &server.id, CALLBACK).await, "HTTP 302").await;
    assert_eq!(target.hits(), 0, "redirect must not be followed");

    for status in [404u16, 500] {
        let server = doc_server(&tls, "localhost", |_| {
            vec![Behaviour::Respond {
                status,
                headers: vec![],
                body: b"nope".to_vec(),
            }]
        })
        .await;
        assert_refused(
            authorize_with(&app, &server.id, CALLBACK).await,
            &format!("HTTP {status}"),
        )
        .await;
    }

    let server = doc_server(&tls, "localhost", |id| {
        vec![Behaviour::Respond {
            status: 200,
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: serde_json::to_vec(&good_doc(id)).unwrap(),
        }]
    })
    .await;
    assert_refused(authorize_with(&app, &server.id, CALLBACK).await, "not JSON").await;

    let server = doc_server(&tls, "localhost", |_| vec![Behaviour::Hang]).await;
    let started = std::time::Instant::now();
    assert_refused(
        authorize_with(&app, &server.id, CALLBACK).await,
        "could not be fetched",
    )
    .await;
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// Errors are never cached; valid documents are cached per Cache-Control.
#[tokio::test]
async fn errors_are_not_cached_and_documents_are_cached_per_max_age() {
    let tls = tls_material();
    let app = dev_app(&tls).await;
    let server = doc_server(&tls, "localhost", |id| {
        vec![
            Behaviour::Respond {
                status: 500,
                headers: vec![],
                body: vec![],
            },
            json_doc(&good_doc(id), &[("Cache-Control", "max-age=120")]),
        ]
    })
    .await;
    assert_refused(authorize_with(&app, &server.id, CALLBACK).await, "HTTP 500").await;
    assert_eq!(
        authorize_with(&app, &server.id, CALLBACK).await.status(),
        StatusCode::FOUND
    );
    assert_eq!(server.hits(), 2);
    assert_eq!(
        authorize_with(&app, &server.id, CALLBACK).await.status(),
        StatusCode::FOUND
    );
    assert_eq!(server.hits(), 2, "served from cache within max-age");
    app.clock.advance(121);
    assert_eq!(
        authorize_with(&app, &server.id, CALLBACK).await.status(),
        StatusCode::FOUND
    );
    assert_eq!(server.hits(), 3, "refetched after max-age");

    let server = doc_server(&tls, "localhost", |id| {
        vec![json_doc(&good_doc(id), &[("Cache-Control", "no-store")])]
    })
    .await;
    authorize_with(&app, &server.id, CALLBACK).await;
    authorize_with(&app, &server.id, CALLBACK).await;
    assert_eq!(server.hits(), 2, "no-store is not cached");
}

/// With default settings, loopback, private and special-use addresses are refused before
/// any connection, including IPv6, IPv4-mapped forms and names resolving to them.
#[tokio::test]
async fn special_use_addresses_are_refused_after_resolution() {
    let tls = tls_material();
    let app = spawn_app_with(|_| {}).await;
    let by_name = doc_server(&tls, "localhost", |id| vec![json_doc(&good_doc(id), &[])]).await;
    let by_ip = doc_server(&tls, "127.0.0.1", |id| vec![json_doc(&good_doc(id), &[])]).await;
    for id in [by_name.id.as_str(), by_ip.id.as_str()] {
        assert_refused(authorize_with(&app, id, CALLBACK).await, "special-use").await;
    }
    assert_eq!(by_name.hits() + by_ip.hits(), 0, "no connection was made");
    for id in [
        "https://10.0.0.1/client.json",
        "https://192.168.1.10/client.json",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/client.json",
        "https://[fd00::1]/client.json",
        "https://[fe80::1]/client.json",
        "https://[::ffff:10.0.0.1]/client.json",
        "https://[::ffff:127.0.0.1]/client.json",
        "https://0.0.0.0/client.json",
        "https://100.64.0.1/client.json",
    ] {
        assert_refused(authorize_with(&app, id, CALLBACK).await, "special-use").await;
    }
    // Even with the development switch, only loopback is opened up.
    let dev = dev_app(&tls).await;
    for id in [
        "https://10.0.0.1/client.json",
        "https://[::ffff:192.168.0.1]/client.json",
    ] {
        assert_refused(authorize_with(&dev, id, CALLBACK).await, "special-use").await;
    }
}

/// Malformed client_id URLs are refused without a fetch.
#[tokio::test]
async fn malformed_metadata_urls_are_refused() {
    let app = spawn_app_with(|_| {}).await;
    for id in [
        "https://app.example.com",
        "https://app.example.com/",
        "https://user:pass@app.example.com/c.json",
        "https://app.example.com/a/../c.json",
        "https://app.example.com/c.json#frag",
    ] {
        assert_refused(
            authorize_with(&app, id, CALLBACK).await,
            "not a valid metadata document URL",
        )
        .await;
    }
}

/// The consent page names a metadata-document client by its document's host (R5, CM11).
#[tokio::test]
async fn consent_shows_the_client_id_host_of_a_metadata_document_client() {
    use crate::login::{Jar, hidden};
    let tls = tls_material();
    let pem = tls.pem_path.clone();
    let app = spawn_app_with(move |s| {
        s.dev.auto_approve = false;
        s.cimd.allow_insecure_loopback = true;
        s.cimd.extra_root_certificate = pem;
    })
    .await;
    let server = doc_server(&tls, "localhost", |id| {
        vec![json_doc(&good_doc(id), &[("Cache-Control", "max-age=300")])]
    })
    .await;
    let p = pkce();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &server.id)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("code_challenge", &p.challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let mut jar = Jar::default();
    let r = app
        .http
        .get(app.url(&format!("/authorize?{query}")))
        .send()
        .await
        .unwrap();
    jar.absorb(r.headers());
    let html = r.text().await.unwrap();
    let host = server
        .id
        .trim_start_matches("https://")
        .trim_end_matches("/client.json")
        .to_owned();
    assert!(html.contains(&host), "login page names the client host");
    let form = [
        ("csrf", hidden(&html, "csrf")),
        ("request", query.clone()),
        ("username", "demo".into()),
        ("password", "demo".into()),
    ];
    let r = app
        .http
        .post(app.url("/authorize/login"))
        .header("cookie", jar.header())
        .form(&form)
        .send()
        .await
        .unwrap();
    jar.absorb(r.headers());
    let consent = app
        .http
        .get(app.url(&format!("/authorize?{query}")))
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        consent.contains(&format!("id=\"client-host\">{host}<")),
        "{consent}"
    );
    assert!(consent.contains("Metadata Document Client"));
    assert!(consent.contains("id=\"redirect-host\">127.0.0.1:3000<"));
}
