//! The storage contract: one suite every backend must pass. SQLite always; PostgreSQL when
//! `TEST_DATABASE_URL` is set, in a fresh schema per test. The concurrent parts are the
//! guarantees several instances on one database rely on: one winner per code, per rotation
//! and per first key, and revocation that no concurrent rotation or redemption outlives.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use auth_server::store::postgres::PgStore;
use auth_server::store::sqlite::SqliteStore;
use auth_server::store::{
    AccessTokenRecord, AuthorizationCodeRecord, ClientRecord, ClientSource, CodeRedemption, Issued,
    RefreshTokenRecord, Rotation, SigningKeyRecord, Store, StoreError, UserRecord,
};

fn client(id: &str, source: ClientSource, created_at: i64) -> ClientRecord {
    ClientRecord {
        client_id: id.to_owned(),
        secret_hash: None,
        auth_method: "none".to_owned(),
        redirect_uris: vec!["http://127.0.0.1/cb".to_owned()],
        grant_types: vec!["authorization_code".to_owned()],
        client_name: Some("c".to_owned()),
        metadata: serde_json::json!({"client_name": "c"}),
        source,
        created_at,
        last_used_at: None,
    }
}

fn code(digest: &str, grant_id: &str) -> AuthorizationCodeRecord {
    AuthorizationCodeRecord {
        code_digest: digest.to_owned(),
        grant_id: grant_id.to_owned(),
        client_id: "c1".to_owned(),
        user_id: "u1".to_owned(),
        redirect_uri: Some("http://127.0.0.1/cb".to_owned()),
        effective_redirect_uri: "http://127.0.0.1/cb".to_owned(),
        code_challenge: "x".repeat(43),
        resource: "http://localhost:8001/mcp".to_owned(),
        scope: "mcp:tools".to_owned(),
        auth_time: 1,
        expires_at: 1_000,
    }
}

static NEXT_JTI: AtomicU64 = AtomicU64::new(0);

/// An access token record for `successor`'s grant, with a `jti` never used before.
pub(crate) fn access_of(successor: &RefreshTokenRecord) -> AccessTokenRecord {
    AccessTokenRecord {
        jti: format!("jti-{}", NEXT_JTI.fetch_add(1, Ordering::Relaxed)),
        grant_id: successor.grant_id.clone(),
        expires_at: 10_000,
    }
}

/// What a redemption issues when the test does not look at it: an access token only.
fn tokens() -> Issued {
    Issued {
        refresh_token: None,
        access_token: access_of(&refresh("-", "-")),
    }
}

pub(crate) fn refresh(digest: &str, grant_id: &str) -> RefreshTokenRecord {
    RefreshTokenRecord {
        token_digest: digest.to_owned(),
        grant_id: grant_id.to_owned(),
        issued_at: 100,
        expires_at: 10_000,
        rotated_at: None,
    }
}

/// Presents refresh token `old` of `grant` at `now`, offering the successor `new` (with an
/// access token never used before).
async fn rotate(
    store: &dyn Store,
    old: &str,
    new: &str,
    grant: &str,
    now: i64,
    grace_seconds: i64,
) -> Rotation {
    let next = refresh(new, grant);
    store
        .rotate_refresh_token(old, &next, &access_of(&next), now, grace_seconds)
        .await
        .unwrap()
}

/// Refresh token `digest` as the store reports it (without its grant).
async fn refresh_token(store: &dyn Store, digest: &str) -> Option<RefreshTokenRecord> {
    store
        .get_refresh_token(digest)
        .await
        .unwrap()
        .map(|(token, _)| token)
}

/// Seeds grant `grant_id` of `user_id` the way the server creates one: a code redeemed at 1
/// (so `created_at` is 1), issuing the refresh token `refresh_digest` (if any) and the access
/// token `jti`.
async fn seed_grant(
    store: &dyn Store,
    grant_id: &str,
    user_id: &str,
    refresh_digest: Option<&str>,
    jti: &str,
) {
    let mut seed = code(&format!("seed-{grant_id}"), grant_id);
    seed.user_id = user_id.to_owned();
    store.insert_code(&seed).await.unwrap();
    let issued = Issued {
        refresh_token: refresh_digest.map(|d| refresh(d, grant_id)),
        access_token: AccessTokenRecord {
            jti: jti.to_owned(),
            grant_id: grant_id.to_owned(),
            expires_at: 5_000,
        },
    };
    assert!(matches!(
        store
            .redeem_code(&seed.code_digest, 1, &issued)
            .await
            .unwrap(),
        CodeRedemption::Fresh(_)
    ));
}

