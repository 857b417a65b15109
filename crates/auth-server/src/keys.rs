//! Signing keys: generated on first start (once, even when several instances start
//! together), persisted (PKCS#8 in the database), cached in memory and re-read every
//! `tokens.key_reload_seconds`, rotated by `auth-server key rotate`, which publishes the new
//! key first and activates it later. A retired key stays in the JWKS until every token it
//! signed has expired (retired_at + access token TTL + leeway).

use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::JwkSet;
use mcp_auth_core::jwt::{self, DEFAULT_LEEWAY_SECONDS, SigningAlgorithm, SigningKey};

use crate::store::{SigningKeyRecord, Store, StoreError};

/// The active key and every key still published.
#[derive(Debug)]
struct KeySet {
    active: Arc<SigningKey>,
    published: Vec<Arc<SigningKey>>,
}

/// Shared, reloadable key set.
#[derive(Debug)]
pub struct KeyManager {
    inner: RwLock<KeySet>,
}

fn decode(record: &SigningKeyRecord) -> anyhow::Result<SigningKey> {
    let alg: SigningAlgorithm = record
        .algorithm
        .parse()
        .map_err(|e| anyhow::anyhow!("key {}: {e}", record.kid))?;
    let der = STANDARD
        .decode(&record.pkcs8_base64)
        .with_context(|| format!("key {} is not base64", record.kid))?;
    SigningKey::from_pkcs8_der(alg, record.kid.clone(), &der)
        .map_err(|e| anyhow::anyhow!("key {}: {e}", record.kid))
}

/// Reads a PKCS#8 private key from a PEM (`PRIVATE KEY`) or DER file.
pub fn read_pkcs8(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(bytes);
    };
    if !text.contains("-----BEGIN") {
        return Ok(bytes);
    }
    if !text.contains("-----BEGIN PRIVATE KEY-----") {
        anyhow::bail!(
            "{}: expected a PKCS#8 \"PRIVATE KEY\" PEM block",
            path.display()
        );
    }
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN PRIVATE KEY-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .map(str::trim)
        .collect();
    STANDARD
        .decode(body)
        .with_context(|| format!("{}: the PEM body is not base64", path.display()))
}

