//! Layered configuration: compiled defaults → optional file → `AUTH_SERVER_*` environment.
//!
//! The raw document is deserialised with unknown fields denied, then [`RawSettings::validate`]
//! turns it into a typed [`Settings`]; every error names the key and its environment variable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use mcp_auth_core::jwt::SigningAlgorithm;
use mcp_auth_core::{Issuer, RedirectUri, ResourceUri, ScopeSet};
use serde::Deserialize;

/// The compiled-in defaults.
pub const DEFAULT_CONFIG: &str = include_str!("../config/default.toml");

/// The environment variable prefix.
pub const ENV_PREFIX: &str = "AUTH_SERVER";

/// A configuration error that names the offending key.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The layered sources could not be read or deserialised.
    #[error("configuration could not be loaded: {0}")]
    Load(#[from] config::ConfigError),
    /// A value is present but invalid.
    #[error("invalid configuration `{key}` (env {env}): {message}")]
    Invalid {
        /// The dotted key.
        key: String,
        /// The environment variable for the key.
        env: String,
        /// What is wrong.
        message: String,
    },
}

fn invalid(key: &str, message: impl Into<String>) -> SettingsError {
    let env = format!(
        "{ENV_PREFIX}_{}",
        key.replace('.', "__")
            .replace(['[', ']'], "_")
            .to_uppercase()
    );
    SettingsError::Invalid {
        key: key.to_owned(),
        env,
        message: message.into(),
    }
}

/// `[http]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Bind address.
    pub host: String,
    /// Bind port (0 = any free port).
    pub port: u16,
    /// Proxies whose `X-Forwarded-For` is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// `[database]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Directory holding the SQLite file.
    pub data_dir: PathBuf,
    /// Optional explicit database URL: `sqlite:...` or `postgres://...`.
    #[serde(default)]
    pub url: String,
    /// Connections in the pool, per instance.
    pub max_connections: u32,
    /// How long a request waits for a free connection before failing.
    pub acquire_timeout_seconds: u64,
}

impl DatabaseSettings {
    /// The SQLite file used when no URL is configured.
    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("auth-server.db")
    }
}

/// `[tokens]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// Access token lifetime.
    pub access_token_ttl_seconds: i64,
    /// Refresh token lifetime.
    pub refresh_token_ttl_seconds: i64,
    /// Authorization code lifetime (at most 600).
    pub authorization_code_ttl_seconds: i64,
    /// Grace period for presenting a just-rotated refresh token again.
    pub refresh_reuse_grace_seconds: i64,
    /// Issue refresh tokens only when `offline_access` was granted.
    pub refresh_requires_offline_access: bool,
    /// Algorithm of newly generated signing keys.
    pub signing_algorithm: String,
    /// PKCS#8 key file to sign with; empty = generated and stored.
    #[serde(default)]
    pub signing_key_file: String,
    /// Seconds between re-reads of the signing keys from the database (picks up a rotation
    /// made by another instance or by `auth-server key rotate`).
    pub key_reload_seconds: u64,
}

/// `[session]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    /// HMAC key for cookies; empty = generated once and kept in the database.
    #[serde(default)]
    pub secret: String,
    /// Login session lifetime.
    pub ttl_seconds: i64,
    /// Sign-in attempts per client IP per minute.
    pub login_attempts_per_minute: u32,
}

/// `[dcr]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DcrSettings {
    /// Whether `POST /register` exists.
    pub enabled: bool,
    /// Required bearer token for registration, when non-empty.
    #[serde(default)]
    pub initial_access_token: String,
    /// Registrations per IP per minute.
    pub rate_limit_per_minute: u32,
    /// Never-used dynamically registered clients are deleted after this long.
    pub unused_client_ttl_seconds: i64,
}

/// `[cimd]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CimdSettings {
    /// Whether https `client_id` URLs are fetched.
    pub enabled: bool,
    /// Maximum document size.
    pub max_bytes: usize,
    /// TCP/TLS connect timeout.
    pub connect_timeout_ms: u64,
    /// Whole-response timeout.
    pub read_timeout_ms: u64,
    /// Lower bound for cache lifetimes.
    pub cache_min_seconds: i64,
    /// Upper bound for cache lifetimes.
    pub cache_max_seconds: i64,
    /// Development only: allow `http://` and loopback documents.
    pub allow_insecure_loopback: bool,
    /// Tests only: extra trusted root certificate (PEM file).
    #[serde(default)]
    pub extra_root_certificate: String,
}

/// `[dev]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevSettings {
    /// Approve every authorization request as `auto_approve_user`.
    pub auto_approve: bool,
    /// The user auto-approval acts as.
    pub auto_approve_user: String,
}