async fn clients(store: &dyn Store) {
    store
        .insert_client(&client("c1", ClientSource::Dynamic, 10))
        .await
        .unwrap();
    assert!(matches!(
        store
            .insert_client(&client("c1", ClientSource::Dynamic, 10))
            .await,
        Err(StoreError::Conflict)
    ));
    store
        .insert_client(&client("c2", ClientSource::Dynamic, 10))
        .await
        .unwrap();
    store
        .insert_client(&client("cfg", ClientSource::Config, 10))
        .await
        .unwrap();
    let mut updated = client("cfg", ClientSource::Config, 10);
    updated.client_name = Some("renamed".to_owned());
    store.upsert_client(&updated).await.unwrap();
    let got = store.get_client("cfg").await.unwrap().unwrap();
    assert_eq!(got.client_name.as_deref(), Some("renamed"));
    assert_eq!(got.redirect_uris, vec!["http://127.0.0.1/cb"]);
    assert_eq!(got.metadata["client_name"], "c");
    store.touch_client("c1", 50).await.unwrap();
    assert_eq!(
        store.get_client("c1").await.unwrap().unwrap().last_used_at,
        Some(50)
    );
    assert_eq!(store.reap_unused_clients(5).await.unwrap(), 0, "too young");
    assert_eq!(
        store.reap_unused_clients(11).await.unwrap(),
        1,
        "only c2: c1 was used, cfg is config"
    );
    assert!(store.get_client("c2").await.unwrap().is_none());
    assert!(store.get_client("c1").await.unwrap().is_some());
    assert!(store.get_client("cfg").await.unwrap().is_some());
}

async fn codes(store: Arc<dyn Store>) {
    store.insert_code(&code("d1", "gc1")).await.unwrap();
    // find_code is read-only: looking twice spends nothing.
    for _ in 0..2 {
        assert!(
            matches!(store.find_code("d1").await.unwrap(), CodeRedemption::Fresh(c) if c.grant_id == "gc1")
        );
    }
    assert!(matches!(
        store.find_code("nope").await.unwrap(),
        CodeRedemption::Unknown
    ));
    assert!(
        matches!(store.redeem_code("d1", 5, &tokens()).await.unwrap(), CodeRedemption::Fresh(c) if c.grant_id == "gc1" && c.scope == "mcp:tools")
    );
    assert!(
        matches!(store.redeem_code("d1", 6, &tokens()).await.unwrap(), CodeRedemption::Replayed { grant_id } if grant_id == "gc1")
    );
    assert!(
        matches!(store.find_code("d1").await.unwrap(), CodeRedemption::Replayed { grant_id } if grant_id == "gc1")
    );
    assert!(matches!(
        store.redeem_code("nope", 6, &tokens()).await.unwrap(),
        CodeRedemption::Unknown
    ));
    for i in 0..5 {
        let digest = format!("race{i}");
        store.insert_code(&code(&digest, "g")).await.unwrap();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                let digest = digest.clone();
                tokio::spawn(async move { store.redeem_code(&digest, 7, &tokens()).await.unwrap() })
            })
            .collect();
        let mut fresh = 0;
        for h in handles {
            if matches!(h.await.unwrap(), CodeRedemption::Fresh(_)) {
                fresh += 1;
            }
        }
        assert_eq!(fresh, 1, "exactly one concurrent redemption wins");
    }
    assert!(store.purge_codes(2_000).await.unwrap() >= 6);
    assert!(matches!(
        store.redeem_code("d1", 6, &tokens()).await.unwrap(),
        CodeRedemption::Unknown
    ));
}

async fn grants(store: &dyn Store) {
    seed_grant(store, "g1", "u1", Some("r1"), "j1").await;
    assert_eq!(
        store.access_token_revoked("j1").await.unwrap(),
        Some((false, "g1".to_owned()))
    );
    assert_eq!(store.access_token_revoked("unknown").await.unwrap(), None);

    // Rotation, grace replay once, then reuse.
    assert!(matches!(
        rotate(store, "r1", "r2", "g1", 200, 10).await,
        Rotation::Rotated
    ));
    assert!(
        refresh_token(store, "r1")
            .await
            .unwrap()
            .rotated_at
            .is_some()
    );
    assert!(matches!(
        rotate(store, "r1", "r3", "g1", 205, 10).await,
        Rotation::GraceReplay
    ));
    assert!(
        refresh_token(store, "r2")
            .await
            .unwrap()
            .rotated_at
            .is_some(),
        "lost successor revoked"
    );
    assert!(matches!(
        rotate(store, "r1", "r4", "g1", 206, 10).await,
        Rotation::Reused
    ));
    // j2: an access token of the grant that is never revoked by itself.
    let j2 = AccessTokenRecord {
        jti: "j2".into(),
        grant_id: "g1".into(),
        expires_at: 5_000,
    };
    assert!(matches!(
        store
            .rotate_refresh_token("r3", &refresh("r5", "g1"), &j2, 300, 0)
            .await
            .unwrap(),
        Rotation::Rotated
    ));
    assert!(matches!(
        rotate(store, "r3", "r6", "g1", 400, 10).await,
        Rotation::Reused
    ));
    assert!(matches!(
        rotate(store, "zz", "r7", "g1", 400, 10).await,
        Rotation::Unknown
    ));

    store.revoke_access_token("j1", 500).await.unwrap();
    assert_eq!(
        store.access_token_revoked("j1").await.unwrap(),
        Some((true, "g1".to_owned()))
    );
    assert_eq!(
        store.access_token_revoked("j2").await.unwrap(),
        Some((false, "g1".to_owned()))
    );
    store.revoke_grant("g1", 600).await.unwrap();
    store.revoke_grant("g1", 601).await.unwrap();
    let (_, revoked) = store.get_refresh_token("r5").await.unwrap().unwrap();
    assert_eq!(
        revoked.revoked_at,
        Some(600),
        "the grant's revocation, with the token"
    );
    assert_eq!(
        store.get_grant("g1").await.unwrap().unwrap().revoked_at,
        Some(600)
    );
    assert_eq!(
        store.access_token_revoked("j2").await.unwrap(),
        Some((true, "g1".to_owned()))
    );
    assert!(
        refresh_token(store, "r5")
            .await
            .unwrap()
            .rotated_at
            .is_some()
    );
    assert!(store.purge_tokens(20_000).await.unwrap() >= 1);
    assert!(refresh_token(store, "r5").await.is_none());
}