/// Makes the configured key file the active key (once: a key already stored under its kid
/// is left as it is). The kid is derived from the key, so the same file keeps the same kid.
pub async fn import_configured(
    store: &dyn Store,
    algorithm: SigningAlgorithm,
    path: &std::path::Path,
    now: i64,
) -> anyhow::Result<String> {
    let der = read_pkcs8(path)?;
    let kid = format!("cfg-{}", &mcp_auth_core::secret::sha256_urlsafe(&der)[..16]);
    SigningKey::from_pkcs8_der(algorithm, kid.clone(), &der).map_err(|e| {
        anyhow::anyhow!(
            "tokens.signing_key_file {}: not a {algorithm} PKCS#8 key: {e}",
            path.display()
        )
    })?;
    let stored = store.list_keys().await?;
    if !stored.iter().any(|k| k.kid == kid) {
        let imported = store
            .rotate_key(
                &SigningKeyRecord {
                    kid: kid.clone(),
                    algorithm: algorithm.as_str().to_owned(),
                    pkcs8_base64: STANDARD.encode(&der),
                    created_at: now,
                    retired_at: None,
                },
                now,
            )
            .await;
        match imported {
            Ok(()) => {
                tracing::info!(kid = %kid, "imported the configured signing key as the active key");
            }
            // Another instance imported it (or rotated) at the same moment.
            Err(StoreError::Conflict) if store.list_keys().await?.iter().any(|k| k.kid == kid) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(kid)
}

/// Generates a key and stores it as the active one, retiring the others, at once.
pub async fn rotate(
    store: &dyn Store,
    algorithm: SigningAlgorithm,
    now: i64,
) -> anyhow::Result<String> {
    rotate_at(store, algorithm, now).await
}

/// Generates a key that every instance publishes from its next key reload and signs with
/// from `activate_at` on; the current key signs until then, and stays published until its
/// tokens expire. With `activate_at` at least one `tokens.key_reload_seconds` ahead, no
/// instance signs with a key another instance does not publish yet.
pub async fn rotate_at(
    store: &dyn Store,
    algorithm: SigningAlgorithm,
    activate_at: i64,
) -> anyhow::Result<String> {
    let kid = format!("k-{}", mcp_auth_core::secret::random_urlsafe(12));
    let key = SigningKey::generate(algorithm, kid.clone())
        .map_err(|e| anyhow::anyhow!("key generation failed: {e}"))?;
    let record = SigningKeyRecord {
        kid: kid.clone(),
        algorithm: algorithm.as_str().to_owned(),
        pkcs8_base64: STANDARD.encode(key.pkcs8_der()),
        created_at: activate_at,
        retired_at: None,
    };
    store.rotate_key(&record, activate_at).await?;
    Ok(kid)
}

async fn load_set(
    store: &dyn Store,
    algorithm: SigningAlgorithm,
    access_ttl: i64,
    now: i64,
) -> anyhow::Result<KeySet> {
    let horizon = now - access_ttl - DEFAULT_LEEWAY_SECONDS;
    store.purge_keys(horizon).await?;
    let mut records = store.list_keys().await?;
    if !records.iter().any(|r| r.retired_at.is_none()) {
        let kid = format!("k-{}", mcp_auth_core::secret::random_urlsafe(12));
        let key = SigningKey::generate(algorithm, kid.clone())
            .map_err(|e| anyhow::anyhow!("key generation failed: {e}"))?;
        let record = SigningKeyRecord {
            kid: kid.clone(),
            algorithm: algorithm.as_str().to_owned(),
            pkcs8_base64: STANDARD.encode(key.pkcs8_der()),
            created_at: now,
            retired_at: None,
        };
        // Instances starting together: one key is stored, the others use it.
        if store.insert_first_key(&record).await? {
            tracing::info!(kid = %kid, alg = %algorithm, "generated a new signing key");
        }
        records = store.list_keys().await?;
    }
    // Every stored key is published. `created_at` is a key's activation time (`rotate_at`
    // may set it ahead, so other instances publish it before anyone signs with it).
    // The unretired key once activated; before that the newest activated one; with none
    // activated yet, the oldest.
    let rank = |r: &SigningKeyRecord| {
        let activated = r.created_at <= now;
        (
            activated,
            activated && r.retired_at.is_none(),
            if activated {
                r.created_at
            } else {
                -r.created_at
            },
        )
    };
    let active_kid = records
        .iter()
        .max_by_key(|r| rank(r))
        .map(|r| r.kid.clone());
    let mut published = Vec::new();
    let mut active = None;
    for record in &records {
        let key = Arc::new(decode(record)?);
        if Some(&record.kid) == active_kid.as_ref() {
            active = Some(key.clone());
        }
        published.push(key);
    }
    let active = active.context("no active signing key")?;
    Ok(KeySet { active, published })
}

impl KeyManager {
    /// Loads the stored keys, generating the first one if there is none.
    pub async fn load(
        store: &dyn Store,
        algorithm: SigningAlgorithm,
        access_ttl: i64,
        now: i64,
    ) -> anyhow::Result<Self> {
        let set = load_set(store, algorithm, access_ttl, now).await?;
        Ok(Self {
            inner: RwLock::new(set),
        })
    }

    /// Re-reads the keys (after an out-of-process rotation).
    pub async fn reload(
        &self,
        store: &dyn Store,
        algorithm: SigningAlgorithm,
        access_ttl: i64,
        now: i64,
    ) -> anyhow::Result<()> {
        let set = load_set(store, algorithm, access_ttl, now).await?;
        if let Ok(mut guard) = self.inner.write() {
            if guard.active.kid() != set.active.kid() {
                tracing::info!(kid = %set.active.kid(), "signing with a new active key from the database");
            }
            *guard = set;
        }
        Ok(())
    }

    /// The key new tokens are signed with.
    pub fn active(&self) -> anyhow::Result<Arc<SigningKey>> {
        self.inner
            .read()
            .map(|g| g.active.clone())
            .map_err(|_| anyhow::anyhow!("key set lock poisoned"))
    }

    /// Every published key.
    pub fn published(&self) -> Vec<Arc<SigningKey>> {
        self.inner
            .read()
            .map(|g| g.published.clone())
            .unwrap_or_default()
    }

    /// The public JWK Set.
    pub fn jwks(&self) -> JwkSet {
        let keys = self.published();
        jwt::jwks(keys.iter().map(|k| k.as_ref()))
    }
}
