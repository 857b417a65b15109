//! Layered configuration: compiled defaults (`config/default.toml`) → optional file
//! (`--config PATH`) → environment (`RESOURCE_SERVER_<SECTION>__<KEY>`, lists comma-separated).
//!
//! The raw, string-typed shape ([`RawSettings`]) is deserialised with unknown fields refused,
//! then [`RawSettings::validate`] turns it into the typed [`Settings`], naming the key and its
//! environment variable in every error.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use mcp_auth_core::jwt::SigningAlgorithm;
use mcp_auth_core::secret::ClientSecret;
use mcp_auth_core::{Issuer, ResourceUri, ScopeSet};
use serde::Deserialize;
use url::Url;

/// The compiled-in defaults.
pub const DEFAULT_CONFIG: &str = include_str!("../config/default.toml");

/// The environment variable prefix.
pub const ENV_PREFIX: &str = "RESOURCE_SERVER";

/// A list setting: a sequence (TOML) or one comma-separated string (environment). Values
/// stay strings: the environment source does no type guessing, so a secret such as `1e5`
/// is never turned into a number.
fn list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<String>),
        One(String),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::Many(items) => items,
        OneOrMany::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A source could not be read or deserialised.
    #[error("configuration could not be read: {0}")]
    Load(#[from] config::ConfigError),
    /// A value is invalid.
    #[error("invalid configuration `{key}` (env {env}): {message}")]
    Invalid {
        /// The dotted key.
        key: String,
        /// Its environment variable.
        env: String,
        /// What is wrong.
        message: String,
    },
}

/// The environment variable that sets a dotted key.
pub fn env_var(key: &str) -> String {
    format!(
        "{ENV_PREFIX}_{}",
        key.replace('.', "__").to_ascii_uppercase()
    )
}

fn invalid(key: &str, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key: key.to_owned(),
        env: env_var(key),
        message: message.into(),
    }
}

/// How access tokens are validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenMode {
    /// RFC 9068 JWTs, verified with the keys of the AS's JWKS.
    Jwt,
    /// RFC 7662 introspection at the AS.
    Introspection,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The listener.
    pub http: HttpSettings,
    /// This protected resource.
    pub resource: ResourceSettings,
    /// The authorization server that issues our tokens.
    pub authorization_server: AuthorizationServerSettings,
    /// Token validation.
    pub token: TokenSettings,
    /// RFC 7662 introspection (used when `token.mode = "introspection"`).
    pub introspection: IntrospectionSettings,
    /// Which scope each tool needs.
    pub tools: ToolPolicy,
    /// Host and Origin allow-lists.
    pub security: SecuritySettings,
    /// The Streamable HTTP transport's modes.
    pub mcp: McpSettings,
    /// Development and benchmark switches.
    pub dev: DevSettings,
}

/// `[http]`.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The address to bind.
    pub host: IpAddr,
    /// The port to bind (0: any free port).
    pub port: u16,
}

/// `[resource]`.
#[derive(Debug, Clone)]
pub struct ResourceSettings {
    /// The canonical URI of the MCP endpoint.
    pub uri: ResourceUri,
    /// `resource_name` in the metadata.
    pub name: String,
    /// `scopes_supported` in the metadata and `scope` in 401 challenges.
    pub scopes_supported: ScopeSet,
}

/// `[authorization_server]`.
#[derive(Debug, Clone)]
pub struct AuthorizationServerSettings {
    /// The issuer, exactly as tokens carry it.
    pub issuer: Issuer,
    /// The base URL this server uses to reach the AS, when not the issuer.
    pub internal_url: Option<Url>,
    /// The JWKS URL, when not discovered.
    pub jwks_uri: Option<Url>,
    /// At most one JWKS refresh per this interval.
    pub jwks_refresh_min_interval: Duration,
    /// Re-fetch the JWKS this often (`None`: only on an unknown `kid`).
    pub jwks_max_age: Option<Duration>,
    /// Timeout of requests to the AS.
    pub http_timeout: Duration,
}