async fn consents_and_users(store: &dyn Store) {
    assert_eq!(store.get_consent("u1", "c1", "r").await.unwrap(), None);
    store.put_consent("u1", "c1", "r", "a", 1).await.unwrap();
    store.put_consent("u1", "c1", "r", "a b", 2).await.unwrap();
    assert_eq!(
        store.get_consent("u1", "c1", "r").await.unwrap().as_deref(),
        Some("a b")
    );
    assert_eq!(store.get_consent("u1", "c1", "other").await.unwrap(), None);

    let user = UserRecord {
        user_id: "u1".into(),
        username: "alice".into(),
        password_hash: "h".into(),
        role: "user".into(),
        scopes: None,
        display_name: None,
    };
    store.upsert_user(&user).await.unwrap();
    store
        .upsert_user(&UserRecord {
            role: "admin".into(),
            user_id: "ignored".into(),
            ..user.clone()
        })
        .await
        .unwrap();
    let got = store.get_user_by_name("alice").await.unwrap().unwrap();
    assert_eq!((got.user_id.as_str(), got.role.as_str()), ("u1", "admin"));
    assert_eq!(
        store.get_user("u1").await.unwrap().unwrap().username,
        "alice"
    );
    assert!(store.get_user_by_name("bob").await.unwrap().is_none());
}

async fn keys(store: &dyn Store) {
    let key = |kid: &str, at: i64| SigningKeyRecord {
        kid: kid.into(),
        algorithm: "ES256".into(),
        pkcs8_base64: "AAAA".into(),
        created_at: at,
        retired_at: None,
    };
    store.rotate_key(&key("k1", 1), 1).await.unwrap();
    store.rotate_key(&key("k2", 2), 2).await.unwrap();
    let keys = store.list_keys().await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].retired_at, Some(2));
    assert_eq!(keys[1].retired_at, None);
    assert_eq!(store.purge_keys(2).await.unwrap(), 0);
    assert_eq!(store.purge_keys(3).await.unwrap(), 1);
    assert_eq!(store.list_keys().await.unwrap()[0].kid, "k2");
}

async fn secrets(store: &dyn Store) {
    assert_eq!(
        store.secret_or_insert("k", "first", 1).await.unwrap(),
        "first"
    );
    assert_eq!(
        store.secret_or_insert("k", "second", 2).await.unwrap(),
        "first",
        "first writer wins"
    );
    assert_eq!(store.secret_or_insert("other", "x", 2).await.unwrap(), "x");
}

async fn user_removal(store: &dyn Store) {
    let user = UserRecord {
        user_id: "u-del".into(),
        username: "dave".into(),
        password_hash: "h".into(),
        role: "user".into(),
        scopes: Some("mcp:tools".into()),
        display_name: Some("Dave".into()),
    };
    store.upsert_user(&user).await.unwrap();
    assert!(
        store
            .list_users()
            .await
            .unwrap()
            .iter()
            .any(|u| u.username == "dave")
    );
    seed_grant(store, "g-del", "u-del", Some("r-del"), "j-del").await;
    store
        .put_consent("u-del", "c1", "r", "mcp:tools", 1)
        .await
        .unwrap();
    assert!(store.delete_user("dave", 700).await.unwrap());
    assert!(!store.delete_user("dave", 701).await.unwrap());
    assert!(store.get_user_by_name("dave").await.unwrap().is_none());
    assert_eq!(store.get_consent("u-del", "c1", "r").await.unwrap(), None);
    assert_eq!(
        store.get_grant("g-del").await.unwrap().unwrap().revoked_at,
        Some(700)
    );
    assert!(
        refresh_token(store, "r-del")
            .await
            .unwrap()
            .rotated_at
            .is_some()
    );
    assert_eq!(
        store.access_token_revoked("j-del").await.unwrap(),
        Some((true, "g-del".to_owned()))
    );
}

