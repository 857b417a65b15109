//! Shared application state and its start-up: open the store, seed users and clients from the
//! configuration, load (or create) the signing key.

use std::sync::Arc;

use mcp_auth_core::Clock;

use crate::cimd::CimdResolver;
use crate::keys::KeyManager;
use crate::security::{CookieKey, RateLimiter, hash_password, verify_password};
use crate::settings::Settings;
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{ClientRecord, ClientSource, PoolOptions, Store, UserRecord};

/// Everything a handler needs.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Signing keys.
    pub keys: Arc<KeyManager>,
    /// Metadata document resolver.
    pub cimd: Arc<CimdResolver>,
    /// `/register` rate limiter.
    pub register_limiter: Arc<RateLimiter>,
    /// Sign-in rate limiter.
    pub login_limiter: Arc<RateLimiter>,
    /// Cookie and CSRF key.
    pub cookie_key: Arc<CookieKey>,
}

/// Opens the configured database: PostgreSQL for a `postgres://` URL, otherwise SQLite
/// (the URL, or the file in the data directory).
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let url = &settings.database.url;
    let pool = PoolOptions {
        max_connections: settings.database.max_connections,
        acquire_timeout: std::time::Duration::from_secs(settings.database.acquire_timeout_seconds),
    };
    if crate::settings::is_postgres_url(url) {
        return Ok(Arc::new(PgStore::open_url(url, pool).await?));
    }
    let store = if settings.database.url.is_empty() {
        let dir = &settings.database.data_dir;
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("database.data_dir {}: {e}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
            // A database file an older version left readable (a new one is created 0600),
            // tightened before SQLite creates its WAL with the same permissions.
            let _ = std::fs::set_permissions(
                settings.database.sqlite_path(),
                std::fs::Permissions::from_mode(0o600),
            );
        }
        SqliteStore::open_with(&settings.database.sqlite_path(), pool).await?
    } else {
        SqliteStore::open_url(&settings.database.url, pool).await?
    };
    Ok(Arc::new(store))
}

impl AppState {
    /// Builds the state over an opened store.
    pub async fn new(
        settings: Settings,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let now = clock.now();
        // Users and clients side by side: their argon2 runs all start before any is awaited.
        tokio::try_join!(
            seed_users(&settings, store.as_ref()),
            seed_clients(&settings, store.as_ref(), now),
        )?;
        if !settings.tokens.signing_key_file.is_empty() {
            crate::keys::import_configured(
                store.as_ref(),
                settings.signing_algorithm,
                std::path::Path::new(&settings.tokens.signing_key_file),
                now,
            )
            .await?;
        }
        let keys = KeyManager::load(
            store.as_ref(),
            settings.signing_algorithm,
            settings.tokens.access_token_ttl_seconds,
            now,
        )
        .await?;
        let cimd = CimdResolver::new(settings.cimd.clone())?;
        // Without a configured key, generate one once and keep it in the database, so
        // sessions and open forms survive a restart.
        let cookie_secret = if settings.session.secret.is_empty() {
            let candidate = mcp_auth_core::secret::random_urlsafe(32);
            store
                .secret_or_insert("session.secret", &candidate, now)
                .await?
        } else {
            settings.session.secret.clone()
        };
        if settings.dev.auto_approve {
            tracing::warn!(
                user = %settings.dev.auto_approve_user,
                "DEVELOPMENT SETTING dev.auto_approve is ON: every authorization request is approved without login or consent"
            );
        }
        Ok(Self {
            register_limiter: Arc::new(RateLimiter::new(
                "register",
                settings.dcr.rate_limit_per_minute,
                60,
            )),
            login_limiter: Arc::new(RateLimiter::new(
                "login",
                settings.session.login_attempts_per_minute,
                60,
            )),
            cookie_key: Arc::new(CookieKey::new(&cookie_secret)),
            settings: Arc::new(settings),
            store,
            clock,
            keys: Arc::new(keys),
            cimd: Arc::new(cimd),
        })
    }

    /// Opens the configured store and builds the state.
    pub async fn open(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let store = open_store(&settings).await?;
        Self::new(settings, store, clock).await
    }

    /// One maintenance pass: reap unused dynamic clients, purge expired codes and tokens,
    /// reload keys (picks up `auth-server key rotate`).
    pub async fn maintain(&self) -> anyhow::Result<()> {
        let now = self.clock.now();
        let reaped = self
            .store
            .reap_unused_clients(now - self.settings.dcr.unused_client_ttl_seconds)
            .await?;
        if reaped > 0 {
            tracing::info!(
                reaped,
                "deleted dynamically registered clients that were never used"
            );
        }
        // Keep spent codes a day, so a late replay is still recognised and revokes its grant.
        self.store.purge_codes(now - 86_400).await?;
        self.store.purge_tokens(now).await?;
        self.store.purge_rate_limits(now - 3_600).await?;
        self.reload_keys().await
    }

