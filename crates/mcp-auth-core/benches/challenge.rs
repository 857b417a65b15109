//! Micro-benchmarks of `WWW-Authenticate: Bearer` challenges: building the three a resource
//! server sends (401 without credentials, 401 `invalid_token`, 403 `insufficient_scope`),
//! each as the struct plus its header string, the way the resource server's guard does, and
//! parsing one (what a client does on every 401/403).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_auth_core::challenge::BearerChallenge;
use mcp_auth_core::scope::ScopeSet;

const PRM: &str = "http://localhost:8001/.well-known/oauth-protected-resource/mcp";

fn bench_challenge(c: &mut Criterion) {
    let base = ScopeSet::parse("mcp:tools").expect("valid scope");
    let granted = ScopeSet::parse("mcp:tools").expect("valid scope");
    let required = ScopeSet::parse("weather:read").expect("valid scope");

    c.bench_function("www-authenticate/build/unauthenticated", |b| {
        b.iter(|| {
            BearerChallenge::unauthenticated(black_box(PRM), Some(black_box(&base).clone()))
                .to_string()
        })
    });
    c.bench_function("www-authenticate/build/invalid-token", |b| {
        b.iter(|| {
            let mut challenge = BearerChallenge::invalid_token(black_box(PRM), "token has expired");
            challenge.scope = Some(black_box(&base).clone());
            challenge.to_string()
        })
    });
    c.bench_function("www-authenticate/build/insufficient-scope", |b| {
        b.iter(|| {
            let granted = black_box(&granted);
            let required = black_box(&required);
            let missing = required.difference(granted);
            BearerChallenge::insufficient_scope(
                PRM,
                granted.union(required),
                format!("get_weather requires the scope {missing}"),
            )
            .to_string()
        })
    });

    let header = BearerChallenge::insufficient_scope(
        PRM,
        granted.union(&required),
        "get_weather requires the scope weather:read",
    )
    .to_string();
    c.bench_function("www-authenticate/parse/insufficient-scope", |b| {
        b.iter(|| BearerChallenge::parse(black_box(&header)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    targets = bench_challenge
}
criterion_main!(benches);
