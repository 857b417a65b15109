//! `mcp-client`: a client for authorization-protected MCP servers that discovers,
//! registers, authorizes (PKCE, `state`, `iss`, `resource`), keeps and refreshes tokens,
//! steps up when a tool needs more scope, and reports each step as it goes.
//!
//! | module | what | specification |
//! |---|---|---|
//! | [`discovery`] | challenge, protected resource metadata, AS metadata | RFC 9728, RFC 8414, OIDC Discovery, MCP 2025-11-25 |
//! | [`registration`] | pre-registered → stored → CIMD → DCR | RFC 7591, CIMD, MCP 2025-11-25 |
//! | [`authorize`] | the request, the loopback listener, the response checks | OAuth 2.1 §4.1, RFC 7636, RFC 8252, RFC 9207 |
//! | [`token`] | code exchange and refresh | RFC 6749 §4.1.3, §6, RFC 8707 |
//! | [`tokens`] | live credentials, single-flight refresh | OAuth 2.1 §4.3 |
//! | [`store`] | the `0600` credential file, bound to issuers | OAuth 2.1 §7.1 |
//! | [`transport`] | the bearer-adding HTTP client under rmcp | RFC 6750 §2.1 |
//! | [`session`] | one server: authorization and step-up orchestration | MCP 2025-11-25 |
//! | [`lifecycle`] | `refresh` and `revoke` on request | OAuth 2.1 §4.3, RFC 7009 |
//! | [`connection`] | the MCP session and its operations, retried after authorization | MCP 2025-11-25 |

pub mod authorize;
pub mod cli;
pub mod connection;
pub mod discovery;
pub mod error;
pub mod http;
pub mod lifecycle;
pub mod metadata_server;
pub mod registration;
pub mod report;
pub mod session;
pub mod settings;
pub mod store;
pub mod token;
pub mod tokens;
pub mod transport;

pub use connection::Connection;
pub use error::{ClientError, Result};
pub use report::{OutputMode, Reporter};
pub use session::McpClient;
pub use settings::{AuthorizeMode, McpProtocol, Settings};
