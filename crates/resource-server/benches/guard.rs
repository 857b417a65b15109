//! Micro-benchmarks of one `tools/call whoami` through the whole application, in process:
//! [`resource_server::app`] called as a tower service, so no socket, no HTTP parsing and no
//! load generator share the measurement. With and without authorization
//! (`dev.disable_authorization`), in both MCP modes, the request `mcp-bench`'s `rs-*`
//! scenarios send (an ES256 token granting `mcp:tools`): the difference is what the bearer
//! guard adds to a request, natively (with the CPU's vector extensions as they are, where
//! valgrind may run other code paths).
//!
//! * `rs-guard/{jwt,noauth}-stateless`: stateless JSON mode, each POST standing alone.
//! * `rs-guard/{jwt,noauth}-session`: a session opened in the setup (`initialize`,
//!   `notifications/initialized`); each call carries its id and is answered as SSE.
//!
//! Every iteration reads the whole answer. The token is validated once in the setup, so the
//! calls measure a validation cache hit, as under load. Everything runs on one thread, so a
//! call's time is its work rather than the wake-ups between threads (see `bench_guard`).
//!
//! For instruction counts, `RS_GUARD_CALLS=<case>:<n>[:tcp]` skips criterion and makes just
//! `n` calls of one case (`tcp`: to the application served on `127.0.0.1:0`, through a
//! `reqwest` client on one keep-alive connection, so hyper's side is counted too). The
//! instructions of a call are the difference between two runs with different `n`, divided
//! by the difference in `n` (the setup is the same in both):
//!
//! ```text
//! RS_GUARD_CALLS=jwt-stateless:100  valgrind --tool=callgrind <guard bench binary> --bench
//! RS_GUARD_CALLS=jwt-stateless:1100 valgrind --tool=callgrind <guard bench binary> --bench
//! ```

mod support;

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use criterion::{Criterion, criterion_group, criterion_main};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderValue, Request, StatusCode};
use mcp_auth_core::jwt::{SigningAlgorithm, SigningKey};
use resource_server::Settings;
use tokio::runtime::Runtime;
use tower::ServiceExt as _;

use crate::support::{serve_jwks, state, token};

const TOOLS_CALL: &str =
    r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#;
const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// What a call sends besides its body: the `Authorization` header, the session id.
#[derive(Clone, Default)]
struct Caller {
    authorization: Option<HeaderValue>,
    session: Option<HeaderValue>,
}

impl Caller {
    /// A POST of `body` to `/mcp` as an MCP client sends it after `initialize`.
    fn post(&self, body: &'static str) -> Request<Body> {
        let mut request = Request::post("/mcp")
            .header(HOST, "127.0.0.1:8001")
            .header(ACCEPT, "application/json, text/event-stream")
            .header(CONTENT_TYPE, "application/json")
            .header("mcp-protocol-version", "2025-11-25");
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        if let Some(session) = &self.session {
            request = request.header("mcp-session-id", session.clone());
        }
        request
            .body(Body::from(Bytes::from_static(body.as_bytes())))
            .expect("a valid request")
    }
}

/// Sends `request` through `app` and reads the whole answer.
async fn send(app: &Router, request: Request<Body>) -> (StatusCode, HeaderValue, Bytes) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let session = response
        .headers()
        .get("mcp-session-id")
        .cloned()
        .unwrap_or(HeaderValue::from_static(""));
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("the body");
    (status, session, body)
}

/// `n` calls of `caller` to `app` served on `127.0.0.1:0`, over one keep-alive connection.
async fn send_over_tcp(app: Router, caller: &Caller, n: usize) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/mcp", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(mcp_auth_serve::nodelay(listener), app).await });
    let client = reqwest::Client::new();
    for _ in 0..n {
        let (parts, _) = caller.post(TOOLS_CALL).into_parts();
        let response = client
            .post(&url)
            .headers(parts.headers)
            .body(TOOLS_CALL)
            .send()
            .await
            .expect("a response");
        assert_eq!(response.status(), StatusCode::OK);
        response.bytes().await.expect("the body");
    }
}

/// What `RS_GUARD_CALLS=<case>:<n>[:tcp]` asks for (see the module docs).
struct Calls {
    case: String,
    n: usize,
    tcp: bool,
}

