//! Micro-benchmarks of the resource server's token validation path: the production
//! [`TokenValidator`] (built by [`AppState::new`], keys loaded by `prime` from a real JWKS
//! endpoint, exactly as at start-up), one token at a time.
//!
//! * `rs-validate/cached/<alg>`: a cache hit: the token's digest, one map lookup under
//!   the shard's lock, the deadline check, an `Arc` clone.
//! * `rs-validate/cache-key/<alg>`: that digest alone (BLAKE3 of the whole token), and
//!   `rs-validate/cache-key-sha256/<alg>` the SHA-256 it replaced, for the choice of hash
//!   on the machine at hand (SHA-256 is fast only where the CPU has SHA extensions).
//! * `rs-validate/uncached/<alg>`: a cache miss on every call: digest, lookup, full JWT
//!   verification (header, `kid`, signature, `typ`, `iss`, `aud`, `exp`, `nbf`) with the keys
//!   already decoded, then the insertion. The validator holds one entry and two tokens take
//!   turns, so each call also evicts the other token's entry. No network: the JWKS was
//!   fetched once, in the setup.
//!
//! Compare with `verify/<alg>` and `verify-raw-signature/<alg>` of `mcp-auth-core`'s `jwt`
//! bench (the same claims shape).

mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_auth_core::jwt::{SigningAlgorithm, SigningKey};
use mcp_auth_core::secret::sha256;
use resource_server::validation::cache::digest;

use crate::support::{serve_jwks, state, token};

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
    let cached = state(&runtime, &jwks_uri, |s| s.token.cache_max_entries = 10_000);
    let uncached = state(&runtime, &jwks_uri, |s| s.token.cache_max_entries = 1);

    for key in &keys {
        let alg = key.algorithm();
        let alice = token(key, "alice", "mcp:tools weather:read");
        let bob = token(key, "bob", "mcp:tools weather:read");
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

        c.bench_function(&format!("rs-validate/cache-key/{alg}"), |b| {
            b.iter(|| digest(black_box(&alice)))
        });
        c.bench_function(&format!("rs-validate/cache-key-sha256/{alg}"), |b| {
            b.iter(|| sha256(black_box(alice.as_bytes())))
        });
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
