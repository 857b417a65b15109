//! Micro-benchmarks of the resource server's token validation path: the production
//! [`TokenValidator`] (built by [`AppState::new`], keys loaded by `prime` from a real JWKS
//! endpoint, exactly as at start-up), one token at a time.
//!
//! * `rs-validate/cached/<alg>`: a cache hit: SHA-256 of the token, one map lookup under
//!   the mutex, the deadline check, an `Arc` clone.
//! * `rs-validate/uncached/<alg>`: a cache miss on every call: digest, lookup, full JWT
//!   verification (header, `kid`, signature, `typ`, `iss`, `aud`, `exp`, `nbf`) with the keys
//!   already decoded, then the insertion. The validator holds one entry and two tokens take
//!   turns, so each call also evicts the other token's entry. No network: the JWKS was
//!   fetched once, in the setup.
//!
//! Compare with `verify/<alg>` and `verify-raw-signature/<alg>` of `mcp-auth-core`'s `jwt`
//! bench (the same claims shape).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use criterion::{Criterion, criterion_group, criterion_main};
use mcp_auth_core::jwt::{AccessTokenClaims, SigningAlgorithm, SigningKey, jwks};
use mcp_auth_core::metadata::Extra;
use mcp_auth_core::token::Audience;
use mcp_auth_core::{Clock, ScopeSet, SystemClock};
use resource_server::{AppState, Settings};
use tokio::runtime::Runtime;
use url::Url;

/// A JWKS endpoint on `127.0.0.1:0` serving `keys`, on `runtime`; returns its URL.
fn serve_jwks(runtime: &Runtime, keys: &[&SigningKey]) -> Url {
    let set = jwks(keys.iter().copied());
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind the JWKS server");
    let addr = listener.local_addr().expect("local address");
    let app = Router::new().route("/jwks", get(move || async move { Json(set.clone()) }));
    runtime.spawn(async move { axum::serve(listener, app).await });
    Url::parse(&format!("http://{addr}/jwks")).expect("JWKS URL")
}

/// The production validator, with the keys at `jwks_uri` loaded, caching `cache_entries`.
fn validator(runtime: &Runtime, jwks_uri: &Url, cache_entries: usize) -> AppState {
    let mut settings = Settings::defaults().expect("default settings");
    settings.authorization_server.jwks_uri = Some(jwks_uri.clone());
    settings.token.cache_max_entries = cache_entries;
    let state = AppState::new(settings, Arc::new(SystemClock)).expect("state");
    runtime.block_on(state.validator.prime());
    state
}

/// A token for the default resource, valid for an hour, signed by `key`.
fn token(key: &SigningKey, subject: &str) -> String {
    let settings = Settings::defaults().expect("default settings");
    let now = SystemClock.now();
    let claims = AccessTokenClaims {
        iss: settings.authorization_server.issuer.as_str().to_owned(),
        sub: subject.to_owned(),
        aud: Audience::single(settings.resource.uri.as_str()),
        client_id: "https://app.example.com/client.json".into(),
        scope: ScopeSet::parse("mcp:tools weather:read").expect("valid scope"),
        iat: now,
        exp: now + 3600,
        nbf: None,
        jti: mcp_auth_core::secret::random_urlsafe(16),
        auth_time: None,
        extra: Extra::new(),
    };
    key.sign_access_token(&claims).expect("sign")
}

fn bench_validation(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let keys: Vec<SigningKey> = SigningAlgorithm::ALL
        .into_iter()
        .map(|alg| SigningKey::generate(alg, format!("bench-{alg}")).expect("key generation"))
        .collect();
    let jwks_uri = serve_jwks(&runtime, &keys.iter().collect::<Vec<_>>());
    let cached = validator(&runtime, &jwks_uri, 10_000);
    let uncached = validator(&runtime, &jwks_uri, 1);

    for key in &keys {
        let alg = key.algorithm();
        let alice = token(key, "alice");
        let bob = token(key, "bob");
        for state in [&cached, &uncached] {
            for t in [&alice, &bob] {
                runtime
                    .block_on(state.validator.validate(t))
                    .expect("the bench tokens are valid");
            }
        }
        assert_eq!(
            uncached.validator.cached_tokens(),
            1,
            "one entry: alice and bob take turns, so every call misses"
        );

        c.bench_function(&format!("rs-validate/cached/{alg}"), |b| {
            b.to_async(&runtime)
                .iter(|| cached.validator.validate(black_box(&alice)))
        });
        let mut turn = false;
        c.bench_function(&format!("rs-validate/uncached/{alg}"), |b| {
            b.to_async(&runtime).iter(|| {
                turn = !turn;
                uncached
                    .validator
                    .validate(black_box(if turn { &alice } else { &bob }))
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    targets = bench_validation
}
criterion_main!(benches);
