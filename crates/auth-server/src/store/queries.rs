//! The SQL both backends run, written once: every statement, the parameters each binds and
//! how a result row becomes a record. The statements use `$n` placeholders, `BIGINT` Unix
//! seconds, `TEXT` ids, `ON CONFLICT` and `RETURNING`, which SQLite and PostgreSQL both
//! accept. SQLite reads `$1` as a parameter *named* `$1`, so the SQLite backend binds by name
//! (`sqlite/sql.rs`), and a number may appear twice or out of order on either backend.
//!
//! The transactions themselves (which statement follows which) are written per backend: on
//! PostgreSQL they are async over a pool, on SQLite a closure on the writer thread.

use std::borrow::Cow;

use super::{
    AccessTokenRecord, AuthorizationCodeRecord, ClientRecord, ClientSource, CodeRedemption,
    GrantRecord, RefreshTokenRecord, SigningKeyRecord, StoreResult, UserRecord,
};

/// One bound parameter.
#[derive(Debug, Clone)]
pub(super) enum Param<'a> {
    /// `TEXT`, possibly `NULL`.
    Text(Option<Cow<'a, str>>),
    /// `BIGINT`, possibly `NULL`.
    Int(Option<i64>),
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(s: &'a str) -> Self {
        Self::Text(Some(Cow::Borrowed(s)))
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(s: &'a String) -> Self {
        Self::Text(Some(Cow::Borrowed(s)))
    }
}

impl From<String> for Param<'_> {
    fn from(s: String) -> Self {
        Self::Text(Some(Cow::Owned(s)))
    }
}

impl<'a> From<&'a Option<String>> for Param<'a> {
    fn from(s: &'a Option<String>) -> Self {
        Self::Text(s.as_deref().map(Cow::Borrowed))
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(s: Option<&'a str>) -> Self {
        Self::Text(s.map(Cow::Borrowed))
    }
}

impl From<i64> for Param<'_> {
    fn from(n: i64) -> Self {
        Self::Int(Some(n))
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(n: Option<i64>) -> Self {
        Self::Int(n)
    }
}

/// `[Param; N]` from a list of values of mixed types.
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        [$($crate::store::queries::Param::from($value)),*]
    };
}
pub(super) use params;

/// A result row, read by column name; implemented for each backend's row type.
pub(super) trait Row {
    /// A `TEXT NOT NULL` column.
    fn text(&self, column: &str) -> StoreResult<String>;
    /// A nullable `TEXT` column.
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>>;
    /// A `BIGINT NOT NULL` column.
    fn int(&self, column: &str) -> StoreResult<i64>;
    /// A nullable `BIGINT` column.
    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>>;
}

// ---- schema_migrations ----

/// The migrations table (the same on both backends and across versions of this server).
pub(super) const CREATE_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)";
/// Whether version `$1` is recorded.
pub(super) const MIGRATION_APPLIED: &str =
    "SELECT version FROM schema_migrations WHERE version = $1";
/// Records version `$1`.
pub(super) const RECORD_MIGRATION: &str =
    "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)";

// ---- clients ----

macro_rules! client_columns {
    () => {
        "client_id, secret_hash, auth_method, redirect_uris, grant_types, client_name, metadata, source, created_at, last_used_at"
    };
}

/// Inserts a client ([`client_params`]).
pub(super) const INSERT_CLIENT: &str = concat!(
    "INSERT INTO clients (",
    client_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
);
/// Inserts or replaces a client ([`client_params`]); `created_at` and `last_used_at` stay.
pub(super) const UPSERT_CLIENT: &str = concat!(
    "INSERT INTO clients (",
    client_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (client_id) DO UPDATE SET secret_hash = excluded.secret_hash,
       auth_method = excluded.auth_method, redirect_uris = excluded.redirect_uris,
       grant_types = excluded.grant_types, client_name = excluded.client_name,
       metadata = excluded.metadata, source = excluded.source"
);
/// One client by id (`$1`).
pub(super) const GET_CLIENT: &str = concat!(
    "SELECT ",
    client_columns!(),
    " FROM clients WHERE client_id = $1"
);
/// `last_used_at = $2` for client `$1`.
pub(super) const TOUCH_CLIENT: &str = "UPDATE clients SET last_used_at = $2 WHERE client_id = $1";
/// Deletes dynamic clients created before `$1` and never used.
pub(super) const REAP_CLIENTS: &str =
    "DELETE FROM clients WHERE source = 'dynamic' AND last_used_at IS NULL AND created_at < $1";