/// Lookups of unknown ids, full round trips, duplicate inserts.
async fn lookups_and_round_trips(store: &dyn Store) {
    assert!(store.get_client("nobody").await.unwrap().is_none());
    assert!(store.get_grant("nothing").await.unwrap().is_none());
    assert!(refresh_token(store, "nothing").await.is_none());
    assert!(store.get_user("nobody").await.unwrap().is_none());
    // upsert inserts when missing, and every field round-trips.
    let mut c = client("rt-client", ClientSource::MetadataDocument, 3);
    c.secret_hash = Some("$argon2id$x".into());
    c.auth_method = "client_secret_basic".into();
    c.grant_types = vec!["authorization_code".into(), "refresh_token".into()];
    c.redirect_uris = vec!["http://127.0.0.1/a".into(), "https://b.example/cb".into()];
    store.upsert_client(&c).await.unwrap();
    let got = store.get_client("rt-client").await.unwrap().unwrap();
    assert_eq!(got.secret_hash.as_deref(), Some("$argon2id$x"));
    assert_eq!(got.auth_method, "client_secret_basic");
    assert_eq!(got.grant_types, c.grant_types);
    assert_eq!(got.redirect_uris, c.redirect_uris);
    assert_eq!(got.source, ClientSource::MetadataDocument);
    assert_eq!((got.created_at, got.last_used_at), (3, None));
    assert!(got.is_confidential() && got.allows_refresh());
    // A code without a redirect_uri keeps None and every other field.
    let mut k = code("rt-code", "rt-g");
    k.redirect_uri = None;
    store.insert_code(&k).await.unwrap();
    assert!(matches!(
        store.insert_code(&k).await,
        Err(StoreError::Conflict)
    ));
    let rt_issued = Issued {
        refresh_token: Some(refresh("rt-r", "rt-g")),
        access_token: access_of(&refresh("rt-r", "rt-g")),
    };
    let CodeRedemption::Fresh(got) = store.redeem_code("rt-code", 2, &rt_issued).await.unwrap()
    else {
        panic!("fresh code")
    };
    assert_eq!(got.redirect_uri, None);
    assert_eq!(
        (
            got.client_id.as_str(),
            got.user_id.as_str(),
            got.effective_redirect_uri.as_str(),
            got.code_challenge.len(),
            got.resource.as_str(),
            got.auth_time,
            got.expires_at
        ),
        (
            "c1",
            "u1",
            "http://127.0.0.1/cb",
            43,
            "http://localhost:8001/mcp",
            1,
            1_000
        )
    );
    // Redemption created the code's grant and stored its tokens.
    let created = store.get_grant("rt-g").await.unwrap().unwrap();
    assert_eq!(
        (
            created.client_id.as_str(),
            created.user_id.as_str(),
            created.resource.as_str(),
            created.scope.as_str(),
            created.auth_time,
            created.created_at,
            created.revoked_at
        ),
        (
            "c1",
            "u1",
            "http://localhost:8001/mcp",
            "mcp:tools",
            1,
            2,
            None
        )
    );
    // A redemption that fails half-way (its refresh token's digest is taken: Conflict)
    // changes nothing: the code stays unspent, and no grant or access token is stored.
    store.insert_code(&code("rt-code2", "rt-g2")).await.unwrap();
    let clash = Issued {
        refresh_token: Some(refresh("rt-r", "rt-g2")),
        access_token: AccessTokenRecord {
            jti: "rt-a2".into(),
            grant_id: "rt-g2".into(),
            expires_at: 10_000,
        },
    };
    assert!(matches!(
        store.redeem_code("rt-code2", 3, &clash).await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        store.find_code("rt-code2").await.unwrap(),
        CodeRedemption::Fresh(_)
    ));
    assert!(store.get_grant("rt-g2").await.unwrap().is_none());
    assert_eq!(store.access_token_revoked("rt-a2").await.unwrap(), None);
    let got = store.get_grant("rt-g").await.unwrap().unwrap();
    assert_eq!(
        (got.client_id.as_str(), got.scope.as_str(), got.revoked_at),
        ("c1", "mcp:tools", None)
    );
    // A refresh token comes with its whole grant.
    let (got, its_grant) = store.get_refresh_token("rt-r").await.unwrap().unwrap();
    assert_eq!(
        (
            got.grant_id.as_str(),
            got.issued_at,
            got.expires_at,
            got.rotated_at
        ),
        ("rt-g", 100, 10_000, None)
    );
    assert_eq!(
        format!("{its_grant:?}"),
        format!("{:?}", store.get_grant("rt-g").await.unwrap().unwrap())
    );
    // Users come back ordered by username.
    for (id, name) in [("u-z", "zed"), ("u-b", "bea")] {
        store
            .upsert_user(&UserRecord {
                user_id: id.into(),
                username: name.into(),
                password_hash: "h".into(),
                role: "user".into(),
                scopes: None,
                display_name: None,
            })
            .await
            .unwrap();
    }
    let names: Vec<String> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    // Purging removes grants left with no token and no code, and nothing live.
    let mut short = code("empty-code", "empty-g");
    short.expires_at = 20;
    store.insert_code(&short).await.unwrap();
    let brief = Issued {
        refresh_token: None,
        access_token: AccessTokenRecord {
            jti: "empty-a".into(),
            grant_id: "empty-g".into(),
            expires_at: 30,
        },
    };
    assert!(matches!(
        store.redeem_code("empty-code", 10, &brief).await.unwrap(),
        CodeRedemption::Fresh(_)
    ));
    assert_eq!(store.purge_codes(40).await.unwrap(), 1);
    store.purge_tokens(50).await.unwrap();
    assert!(store.get_grant("empty-g").await.unwrap().is_none());
    assert!(
        store.get_grant("rt-g").await.unwrap().is_some(),
        "live token"
    );
}

