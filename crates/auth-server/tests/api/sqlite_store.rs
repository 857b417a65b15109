//! The SQLite backend beyond the shared contract: files written by the sqlx-based versions
//! open unchanged, and a second process writing the same file (`auth-server user add`
//! beside a running server) waits its turn instead of failing.

use std::sync::Arc;

use auth_server::store::sqlite::SqliteStore;
use auth_server::store::{
    Grants as _, Lifecycle as _, RateLimits as _, Rotation, Store, Users as _,
};

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
    let versions: Vec<(i64, i64)> = conn
        .prepare("SELECT version, applied_at FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
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
    // Family a: a1 rotated into a2 just now. Family b: b1 rotated into b2, then replayed
    // (b2 revoked, b3 issued): the version-4 way of spending the replay. Family o: o1
    // rotated into o2 two hours ago.
    conn.execute_batch(&format!(
        "INSERT INTO grants VALUES ('g', 'c1', 'u1', 'http://localhost:8001/mcp', 'mcp:tools', 1, 1, NULL);
         INSERT INTO refresh_tokens
           (token_digest, grant_id, predecessor_digest, issued_at, expires_at, rotated_at, revoked_at)
         VALUES ('a1', 'g', NULL, 1, {exp}, {now}, NULL), ('a2', 'g', 'a1', {now}, {exp}, NULL, NULL),
                ('b1', 'g', NULL, 1, {exp}, {now}, NULL), ('b2', 'g', 'b1', {now}, {exp}, NULL, {now}),
                ('b3', 'g', 'b1', {now}, {exp}, NULL, NULL),
                ('o1', 'g', NULL, 1, {exp}, {old}, NULL), ('o2', 'g', 'o1', {old}, {exp}, NULL, NULL);",
        exp = now + 86_400,
        old = now - 7_200,
    ))
    .unwrap();
    drop(conn);

    let store = SqliteStore::open(&path).await.unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let successors: Vec<(String, Option<String>)> = conn
        .prepare("SELECT token_digest, successor_digest FROM refresh_tokens WHERE token_digest IN ('a1', 'b1', 'o1') ORDER BY 1")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        successors,
        [
            ("a1".to_owned(), Some("a2".to_owned())),
            ("b1".to_owned(), None),
            ("o1".to_owned(), None)
        ],
        "filled in for a1 only: b1's replay is spent, o1 is too old to matter"
    );
    let rotate = |old: &'static str, new: &'static str| {
        let next = crate::store::refresh(new, "g");
        let store = &store;
        async move {
            store
                .rotate_refresh_token(old, &next, &crate::store::access_of(&next), now + 6, 10)
                .await
                .unwrap()
        }
    };
    assert!(matches!(rotate("a1", "a3").await, Rotation::GraceReplay));
    let (a2, _) = store.get_refresh_token("a2").await.unwrap().unwrap();
    assert_eq!(
        a2.rotated_at,
        Some(now + 6),
        "the lost successor is revoked"
    );
    assert!(matches!(rotate("a1", "a4").await, Rotation::Reused));
    assert!(matches!(rotate("b1", "b4").await, Rotation::Reused));
    let (b3, _) = store.get_refresh_token("b3").await.unwrap().unwrap();
    assert_eq!(b3.rotated_at, None, "b1's spent replay left b3 alone");
    assert!(matches!(rotate("o1", "o3").await, Rotation::Reused));
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