/// The parameters of [`INSERT_CLIENT`] and [`UPSERT_CLIENT`].
pub(super) fn client_params(c: &ClientRecord) -> [Param<'_>; 10] {
    params![
        &c.client_id,
        &c.secret_hash,
        &c.auth_method,
        json_list(&c.redirect_uris),
        json_list(&c.grant_types),
        &c.client_name,
        c.metadata.to_string(),
        c.source.as_str(),
        c.created_at,
        c.last_used_at,
    ]
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".to_owned())
}

/// A client from a [`GET_CLIENT`] row.
pub(super) fn client_from_row(row: &impl Row) -> StoreResult<ClientRecord> {
    let list = |col: &str| -> StoreResult<Vec<String>> {
        serde_json::from_str(&row.text(col)?).map_err(|e| anyhow::Error::new(e).into())
    };
    Ok(ClientRecord {
        client_id: row.text("client_id")?,
        secret_hash: row.opt_text("secret_hash")?,
        auth_method: row.text("auth_method")?,
        redirect_uris: list("redirect_uris")?,
        grant_types: list("grant_types")?,
        client_name: row.opt_text("client_name")?,
        metadata: serde_json::from_str(&row.text("metadata")?).map_err(anyhow::Error::new)?,
        source: ClientSource::parse(&row.text("source")?),
        created_at: row.int("created_at")?,
        last_used_at: row.opt_int("last_used_at")?,
    })
}

// ---- authorization codes ----

macro_rules! code_columns {
    () => {
        "code_digest, grant_id, client_id, user_id, redirect_uri, effective_redirect_uri, code_challenge, resource, scope, auth_time, expires_at"
    };
}

/// Stores a code ([`code_params`]).
pub(super) const INSERT_CODE: &str = concat!(
    "INSERT INTO authorization_codes (",
    code_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
);
/// A code by digest (`$1`), with `redeemed_at`.
pub(super) const FIND_CODE: &str = concat!(
    "SELECT ",
    code_columns!(),
    ", redeemed_at FROM authorization_codes WHERE code_digest = $1"
);
/// Spends code `$1` at `$2` unless it was spent: exactly one concurrent caller gets the row
/// (PostgreSQL re-checks the condition after waiting for the row lock; SQLite has one
/// writer).
pub(super) const SPEND_CODE: &str = concat!(
    "UPDATE authorization_codes SET redeemed_at = $2
     WHERE code_digest = $1 AND redeemed_at IS NULL
     RETURNING ",
    code_columns!()
);
/// The grant of code `$1` (after [`SPEND_CODE`] found it spent).
pub(super) const CODE_GRANT: &str =
    "SELECT grant_id FROM authorization_codes WHERE code_digest = $1";
/// Deletes codes that expired before `$1`.
pub(super) const PURGE_CODES: &str = "DELETE FROM authorization_codes WHERE expires_at < $1";

/// The parameters of [`INSERT_CODE`].
pub(super) fn code_params(c: &AuthorizationCodeRecord) -> [Param<'_>; 11] {
    params![
        &c.code_digest,
        &c.grant_id,
        &c.client_id,
        &c.user_id,
        &c.redirect_uri,
        &c.effective_redirect_uri,
        &c.code_challenge,
        &c.resource,
        &c.scope,
        c.auth_time,
        c.expires_at,
    ]
}

/// What a [`FIND_CODE`] row says: `Fresh` if the code was not redeemed yet, `Replayed`
/// (with its grant) if it was.
pub(super) fn code_state_from_row(row: &impl Row) -> StoreResult<CodeRedemption> {
    let code = code_from_row(row)?;
    Ok(match row.opt_int("redeemed_at")? {
        Some(_) => CodeRedemption::Replayed {
            grant_id: code.grant_id,
        },
        None => CodeRedemption::Fresh(Box::new(code)),
    })
}

