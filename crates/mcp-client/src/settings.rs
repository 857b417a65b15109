//! Configuration: compiled defaults (`config/default.toml`) → optional file (`--config`) →
//! environment (`MCP_CLIENT_SECTION__KEY`, which wins) → command-line flags (applied by the
//! CLI on top of the result).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{ClientError, Result};

const DEFAULTS: &str = include_str!("../config/default.toml");

/// How the user agent part of the authorization runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizeMode {
    /// Open the system browser, catch the redirect on the loopback listener.
    Browser,
    /// Print the URL and wait; follow an immediate redirect of an auto-approving server.
    Headless,
}

/// The MCP protocol revision the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum McpProtocol {
    /// `initialize` handshake and sessions, protocol 2025-11-25 (the default).
    #[serde(rename = "2025-11-25")]
    V2025_11_25,
    /// The 2026-07-28 draft: `server/discover` and per-request metadata on the stateless
    /// wire, falling back to the 2025-11-25 handshake for a server that does not know it.
    #[serde(rename = "2026-07-28")]
    V2026_07_28,
}

/// The raw shape of the configuration, as read from TOML and the environment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    store: RawStore,
    client: RawClient,
    authorize: RawAuthorize,
    tokens: RawTokens,
    http: RawHttp,
    discovery: RawDiscovery,
    mcp: RawMcp,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMcp {
    protocol_version: McpProtocol,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDiscovery {
    legacy_fallback: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    name: String,
    id: String,
    secret: String,
    issuer: String,
    metadata_url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuthorize {
    mode: AuthorizeMode,
    timeout_secs: u64,
    callback_port: u16,
    offline_access: bool,
    max_authorizations: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTokens {
    refresh_margin_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    timeout_secs: u64,
    allow_insecure_http: bool,
    allow_private_addresses: bool,
}

/// Pre-registered client credentials (registration priority 1).
#[derive(Clone)]
pub struct PreRegistered {
    /// The client id.
    pub client_id: String,
    /// The secret of a confidential client.
    pub client_secret: Option<String>,
    /// Only for this issuer, if set.
    pub issuer: Option<String>,
}

impl std::fmt::Debug for PreRegistered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreRegistered")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("issuer", &self.issuer)
            .finish()
    }
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The credential file.
    pub store_path: PathBuf,
    /// `client_name` for registration.
    pub client_name: String,
    /// Pre-registered credentials.
    pub pre_registered: Option<PreRegistered>,
    /// The Client ID Metadata Document URL.
    pub metadata_url: Option<String>,
    /// Browser or headless.
    pub mode: AuthorizeMode,
    /// Callback wait.
    pub authorize_timeout: Duration,
    /// Loopback listener port (0: ephemeral).
    pub callback_port: u16,
    /// Ask for `offline_access` when the server lists it.
    pub offline_access: bool,
    /// Authorizations per operation.
    pub max_authorizations: u32,
    /// Refresh margin.
    pub refresh_margin_secs: i64,
    /// OAuth request timeout.
    pub http_timeout: Duration,
    /// Allow http on non-loopback hosts.
    pub allow_insecure_http: bool,
    /// Allow private addresses for discovered URLs.
    pub allow_private_addresses: bool,
    /// Fall back to 2025-03-26 discovery when there is no protected resource metadata.
    pub legacy_discovery: bool,
    /// The MCP protocol revision.
    pub protocol: McpProtocol,
}

impl Settings {
    /// Defaults, then `file`, then `MCP_CLIENT_*` environment variables.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file).required(true));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("MCP_CLIENT")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true),
        );
        let raw: RawSettings = builder
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(|e| {
                ClientError::Config(format!(
                    "{e} (keys are section.key, env vars MCP_CLIENT_SECTION__KEY)"
                ))
            })?;
        Self::validate(raw)
    }

    /// The compiled defaults, with the store at `store_path` (for tests, embedding and the
    /// conformance mode). Needs no home directory.
    pub fn defaults_with_store(store_path: PathBuf) -> Result<Self> {
        let mut raw = toml_defaults()?;
        raw.store.path = store_path.display().to_string();
        let mut settings = Self::validate(raw)?;
        settings.store_path = store_path;
        Ok(settings)
    }

    fn validate(raw: RawSettings) -> Result<Self> {
        let non_empty = |s: String| (!s.trim().is_empty()).then_some(s);
        let store_path = match non_empty(raw.store.path) {
            Some(p) => PathBuf::from(p),
            None => default_store_path()?,
        };
        let pre_registered = non_empty(raw.client.id).map(|client_id| PreRegistered {
            client_id,
            client_secret: non_empty(raw.client.secret.clone()),
            issuer: non_empty(raw.client.issuer.clone()),
        });
        if pre_registered.is_none() && !raw.client.secret.is_empty() {
            return Err(ClientError::Config(
                "client.secret (MCP_CLIENT_CLIENT__SECRET) is set without client.id (MCP_CLIENT_CLIENT__ID)".into(),
            ));
        }
        let metadata_url = non_empty(raw.client.metadata_url);
        if let Some(url) = &metadata_url {
            crate::registration::check_metadata_url(url).map_err(|e| {
                ClientError::Config(format!(
                    "client.metadata_url (MCP_CLIENT_CLIENT__METADATA_URL): {e}"
                ))
            })?;
        }
        if raw.authorize.max_authorizations == 0 {
            return Err(ClientError::Config(
                "authorize.max_authorizations (MCP_CLIENT_AUTHORIZE__MAX_AUTHORIZATIONS) must be at least 1".into(),
            ));
        }
        if raw.authorize.timeout_secs == 0 || raw.http.timeout_secs == 0 {
            return Err(ClientError::Config(
                "authorize.timeout_secs and http.timeout_secs (MCP_CLIENT_AUTHORIZE__TIMEOUT_SECS, MCP_CLIENT_HTTP__TIMEOUT_SECS) must be positive".into(),
            ));
        }
        Ok(Self {
            store_path,
            client_name: raw.client.name,
            pre_registered,
            metadata_url,
            mode: raw.authorize.mode,
            authorize_timeout: Duration::from_secs(raw.authorize.timeout_secs),
            callback_port: raw.authorize.callback_port,
            offline_access: raw.authorize.offline_access,
            max_authorizations: raw.authorize.max_authorizations,
            refresh_margin_secs: i64::try_from(raw.tokens.refresh_margin_secs).unwrap_or(60),
            http_timeout: Duration::from_secs(raw.http.timeout_secs),
            allow_insecure_http: raw.http.allow_insecure_http,
            allow_private_addresses: raw.http.allow_private_addresses,
            legacy_discovery: raw.discovery.legacy_fallback,
            protocol: raw.mcp.protocol_version,
        })
    }
}