/// `[maintenance]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceSettings {
    /// Seconds between background maintenance runs (reaping, key reload).
    pub interval_seconds: u64,
}

/// One `[[resources]]` entry as configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResource {
    /// The resource URI (canonicalised at validation).
    pub uri: String,
    /// Scopes this resource understands.
    pub scopes: Vec<String>,
    /// Scopes granted when a request names none.
    #[serde(default)]
    pub default_scopes: Vec<String>,
}

/// One `[[users]]` seed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSeed {
    /// Login name.
    pub username: String,
    /// Plain password (development).
    #[serde(default)]
    pub password: Option<String>,
    /// PHC argon2 hash.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// Role (admin, user, guest or any name under `[roles]`).
    #[serde(default = "default_role")]
    pub role: String,
    /// Explicit allowed scopes, replacing the role's.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Shown on pages.
    #[serde(default)]
    pub display_name: Option<String>,
}

fn default_role() -> String {
    "user".to_owned()
}

/// One `[[clients]]` pre-registration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSeed {
    /// The client identifier.
    pub client_id: String,
    /// Secret of a confidential client (stored hashed).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Display name.
    #[serde(default)]
    pub client_name: Option<String>,
    /// Registered redirect URIs (none: a confidential client that only calls the
    /// introspection and revocation endpoints, such as a resource server).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Resources this (confidential) client serves: it may call `/introspect`, and only tokens
    /// whose `aud` is one of them come back active. Empty (the default): no introspection.
    #[serde(default)]
    pub introspection_resources: Vec<String>,
}

/// The raw configuration document.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    /// Issuer identifier.
    pub issuer: String,
    /// `[http]`.
    pub http: HttpSettings,
    /// `[database]`.
    pub database: DatabaseSettings,
    /// `[tokens]`.
    pub tokens: TokenSettings,
    /// `[session]`.
    pub session: SessionSettings,
    /// `[dcr]`.
    pub dcr: DcrSettings,
    /// `[cimd]`.
    pub cimd: CimdSettings,
    /// `[dev]`.
    pub dev: DevSettings,
    /// `[maintenance]`.
    pub maintenance: MaintenanceSettings,
    /// `[[resources]]`.
    pub resources: Vec<RawResource>,
    /// `[[users]]`.
    #[serde(default)]
    pub users: Vec<UserSeed>,
    /// `[roles]`.
    #[serde(default)]
    pub roles: BTreeMap<String, Vec<String>>,
    /// `[[clients]]`.
    #[serde(default)]
    pub clients: Vec<ClientSeed>,
}

/// A validated protected resource.
#[derive(Debug, Clone)]
pub struct ResourceSettings {
    /// Canonical URI (the token `aud`).
    pub uri: ResourceUri,
    /// Scopes the resource understands.
    pub scopes: ScopeSet,
    /// Scopes granted when a request names none.
    pub default_scopes: ScopeSet,
}

/// A validated pre-registered client.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Identifier.
    pub client_id: String,
    /// Secret, for confidential clients.
    pub client_secret: Option<String>,
    /// Display name.
    pub client_name: Option<String>,
    /// Redirect URIs.
    pub redirect_uris: Vec<RedirectUri>,
    /// Resources whose tokens this client may introspect (empty: it may not call
    /// `/introspect`). Each is one of `[[resources]]`.
    pub introspection_resources: Vec<ResourceUri>,
}

/// The validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Issuer identifier, exactly as configured.
    pub issuer: Issuer,
    /// `[http]`.
    pub http: HttpSettings,
    /// `[database]`.
    pub database: DatabaseSettings,
    /// `[tokens]`.
    pub tokens: TokenSettings,
    /// Parsed `tokens.signing_algorithm`.
    pub signing_algorithm: SigningAlgorithm,
    /// `[session]`.
    pub session: SessionSettings,
    /// `[dcr]`.
    pub dcr: DcrSettings,
    /// `[cimd]`.
    pub cimd: CimdSettings,
    /// `[dev]`.
    pub dev: DevSettings,
    /// `[maintenance]`.
    pub maintenance: MaintenanceSettings,
    /// Protected resources; the first is the default for requests without `resource`.
    pub resources: Vec<ResourceSettings>,
    /// User seeds.
    pub users: Vec<UserSeed>,
    /// Role → scopes.
    pub roles: BTreeMap<String, Vec<String>>,
    /// Pre-registered clients.
    pub clients: Vec<ClientSettings>,
}