/// When [`SPEND_CODE`] spent nothing: `Replayed` if [`CODE_GRANT`] found the code's grant,
/// `Unknown` if there is no such code.
pub(super) fn replayed_or_unknown(grant_id: Option<String>) -> CodeRedemption {
    match grant_id {
        Some(grant_id) => CodeRedemption::Replayed { grant_id },
        None => CodeRedemption::Unknown,
    }
}

/// The row of a statement that always returns one (an upsert's `RETURNING`, a read after
/// an insert): its absence is a backend failure.
pub(super) fn expect_row<T>(row: Option<T>, statement: &str) -> StoreResult<T> {
    row.ok_or_else(|| anyhow::anyhow!("no row returned by {statement}").into())
}

/// A code from a [`FIND_CODE`] or [`SPEND_CODE`] row.
pub(super) fn code_from_row(row: &impl Row) -> StoreResult<AuthorizationCodeRecord> {
    Ok(AuthorizationCodeRecord {
        code_digest: row.text("code_digest")?,
        grant_id: row.text("grant_id")?,
        client_id: row.text("client_id")?,
        user_id: row.text("user_id")?,
        redirect_uri: row.opt_text("redirect_uri")?,
        effective_redirect_uri: row.text("effective_redirect_uri")?,
        code_challenge: row.text("code_challenge")?,
        resource: row.text("resource")?,
        scope: row.text("scope")?,
        auth_time: row.int("auth_time")?,
        expires_at: row.int("expires_at")?,
    })
}

// ---- grants and tokens ----

/// Creates the grant of a redeemed code ([`grant_of_code_params`]).
pub(super) const INSERT_GRANT_OF_CODE: &str =
    "INSERT INTO grants (grant_id, client_id, user_id, resource, scope, auth_time, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (grant_id) DO NOTHING";
/// A grant by id (`$1`).
pub(super) const GET_GRANT: &str =
    "SELECT grant_id, client_id, user_id, resource, scope, auth_time, created_at, revoked_at
     FROM grants WHERE grant_id = $1";
/// Revokes grant `$1` at `$2`, and with it every token of the grant: each read of a token
/// joins its grant (migration 5), so the token rows are left as they are.
pub(super) const REVOKE_GRANT: &str =
    "UPDATE grants SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL";
/// Stores a refresh token ([`refresh_params`]).
pub(super) const INSERT_REFRESH: &str =
    "INSERT INTO refresh_tokens (token_digest, grant_id, predecessor_digest, issued_at, expires_at)
     VALUES ($1, $2, $3, $4, $5)";
/// Stores an access token's record ([`access_params`]).
pub(super) const INSERT_ACCESS: &str =
    "INSERT INTO access_tokens (jti, grant_id, expires_at) VALUES ($1, $2, $3)";
/// A refresh token by digest (`$1`) with its grant ([`refresh_and_grant_from_row`]).
pub(super) const GET_REFRESH: &str = "SELECT r.token_digest, r.grant_id, r.issued_at, r.expires_at, r.rotated_at, r.revoked_at,
       g.client_id, g.user_id, g.resource, g.scope, g.auth_time, g.created_at, g.revoked_at AS grant_revoked_at
     FROM refresh_tokens r JOIN grants g ON g.grant_id = r.grant_id WHERE r.token_digest = $1";
/// Locks the grant of refresh token `$1` (a no-op update) and returns its `revoked_at`:
/// rotations and revocations of one family run one after the other on every backend
/// (PostgreSQL: a row lock held to commit; SQLite: the write lock).
pub(super) const LOCK_GRANT_OF_REFRESH: &str = "UPDATE grants SET revoked_at = revoked_at
     WHERE grant_id = (SELECT grant_id FROM refresh_tokens WHERE token_digest = $1)
     RETURNING revoked_at";
/// Marks refresh token `$1` rotated at `$2`, succeeded by `$3`, if it is live.
pub(super) const MARK_ROTATED: &str =
    "UPDATE refresh_tokens SET rotated_at = $2, successor_digest = $3
     WHERE token_digest = $1 AND rotated_at IS NULL AND revoked_at IS NULL";
/// `rotated_at`, `revoked_at`, `successor_digest` of refresh token `$1` ([`grace_replay`]).
pub(super) const REFRESH_STATE: &str =
    "SELECT rotated_at, revoked_at, successor_digest FROM refresh_tokens WHERE token_digest = $1";