    /// Re-reads the signing keys from the database (every `tokens.key_reload_seconds`): a
    /// key rotated elsewhere is published and signed with here too. Requests never read
    /// keys from the database; they use the set loaded last.
    pub async fn reload_keys(&self) -> anyhow::Result<()> {
        self.keys
            .reload(
                self.store.as_ref(),
                self.settings.signing_algorithm,
                self.settings.tokens.access_token_ttl_seconds,
                self.clock.now(),
            )
            .await
    }
}

/// The argon2 hash a seed (user password or client secret) will be stored with: given in
/// the configuration, or being computed on the blocking pool.
enum SeedHash {
    Configured(String),
    Computing(tokio::task::JoinHandle<anyhow::Result<String>>),
}

impl SeedHash {
    /// Starts the one argon2 run a configured plain secret costs: checking it against the
    /// `stored` hash (kept when it still matches), or hashing it anew. Start-up waits for every
    /// seed, so the runs go side by side.
    fn compute(plain: &str, stored: Option<String>) -> Self {
        let plain = plain.to_owned();
        Self::Computing(tokio::task::spawn_blocking(move || match stored {
            Some(stored) if verify_password(&plain, &stored) => Ok(stored),
            _ => hash_password(&plain),
        }))
    }

    async fn resolve(self) -> anyhow::Result<String> {
        match self {
            Self::Configured(hash) => Ok(hash),
            Self::Computing(task) => task.await?,
        }
    }
}

async fn seed_users(settings: &Settings, store: &dyn Store) -> anyhow::Result<()> {
    // Every hash starts before the first is awaited; the rows are written afterwards, in order.
    let mut seeds = Vec::new();
    for seed in &settings.users {
        let existing = store.get_user_by_name(&seed.username).await?;
        let password_hash = match (&seed.password_hash, &seed.password) {
            (Some(hash), _) => SeedHash::Configured(hash.clone()),
            (None, Some(password)) => {
                SeedHash::compute(password, existing.as_ref().map(|u| u.password_hash.clone()))
            }
            (None, None) => continue,
        };
        seeds.push((seed, existing, password_hash));
    }
    for (seed, existing, password_hash) in seeds {
        let user = UserRecord {
            user_id: existing.as_ref().map_or_else(
                || format!("user-{}", uuid::Uuid::new_v4()),
                |u| u.user_id.clone(),
            ),
            username: seed.username.clone(),
            password_hash: password_hash.resolve().await?,
            role: seed.role.clone(),
            scopes: seed.scopes.as_ref().map(|s| s.join(" ")),
            display_name: seed.display_name.clone(),
        };
        store.upsert_user(&user).await?;
    }
    Ok(())
}

async fn seed_clients(settings: &Settings, store: &dyn Store, now: i64) -> anyhow::Result<()> {
    // As for users: every secret's argon2 run starts before the first is awaited.
    let mut seeds = Vec::new();
    for seed in &settings.clients {
        let existing = store.get_client(&seed.client_id).await?;
        let secret_hash = seed.client_secret.as_deref().map(|secret| {
            SeedHash::compute(
                secret,
                existing.as_ref().and_then(|c| c.secret_hash.clone()),
            )
        });
        seeds.push((seed, existing, secret_hash));
    }
    for (seed, existing, secret_hash) in seeds {
        let secret_hash = match secret_hash {
            Some(hash) => Some(hash.resolve().await?),
            None => None,
        };
        let redirect_uris: Vec<String> = seed
            .redirect_uris
            .iter()
            .map(|u| u.as_str().to_owned())
            .collect();
        let auth_method = if secret_hash.is_some() {
            "client_secret_basic"
        } else {
            "none"
        };
        let metadata = serde_json::json!({
            "client_name": seed.client_name,
            "redirect_uris": redirect_uris,
            "token_endpoint_auth_method": auth_method,
        });
        let record = ClientRecord {
            client_id: seed.client_id.clone(),
            secret_hash,
            auth_method: auth_method.to_owned(),
            redirect_uris,
            // A client without redirect URIs only introspects and revokes.
            grant_types: if seed.redirect_uris.is_empty() {
                Vec::new()
            } else {
                vec!["authorization_code".to_owned(), "refresh_token".to_owned()]
            },
            client_name: seed.client_name.clone(),
            metadata,
            source: ClientSource::Config,
            created_at: existing.as_ref().map_or(now, |c| c.created_at),
            last_used_at: existing.as_ref().and_then(|c| c.last_used_at),
        };
        store.upsert_client(&record).await?;
    }
    Ok(())
}
