//! Storage, behind one trait per OAuth role.
//!
//! The traits are dyn-compatible (`#[async_trait]`) and speak in plain records: ids are
//! strings, times are Unix seconds, secrets arrive already digested (SHA-256, base64url), so a
//! second SQL backend (PostgreSQL) is one more implementation of the same traits. Both
//! backends run the same statements (`queries.rs`: `$n` placeholders, `BIGINT` epoch seconds,
//! `TEXT` ids); [`sqlite`] runs them on rusqlite (one writer thread, readers inline),
//! [`postgres`] on an sqlx pool.

pub mod postgres;
mod queries;
pub mod sqlite;

use std::time::Duration;

use async_trait::async_trait;

/// Connection pool sizing (`database.max_connections`, `database.acquire_timeout_seconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOptions {
    /// Connections in the pool (SQLite: idle read-only connections kept; writes have one
    /// connection of their own).
    pub max_connections: u32,
    /// How long a caller waits for a free connection (SQLite: how long a write may wait in
    /// the writer thread's queue before it is refused unrun).
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint was hit.
    #[error("already exists")]
    Conflict,
    /// The backend failed.
    #[error("storage backend: {0}")]
    Backend(#[from] anyhow::Error),
}

/// Result alias for storage calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// How a client came to be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientSource {
    /// `[[clients]]` in the configuration.
    Config,
    /// RFC 7591 dynamic registration.
    Dynamic,
    /// A Client ID Metadata Document (cached copy).
    MetadataDocument,
}

impl ClientSource {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Dynamic => "dynamic",
            Self::MetadataDocument => "cimd",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Self {
        match s {
            "config" => Self::Config,
            "cimd" => Self::MetadataDocument,
            _ => Self::Dynamic,
        }
    }
}

/// A registered client.
#[derive(Debug, Clone)]
pub struct ClientRecord {
    /// `client_id`.
    pub client_id: String,
    /// Argon2 PHC hash of the secret, for confidential clients.
    pub secret_hash: Option<String>,
    /// `token_endpoint_auth_method`.
    pub auth_method: String,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// `grant_types`.
    pub grant_types: Vec<String>,
    /// Display name.
    pub client_name: Option<String>,
    /// The full registered metadata (JSON), echoed by DCR.
    pub metadata: serde_json::Value,
    /// Origin of the registration.
    pub source: ClientSource,
    /// Registration time.
    pub created_at: i64,
    /// Last successful use (authorization or token), if any.
    pub last_used_at: Option<i64>,
}

impl ClientRecord {
    /// Whether the client has a secret and must authenticate.
    pub fn is_confidential(&self) -> bool {
        self.secret_hash.is_some()
    }

    /// Whether the client may use refresh tokens.
    pub fn allows_refresh(&self) -> bool {
        self.grant_types.iter().any(|g| g == "refresh_token")
    }
}

/// Clients: pre-registered, dynamic, and cached metadata documents.
#[async_trait]
pub trait ClientRegistry: Send + Sync {
    /// Inserts a new client; `Conflict` if the id exists.
    async fn insert_client(&self, client: &ClientRecord) -> StoreResult<()>;
    /// Inserts or replaces a client (configuration and CIMD).
    async fn upsert_client(&self, client: &ClientRecord) -> StoreResult<()>;
    /// Looks a client up.
    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>>;
    /// Records a successful use.
    async fn touch_client(&self, client_id: &str, now: i64) -> StoreResult<()>;
    /// Deletes dynamic clients created before `created_before` and never used.
    async fn reap_unused_clients(&self, created_before: i64) -> StoreResult<u64>;
}

/// An issued authorization code (stored by digest).
#[derive(Debug, Clone)]
pub struct AuthorizationCodeRecord {
    /// SHA-256 digest of the code.
    pub code_digest: String,
    /// The grant this code starts (created by `redeem_code`).
    pub grant_id: String,
    /// Client the code was issued to.
    pub client_id: String,
    /// Resource owner.
    pub user_id: String,
    /// The `redirect_uri` of the request, exactly as sent (None if it was omitted).
    pub redirect_uri: Option<String>,
    /// The redirect URI the code was delivered to.
    pub effective_redirect_uri: String,
    /// S256 `code_challenge`.
    pub code_challenge: String,
    /// Canonical resource.
    pub resource: String,
    /// Granted scope (space-separated).
    pub scope: String,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Expiry.
    pub expires_at: i64,
}

/// What happened when a code was presented.
#[derive(Debug, Clone)]
pub enum CodeRedemption {
    /// First use: the code, now spent.
    Fresh(Box<AuthorizationCodeRecord>),
    /// The code had been redeemed before: its grant must be revoked.
    Replayed {
        /// The grant issued from the first redemption.
        grant_id: String,
    },
    /// No such code.
    Unknown,
}