/// Revokes (at `$2`) the successor of refresh token `$1` if it is unused.
pub(super) const REVOKE_SUCCESSOR: &str = "UPDATE refresh_tokens SET revoked_at = $2
     WHERE token_digest = (SELECT successor_digest FROM refresh_tokens WHERE token_digest = $1)
       AND rotated_at IS NULL AND revoked_at IS NULL";
/// [`REVOKE_SUCCESSOR`] for a token rotated by a version before migration 5 (no
/// `successor_digest`): its successor is the token whose predecessor it is. On PostgreSQL,
/// where instances of both versions share the database during a roll-out, that column is
/// indexed. On SQLite it is not, but the migration filled in the successor of every token
/// that could still be replayed (rotated within the hour before it ran), so this runs there
/// only for a token rotated before the upgrade and replayed within its grace period.
const REVOKE_SUCCESSOR_BY_PREDECESSOR: &str = "UPDATE refresh_tokens SET revoked_at = $2
     WHERE predecessor_digest = $1 AND rotated_at IS NULL AND revoked_at IS NULL";
/// Spends the one grace replay of rotated refresh token `$1` (at `$2`) and records its new
/// successor `$3`: a revoked token is never in grace again.
pub(super) const SPEND_GRACE: &str =
    "UPDATE refresh_tokens SET revoked_at = $2, successor_digest = $3 WHERE token_digest = $1";
/// Whether access token `$1` or its grant is revoked, and its grant.
pub(super) const ACCESS_TOKEN_STATE: &str =
    "SELECT a.revoked_at AS token_revoked, g.revoked_at AS grant_revoked, a.grant_id AS grant_id
     FROM access_tokens a LEFT JOIN grants g ON g.grant_id = a.grant_id WHERE a.jti = $1";
/// Revokes access token `$1` at `$2`.
pub(super) const REVOKE_ACCESS: &str =
    "UPDATE access_tokens SET revoked_at = $2 WHERE jti = $1 AND revoked_at IS NULL";
/// Deletes access tokens that expired before `$1`.
pub(super) const PURGE_ACCESS: &str = "DELETE FROM access_tokens WHERE expires_at < $1";
/// Deletes refresh tokens that expired before `$1`.
pub(super) const PURGE_REFRESH: &str = "DELETE FROM refresh_tokens WHERE expires_at < $1";
/// Deletes grants with no token and no code left (after [`PURGE_ACCESS`], [`PURGE_REFRESH`]).
/// Set differences, one pass over each table: the token tables have no index on `grant_id`.
pub(super) const PURGE_EMPTY_GRANTS: &str = "DELETE FROM grants WHERE grant_id IN (
       SELECT grant_id FROM grants
       EXCEPT SELECT grant_id FROM refresh_tokens
       EXCEPT SELECT grant_id FROM access_tokens
       EXCEPT SELECT grant_id FROM authorization_codes)";

/// The parameters of [`INSERT_GRANT_OF_CODE`]: the code's grant, created at `now`.
pub(super) fn grant_of_code_params(code: &AuthorizationCodeRecord, now: i64) -> [Param<'_>; 7] {
    params![
        &code.grant_id,
        &code.client_id,
        &code.user_id,
        &code.resource,
        &code.scope,
        code.auth_time,
        now,
    ]
}

/// The parameters of [`INSERT_REFRESH`].
pub(super) fn refresh_params<'a>(
    t: &'a RefreshTokenRecord,
    predecessor: Option<&'a str>,
) -> [Param<'a>; 5] {
    params![
        &t.token_digest,
        &t.grant_id,
        predecessor,
        t.issued_at,
        t.expires_at
    ]
}

/// The parameters of [`INSERT_ACCESS`].
pub(super) fn access_params(t: &AccessTokenRecord) -> [Param<'_>; 3] {
    params![&t.jti, &t.grant_id, t.expires_at]
}

/// A grant from a [`GET_GRANT`] row.
pub(super) fn grant_from_row(row: &impl Row) -> StoreResult<GrantRecord> {
    grant_from_columns(row, "revoked_at")
}

