//! The validation cache: token digest → validated identity, bounded in size, and never
//! answering after the entry's deadline (at most the token's `exp`).
//!
//! Keys are SHA-256 digests, so the cache holds no token. The lock is a plain mutex held for
//! a map lookup only, never across an `.await`.

#[allow(clippy::disallowed_types)] // process-internal map, never serialised
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::AuthContext;

/// A bounded cache of validated tokens.
#[derive(Debug)]
pub struct TokenCache {
    #[allow(clippy::disallowed_types)] // process-internal map, never serialised
    entries: Mutex<HashMap<String, Entry>>,
    max_entries: usize,
}

#[derive(Debug, Clone)]
struct Entry {
    context: Arc<AuthContext>,
    /// Unix seconds after which the entry is not used.
    valid_until: i64,
}

impl TokenCache {
    /// A cache holding at most `max_entries` tokens.
    pub fn new(max_entries: usize) -> Self {
        Self {
            entries: Mutex::new(Default::default()),
            max_entries: max_entries.max(1),
        }
    }

    /// The identity cached for `digest`, if its deadline has not passed at `now`.
    pub fn get(&self, digest: &str, now: i64) -> Option<Arc<AuthContext>> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(digest) {
            Some(entry) if now < entry.valid_until => Some(entry.context.clone()),
            Some(_) => {
                entries.remove(digest);
                None
            }
            None => None,
        }
    }

    /// Caches `context` under `digest` until `valid_until` (exclusive). Entries whose
    /// deadline is not after `now` are not stored. When full, expired entries go first,
    /// then the entry closest to its deadline.
    pub fn insert(&self, digest: String, context: Arc<AuthContext>, valid_until: i64, now: i64) {
        if valid_until <= now {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.max_entries && !entries.contains_key(&digest) {
            entries.retain(|_, e| now < e.valid_until);
            if entries.len() >= self.max_entries {
                let soonest = entries
                    .iter()
                    .min_by_key(|(_, e)| e.valid_until)
                    .map(|(k, _)| k.clone());
                if let Some(k) = soonest {
                    entries.remove(&k);
                }
            }
        }
        entries.insert(
            digest,
            Entry {
                context,
                valid_until,
            },
        );
    }

    /// Forgets everything (after a key set change).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use mcp_auth_core::ScopeSet;

    use super::*;

    fn context(sub: &str) -> Arc<AuthContext> {
        Arc::new(AuthContext {
            subject: sub.into(),
            client_id: "c".into(),
            scopes: ScopeSet::new(),
            expires_at: 0,
        })
    }

    #[test]
    fn entries_are_not_used_at_or_after_their_deadline() {
        let cache = TokenCache::new(10);
        cache.insert("d".into(), context("a"), 100, 50);
        assert!(cache.get("d", 99).is_some());
        assert!(cache.get("d", 100).is_none());
        assert!(cache.is_empty(), "an expired entry is dropped when seen");
    }

    #[test]
    fn already_expired_entries_are_not_stored() {
        let cache = TokenCache::new(10);
        cache.insert("d".into(), context("a"), 50, 50);
        assert!(cache.is_empty());
    }

    #[test]
    fn size_is_bounded_and_expired_or_soonest_entries_go_first() {
        let cache = TokenCache::new(2);
        cache.insert("a".into(), context("a"), 100, 0);
        cache.insert("b".into(), context("b"), 200, 0);
        cache.insert("c".into(), context("c"), 300, 0);
        assert_eq!(cache.len(), 2);
        assert!(
            cache.get("a", 1).is_none(),
            "the soonest deadline was evicted"
        );
        assert!(cache.get("b", 1).is_some());
        assert!(cache.get("c", 1).is_some());
        // at time 250 `b` has expired: it goes, not `c`
        cache.insert("d".into(), context("d"), 400, 250);
        assert!(cache.get("c", 251).is_some());
        assert!(cache.get("d", 251).is_some());
        assert_eq!(cache.len(), 2);
    }
}
