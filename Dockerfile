# syntax=docker/dockerfile:1
# Multi-stage build of the three binaries; one runtime target per service:
#   docker build --target auth-server -t mcp-auth/auth-server .
#   docker build --target resource-server -t mcp-auth/resource-server .
#   docker build --target mcp-client -t mcp-auth/mcp-client .
# The dependency layer (cargo-chef) is rebuilt only when Cargo.toml/Cargo.lock change.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

# The recipe: the workspace's manifests and lock file, without the sources.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# The same as .cargo/config.toml's [env], which the dependency layer does not see yet.
ENV AWS_LC_SYS_NO_JITTER_ENTROPY=1
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bin auth-server --bin resource-server --bin mcp-client

# Small runtime: Debian slim, CA certificates (https CIMD fetches), curl for health
# checks, and an unprivileged user.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /home/app app \
 && mkdir -p /data \
 && chown app:app /data
WORKDIR /home/app
USER 10001:10001

FROM runtime AS auth-server
COPY --from=builder /src/target/release/auth-server /usr/local/bin/auth-server
ENV AUTH_SERVER_HTTP__HOST=0.0.0.0 \
    AUTH_SERVER_HTTP__PORT=9000 \
    AUTH_SERVER_DATABASE__DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 9000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["curl", "-fsS", "http://127.0.0.1:9000/healthz"]
ENTRYPOINT ["auth-server"]

FROM runtime AS resource-server
COPY --from=builder /src/target/release/resource-server /usr/local/bin/resource-server
ENV RESOURCE_SERVER_HTTP__HOST=0.0.0.0 \
    RESOURCE_SERVER_HTTP__PORT=8001
EXPOSE 8001
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["curl", "-fsS", "http://127.0.0.1:8001/healthz"]
ENTRYPOINT ["resource-server"]

FROM runtime AS mcp-client
COPY --from=builder /src/target/release/mcp-client /usr/local/bin/mcp-client
ENV MCP_CLIENT_STORE__PATH=/home/app/credentials.json \
    MCP_CLIENT_AUTHORIZE__MODE=headless
ENTRYPOINT ["mcp-client"]
CMD ["--help"]