/// A grant from `row`, its `revoked_at` read from column `revoked_at`.
fn grant_from_columns(row: &impl Row, revoked_at: &str) -> StoreResult<GrantRecord> {
    Ok(GrantRecord {
        grant_id: row.text("grant_id")?,
        client_id: row.text("client_id")?,
        user_id: row.text("user_id")?,
        resource: row.text("resource")?,
        scope: row.text("scope")?,
        auth_time: row.int("auth_time")?,
        created_at: row.int("created_at")?,
        revoked_at: row.opt_int(revoked_at)?,
    })
}

/// A refresh token and its grant from a [`GET_REFRESH`] row. A revoked token, or a token of
/// a revoked grant, is reported as rotated at the revocation time, so callers treat it as
/// spent.
pub(super) fn refresh_and_grant_from_row(
    row: &impl Row,
) -> StoreResult<(RefreshTokenRecord, GrantRecord)> {
    let grant = grant_from_columns(row, "grant_revoked_at")?;
    let token = RefreshTokenRecord {
        token_digest: row.text("token_digest")?,
        grant_id: row.text("grant_id")?,
        issued_at: row.int("issued_at")?,
        expires_at: row.int("expires_at")?,
        rotated_at: (row.opt_int("rotated_at")?)
            .or(row.opt_int("revoked_at")?)
            .or(grant.revoked_at),
    };
    Ok((token, grant))
}

/// From an [`ACCESS_TOKEN_STATE`] row: whether the token is revoked (itself or through its
/// grant), and its grant.
pub(super) fn access_state_from_row(row: &impl Row) -> StoreResult<(bool, String)> {
    let revoked =
        row.opt_int("token_revoked")?.is_some() || row.opt_int("grant_revoked")?.is_some();
    Ok((revoked, row.text("grant_id")?))
}

/// For a rotated refresh token presented again at `now` (a [`REFRESH_STATE`] row): if it is
/// still within the grace period, the statement that revokes its unused successor
/// ([`REVOKE_SUCCESSOR`] with `$1` the token, `$2` now). A grace of 0 means no grace at all,
/// not "within the same second"; a revoked token (its one replay spent) is never in grace.
pub(super) fn grace_replay(
    row: &impl Row,
    now: i64,
    grace_seconds: i64,
) -> StoreResult<Option<&'static str>> {
    let rotated_at = row.opt_int("rotated_at")?;
    let in_grace = grace_seconds > 0
        && row.opt_int("revoked_at")?.is_none()
        && rotated_at.is_some_and(|at| now.saturating_sub(at) <= grace_seconds);
    Ok(match (in_grace, row.opt_text("successor_digest")?) {
        (false, _) => None,
        (true, Some(_)) => Some(REVOKE_SUCCESSOR),
        (true, None) => Some(REVOKE_SUCCESSOR_BY_PREDECESSOR),
    })
}

// ---- consents ----

/// The scope user `$1` approved for client `$2` and resource `$3`.
pub(super) const GET_CONSENT: &str =
    "SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2 AND resource = $3";
/// Records (user `$1`, client `$2`, resource `$3`) → scope `$4` at `$5`.
pub(super) const PUT_CONSENT: &str = "INSERT INTO consents (user_id, client_id, resource, scope, updated_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (user_id, client_id, resource) DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at";

// ---- users ----

macro_rules! user_columns {
    () => {
        "user_id, username, password_hash, role, scopes, display_name"
    };
}

/// A user by name (`$1`).
pub(super) const GET_USER_BY_NAME: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE username = $1"
);
/// A user by id (`$1`).
pub(super) const GET_USER: &str =
    concat!("SELECT ", user_columns!(), " FROM users WHERE user_id = $1");
/// Every user, by username.
pub(super) const LIST_USERS: &str =
    concat!("SELECT ", user_columns!(), " FROM users ORDER BY username");
/// Inserts or updates (by username) a user ([`user_params`]).
pub(super) const UPSERT_USER: &str = concat!(
    "INSERT INTO users (",
    user_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash,
       role = excluded.role, scopes = excluded.scopes, display_name = excluded.display_name"
);
/// Deletes user `$1` (by name), returning the id.
pub(super) const DELETE_USER: &str = "DELETE FROM users WHERE username = $1 RETURNING user_id";
/// After [`DELETE_USER`]: revokes (at `$2`) user `$1`'s grants, and so their tokens (as
/// [`REVOKE_GRANT`]).
pub(super) const REVOKE_USER_GRANTS: &str =
    "UPDATE grants SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL";