/// Concurrent redemptions of one code (another instance may be the other caller): one
/// `Fresh`, and every `Replayed` finds the grant already there to revoke, so no token issued
/// from the code outlives the replay. A revoked grant's refresh tokens never rotate.
async fn revocation_beats_late_writers(store: Arc<dyn Store>) {
    for i in 0..5 {
        let (digest, g) = (format!("late-{i}"), format!("g-late-{i}"));
        store.insert_code(&code(&digest, &g)).await.unwrap();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                let (digest, g) = (digest.clone(), g.clone());
                tokio::spawn(async move {
                    let outcome = store.redeem_code(&digest, 7, &tokens()).await.unwrap();
                    if let CodeRedemption::Replayed { grant_id } = &outcome {
                        assert_eq!(grant_id, &g);
                        assert!(
                            store.get_grant(grant_id).await.unwrap().is_some(),
                            "the replay finds the grant"
                        );
                        store.revoke_grant(grant_id, 8).await.unwrap();
                    }
                    matches!(outcome, CodeRedemption::Fresh(_))
                })
            })
            .collect();
        let mut fresh = 0;
        for h in handles {
            fresh += usize::from(h.await.unwrap());
        }
        assert_eq!(fresh, 1);
        assert_eq!(
            store.get_grant(&g).await.unwrap().unwrap().revoked_at,
            Some(8)
        );
    }
    seed_grant(store.as_ref(), "g-rev", "u1", Some("rev-1"), "rev-a").await;
    store.revoke_grant("g-rev", 20).await.unwrap();
    assert!(matches!(
        rotate(store.as_ref(), "rev-1", "rev-2", "g-rev", 21, 10).await,
        Rotation::Reused
    ));
    assert!(refresh_token(store.as_ref(), "rev-2").await.is_none());
}

/// Many concurrent presentations of one refresh token: exactly one rotation wins; with a
/// grace period at most one more gets a replacement; the family never has two live tokens.
async fn concurrent_rotation(store: Arc<dyn Store>) {
    for (round, grace) in [(0, 0), (1, 10), (2, 0), (3, 10)] {
        let g = format!("cg{round}");
        let first = format!("cr{round}");
        seed_grant(store.as_ref(), &g, "u1", Some(&first), &format!("{g}-a")).await;
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let store = store.clone();
                let (g, first) = (g.clone(), first.clone());
                tokio::spawn(async move {
                    let next = refresh(&format!("{first}-n{i}"), &g);
                    store
                        .rotate_refresh_token(&first, &next, &access_of(&next), 200, grace)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let (mut rotated, mut grace_replays) = (0, 0);
        for h in handles {
            match h.await.unwrap() {
                Rotation::Rotated => rotated += 1,
                Rotation::GraceReplay => grace_replays += 1,
                Rotation::Reused => {}
                Rotation::Unknown => panic!("the token exists"),
            }
        }
        assert_eq!(rotated, 1, "round {round}: exactly one rotation wins");
        assert!(
            grace_replays <= usize::from(grace > 0),
            "round {round}: {grace_replays}"
        );
        let mut live = 0;
        for i in 0..6 {
            if let Some(t) = refresh_token(store.as_ref(), &format!("{first}-n{i}")).await {
                live += usize::from(t.rotated_at.is_none());
            }
        }
        assert_eq!(live, 1, "round {round}: one live successor");
    }
    // A revocation racing a rotation: whatever the order, nothing of the family stays usable.
    for round in 0..5 {
        let g = format!("rr{round}");
        let first = format!("rr{round}-0");
        seed_grant(store.as_ref(), &g, "u1", Some(&first), &format!("{g}-a")).await;
        let rotation = {
            let store = store.clone();
            let (g, first) = (g.clone(), first.clone());
            tokio::spawn(async move {
                rotate(store.as_ref(), &first, &format!("{first}-n"), &g, 200, 10).await
            })
        };
        let revoke = {
            let store = store.clone();
            let g = g.clone();
            tokio::spawn(async move { store.revoke_grant(&g, 200).await.unwrap() })
        };
        rotation.await.unwrap();
        revoke.await.unwrap();
        if let Some(t) = refresh_token(store.as_ref(), &format!("{first}-n")).await {
            assert!(t.rotated_at.is_some(), "round {round}: successor revoked");
        }
        assert!(matches!(
            rotate(
                &*store,
                &format!("{first}-n"),
                &format!("{first}-x"),
                &g,
                201,
                10
            )
            .await,
            Rotation::Reused | Rotation::Unknown
        ));
    }
}

/// Concurrent first-key creation and secret generation (instances starting together): one
/// active key and one secret, whoever wins.
async fn concurrent_keys_and_secrets(store: Arc<dyn Store>) {
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let key = SigningKeyRecord {
                    kid: format!("race-k{i}"),
                    algorithm: "ES256".into(),
                    pkcs8_base64: "AAAA".into(),
                    created_at: 1_000 + i,
                    retired_at: None,
                };
                let rotated = store.rotate_key(&key, 1_000 + i).await;
                assert!(
                    matches!(rotated, Ok(()) | Err(StoreError::Conflict)),
                    "{rotated:?}"
                );
                let secret = store
                    .secret_or_insert("race-secret", &format!("s{i}"), 1)
                    .await
                    .unwrap();
                (rotated.is_ok(), secret)
            })
        })
        .collect();
    let mut secrets = Vec::new();
    let mut wins = 0;
    for h in handles {
        let (won, secret) = h.await.unwrap();
        wins += usize::from(won);
        secrets.push(secret);
    }
    assert!(wins >= 1);
    secrets.dedup();
    assert_eq!(secrets.len(), 1, "every instance got the same secret");
    let active = store
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.retired_at.is_none())
        .count();
    assert_eq!(active, 1, "exactly one active key");
}