impl Calls {
    /// `RS_GUARD_CALLS`, when set.
    fn from_env() -> Option<Self> {
        let spec = std::env::var("RS_GUARD_CALLS").ok()?;
        let mut fields = spec.split(':');
        let (Some(case), Some(n)) = (fields.next(), fields.next()) else {
            panic!("RS_GUARD_CALLS=<case>:<n>[:tcp], not {spec:?}");
        };
        let tcp = match fields.next() {
            None => false,
            Some("tcp") => true,
            Some(other) => panic!("RS_GUARD_CALLS: {other:?} is not `tcp`"),
        };
        Some(Self {
            case: case.to_owned(),
            n: n.parse().expect("RS_GUARD_CALLS: a number of calls"),
            tcp,
        })
    }

    /// Makes the calls on `runtime`.
    fn run(&self, runtime: &Runtime, app: Router, caller: &Caller) {
        if self.tcp {
            runtime.block_on(send_over_tcp(app, caller, self.n));
        } else {
            runtime.block_on(async {
                for _ in 0..self.n {
                    send(&app, caller.post(TOOLS_CALL)).await;
                }
            });
        }
    }
}

/// The application in `mode` (settings tweak) and a caller for it: with `token` (or none,
/// authorization off); in session mode, its session opened.
fn setup(
    runtime: &Runtime,
    jwks_uri: &url::Url,
    token: Option<&str>,
    mode: impl FnOnce(&mut Settings),
) -> (Router, Caller) {
    let state = state(runtime, jwks_uri, |s| {
        mode(s);
        s.dev.disable_authorization = token.is_none();
    });
    let stateful = state.settings.mcp.stateful;
    let app = resource_server::app(state);
    let mut caller = Caller {
        authorization: token
            .map(|t| HeaderValue::from_str(&format!("Bearer {t}")).expect("a header value")),
        session: None,
    };
    if stateful {
        let (status, session, _) = runtime.block_on(send(&app, caller.post(INITIALIZE)));
        assert_eq!(status, StatusCode::OK, "initialize");
        caller.session = Some(session);
        let (status, _, _) = runtime.block_on(send(&app, caller.post(INITIALIZED)));
        assert_eq!(status, StatusCode::ACCEPTED, "notifications/initialized");
    }
    let (status, _, body) = runtime.block_on(send(&app, caller.post(TOOLS_CALL)));
    let expected = if token.is_some() {
        "alice"
    } else {
        "anonymous"
    };
    assert_eq!(status, StatusCode::OK);
    assert!(
        String::from_utf8_lossy(&body).contains(expected),
        "whoami answers {expected}"
    );
    (app, caller)
}

/// Stateless JSON mode (`mcp.stateful = false`, `mcp.json_response = true`).
fn stateless_json(settings: &mut Settings) {
    settings.mcp.stateful = false;
    settings.mcp.json_response = true;
}

/// Session mode, the default.
fn sessions(_: &mut Settings) {}

fn bench_guard(c: &mut Criterion) {
    // One thread: rmcp serves each stateless request in a task of its own, and on a
    // multi-threaded runtime handing it to a worker and back (thread wake-ups) took most of
    // a call's time and moved it from ~30 to ~120 µs with the load on the rest of the
    // machine, far more than the guard costs.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let key = SigningKey::generate(SigningAlgorithm::ES256, "bench").expect("key generation");
    let jwks_uri = serve_jwks(&runtime, &[&key]);
    let alice = token(&key, "alice", "mcp:tools");

    let cases: [(_, _, fn(&mut Settings)); 4] = [
        ("jwt-stateless", Some(alice.as_str()), stateless_json),
        ("noauth-stateless", None, stateless_json),
        ("jwt-session", Some(alice.as_str()), sessions),
        ("noauth-session", None, sessions),
    ];
    let calls = Calls::from_env();
    for (name, token, mode) in cases {
        if let Some(calls) = &calls {
            if calls.case == name {
                let (app, caller) = setup(&runtime, &jwks_uri, token, mode);
                calls.run(&runtime, app, &caller);
            }
            continue;
        }
        let (app, caller) = setup(&runtime, &jwks_uri, token, mode);
        c.bench_function(&format!("rs-guard/{name}"), |b| {
            b.to_async(&runtime)
                .iter(|| send(&app, caller.post(TOOLS_CALL)))
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(40)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    targets = bench_guard
}
criterion_main!(benches);
