//! The SQLite backend beyond the shared contract: files written by the sqlx-based versions
//! open unchanged, and a second process writing the same file (`auth-server user add`
//! beside a running server) waits its turn instead of failing.

use std::sync::Arc;

use auth_server::store::sqlite::SqliteStore;
use auth_server::store::{Lifecycle as _, RateLimits as _, Store, Users as _};

/// `tests/fixtures/sqlx-era.db` was written by the sqlx-based store (commit 037f3f8:
/// `auth-server user add alice --display-name 'Alice (sqlx era)'`, which migrated a fresh
/// data directory to version 4 and closed it). It opens without re-running a migration,
/// keeps its data and takes new writes.
#[tokio::test]
async fn a_database_written_by_the_sqlx_version_opens_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth-server.db");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sqlx-era.db"),
        &path,
    )
    .unwrap();
    let store = SqliteStore::open(&path).await.unwrap();
    let alice = store.get_user_by_name("alice").await.unwrap().unwrap();
    assert_eq!(
        (alice.role.as_str(), alice.display_name.as_deref()),
        ("user", Some("Alice (sqlx era)"))
    );
    assert!(alice.password_hash.starts_with("$argon2"));
    assert_eq!(store.rate_limit_hit("t:new", 1, 60).await.unwrap(), (1, 1));
    store.close().await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    let versions: Vec<(i64, i64)> = conn
        .prepare("SELECT version, applied_at FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        versions,
        [(1, 0), (2, 0), (3, 0), (4, 0)],
        "nothing re-applied"
    );
    let journal: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
}

/// Two stores on one file (as two processes would be): their writes interleave without a
/// lost or doubled update (the writer waits in SQLite's busy handler for the other's write
/// lock), and each reads the other's commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_take_turns_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let first: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let second: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let handles: Vec<_> = (0..40)
        .map(|i| {
            let store = if i % 2 == 0 { &first } else { &second }.clone();
            tokio::spawn(async move { store.rate_limit_hit("t:shared", 5, 60).await.unwrap() })
        })
        .collect();
    let mut counts = Vec::new();
    for h in handles {
        counts.push(h.await.unwrap().0);
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=40).collect::<Vec<i64>>());
    let mut next = Vec::new();
    for store in [&first, &second] {
        next.push(store.rate_limit_hit("t:shared", 6, 60).await.unwrap().0);
    }
    assert_eq!(next, [41, 42], "each store sees the other's last hit");
    first.close().await;
    second.close().await;
}