/// Rate-limit windows: counted per bucket, reset after the window, exact under concurrent
/// hits (several instances counting one client), purged by window start.
async fn rate_limits(store: Arc<dyn Store>) {
    assert_eq!(store.rate_limit_hit("t:a", 0, 60).await.unwrap(), (1, 0));
    assert_eq!(store.rate_limit_hit("t:a", 1, 60).await.unwrap(), (2, 0));
    assert_eq!(store.rate_limit_hit("t:b", 2, 60).await.unwrap(), (1, 2));
    assert_eq!(store.rate_limit_hit("t:a", 59, 60).await.unwrap(), (3, 0));
    assert_eq!(
        store.rate_limit_hit("t:a", 60, 60).await.unwrap(),
        (1, 60),
        "a new window"
    );
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.rate_limit_hit("t:c", 100, 60).await.unwrap() })
        })
        .collect();
    let mut counts = Vec::new();
    for h in handles {
        counts.push(h.await.unwrap().0);
    }
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=20).collect::<Vec<i64>>(),
        "no hit lost or doubled"
    );
    assert_eq!(store.purge_rate_limits(61).await.unwrap(), 2, "t:a and t:b");
    assert_eq!(
        store.rate_limit_hit("t:c", 101, 60).await.unwrap(),
        (21, 100)
    );
}

/// On an empty store (instances starting together): exactly one first key is stored.
pub(crate) async fn first_key(store: Arc<dyn Store>) {
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let k = SigningKeyRecord {
                    kid: format!("first-{i}"),
                    algorithm: "ES256".into(),
                    pkcs8_base64: "AAAA".into(),
                    created_at: 1,
                    retired_at: None,
                };
                store.insert_first_key(&k).await.unwrap()
            })
        })
        .collect();
    let mut stored = 0;
    for h in handles {
        stored += usize::from(h.await.unwrap());
    }
    assert_eq!(stored, 1, "exactly one first key");
    assert_eq!(store.list_keys().await.unwrap().len(), 1);
}

/// What a redemption or rotation issues is stored in its transaction, and only by the
/// winner: a replayed code or a reused refresh token stores nothing.
async fn issuance_is_stored_with_the_win(store: &dyn Store) {
    let issued = |refresh_digest: &str, jti: &str| Issued {
        refresh_token: Some(refresh(refresh_digest, "g-iss")),
        access_token: AccessTokenRecord {
            jti: jti.to_owned(),
            grant_id: "g-iss".to_owned(),
            expires_at: 10_000,
        },
    };
    store.insert_code(&code("iss-code", "g-iss")).await.unwrap();
    assert!(matches!(
        store
            .redeem_code("iss-code", 5, &issued("iss-r1", "iss-a1"))
            .await
            .unwrap(),
        CodeRedemption::Fresh(_)
    ));
    assert!(store.get_grant("g-iss").await.unwrap().is_some());
    assert!(refresh_token(store, "iss-r1").await.is_some());
    assert_eq!(
        store.access_token_revoked("iss-a1").await.unwrap(),
        Some((false, "g-iss".to_owned()))
    );
    assert!(matches!(
        store
            .redeem_code("iss-code", 6, &issued("iss-r2", "iss-a2"))
            .await
            .unwrap(),
        CodeRedemption::Replayed { .. }
    ));
    assert!(refresh_token(store, "iss-r2").await.is_none());
    assert_eq!(store.access_token_revoked("iss-a2").await.unwrap(), None);
    // A rotation stores its successor and access token; a reuse (no grace) stores neither.
    let successor_and_access = |successor: &str, jti: &str| {
        let t = issued(successor, jti);
        (t.refresh_token.unwrap(), t.access_token)
    };
    let (next, access) = successor_and_access("iss-r3", "iss-a3");
    assert!(matches!(
        store
            .rotate_refresh_token("iss-r1", &next, &access, 7, 0)
            .await
            .unwrap(),
        Rotation::Rotated
    ));
    assert!(refresh_token(store, "iss-r3").await.is_some());
    assert!(
        store
            .access_token_revoked("iss-a3")
            .await
            .unwrap()
            .is_some()
    );
    let (next, access) = successor_and_access("iss-r4", "iss-a4");
    assert!(matches!(
        store
            .rotate_refresh_token("iss-r1", &next, &access, 8, 0)
            .await
            .unwrap(),
        Rotation::Reused
    ));
    assert!(refresh_token(store, "iss-r4").await.is_none());
    assert_eq!(store.access_token_revoked("iss-a4").await.unwrap(), None);
}

/// The whole contract against one store.
pub(crate) async fn contract(store: Arc<dyn Store>) {
    lookups_and_round_trips(store.as_ref()).await;
    revocation_beats_late_writers(store.clone()).await;
    concurrent_rotation(store.clone()).await;
    user_removal(store.as_ref()).await;
    secrets(store.as_ref()).await;
    clients(store.as_ref()).await;
    codes(store.clone()).await;
    issuance_is_stored_with_the_win(store.as_ref()).await;
    grants(store.as_ref()).await;
    consents_and_users(store.as_ref()).await;
    keys(store.as_ref()).await;
    concurrent_keys_and_secrets(store.clone()).await;
    rate_limits(store.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_honours_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("contract.db"))
        .await
        .unwrap();
    contract(Arc::new(store)).await;
    let empty = SqliteStore::open(&dir.path().join("empty.db"))
        .await
        .unwrap();
    first_key(Arc::new(empty)).await;
}

