//! Discovery and registration documents.
//!
//! * [`ProtectedResourceMetadata`]: RFC 9728 §2 (MCP 2025-11-25 "Protected Resource Metadata").
//! * [`AuthorizationServerMetadata`]: RFC 8414 §2, with `code_challenge_methods_supported`
//!   (RFC 7636 via RFC 8414), `client_id_metadata_document_supported` (CIMD §4) and
//!   `authorization_response_iss_parameter_supported` (RFC 9207 §3).
//! * [`ClientMetadata`]: RFC 7591 §2 client metadata, with `application_type` (OIDC
//!   Registration, MCP 2026-07-28); it is both the DCR request body and, with `client_id`,
//!   the Client ID Metadata Document ([`ClientIdMetadataDocument`]).
//! * [`ClientRegistrationResponse`]: RFC 7591 §3.2.1.
//!
//! Every document keeps fields it does not know in `extra` (a `BTreeMap`, so output is
//! deterministic), so a document survives a parse/serialise round trip unchanged. URL-valued
//! fields are plain strings: the exact string matters (issuer and resource comparisons are
//! string comparisons), and a foreign document must be readable before it is judged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::secret::ClientSecret;

/// Unknown members of a JSON document, kept for round trips.
pub type Extra = BTreeMap<String, Value>;

macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this crate does not know.
            Other(String),
        }

        impl $name {
            /// The wire form.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Other(s) => s,
                }
            }

            /// Parses the wire form; unknown values become `Other`.
            pub fn parse(s: &str) -> Self {
                match s {
                    $($wire => Self::$variant,)+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok(Self::parse(&String::deserialize(d)?))
            }
        }
    };
}

open_enum!(
    /// An OAuth grant type (RFC 7591 §2).
    GrantType {
        /// RFC 6749 §4.1.
        AuthorizationCode => "authorization_code",
        /// RFC 6749 §6.
        RefreshToken => "refresh_token",
        /// RFC 6749 §4.4.
        ClientCredentials => "client_credentials",
    }
);

open_enum!(
    /// How a client authenticates at the token endpoint (RFC 7591 §2, RFC 7523).
    TokenEndpointAuthMethod {
        /// A public client: no authentication, PKCE only.
        None => "none",
        /// HTTP Basic with the client secret (RFC 6749 §2.3.1).
        ClientSecretBasic => "client_secret_basic",
        /// The client secret in the form body (RFC 6749 §2.3.1).
        ClientSecretPost => "client_secret_post",
        /// A JWT signed with the client secret (RFC 7523).
        ClientSecretJwt => "client_secret_jwt",
        /// A JWT signed with the client's private key (RFC 7523).
        PrivateKeyJwt => "private_key_jwt",
    }
);

impl TokenEndpointAuthMethod {
    /// Whether this method rests on a secret shared with the authorization server, which a
    /// Client ID Metadata Document may not use (CIMD §4.1).
    pub fn uses_shared_secret(&self) -> bool {
        matches!(
            self,
            Self::ClientSecretBasic | Self::ClientSecretPost | Self::ClientSecretJwt
        )
    }
}

open_enum!(
    /// The kind of application (OIDC Dynamic Registration §2; MCP 2026-07-28).
    ApplicationType {
        /// Runs on the user's device; loopback or private-use redirect URIs.
        Native => "native",
        /// A web application with https redirect URIs.
        Web => "web",
    }
);

open_enum!(
    /// A `token_type_hint` (RFC 7009 §2.1, RFC 7662 §2.1).
    TokenTypeHint {
        /// An access token.
        AccessToken => "access_token",
        /// A refresh token.
        RefreshToken => "refresh_token",
    }
);

/// RFC 9728 §2 protected resource metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtectedResourceMetadata {
    /// The resource identifier: exactly the URI clients use for the resource.
    pub resource: String,
    /// Issuers of the authorization servers that protect the resource (MCP: at least one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_servers: Vec<String>,
    /// The resource's own keys, if it signs anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The scopes a client should ask for to use the resource (MCP: the minimal set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// How bearer tokens may be sent (MCP: `["header"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_methods_supported: Option<Vec<String>>,
    /// JWS algorithms the resource signs with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_signing_alg_values_supported: Option<Vec<String>>,
    /// A human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// Developer documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
    /// Policy page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_policy_uri: Option<String>,
    /// Terms of service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_tos_uri: Option<String>,
    /// Unknown members.
    #[serde(flatten)]
    pub extra: Extra,
}

