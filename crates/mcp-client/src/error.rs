//! `ClientError`: everything that can stop the client, each variant naming what happened
//! and, where a specification decides, which rule was broken.

use mcp_auth_core::ErrorResponse;

/// An error of the MCP client library.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A configuration value is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// A URL given on the command line or found in a document is unusable.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as found.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// No protected resource metadata was found at any candidate location (RFC 9728 §3).
    #[error("no protected resource metadata found (tried: {tried})")]
    NoResourceMetadata {
        /// The URLs that were tried, in order.
        tried: String,
    },
    /// The protected resource metadata names another resource (RFC 9728 §3.3).
    #[error(
        "protected resource metadata names the resource {found:?}, which does not match the server URL {expected:?} (RFC 9728 §3.3): refusing to authorize"
    )]
    ResourceMismatch {
        /// The server URL the client was given.
        expected: String,
        /// The `resource` of the metadata.
        found: String,
    },
    /// The protected resource metadata lists no authorization server.
    #[error("protected resource metadata lists no authorization server")]
    NoAuthorizationServer,
    /// No authorization server metadata was found (RFC 8414 §3, OIDC Discovery §4).
    #[error("no authorization server metadata found for issuer {issuer} (tried: {tried})")]
    NoAuthorizationServerMetadata {
        /// The issuer.
        issuer: String,
        /// The URLs that were tried, in order.
        tried: String,
    },
    /// The metadata's `issuer` differs from the issuer it was looked up for (RFC 8414 §3.3).
    #[error(
        "authorization server metadata at {url} has issuer {found:?}, expected exactly {expected:?} (RFC 8414 §3.3): refusing to use it"
    )]
    IssuerMismatch {
        /// Where the metadata came from.
        url: String,
        /// The issuer that was looked up.
        expected: String,
        /// The issuer in the document.
        found: String,
    },
    /// The authorization server does not advertise PKCE S256 (MCP 2025-11-25, RFC 7636).
    #[error(
        "authorization server {issuer} does not advertise PKCE S256 in code_challenge_methods_supported (found: {found}): MCP clients must refuse it"
    )]
    PkceNotSupported {
        /// The issuer.
        issuer: String,
        /// What the metadata lists.
        found: String,
    },
    /// A required metadata field is missing.
    #[error("authorization server metadata lacks {0}")]
    MetadataIncomplete(&'static str),
    /// No way to obtain a client id (MCP registration priority exhausted).
    #[error(
        "cannot register with {issuer}: no pre-registered client id is configured, {cimd}, and the server has no registration_endpoint; pass --client-id (and --client-secret) for this authorization server"
    )]
    NoRegistrationMethod {
        /// The issuer.
        issuer: String,
        /// Why CIMD was not used.
        cimd: String,
    },
    /// Dynamic client registration failed (RFC 7591 §3.2.2).
    #[error("dynamic client registration failed: {0}")]
    Registration(String),
    /// The authorization response carried another `state` (RFC 6749 §10.12).
    #[error("authorization response has the wrong state: possible CSRF, response discarded")]
    StateMismatch,
    /// The authorization response's `iss` is wrong or missing (RFC 9207 §2.4).
    #[error("authorization response {0}: possible mix-up attack, response discarded (RFC 9207)")]
    IssuerParameter(String),
    /// The authorization endpoint refused the request outright, without redirecting back
    /// (OAuth 2.1 §4.1.2.1: unknown client or redirect URI).
    #[error("the authorization endpoint refused the request with HTTP {status}: {detail}")]
    AuthorizationRejected {
        /// The status.
        status: u16,
        /// The error body, shortened.
        detail: String,
    },
    /// A stored client registration was refused by its authorization server.
    #[error("the stored client registration at {issuer} was refused: {cause}")]
    StaleRegistration {
        /// The issuer that refused it.
        issuer: String,
        /// The refusal.
        cause: Box<ClientError>,
    },
    /// The authorization server answered with an error (RFC 6749 §4.1.2.1).
    #[error("authorization denied: {0}")]
    AuthorizationDenied(ErrorResponse),
    /// The callback had no code.
    #[error("authorization response has no code")]
    MissingCode,
    /// Nobody completed the authorization in time.
    #[error("timed out after {0} s waiting for the authorization callback")]
    CallbackTimeout(u64),
    /// The token endpoint refused (RFC 6749 §5.2).
    #[error("token endpoint refused: {0}")]
    TokenEndpoint(ErrorResponse),
    /// The token endpoint's answer is not usable.
    /// The revocation endpoint refused (RFC 7009 §2.2.1).
    #[error("revocation endpoint refused: {0}")]
    Revocation(ErrorResponse),
    /// `refresh` or `revoke` without stored tokens for the server.
    #[error("no stored tokens for {0}: run `mcp-client login {0}` first")]
    NotLoggedIn(String),
    /// `refresh` without a refresh token, or a refresh the server refused.
    #[error("could not refresh the tokens for {0}: {1}")]
    RefreshFailed(String, String),
    #[error("token endpoint answered badly: {0}")]
    TokenResponse(String),
    /// Too many authorizations for one operation (MCP step-up, bounded).
    #[error(
        "gave up after {0} authorizations for one operation: the server still refuses the token"
    )]
    TooManyAuthorizations(u32),
    /// The server refused without a usable challenge.
    #[error("the MCP server refused the request: {0}")]
    Refused(String),
    /// An HTTP request failed.
    #[error("HTTP request to {url} failed: {source}")]
    Http {
        /// The URL.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// An MCP request failed.
    #[error("MCP: {0}")]
    Mcp(String),
    /// The token store could not be read or written.
    #[error("token store {path}: {reason}")]
    Store {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A local I/O error (listener, browser).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl ClientError {
    pub(crate) fn http(url: impl Into<String>, source: reqwest::Error) -> Self {
        Self::Http {
            url: url.into(),
            source,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn invalid_url(url: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidUrl {
            url: url.into(),
            reason: reason.into(),
        }
    }
}

/// Result alias.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
