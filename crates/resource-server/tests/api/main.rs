//! Integration tests of the resource server: real HTTP servers on `127.0.0.1:0` (the
//! resource server and a small test authorization server), driven with reqwest and with the
//! rmcp client.

// A test binary: helpers outside `#[test]` functions unwrap too (a panic is a failed test).
#![allow(clippy::unwrap_used)]

mod binary;
mod challenges;
mod helpers;
mod introspection;
mod mcp_client;
mod metadata;
mod modes;
mod sessions;
mod tokens;
mod tools;
mod transport;