fn toml_defaults() -> Result<RawSettings> {
    config::Config::builder()
        .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
        .build()
        .and_then(config::Config::try_deserialize)
        .map_err(|e| ClientError::Config(e.to_string()))
}

/// `<user data dir>/mcp-client/credentials.json`.
pub fn default_store_path() -> Result<PathBuf> {
    directories::ProjectDirs::from("", "", "mcp-client")
        .map(|dirs| dirs.data_dir().join("credentials.json"))
        .ok_or_else(|| {
            ClientError::Config(
                "no home directory: set store.path (MCP_CLIENT_STORE__PATH) or --store".into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_defaults_validate() {
        let settings = Settings::defaults_with_store(PathBuf::from("x.json")).unwrap();
        assert_eq!(settings.mode, AuthorizeMode::Browser);
        assert_eq!(settings.max_authorizations, 3);
        assert!(settings.pre_registered.is_none());
        assert!(settings.metadata_url.is_none());
        assert_eq!(settings.protocol, McpProtocol::V2025_11_25);
    }

    #[test]
    fn a_file_overrides_defaults_and_bad_values_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[client]\nid = \"abc\"\n[authorize]\nmode = \"headless\"\n[store]\npath = \"/tmp/x.json\"\n",
        )
        .unwrap();
        let settings = Settings::load(Some(&file)).unwrap();
        assert_eq!(settings.mode, AuthorizeMode::Headless);
        assert_eq!(settings.pre_registered.unwrap().client_id, "abc");

        std::fs::write(&file, "[client]\nmetadata_url = \"http://example.com/x\"\n").unwrap();
        let err = Settings::load(Some(&file)).unwrap_err().to_string();
        assert!(err.contains("MCP_CLIENT_CLIENT__METADATA_URL"), "{err}");

        std::fs::write(&file, "[mcp]\nprotocol_version = \"2026-07-28\"\n").unwrap();
        let settings = Settings::load(Some(&file)).unwrap();
        assert_eq!(settings.protocol, McpProtocol::V2026_07_28);
        std::fs::write(&file, "[mcp]\nprotocol_version = \"2024-01-01\"\n").unwrap();
        assert!(Settings::load(Some(&file)).is_err());
    }
}