impl Settings {
    /// Loads defaults, then `file` (if any), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        let mut builder =
            Config::builder().add_source(File::from_str(DEFAULT_CONFIG, FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(File::from(path).format(FileFormat::Toml).required(true));
        }
        // AUTH_SERVER_CONFIG names the file (see `--config`); it is not a setting.
        let env: config::Map<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("AUTH_SERVER_") && k != "AUTH_SERVER_CONFIG")
            .collect();
        builder = builder.add_source(
            Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(Some(env)),
        );
        let raw: RawSettings = builder.build()?.try_deserialize()?;
        raw.validate()
    }

    /// The compiled defaults only (tests start from here and override fields).
    pub fn defaults() -> Result<Self, SettingsError> {
        let raw: RawSettings = Config::builder()
            .add_source(File::from_str(DEFAULT_CONFIG, FileFormat::Toml))
            .build()?
            .try_deserialize()?;
        raw.validate()
    }

    /// The default resource (for requests without `resource`).
    pub fn default_resource(&self) -> Option<&ResourceSettings> {
        self.resources.first()
    }

    /// The configured resource equal to `uri` after canonicalisation.
    pub fn resource(&self, uri: &ResourceUri) -> Option<&ResourceSettings> {
        self.resources.iter().find(|r| r.uri == *uri)
    }

    /// Every scope any resource understands, plus `offline_access`.
    pub fn scopes_supported(&self) -> Vec<String> {
        let mut all = ScopeSet::new();
        for r in &self.resources {
            all = all.union(&r.scopes);
        }
        let mut v: Vec<String> = all.iter().map(|s| s.as_str().to_owned()).collect();
        v.push(crate::scopes::OFFLINE_ACCESS.to_owned());
        v
    }

    /// Whether pages are served over https (then cookies get `Secure`).
    pub fn is_https(&self) -> bool {
        self.issuer.as_str().starts_with("https://")
    }

    /// Sets the issuer (tests: after binding port 0).
    pub fn set_issuer(&mut self, issuer: &str) -> Result<(), SettingsError> {
        self.issuer = Issuer::parse(issuer).map_err(|e| invalid("issuer", e.to_string()))?;
        Ok(())
    }
}

/// Whether `url` selects the PostgreSQL backend.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn scope_set(key: &str, tokens: &[String]) -> Result<ScopeSet, SettingsError> {
    ScopeSet::from_tokens(tokens).map_err(|e| invalid(key, e.to_string()))
}