/// Migrations are recorded and re-running them on an existing file is a no-op.
#[tokio::test]
async fn reopening_an_existing_database_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reopen.db");
    let store = SqliteStore::open(&path).await.unwrap();
    use auth_server::store::{ClientRegistry as _, Lifecycle as _};
    store
        .insert_client(&client("kept", ClientSource::Dynamic, 1))
        .await
        .unwrap();
    store.close().await;
    let store = SqliteStore::open(&path).await.unwrap();
    assert!(store.get_client("kept").await.unwrap().is_some());
}

/// The URL scheme picks the backend, and the pool is sized by `database.max_connections`.
#[tokio::test]
async fn the_database_url_scheme_picks_the_backend_and_the_pool_size_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::test_settings(dir.path());
    settings.database.max_connections = 3;
    let store = auth_server::state::open_store(&settings).await.unwrap();
    assert_eq!((store.backend(), store.max_connections()), ("sqlite", 3));
    store.close().await;
    assert!(
        dir.path().join("auth-server.db").exists(),
        "empty url: data_dir"
    );
    let file = dir.path().join("explicit.db");
    settings.database.url = format!("sqlite:{}", file.display());
    settings.database.max_connections = 5;
    let store = auth_server::state::open_store(&settings).await.unwrap();
    assert_eq!((store.backend(), store.max_connections()), ("sqlite", 5));
    store.close().await;
    assert!(file.exists(), "sqlite: URL");
    // In memory, every connection would see its own database, and all of it is lost at exit.
    for url in ["sqlite::memory:", "sqlite:file:x?mode=memory"] {
        settings.database.url = url.to_owned();
        let err = auth_server::state::open_store(&settings).await.err();
        assert!(
            err.is_some_and(|e| e.to_string().contains("in-memory")),
            "{url} is refused"
        );
    }
    let Some(url) = postgres_url() else { return };
    let schema = fresh_schema();
    auth_server::store::Lifecycle::close(&PgStore::open_in_schema(&url, &schema).await.unwrap())
        .await;
    let separator = if url.contains('?') { '&' } else { '?' };
    for (scheme_url, size) in [
        (
            format!("{url}{separator}options=-c%20search_path%3D{schema}"),
            2,
        ),
        (
            format!("{url}{separator}options=-c%20search_path%3D{schema}").replacen(
                "postgres://",
                "postgresql://",
                1,
            ),
            4,
        ),
    ] {
        settings.database.url = scheme_url;
        settings.database.max_connections = size;
        let store = auth_server::state::open_store(&settings).await.unwrap();
        assert_eq!(
            (store.backend(), store.max_connections()),
            ("postgres", size)
        );
        store.close().await;
    }
    PgStore::drop_schema(&url, &schema).await.unwrap();
}

/// Refresh-token families as a version-4 database holds them at `now` (no
/// `successor_digest`), for the migration-5 tests. Family a: a1 rotated into a2 just now.
/// Family b: b1 rotated into b2, then replayed (b2 revoked, b3 issued): the version-4 way of
/// spending the replay. Family o: o1 rotated into o2 two hours ago.
pub(crate) fn version_4_families(now: i64) -> String {
    format!(
        "INSERT INTO grants (grant_id, client_id, user_id, resource, scope, auth_time, created_at)
         VALUES ('g', 'c1', 'u1', 'http://localhost:8001/mcp', 'mcp:tools', 1, 1);
         INSERT INTO refresh_tokens
           (token_digest, grant_id, predecessor_digest, issued_at, expires_at, rotated_at, revoked_at)
         VALUES ('a1', 'g', NULL, 1, {exp}, {now}, NULL), ('a2', 'g', 'a1', {now}, {exp}, NULL, NULL),
                ('b1', 'g', NULL, 1, {exp}, {now}, NULL), ('b2', 'g', 'b1', {now}, {exp}, NULL, {now}),
                ('b3', 'g', 'b1', {now}, {exp}, NULL, NULL),
                ('o1', 'g', NULL, 1, {exp}, {old}, NULL), ('o2', 'g', 'o1', {old}, {exp}, NULL, NULL);",
        exp = now + 86_400,
        old = now - 7_200,
    )
}

/// After migrating [`version_4_families`] (written at `now`): a1 gets its one grace replay
/// and no second, b1's spent replay is not renewed, o1 is long past any grace period.
pub(crate) async fn version_4_families_keep_one_grace_replay(store: &dyn Store, now: i64) {
    let later = now + 6;
    assert!(matches!(
        rotate(store, "a1", "a3", "g", later, 10).await,
        Rotation::GraceReplay
    ));
    let lost = refresh_token(store, "a2").await.unwrap();
    assert_eq!(
        lost.rotated_at,
        Some(later),
        "the lost successor is revoked"
    );
    assert!(matches!(
        rotate(store, "a1", "a4", "g", later, 10).await,
        Rotation::Reused
    ));
    assert!(matches!(
        rotate(store, "b1", "b4", "g", later, 10).await,
        Rotation::Reused
    ));
    let b3 = refresh_token(store, "b3").await.unwrap();
    assert_eq!(b3.rotated_at, None, "b1's spent replay left b3 alone");
    assert!(matches!(
        rotate(store, "o1", "o3", "g", later, 10).await,
        Rotation::Reused
    ));
}