/// RFC 8414 §2 authorization server metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationServerMetadata {
    /// The issuer identifier, identical to the one the metadata URL was built from.
    pub issuer: String,
    /// The authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// The token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// The JWK Set of the server's signing keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// RFC 7591 registration endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// Scopes the server knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// Response types (OAuth 2.1: `["code"]`).
    #[serde(default)]
    pub response_types_supported: Vec<String>,
    /// Response modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_modes_supported: Option<Vec<String>>,
    /// Grant types (listed explicitly: the RFC 8414 default includes `implicit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types_supported: Option<Vec<GrantType>>,
    /// Token endpoint client authentication methods (listed explicitly: the default is
    /// `client_secret_basic` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_methods_supported: Option<Vec<TokenEndpointAuthMethod>>,
    /// Algorithms for JWT client authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg_values_supported: Option<Vec<String>>,
    /// Developer documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_documentation: Option<String>,
    /// RFC 7009 revocation endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// Client authentication methods at the revocation endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint_auth_methods_supported: Option<Vec<TokenEndpointAuthMethod>>,
    /// RFC 7662 introspection endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    /// Client authentication methods at the introspection endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint_auth_methods_supported: Option<Vec<TokenEndpointAuthMethod>>,
    /// PKCE methods (MCP: must contain `S256`, and clients refuse servers without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// Whether URL-shaped client ids name a Client ID Metadata Document (CIMD §4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_metadata_document_supported: Option<bool>,
    /// Whether authorization responses carry `iss` (RFC 9207 §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_response_iss_parameter_supported: Option<bool>,
    /// Unknown members (OpenID Connect fields among them).
    #[serde(flatten)]
    pub extra: Extra,
}

impl AuthorizationServerMetadata {
    /// Whether the server advertises PKCE `S256` (MCP 2025-11-25: clients MUST check).
    pub fn supports_s256(&self) -> bool {
        self.code_challenge_methods_supported
            .as_ref()
            .is_some_and(|methods| methods.iter().any(|m| m == "S256"))
    }

    /// Whether the server accepts Client ID Metadata Documents.
    pub fn supports_client_id_metadata_documents(&self) -> bool {
        self.client_id_metadata_document_supported == Some(true)
    }
}

/// RFC 7591 §2 client metadata: the DCR request body and the core of a CIMD document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientMetadata {
    /// Redirect URIs, matched exactly (loopback: any port).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Token endpoint authentication (RFC 7591 default: `client_secret_basic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    /// Grant types (RFC 7591 default: `authorization_code`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<GrantType>>,
    /// Response types (RFC 7591 default: `code`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types: Option<Vec<String>>,
    /// Name shown to the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// Home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    /// Logo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// Space-separated scopes the client may ask for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Contacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Vec<String>>,
    /// Terms of service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    /// Policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    /// The client's keys, by reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The client's keys, by value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    /// Software identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    /// Software version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    /// A signed software statement (RFC 7591 §2.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_statement: Option<String>,
    /// `native` or `web` (MCP 2026-07-28: DCR clients send it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_type: Option<ApplicationType>,
    /// Unknown members.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A Client ID Metadata Document: client metadata that names its own URL as `client_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientIdMetadataDocument {
    /// Must equal the URL the document was fetched from, by simple string comparison.
    pub client_id: String,
    /// The rest of the document.
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

/// RFC 7591 §3.2.1 client information response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientRegistrationResponse {
    /// The issued client identifier.
    pub client_id: String,
    /// The issued secret, for confidential clients only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
    /// When the id was issued (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_issued_at: Option<i64>,
    /// When the secret expires (0: never); required when a secret is issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    /// Every registered metadata value, as the server stored it.
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

#[cfg(test)]
mod tests;