/// Deletes user `$1`'s consents.
pub(super) const DELETE_USER_CONSENTS: &str = "DELETE FROM consents WHERE user_id = $1";

/// The parameters of [`UPSERT_USER`].
pub(super) fn user_params(u: &UserRecord) -> [Param<'_>; 6] {
    params![
        &u.user_id,
        &u.username,
        &u.password_hash,
        &u.role,
        &u.scopes,
        &u.display_name,
    ]
}

/// A user from a row of [`GET_USER`], [`GET_USER_BY_NAME`] or [`LIST_USERS`].
pub(super) fn user_from_row(row: &impl Row) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        user_id: row.text("user_id")?,
        username: row.text("username")?,
        password_hash: row.text("password_hash")?,
        role: row.text("role")?,
        scopes: row.opt_text("scopes")?,
        display_name: row.opt_text("display_name")?,
    })
}

// ---- signing keys ----

/// Every key, oldest first.
pub(super) const LIST_KEYS: &str = "SELECT kid, algorithm, pkcs8, created_at, retired_at FROM signing_keys ORDER BY created_at, kid";
/// Retires every active key at `$1`.
pub(super) const RETIRE_KEYS: &str =
    "UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL";
/// Stores a key ([`key_params`]).
pub(super) const INSERT_KEY: &str =
    "INSERT INTO signing_keys (kid, algorithm, pkcs8, created_at) VALUES ($1, $2, $3, $4)";
/// Stores a key ([`key_params`]) only if no key is active. The partial unique index
/// `signing_keys_one_active` turns a concurrent first insert into a conflict, which
/// `DO NOTHING` turns into "not stored".
pub(super) const INSERT_FIRST_KEY: &str =
    "INSERT INTO signing_keys (kid, algorithm, pkcs8, created_at)
     SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL)
     ON CONFLICT DO NOTHING";
/// Deletes keys retired before `$1`.
pub(super) const PURGE_KEYS: &str =
    "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1";

/// The parameters of [`INSERT_KEY`] and [`INSERT_FIRST_KEY`].
pub(super) fn key_params(k: &SigningKeyRecord) -> [Param<'_>; 4] {
    params![&k.kid, &k.algorithm, &k.pkcs8_base64, k.created_at]
}

/// A key from a [`LIST_KEYS`] row.
pub(super) fn key_from_row(row: &impl Row) -> StoreResult<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: row.text("kid")?,
        algorithm: row.text("algorithm")?,
        pkcs8_base64: row.text("pkcs8")?,
        created_at: row.int("created_at")?,
        retired_at: row.opt_int("retired_at")?,
    })
}

// ---- rate limits and secrets ----

/// Counts a hit on bucket `$1` at `$2` in a window of `$3` seconds, in one upsert (concurrent
/// hits at any instance serialise on the row); returns `hits`, `window_start`.
pub(super) const RATE_LIMIT_HIT: &str = "INSERT INTO rate_limits (bucket, window_start, hits) VALUES ($1, $2, 1)
     ON CONFLICT (bucket) DO UPDATE SET
       hits = CASE WHEN rate_limits.window_start > $2 - $3 THEN rate_limits.hits + 1 ELSE 1 END,
       window_start = CASE WHEN rate_limits.window_start > $2 - $3 THEN rate_limits.window_start ELSE $2 END
     RETURNING hits, window_start";
/// `(hits, window_start)` from a [`RATE_LIMIT_HIT`] row.
pub(super) fn rate_limit_from_row(row: &impl Row) -> StoreResult<(i64, i64)> {
    Ok((row.int("hits")?, row.int("window_start")?))
}
/// Deletes counters whose window started before `$1`.
pub(super) const PURGE_RATE_LIMITS: &str = "DELETE FROM rate_limits WHERE window_start < $1";
/// Stores secret `$1` = `$2` (at `$3`) unless one exists.
pub(super) const INSERT_SECRET: &str =
    "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO NOTHING";
/// Secret `$1`.
pub(super) const GET_SECRET: &str = "SELECT value FROM server_secrets WHERE name = $1";