/// PostgreSQL: a schema at version 4 with live refresh-token families migrates to version 5
/// and keeps each family's one grace replay (the SQLite twin also checks which rows the
/// migration filled in).
#[tokio::test]
async fn postgres_migration_5_keeps_the_grace_replay_of_version_4_families() {
    const VERSION_4: [&str; 4] = [
        include_str!("../../migrations/postgres/0001_initial.sql"),
        include_str!("../../migrations/postgres/0002_server_secrets.sql"),
        include_str!("../../migrations/postgres/0003_one_active_key.sql"),
        include_str!("../../migrations/postgres/0004_rate_limits.sql"),
    ];
    let Some(url) = postgres_url() else { return };
    let schema = fresh_schema();
    let now = mcp_auth_core::clock::Clock::now(&mcp_auth_core::clock::SystemClock);
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let mut setup = format!(
        "CREATE SCHEMA {schema}; SET search_path TO {schema};
         CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL);"
    );
    for (version, sql) in (1..).zip(VERSION_4) {
        setup += &format!("{sql};\nINSERT INTO schema_migrations VALUES ({version}, 0);\n");
    }
    setup += &version_4_families(now);
    sqlx::raw_sql(sqlx::AssertSqlSafe(setup))
        .execute(&mut conn)
        .await
        .unwrap();
    let store = PgStore::open_in_schema(&url, &schema).await.unwrap();
    version_4_families_keep_one_grace_replay(&store, now).await;
    auth_server::store::Lifecycle::close(&store).await;
    PgStore::drop_schema(&url, &schema).await.unwrap();
}

/// A refresh token `legacy-1` rotated into `legacy-2` at 100 by a version before migration 5
/// (no `successor_digest`): what a PostgreSQL instance of the previous version writes during a
/// roll-out. Written with the backend's own driver; then [`replays_a_legacy_rotation`].
pub(crate) const LEGACY_ROTATION: &str = "
    INSERT INTO grants (grant_id, client_id, user_id, resource, scope, auth_time, created_at)
    VALUES ('g-legacy', 'c1', 'u1', 'http://localhost:8001/mcp', 'mcp:tools', 1, 1);
    INSERT INTO refresh_tokens (token_digest, grant_id, predecessor_digest, issued_at, expires_at, rotated_at)
    VALUES ('legacy-1', 'g-legacy', NULL, 1, 10000, 100),
           ('legacy-2', 'g-legacy', 'legacy-1', 100, 10000, NULL);";

/// After [`LEGACY_ROTATION`]: `legacy-1` presented again within the grace period gets its one
/// replay (its successor found through `predecessor_digest`), and no second one.
pub(crate) async fn replays_a_legacy_rotation(store: &dyn Store) {
    let rotate = |new: &str| {
        let next = refresh(new, "g-legacy");
        async move {
            store
                .rotate_refresh_token("legacy-1", &next, &access_of(&next), 106, 10)
                .await
                .unwrap()
        }
    };
    assert!(matches!(rotate("legacy-3").await, Rotation::GraceReplay));
    let (lost, _) = store.get_refresh_token("legacy-2").await.unwrap().unwrap();
    assert_eq!(lost.rotated_at, Some(106), "the lost successor is revoked");
    assert!(matches!(rotate("legacy-4").await, Rotation::Reused));
}

/// PostgreSQL: a token rotated by an instance of the previous version (migration 4) is still
/// replayed within its grace period by this version.
#[tokio::test]
async fn postgres_replays_a_rotation_of_the_previous_version() {
    let Some(url) = postgres_url() else { return };
    let schema = fresh_schema();
    let store = PgStore::open_in_schema(&url, &schema).await.unwrap();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let sql = format!("SET search_path TO {schema}; {LEGACY_ROTATION}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .unwrap();
    replays_a_legacy_rotation(&store).await;
    auth_server::store::Lifecycle::close(&store).await;
    PgStore::drop_schema(&url, &schema).await.unwrap();
}

/// `TEST_DATABASE_URL` (set by `.ci/run` when PostgreSQL answers), or `None` with a note.
pub(crate) fn postgres_url() -> Option<String> {
    let url = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("skipped: no TEST_DATABASE_URL");
    }
    url
}

/// A fresh schema name for one test.
pub(crate) fn fresh_schema() -> String {
    format!("t_{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_honours_the_contract() {
    let Some(url) = postgres_url() else { return };
    let schema = fresh_schema();
    // Instances starting together on a fresh database: migrations run once, in turn.
    let opened = tokio::join!(
        PgStore::open_in_schema(&url, &schema),
        PgStore::open_in_schema(&url, &schema),
    );
    let (store, other) = (opened.0.unwrap(), opened.1.unwrap());
    auth_server::store::Lifecycle::close(&other).await;
    assert_eq!(auth_server::store::Lifecycle::backend(&store), "postgres");
    contract(Arc::new(store.clone())).await;
    auth_server::store::Lifecycle::close(&store).await;
    PgStore::drop_schema(&url, &schema).await.unwrap();
    let schema = fresh_schema();
    let empty = PgStore::open_in_schema(&url, &schema).await.unwrap();
    first_key(Arc::new(empty.clone())).await;
    auth_server::store::Lifecycle::close(&empty).await;
    PgStore::drop_schema(&url, &schema).await.unwrap();
}
