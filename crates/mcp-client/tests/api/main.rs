//! Integration tests of `mcp-client` against a mock authorization server and a mock MCP
//! resource server, both real HTTP servers on `127.0.0.1:0` (see `helpers`).
#![allow(unreachable_pub)] // test helpers are shared between modules of this one test binary
#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)] // test code: a panic is a failed test

mod cli;
mod discovery;
mod helpers;
mod mock_as;
mod mock_rs;
mod protocol;
mod registration;
mod rejections;
mod scopes;
mod step_up;
mod tokens;
mod user_agent;
