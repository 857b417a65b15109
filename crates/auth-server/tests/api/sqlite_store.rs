//! The SQLite backend beyond the shared contract: files written by the sqlx-based versions
//! open unchanged, a version-4 database migrates with its refresh-token families intact, a
//! second process writing the same file (`auth-server user add` beside a running server)
//! waits its turn instead of failing, and the files the store creates are owner-only.

use std::sync::Arc;

use auth_server::store::sqlite::SqliteStore;
use auth_server::store::{Lifecycle as _, RateLimits as _, Store, Users as _};

/// The two columns of every row `sql` selects.
fn pairs<A: rusqlite::types::FromSql, B: rusqlite::types::FromSql>(
    conn: &rusqlite::Connection,
    sql: &str,
) -> Vec<(A, B)> {
    conn.prepare(sql)
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// `tests/fixtures/sqlx-era.db` was written by the sqlx-based store (commit 037f3f8:
/// `auth-server user add alice --display-name 'Alice (sqlx era)'`, which migrated a fresh
/// data directory to version 4 and closed it). It opens without re-running a migration
/// (only the later ones run), keeps its data and takes new writes.
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
    let versions: Vec<(i64, i64)> = pairs(
        &conn,
        "SELECT version, applied_at FROM schema_migrations ORDER BY version",
    );
    assert_eq!(
        versions,
        [(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)],
        "1 to 4 kept, not re-applied; 5 applied once"
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

/// A database at schema version 4 (before a rotated refresh token named its successor)
/// migrates to version 5 with its refresh-token families intact: a token rotated lately
/// still gets its one grace replay (the migration finds its successor through
/// `predecessor_digest`), and a token whose replay was already spent does not get another.
/// Tokens rotated over an hour before the migration are left as they were (they can no
/// longer be replayed: the grace period is at most 300 s).
#[tokio::test]
async fn refresh_families_of_a_version_4_database_keep_their_one_grace_replay() {
    const VERSION_4: [&str; 4] = [
        include_str!("../../migrations/sqlite/0001_initial.sql"),
        include_str!("../../migrations/sqlite/0002_server_secrets.sql"),
        include_str!("../../migrations/sqlite/0003_one_active_key.sql"),
        include_str!("../../migrations/sqlite/0004_rate_limits.sql"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v4.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .unwrap();
    for (version, sql) in (1..).zip(VERSION_4) {
        conn.execute_batch(sql).unwrap();
        conn.execute("INSERT INTO schema_migrations VALUES (?1, 0)", [version])
            .unwrap();
    }
    // The migration reads the real clock, so the rows do too.
    let now = mcp_auth_core::clock::Clock::now(&mcp_auth_core::clock::SystemClock);
    conn.execute_batch(&crate::store::version_4_families(now))
        .unwrap();
    drop(conn);

    let store = SqliteStore::open(&path).await.unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let successors: Vec<(String, Option<String>)> = pairs(
        &conn,
        "SELECT token_digest, successor_digest FROM refresh_tokens
         WHERE token_digest IN ('a1', 'b1', 'o1') ORDER BY 1",
    );
    assert_eq!(
        successors,
        [
            ("a1".to_owned(), Some("a2".to_owned())),
            ("b1".to_owned(), None),
            ("o1".to_owned(), None)
        ],
        "filled in for a1 only: b1's replay is spent, o1 is too old to matter"
    );
    crate::store::version_4_families_keep_one_grace_replay(&store, now).await;
    store.close().await;
}

/// A database file the store creates (any path, not only the data directory) is readable by
/// its owner only, and so are the WAL and shared-memory files SQLite creates beside it.
#[cfg(unix)]
#[tokio::test]
async fn a_new_database_and_its_wal_are_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("elsewhere.db");
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.rate_limit_hit("t:mode", 1, 60).await.unwrap().0, 1);
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.path().join(format!("elsewhere.db{suffix}"));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
    store.close().await;
}

/// SQLite: a token without `successor_digest` (only a writer older than migration 5 leaves
/// one; here written directly) is still replayed within its grace period.
#[tokio::test]
async fn sqlite_replays_a_rotation_of_the_previous_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("legacy.db");
    let store = SqliteStore::open(&path).await.unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(crate::store::LEGACY_ROTATION)
        .unwrap();
    crate::store::replays_a_legacy_rotation(&store).await;
    store.close().await;
}
