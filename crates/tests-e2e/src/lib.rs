//! End-to-end tests live in `tests/api/`: they start the real `auth-server`,
//! `resource-server` and `mcp-client` binaries from the target directory (built by the
//! workspace test run, or by `cargo build --workspace`), each on a free port, and drive
//! them over HTTP. The same test binary checks the Docker files statically.
