# mcp-auth tasks. Every recipe has a twin that needs only cargo (see README).

# List the recipes.
default:
    @just --list

# The whole journey against the real servers, as six numbered steps (cargo twin: `cargo demo`).
# Ports: AS 9000, RS 8001, CIMD host 3000; change them with e.g. `just demo --as-port 9100`.
demo *ARGS:
    cargo run --quiet --bin demo -- {{ARGS}}

# Format every crate.
fmt:
    cargo fmt --all

# Format check and clippy with warnings as errors (cargo twin: `cargo lint`).
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --locked -- -D warnings

# Run every test (cargo twin: `cargo t`, or `bash .ci/run` for the full CI).
test:
    cargo nextest run --workspace --locked
    cargo test --workspace --doc --locked

# What CI runs: installs what is missing, then lint and test.
ci:
    bash .ci/run

# Micro-benchmarks of the crypto hot paths (JWT sign and verify per algorithm).
bench-core:
    cargo bench -p mcp-auth-core --bench jwt

# Every criterion micro-benchmark of the workspace (JWT sign/verify per algorithm, the
# resource server's token validation cached and uncached, PKCE, WWW-Authenticate, digests).
# Criterion options go after, e.g. `just bench-micro --quick` or `just bench-micro rs-validate`
# (cargo twin: `cargo bench-micro`).
bench-micro *ARGS:
    cargo bench --workspace --locked --bench '*' -- {{ARGS}}

# Load benchmarks of the real release binaries over loopback (builds them first): every
# scenario for about 10 s, the table printed and written to bench/results/latest.{json,md}.
# Options go after, e.g. `just bench-load --short` or `just bench-load --scenario as-flow`
# (cargo twin: `cargo perf`; `cargo perf --list` names the scenarios).
bench-load *ARGS:
    cargo run --release --locked -p bench -- {{ARGS}}

# The whole benchmark suite: every criterion micro-benchmark, then the release build and the
# load benchmarks with their report (cargo twin: `cargo bench-all`).
bench *ARGS:
    cargo run --release --locked -p bench -- --micro {{ARGS}}

# The official MCP conformance suite against our three services (client, authorization,
# server modes; pass one or more to narrow it). Needs npm and curl; installs Node 22 and the
# pinned suites under target/. Cargo-free twin: `bash scripts/conformance.sh`.
conformance *MODES:
    bash scripts/conformance.sh {{MODES}}
