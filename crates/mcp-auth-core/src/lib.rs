//! `mcp-auth-core`: the protocol vocabulary shared by the MCP authorization services.
//!
//! Everything here is pure: no sockets, no files, no async runtime. The services
//! (`auth-server`, `resource-server`, `mcp-client`) do the I/O and lean on this crate for
//! the rules, so that one rule has one implementation and one set of tests.
//!
//! | module | what | specification |
//! |---|---|---|
//! | [`metadata`] | discovery and registration documents | RFC 8414, RFC 9728, RFC 7591, CIMD |
//! | [`token`] | token endpoint, introspection and revocation messages | RFC 6749 §4.1.3, §5, §6; RFC 7662; RFC 7009 |
//! | [`error`] | the OAuth error body with an open set of codes | RFC 6749 §5.2, RFC 8707 §2 |
//! | [`scope`] | scope tokens and scope sets | RFC 6749 §3.3 |
//! | [`uri`] | canonical resource URIs, issuers, redirect URIs and their matching | RFC 8707 §2, RFC 3986 §6, RFC 8252 §7.3 |
//! | [`well_known`] | where metadata lives, in the order MCP clients probe it | RFC 8615, RFC 8414 §3, RFC 9728 §3, OIDC Discovery §4 |
//! | [`challenge`] | `WWW-Authenticate: Bearer` challenges | RFC 6750 §3, RFC 9728 §5.1 |
//! | [`pkce`] | code verifiers and S256 challenges | RFC 7636 |
//! | [`jwt`] | JWT access tokens, keys and JWKS | RFC 9068, RFC 7515, RFC 7517, RFC 7518 |
//! | [`secret`] | redacted, constant-time secret strings and their digests | OAuth 2.1 §7.1 |
//! | [`clock`] | an injectable source of the current time | |

#![warn(missing_docs)]

pub mod challenge;
pub mod clock;
pub mod error;
pub mod jwt;
pub mod metadata;
pub mod pkce;
pub mod scope;
pub mod secret;
pub mod token;
pub mod uri;
pub mod well_known;

pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{ErrorResponse, OAuthErrorCode};
pub use scope::{Scope, ScopeSet};
pub use uri::{ClientId, Issuer, RedirectUri, ResourceUri};