impl RawSettings {
    /// Checks every value and builds the typed settings.
    pub fn validate(self) -> Result<Settings, SettingsError> {
        let issuer = Issuer::parse(&self.issuer).map_err(|e| invalid("issuer", e.to_string()))?;
        if issuer.as_str().ends_with('/') {
            return Err(invalid("issuer", "must not end with '/'"));
        }
        let signing_algorithm: SigningAlgorithm = self
            .tokens
            .signing_algorithm
            .parse()
            .map_err(|_| invalid("tokens.signing_algorithm", "use ES256, RS256 or EdDSA"))?;
        let t = &self.tokens;
        if t.access_token_ttl_seconds <= 0 {
            return Err(invalid(
                "tokens.access_token_ttl_seconds",
                "must be positive",
            ));
        }
        if t.refresh_token_ttl_seconds <= 0 {
            return Err(invalid(
                "tokens.refresh_token_ttl_seconds",
                "must be positive",
            ));
        }
        if !(1..=600).contains(&t.authorization_code_ttl_seconds) {
            return Err(invalid(
                "tokens.authorization_code_ttl_seconds",
                "must be between 1 and 600 (OAuth 2.1 recommends at most 10 minutes)",
            ));
        }
        if !(0..=300).contains(&t.refresh_reuse_grace_seconds) {
            return Err(invalid(
                "tokens.refresh_reuse_grace_seconds",
                "must be between 0 and 300",
            ));
        }
        if !self.session.secret.is_empty() && self.session.secret.len() < 32 {
            return Err(invalid("session.secret", "must be at least 32 characters"));
        }
        if self.session.login_attempts_per_minute == 0 {
            return Err(invalid(
                "session.login_attempts_per_minute",
                "must be positive",
            ));
        }
        if self.session.ttl_seconds <= 0 {
            return Err(invalid("session.ttl_seconds", "must be positive"));
        }
        if self.cimd.max_bytes == 0 || self.cimd.max_bytes > 1 << 20 {
            return Err(invalid("cimd.max_bytes", "must be between 1 and 1048576"));
        }
        if self.cimd.cache_min_seconds < 0
            || self.cimd.cache_max_seconds < self.cimd.cache_min_seconds
        {
            return Err(invalid(
                "cimd.cache_max_seconds",
                "bounds must satisfy 0 <= cache_min_seconds <= cache_max_seconds",
            ));
        }
        if !(1..=1000).contains(&self.database.max_connections) {
            return Err(invalid(
                "database.max_connections",
                "must be between 1 and 1000",
            ));
        }
        if !(1..=600).contains(&self.database.acquire_timeout_seconds) {
            return Err(invalid(
                "database.acquire_timeout_seconds",
                "must be between 1 and 600",
            ));
        }
        let url = &self.database.url;
        if !url.is_empty() && !is_postgres_url(url) && !url.starts_with("sqlite:") {
            return Err(invalid(
                "database.url",
                "use sqlite:PATH, postgres://... or postgresql://... (empty = SQLite in database.data_dir)",
            ));
        }
        if !(1..=3600).contains(&self.tokens.key_reload_seconds) {
            return Err(invalid(
                "tokens.key_reload_seconds",
                "must be between 1 and 3600",
            ));
        }
        if self.maintenance.interval_seconds == 0 {
            return Err(invalid("maintenance.interval_seconds", "must be positive"));
        }
        if self.resources.is_empty() {
            return Err(invalid(
                "resources",
                "configure at least one protected resource",
            ));
        }
        let mut resources = Vec::new();
        for (i, r) in self.resources.iter().enumerate() {
            let key = format!("resources[{i}]");
            let uri = ResourceUri::parse(&r.uri)
                .map_err(|e| invalid(&format!("{key}.uri"), e.to_string()))?;
            let scopes = scope_set(&format!("{key}.scopes"), &r.scopes)?;
            let default_scopes = scope_set(&format!("{key}.default_scopes"), &r.default_scopes)?;
            if !default_scopes.is_subset(&scopes) {
                return Err(invalid(
                    &format!("{key}.default_scopes"),
                    "must be a subset of scopes",
                ));
            }
            resources.push(ResourceSettings {
                uri,
                scopes,
                default_scopes,
            });
        }
        for (i, u) in self.users.iter().enumerate() {
            if u.username.trim().is_empty() {
                return Err(invalid(
                    &format!("users[{i}].username"),
                    "must not be empty",
                ));
            }
            if u.password.is_none() && u.password_hash.is_none() {
                return Err(invalid(
                    &format!("users[{i}].password_hash"),
                    "set password_hash (or password for development)",
                ));
            }
            if u.scopes.is_none() && !self.roles.contains_key(&u.role) {
                return Err(invalid(
                    &format!("users[{i}].role"),
                    format!("unknown role {:?}: define it under [roles]", u.role),
                ));
            }
        }
        let mut clients = Vec::new();
        for (i, c) in self.clients.iter().enumerate() {
            let key = format!("clients[{i}]");
            if c.client_id.is_empty() || c.client_id.starts_with("https://") {
                return Err(invalid(
                    &format!("{key}.client_id"),
                    "must be non-empty and must not start with https:// (reserved for CIMD)",
                ));
            }
            if c.redirect_uris.is_empty() && c.client_secret.as_deref().is_none_or(str::is_empty) {
                return Err(invalid(
                    &format!("{key}.redirect_uris"),
                    "a public client needs at least one redirect URI",
                ));
            }
            let redirect_uris = c
                .redirect_uris
                .iter()
                .map(|u| RedirectUri::parse(u))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| invalid(&format!("{key}.redirect_uris"), e.to_string()))?;
            let mut introspection_resources = Vec::new();
            for r in &c.introspection_resources {
                let what = format!("{key}.introspection_resources");
                if c.client_secret.as_deref().is_none_or(str::is_empty) {
                    return Err(invalid(&what, "only a confidential client may introspect"));
                }
                let uri = ResourceUri::parse(r).map_err(|e| invalid(&what, e.to_string()))?;
                if !resources.iter().any(|k: &ResourceSettings| k.uri == uri) {
                    return Err(invalid(&what, format!("{r:?} is not one of [[resources]]")));
                }
                introspection_resources.push(uri);
            }
            clients.push(ClientSettings {
                introspection_resources,
                client_id: c.client_id.clone(),
                client_secret: c.client_secret.clone().filter(|s| !s.is_empty()),
                client_name: c.client_name.clone(),
                redirect_uris,
            });
        }
        Ok(Settings {
            issuer,
            signing_algorithm,
            http: self.http,
            database: self.database,
            tokens: self.tokens,
            session: self.session,
            dcr: self.dcr,
            cimd: self.cimd,
            dev: self.dev,
            maintenance: self.maintenance,
            resources,
            users: self.users,
            roles: self.roles,
            clients,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_defaults_validate() {
        let s = Settings::defaults().unwrap();
        assert_eq!(s.issuer.as_str(), "http://localhost:9000");
        assert_eq!(s.http.port, 9000);
        assert_eq!(s.resources[0].uri.as_str(), "http://localhost:8001/mcp");
        assert!(!s.dev.auto_approve);
        assert!(!s.cimd.allow_insecure_loopback);
    }

    #[test]
    fn errors_name_the_key_and_env_var() {
        let mut raw: RawSettings = Config::builder()
            .add_source(File::from_str(DEFAULT_CONFIG, FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        raw.tokens.authorization_code_ttl_seconds = 3600;
        let err = raw.validate().unwrap_err().to_string();
        assert!(
            err.contains("tokens.authorization_code_ttl_seconds"),
            "{err}"
        );
        assert!(
            err.contains("AUTH_SERVER_TOKENS__AUTHORIZATION_CODE_TTL_SECONDS"),
            "{err}"
        );
    }

    fn raw_defaults() -> RawSettings {
        Config::builder()
            .add_source(File::from_str(DEFAULT_CONFIG, FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap()
    }

    #[test]
    fn introspection_resources_must_be_configured_resources_of_a_confidential_client() {
        let seed = |secret: Option<&str>, resource: &str| ClientSeed {
            client_id: "rs".into(),
            client_secret: secret.map(str::to_owned),
            client_name: None,
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            introspection_resources: vec![resource.into()],
        };
        let mut raw = raw_defaults();
        raw.clients = vec![seed(Some("s"), "http://localhost:8001/mcp")];
        let s = raw.validate().unwrap();
        assert_eq!(
            s.clients[0].introspection_resources[0].as_str(),
            "http://localhost:8001/mcp"
        );
        assert!(
            Settings::defaults()
                .unwrap()
                .clients
                .iter()
                .all(|c| c.introspection_resources.is_empty())
        );
        for bad in [
            seed(Some("s"), "http://localhost:9999/other"),
            seed(Some("s"), "not a uri"),
            seed(None, "http://localhost:8001/mcp"),
        ] {
            let mut raw = raw_defaults();
            raw.clients = vec![bad];
            let err = raw.validate().unwrap_err().to_string();
            assert!(err.contains("clients[0].introspection_resources"), "{err}");
        }
    }

    #[test]
    fn database_url_scheme_and_pool_settings_are_validated() {
        let s = Settings::defaults().unwrap();
        assert_eq!(s.database.max_connections, 8);
        assert_eq!(s.database.acquire_timeout_seconds, 5);
        assert_eq!(s.tokens.key_reload_seconds, 10);
        for url in [
            "",
            "sqlite:/tmp/x.db",
            "sqlite://x.db",
            "postgres://u@h/db",
            "postgresql://u@h/db",
        ] {
            let mut raw = raw_defaults();
            raw.database.url = url.into();
            assert!(raw.validate().is_ok(), "{url}");
        }
        let mut raw = raw_defaults();
        raw.database.url = "mysql://h/db".into();
        let err = raw.validate().unwrap_err().to_string();
        assert!(err.contains("AUTH_SERVER_DATABASE__URL"), "{err}");
        let mut raw = raw_defaults();
        raw.database.max_connections = 0;
        let err = raw.validate().unwrap_err().to_string();
        assert!(
            err.contains("AUTH_SERVER_DATABASE__MAX_CONNECTIONS"),
            "{err}"
        );
        let mut raw = raw_defaults();
        raw.database.acquire_timeout_seconds = 0;
        let err = raw.validate().unwrap_err().to_string();
        assert!(
            err.contains("AUTH_SERVER_DATABASE__ACQUIRE_TIMEOUT_SECONDS"),
            "{err}"
        );
        let mut raw = raw_defaults();
        raw.tokens.key_reload_seconds = 0;
        let err = raw.validate().unwrap_err().to_string();
        assert!(
            err.contains("AUTH_SERVER_TOKENS__KEY_RELOAD_SECONDS"),
            "{err}"
        );
        assert!(is_postgres_url("postgres://x") && !is_postgres_url("sqlite:x"));
    }

    #[test]
    fn trailing_slash_issuer_is_refused() {
        let mut raw: RawSettings = Config::builder()
            .add_source(File::from_str(DEFAULT_CONFIG, FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        raw.issuer = "http://localhost:9000/".into();
        assert!(raw.validate().unwrap_err().to_string().contains("issuer"));
    }
}