/// Authorization codes: single use, atomically.
#[async_trait]
pub trait AuthorizationCodes: Send + Sync {
    /// Stores a new code.
    async fn insert_code(&self, code: &AuthorizationCodeRecord) -> StoreResult<()>;
    /// Looks a code up without spending it: the record and whether it was redeemed already
    /// (`Fresh` = not yet redeemed, nothing changed). Checks run on this before `redeem_code`.
    async fn find_code(&self, code_digest: &str) -> StoreResult<CodeRedemption>;
    /// Spends a code, creates its grant (`grant_id`, client, user, resource, scope,
    /// auth_time; `created_at` = `now`) and stores the tokens `issued` from it, in one
    /// transaction. Exactly one concurrent caller sees `Fresh`, and only its tokens are
    /// stored; a caller seeing `Replayed` finds the grant created.
    async fn redeem_code(
        &self,
        code_digest: &str,
        now: i64,
        issued: &Issued,
    ) -> StoreResult<CodeRedemption>;
    /// Deletes codes that expired before `before`.
    async fn purge_codes(&self, before: i64) -> StoreResult<u64>;
}

/// A grant: what one authorization produced (a refresh token family and its access tokens).
#[derive(Debug, Clone)]
pub struct GrantRecord {
    /// Grant id.
    pub grant_id: String,
    /// Client.
    pub client_id: String,
    /// Resource owner.
    pub user_id: String,
    /// Canonical resource (token audience).
    pub resource: String,
    /// Granted scope (space-separated).
    pub scope: String,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Creation time.
    pub created_at: i64,
    /// Revocation time, if revoked.
    pub revoked_at: Option<i64>,
}

/// A refresh token (stored by digest).
#[derive(Debug, Clone)]
pub struct RefreshTokenRecord {
    /// SHA-256 digest.
    pub token_digest: String,
    /// Its grant (family).
    pub grant_id: String,
    /// Issue time.
    pub issued_at: i64,
    /// Expiry.
    pub expires_at: i64,
    /// When it was exchanged for a successor.
    pub rotated_at: Option<i64>,
}

/// What happened when a refresh token was presented for rotation.
#[derive(Debug, Clone)]
pub enum Rotation {
    /// First use: the successor was stored.
    Rotated,
    /// Presented again within the grace period: the previous successor was revoked and the
    /// new one stored.
    GraceReplay,
    /// Presented again after the grace period: the caller must revoke the grant.
    Reused,
    /// No such token.
    Unknown,
}

/// An issued access token, tracked by `jti` for introspection and revocation.
#[derive(Debug, Clone)]
pub struct AccessTokenRecord {
    /// JWT ID.
    pub jti: String,
    /// Grant.
    pub grant_id: String,
    /// Expiry.
    pub expires_at: i64,
}

/// The tokens one redemption or rotation issues, stored in its transaction (one write per
/// token request).
#[derive(Debug, Clone)]
pub struct Issued {
    /// The refresh token, if the grant has one.
    pub refresh_token: Option<RefreshTokenRecord>,
    /// The access token's record.
    pub access_token: AccessTokenRecord,
}

/// Grants, refresh tokens and the access tokens issued from them. Grants and tokens are
/// created only by [`AuthorizationCodes::redeem_code`] and [`Grants::rotate_refresh_token`],
/// in the transaction that spends the code or the token (tests seed them the same way).
#[async_trait]
pub trait Grants: Send + Sync {
    /// Looks a grant up.
    async fn get_grant(&self, grant_id: &str) -> StoreResult<Option<GrantRecord>>;
    /// Revokes a grant with all its tokens. Idempotent.
    async fn revoke_grant(&self, grant_id: &str, now: i64) -> StoreResult<()>;
    /// Looks a refresh token up by digest, with its grant (one read: every use needs both).
    async fn get_refresh_token(
        &self,
        digest: &str,
    ) -> StoreResult<Option<(RefreshTokenRecord, GrantRecord)>>;
    /// Atomically marks `old_digest` rotated and stores `successor` and `access_token`,
    /// honouring the grace period (`grace_until` = the latest `rotated_at` still inside it is
    /// `now - grace`). Nothing is stored unless the result is `Rotated` or `GraceReplay`.
    async fn rotate_refresh_token(
        &self,
        old_digest: &str,
        successor: &RefreshTokenRecord,
        access_token: &AccessTokenRecord,
        now: i64,
        grace_seconds: i64,
    ) -> StoreResult<Rotation>;
    /// Whether the access token was revoked (by itself or through its grant); `None` if the
    /// `jti` is unknown.
    async fn access_token_revoked(&self, jti: &str) -> StoreResult<Option<(bool, String)>>;
    /// Revokes one access token.
    async fn revoke_access_token(&self, jti: &str, now: i64) -> StoreResult<()>;
    /// Deletes expired tokens and grants with no live token.
    async fn purge_tokens(&self, now: i64) -> StoreResult<u64>;
}