/// `[token]`.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// JWT or introspection.
    pub mode: TokenMode,
    /// Accepted JWS algorithms.
    pub algorithms: Vec<SigningAlgorithm>,
    /// Clock skew allowed for `exp` and `nbf`, in seconds.
    pub leeway_secs: i64,
    /// Size bound of the validation cache.
    pub cache_max_entries: usize,
    /// Upper bound on how long an introspection result is reused, in seconds.
    pub introspection_cache_ttl_secs: i64,
}

/// `[introspection]`.
#[derive(Debug, Clone)]
pub struct IntrospectionSettings {
    /// The endpoint, when not discovered.
    pub endpoint: Option<Url>,
    /// This server's client id at the AS.
    pub client_id: String,
    /// Its secret.
    pub client_secret: ClientSecret,
}

/// `[tools]`: the scope each tool needs.
#[derive(Debug, Clone)]
pub struct ToolPolicy {
    /// For tools not listed in `scopes`.
    pub default_scope: ScopeSet,
    /// Tool name → scopes it needs.
    pub scopes: BTreeMap<String, ScopeSet>,
}

impl ToolPolicy {
    /// The scopes a `tools/call` of `tool` needs.
    pub fn required_for(&self, tool: &str) -> &ScopeSet {
        self.scopes.get(tool).unwrap_or(&self.default_scope)
    }
}

/// `[security]`.
#[derive(Debug, Clone)]
pub struct SecuritySettings {
    /// Accepted `Host` values (without port: any port).
    pub allowed_hosts: Vec<String>,
    /// Accepted `Origin` values (`scheme://host[:port]`).
    pub allowed_origins: Vec<String>,
}

/// `[mcp]`: how rmcp's Streamable HTTP transport serves `/mcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct McpSettings {
    /// `true`: sessions (`Mcp-Session-Id` from `initialize`, GET streams, DELETE), each
    /// session bound to the subject that opened it. `false`: rmcp's stateless mode, every
    /// POST stands alone, no session id, GET and DELETE answer 405.
    pub stateful: bool,
    /// Stateless mode only: answer a POST whose handler sends just its result with one
    /// `application/json` body instead of an SSE stream.
    pub json_response: bool,
}

/// `[dev]`: switches for development and benchmarks only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevSettings {
    /// Serve `/mcp` without the bearer guard (Host and Origin are still checked). Refused
    /// unless `http.host` is a loopback address.
    pub disable_authorization: bool,
}

/// The configuration as read, before validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    http: RawHttp,
    resource: RawResource,
    authorization_server: RawAuthorizationServer,
    token: RawToken,
    introspection: RawIntrospection,
    tools: RawTools,
    security: RawSecurity,
    mcp: RawMcp,
    dev: RawDev,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    host: String,
    port: u16,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResource {
    uri: String,
    name: String,
    #[serde(deserialize_with = "list")]
    scopes_supported: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuthorizationServer {
    issuer: String,
    #[serde(default)]
    internal_url: String,
    #[serde(default)]
    jwks_uri: String,
    jwks_refresh_min_interval_secs: u64,
    jwks_max_age_secs: u64,
    http_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    mode: String,
    #[serde(deserialize_with = "list")]
    algorithms: Vec<String>,
    leeway_secs: i64,
    cache_max_entries: usize,
    introspection_cache_ttl_secs: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntrospection {
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTools {
    default_scope: String,
    #[serde(default)]
    scopes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecurity {
    #[serde(deserialize_with = "list")]
    allowed_hosts: Vec<String>,
    #[serde(deserialize_with = "list")]
    allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMcp {
    stateful: bool,
    json_response: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDev {
    disable_authorization: bool,
}

/// The names of the tools this server has (for validating `tools.scopes`).
pub const TOOL_NAMES: [&str; 3] = ["whoami", "get_weather", "admin_stats"];

impl Settings {
    /// The compiled defaults alone (what tests start from).
    pub fn defaults() -> Result<Self, SettingsError> {
        Self::load_from(None, None)
    }

    /// Defaults → `file` → the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        Self::load_from(file, Some(environment(None)))
    }

    /// Defaults → `file` → `env` (an environment source; tests pass an explicit map).
    pub fn load_from(file: Option<&Path>, env: Option<Environment>) -> Result<Self, SettingsError> {
        let mut builder =
            Config::builder().add_source(File::from_str(DEFAULT_CONFIG, FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(File::from(path).required(true));
        }
        if let Some(env) = env {
            builder = builder.add_source(env);
        }
        let raw: RawSettings = builder.build()?.try_deserialize()?;
        raw.validate()
    }
}

/// The `RESOURCE_SERVER_*` environment source; `vars` replaces the process environment
/// (for tests).
pub fn environment(vars: Option<BTreeMap<String, String>>) -> Environment {
    let mut env = Environment::with_prefix(ENV_PREFIX)
        .prefix_separator("_")
        .separator("__")
        .try_parsing(false);
    if let Some(vars) = vars {
        env = env.source(Some(vars.into_iter().collect()));
    }
    env
}

fn optional_url(key: &str, value: &str) -> Result<Option<Url>, SettingsError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let url = Url::parse(value).map_err(|e| invalid(key, format!("{value:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid(key, format!("{value:?} is not an http(s) URL")));
    }
    Ok(Some(url))
}

fn scope_set(key: &str, value: &str) -> Result<ScopeSet, SettingsError> {
    ScopeSet::parse(value).map_err(|e| invalid(key, e.to_string()))
}

impl RawSettings {
    /// Checks every value and builds the typed settings.
    pub fn validate(self) -> Result<Settings, SettingsError> {
        let host = self.http.host.parse::<IpAddr>().map_err(|_| {
            invalid(
                "http.host",
                format!("{:?} is not an IP address", self.http.host),
            )
        })?;

        let uri = ResourceUri::parse(&self.resource.uri)
            .map_err(|e| invalid("resource.uri", e.to_string()))?;
        let scopes_supported = ScopeSet::from_tokens(self.resource.scopes_supported.iter())
            .map_err(|e| invalid("resource.scopes_supported", e.to_string()))?;

        let issuer = Issuer::parse(&self.authorization_server.issuer)
            .map_err(|e| invalid("authorization_server.issuer", e.to_string()))?;
        let internal_url = optional_url(
            "authorization_server.internal_url",
            &self.authorization_server.internal_url,
        )?;
        let jwks_uri = optional_url(
            "authorization_server.jwks_uri",
            &self.authorization_server.jwks_uri,
        )?;
        if self.authorization_server.http_timeout_secs == 0 {
            return Err(invalid(
                "authorization_server.http_timeout_secs",
                "must be at least 1",
            ));
        }

        let mode = match self.token.mode.trim().to_ascii_lowercase().as_str() {
            "jwt" => TokenMode::Jwt,
            "introspection" => TokenMode::Introspection,
            other => {
                return Err(invalid(
                    "token.mode",
                    format!("{other:?} is neither \"jwt\" nor \"introspection\""),
                ));
            }
        };
        let algorithms = self
            .token
            .algorithms
            .iter()
            .map(|a| {
                a.trim().parse::<SigningAlgorithm>().map_err(|_| {
                    invalid(
                        "token.algorithms",
                        format!("{a:?} is not ES256, RS256 or EdDSA"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if mode == TokenMode::Jwt && algorithms.is_empty() {
            return Err(invalid(
                "token.algorithms",
                "at least one algorithm is needed",
            ));
        }
        if !(0..=300).contains(&self.token.leeway_secs) {
            return Err(invalid("token.leeway_secs", "must be between 0 and 300"));
        }
        if self.token.cache_max_entries == 0 {
            return Err(invalid("token.cache_max_entries", "must be at least 1"));
        }
        if self.token.introspection_cache_ttl_secs < 0 {
            return Err(invalid(
                "token.introspection_cache_ttl_secs",
                "must not be negative",
            ));
        }

        let endpoint = optional_url("introspection.endpoint", &self.introspection.endpoint)?;
        if mode == TokenMode::Introspection && self.introspection.client_id.trim().is_empty() {
            return Err(invalid(
                "introspection.client_id",
                "introspection mode needs the client id this server uses at the AS",
            ));
        }

        let default_scope = scope_set("tools.default_scope", &self.tools.default_scope)?;
        let mut scopes = BTreeMap::new();
        for (tool, scope) in &self.tools.scopes {
            let key = format!("tools.scopes.{tool}");
            if !TOOL_NAMES.contains(&tool.as_str()) {
                return Err(invalid(
                    &key,
                    format!(
                        "there is no tool {tool:?} (tools: {})",
                        TOOL_NAMES.join(", ")
                    ),
                ));
            }
            scopes.insert(tool.clone(), scope_set(&key, scope)?);
        }

        let allowed_hosts: Vec<String> = self
            .security
            .allowed_hosts
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        if allowed_hosts.is_empty() {
            return Err(invalid(
                "security.allowed_hosts",
                "at least one host is needed (the hostnames clients use to reach this server)",
            ));
        }
        let mut allowed_origins = Vec::new();
        for origin in &self.security.allowed_origins {
            let origin = origin.trim();
            if origin.is_empty() {
                continue;
            }
            let parsed = Url::parse(origin)
                .ok()
                .filter(|u| u.host().is_some() && matches!(u.path(), "" | "/"))
                .ok_or_else(|| {
                    invalid(
                        "security.allowed_origins",
                        format!("{origin:?} is not an origin (scheme://host[:port])"),
                    )
                })?;
            allowed_origins.push(parsed.origin().ascii_serialization());
        }

        if self.mcp.json_response && self.mcp.stateful {
            // rmcp ignores `json_response` for session requests: refuse rather than pretend.
            return Err(invalid(
                "mcp.json_response",
                "applies only to the stateless mode: set mcp.stateful = false too",
            ));
        }
        if self.dev.disable_authorization && !host.is_loopback() {
            return Err(invalid(
                "dev.disable_authorization",
                format!(
                    "serving /mcp without authorization is allowed only on a loopback \
                     http.host (127.0.0.1 or ::1), not {host}"
                ),
            ));
        }

        Ok(Settings {
            http: HttpSettings {
                host,
                port: self.http.port,
            },
            resource: ResourceSettings {
                uri,
                name: self.resource.name,
                scopes_supported,
            },
            authorization_server: AuthorizationServerSettings {
                issuer,
                internal_url,
                jwks_uri,
                jwks_refresh_min_interval: Duration::from_secs(
                    self.authorization_server.jwks_refresh_min_interval_secs,
                ),
                jwks_max_age: (self.authorization_server.jwks_max_age_secs > 0)
                    .then(|| Duration::from_secs(self.authorization_server.jwks_max_age_secs)),
                http_timeout: Duration::from_secs(self.authorization_server.http_timeout_secs),
            },
            token: TokenSettings {
                mode,
                algorithms,
                leeway_secs: self.token.leeway_secs,
                cache_max_entries: self.token.cache_max_entries,
                introspection_cache_ttl_secs: self.token.introspection_cache_ttl_secs,
            },
            introspection: IntrospectionSettings {
                endpoint,
                client_id: self.introspection.client_id.trim().to_owned(),
                client_secret: ClientSecret::new(self.introspection.client_secret),
            },
            tools: ToolPolicy {
                default_scope,
                scopes,
            },
            security: SecuritySettings {
                allowed_hosts,
                allowed_origins,
            },
            mcp: McpSettings {
                stateful: self.mcp.stateful,
                json_response: self.mcp.json_response,
            },
            dev: DevSettings {
                disable_authorization: self.dev.disable_authorization,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_env(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let vars = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::load_from(None, Some(environment(Some(vars))))
    }

    #[test]
    fn defaults_are_the_demo_system() {
        let s = Settings::defaults().unwrap();
        assert_eq!(s.http.port, 8001);
        assert_eq!(s.resource.uri.as_str(), "http://localhost:8001/mcp");
        assert_eq!(
            s.authorization_server.issuer.as_str(),
            "http://localhost:9000"
        );
        assert_eq!(s.resource.scopes_supported.to_string(), "mcp:tools");
        assert_eq!(s.token.mode, TokenMode::Jwt);
        assert_eq!(s.tools.required_for("whoami").to_string(), "mcp:tools");
        assert_eq!(
            s.tools.required_for("get_weather").to_string(),
            "weather:read"
        );
        assert_eq!(s.tools.required_for("admin_stats").to_string(), "mcp:admin");
        assert_eq!(s.tools.required_for("unknown").to_string(), "mcp:tools");
        assert!(
            s.security
                .allowed_origins
                .contains(&"http://localhost:6274".to_owned())
        );
        assert!(s.authorization_server.internal_url.is_none());
        assert_eq!(
            s.mcp,
            McpSettings {
                stateful: true,
                json_response: false
            }
        );
        assert!(!s.dev.disable_authorization);
    }

    #[test]
    fn the_stateless_json_mode_is_set_from_the_environment() {
        let s = with_env(&[
            ("RESOURCE_SERVER_MCP__STATEFUL", "false"),
            ("RESOURCE_SERVER_MCP__JSON_RESPONSE", "true"),
        ])
        .unwrap();
        assert_eq!(
            s.mcp,
            McpSettings {
                stateful: false,
                json_response: true
            }
        );
        let s = with_env(&[("RESOURCE_SERVER_MCP__STATEFUL", "false")]).unwrap();
        assert!(!s.mcp.stateful && !s.mcp.json_response, "stateless SSE");
    }

    /// rmcp ignores `json_response` in session mode: the combination is refused, not
    /// silently served as SSE.
    #[test]
    fn json_responses_need_the_stateless_mode() {
        let err = with_env(&[("RESOURCE_SERVER_MCP__JSON_RESPONSE", "true")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`mcp.json_response`"), "{err}");
        assert!(err.contains("RESOURCE_SERVER_MCP__JSON_RESPONSE"), "{err}");
        assert!(err.contains("mcp.stateful = false"), "{err}");
    }

    #[test]
    fn authorization_can_be_switched_off_only_on_a_loopback_host() {
        for host in ["127.0.0.1", "::1", "127.0.0.2"] {
            let s = with_env(&[
                ("RESOURCE_SERVER_HTTP__HOST", host),
                ("RESOURCE_SERVER_DEV__DISABLE_AUTHORIZATION", "true"),
            ])
            .unwrap_or_else(|e| panic!("{host}: {e}"));
            assert!(s.dev.disable_authorization, "{host}");
        }
        for host in ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1"] {
            let err = with_env(&[
                ("RESOURCE_SERVER_HTTP__HOST", host),
                ("RESOURCE_SERVER_DEV__DISABLE_AUTHORIZATION", "true"),
            ])
            .unwrap_err()
            .to_string();
            assert!(err.contains("`dev.disable_authorization`"), "{host}: {err}");
            assert!(
                err.contains("RESOURCE_SERVER_DEV__DISABLE_AUTHORIZATION"),
                "{host}: {err}"
            );
            assert!(err.contains("loopback"), "{host}: {err}");
        }
        let s = with_env(&[("RESOURCE_SERVER_HTTP__HOST", "0.0.0.0")]).unwrap();
        assert!(
            !s.dev.disable_authorization,
            "the guard stays on by default"
        );
    }

    #[test]
    fn environment_overrides_defaults_including_lists_and_maps() {
        let s = with_env(&[
            ("RESOURCE_SERVER_HTTP__PORT", "9101"),
            ("RESOURCE_SERVER_TOKEN__MODE", "introspection"),
            ("RESOURCE_SERVER_INTROSPECTION__CLIENT_ID", "rs"),
            (
                "RESOURCE_SERVER_SECURITY__ALLOWED_HOSTS",
                "mcp.example.com,localhost",
            ),
            (
                "RESOURCE_SERVER_TOOLS__SCOPES__GET_WEATHER",
                "weather:read weather:forecast",
            ),
            (
                "RESOURCE_SERVER_AUTHORIZATION_SERVER__INTERNAL_URL",
                "http://auth-server:9000",
            ),
        ])
        .unwrap();
        assert_eq!(s.http.port, 9101);
        assert_eq!(s.token.mode, TokenMode::Introspection);
        assert_eq!(s.security.allowed_hosts, ["mcp.example.com", "localhost"]);
        assert_eq!(
            s.tools.required_for("get_weather").to_string(),
            "weather:forecast weather:read"
        );
        assert_eq!(
            s.authorization_server.internal_url.unwrap().as_str(),
            "http://auth-server:9000/"
        );
    }

    #[test]
    fn errors_name_the_key_and_the_environment_variable() {
        let cases = [
            ("RESOURCE_SERVER_RESOURCE__URI", "not a uri", "resource.uri"),
            ("RESOURCE_SERVER_TOKEN__MODE", "opaque", "token.mode"),
            (
                "RESOURCE_SERVER_TOKEN__ALGORITHMS",
                "HS256",
                "token.algorithms",
            ),
            ("RESOURCE_SERVER_HTTP__HOST", "localhost", "http.host"),
            (
                "RESOURCE_SERVER_SECURITY__ALLOWED_ORIGINS",
                "localhost:6274/x",
                "security.allowed_origins",
            ),
            (
                "RESOURCE_SERVER_TOOLS__SCOPES__NOPE",
                "x",
                "tools.scopes.nope",
            ),
            (
                "RESOURCE_SERVER_TOKEN__MODE",
                "introspection",
                "introspection.client_id",
            ),
        ];
        for (var, value, key) in cases {
            let err = with_env(&[(var, value)]).unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")), "{var}: {err}");
            assert!(err.contains(&env_var(key)), "{var}: {err}");
        }
    }

    #[test]
    fn a_misspelt_variable_stops_the_start_and_is_named() {
        let err = with_env(&[("RESOURCE_SERVER_HTTP__PROT", "1")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn a_file_sits_between_defaults_and_environment() {
        let path = std::env::temp_dir().join(format!(
            "rs-settings-{}.toml",
            mcp_auth_core::secret::random_urlsafe(8)
        ));
        std::fs::write(
            &path,
            "[http]\nport = 7000\nhost = \"0.0.0.0\"\n[token]\nmode = \"jwt\"\nalgorithms = [\"ES256\"]\nleeway_secs = 5\ncache_max_entries = 10\nintrospection_cache_ttl_secs = 1\n",
        )
        .unwrap();
        let vars = [("RESOURCE_SERVER_HTTP__PORT".to_owned(), "7001".to_owned())]
            .into_iter()
            .collect();
        let s = Settings::load_from(Some(&path), Some(environment(Some(vars)))).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(s.http.port, 7001, "the environment wins over the file");
        assert_eq!(
            s.http.host.to_string(),
            "0.0.0.0",
            "the file wins over the defaults"
        );
        assert_eq!(s.token.algorithms, [SigningAlgorithm::ES256]);
        assert_eq!(s.token.leeway_secs, 5);
        assert_eq!(
            s.resource.uri.as_str(),
            "http://localhost:8001/mcp",
            "defaults remain"
        );
        assert!(Settings::load_from(Some(Path::new("/nonexistent/rs.toml")), None).is_err());
    }

    #[test]
    fn env_var_names_follow_the_section_separator() {
        assert_eq!(env_var("http.port"), "RESOURCE_SERVER_HTTP__PORT");
        assert_eq!(
            env_var("authorization_server.jwks_uri"),
            "RESOURCE_SERVER_AUTHORIZATION_SERVER__JWKS_URI"
        );
    }
}