/// Remembered consent.
#[async_trait]
pub trait Consents: Send + Sync {
    /// The scopes a user approved for (client, resource), space-separated.
    async fn get_consent(
        &self,
        user_id: &str,
        client_id: &str,
        resource: &str,
    ) -> StoreResult<Option<String>>;
    /// Records approved scopes (replacing the previous set).
    async fn put_consent(
        &self,
        user_id: &str,
        client_id: &str,
        resource: &str,
        scope: &str,
        now: i64,
    ) -> StoreResult<()>;
}

/// A local user.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// Stable id (also the token `sub`).
    pub user_id: String,
    /// Login name.
    pub username: String,
    /// Argon2 PHC hash.
    pub password_hash: String,
    /// Role.
    pub role: String,
    /// Explicit allowed scopes (space-separated), replacing the role's.
    pub scopes: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
}

/// Local users.
#[async_trait]
pub trait Users: Send + Sync {
    /// Finds a user by login name.
    async fn get_user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    /// Finds a user by id.
    async fn get_user(&self, user_id: &str) -> StoreResult<Option<UserRecord>>;
    /// Inserts or updates (by username) a user.
    async fn upsert_user(&self, user: &UserRecord) -> StoreResult<()>;
    /// Every user, by username.
    async fn list_users(&self) -> StoreResult<Vec<UserRecord>>;
    /// Deletes a user with their consents and revokes their grants; false if unknown.
    async fn delete_user(&self, username: &str, now: i64) -> StoreResult<bool>;
}

/// A stored signing key.
#[derive(Debug, Clone)]
pub struct SigningKeyRecord {
    /// Key id.
    pub kid: String,
    /// Algorithm name.
    pub algorithm: String,
    /// PKCS#8 DER, base64 (standard).
    pub pkcs8_base64: String,
    /// Creation time; the newest unretired key is the active one.
    pub created_at: i64,
    /// When a newer key replaced it.
    pub retired_at: Option<i64>,
}

/// Signing keys.
#[async_trait]
pub trait SigningKeys: Send + Sync {
    /// Every stored key, oldest first.
    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Retires the current keys at `now` and stores `key` as the active one. `Conflict` if
    /// a concurrent rotation stored its key first.
    async fn rotate_key(&self, key: &SigningKeyRecord, now: i64) -> StoreResult<()>;
    /// Stores `key` as the active key only if there is none (first start, possibly of several
    /// instances at once); false if another key is active.
    async fn insert_first_key(&self, key: &SigningKeyRecord) -> StoreResult<bool>;
    /// Deletes retired keys retired before `before`.
    async fn purge_keys(&self, retired_before: i64) -> StoreResult<u64>;
}

/// Server-wide secrets generated once (the cookie key when none is configured).
#[async_trait]
pub trait ServerSecrets: Send + Sync {
    /// The stored secret `name`, storing `candidate` first if there is none (first writer
    /// wins).
    async fn secret_or_insert(&self, name: &str, candidate: &str, now: i64) -> StoreResult<String>;
}

/// Fixed-window rate-limit counters, shared by every instance on the database.
#[async_trait]
pub trait RateLimits: Send + Sync {
    /// Counts one hit on `bucket`, atomically: in the current window if it started after
    /// `now - window_seconds`, otherwise in a new window starting at `now`. Returns the hits
    /// in the window (this one included) and the window's start.
    async fn rate_limit_hit(
        &self,
        bucket: &str,
        now: i64,
        window_seconds: i64,
    ) -> StoreResult<(i64, i64)>;
    /// Deletes counters whose window started before `before`.
    async fn purge_rate_limits(&self, before: i64) -> StoreResult<u64>;
}

/// The connection pool itself.
#[async_trait]
pub trait Lifecycle: Send + Sync {
    /// The backend's name (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;
    /// The pool's size (`database.max_connections`).
    fn max_connections(&self) -> u32;
    /// Closes the pool (SQLite: the readers, then the writer thread after the writes already
    /// queued, checkpointing the WAL into the database file). Later calls fail.
    async fn close(&self);
}

/// Everything the server stores.
pub trait Store:
    Lifecycle
    + ClientRegistry
    + AuthorizationCodes
    + Grants
    + Consents
    + Users
    + SigningKeys
    + ServerSecrets
    + RateLimits
    + std::fmt::Debug
{
}

impl<T> Store for T where
    T: Lifecycle
        + ClientRegistry
        + AuthorizationCodes
        + Grants
        + Consents
        + Users
        + SigningKeys
        + ServerSecrets
        + RateLimits
        + std::fmt::Debug
{
}
