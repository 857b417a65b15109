//! Several instances behind one name: two real `auth-server` processes on one PostgreSQL
//! database (a fresh schema), driven over HTTP. Needs `TEST_DATABASE_URL`; without it the test
//! prints `skipped: no TEST_DATABASE_URL` and passes.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{CALLBACK, RESOURCE, http_client, pkce, query_of};

const BIN: &str = env!("CARGO_BIN_EXE_auth-server");
/// Both instances serve one issuer, as they would behind one load-balanced name.
const ISSUER: &str = "http://auth.scale.test";

/// Clients of the test: a public one and a confidential introspector.
const CONFIG: &str = r#"
[[clients]]
client_id = "scale-client"
client_name = "Scale Test Client"
redirect_uris = ["http://127.0.0.1:3000/callback"]

[[clients]]
client_id = "introspector"
client_secret = "introspector-secret"
client_name = "Resource Server"
introspection_resources = ["http://localhost:8001/mcp"]
"#;

struct Instance {
    base: String,
    child: Child,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Cluster {
    url: String,
    config: std::path::PathBuf,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Cluster {
    fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env("AUTH_SERVER_CONFIG", &self.config)
            .env("AUTH_SERVER_ISSUER", ISSUER)
            .env("AUTH_SERVER_HTTP__PORT", "0")
            .env("AUTH_SERVER_DATABASE__DATA_DIR", self.dir.path())
            .env("AUTH_SERVER_DATABASE__URL", &self.url)
            .env("AUTH_SERVER_DATABASE__MAX_CONNECTIONS", "4")
            .env("AUTH_SERVER_DEV__AUTO_APPROVE", "true")
            .env("AUTH_SERVER_TOKENS__KEY_RELOAD_SECONDS", "1")
            .env("AUTH_SERVER_TOKENS__REFRESH_REUSE_GRACE_SECONDS", "0")
            .env("AUTH_SERVER_DCR__RATE_LIMIT_PER_MINUTE", "3")
            .env("RUST_LOG", "warn");
        c
    }

    fn start(&self) -> Instance {
        let (child, base) =
            crate::helpers::spawn_listening(self.command().stderr(Stdio::inherit()));
        Instance { base, child }
    }

    async fn jwks(&self, at: &Instance) -> Value {
        self.http
            .get(format!("{}/jwks", at.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn code(&self, at: &Instance, client_id: &str, challenge: &str) -> String {
        let r = self
            .http
            .get(format!("{}/authorize", at.base))
            .query(&[
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", CALLBACK),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
                ("state", "s"),
                ("resource", RESOURCE),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FOUND, "{:?}", r.text().await);
        let q = query_of(r.headers()["location"].to_str().unwrap());
        assert_eq!(q["iss"], ISSUER);
        q["code"].clone()
    }

    async fn token(&self, at: &Instance, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}/token", at.base))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    async fn redeem(
        &self,
        at: &Instance,
        client_id: &str,
        code: &str,
        verifier: &str,
    ) -> reqwest::Response {
        self.token(
            at,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", verifier),
                ("client_id", client_id),
            ],
        )
        .await
    }

    async fn refresh(&self, at: &Instance, client_id: &str, rt: &str) -> reqwest::Response {
        self.token(
            at,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("client_id", client_id),
            ],
        )
        .await
    }

    /// A full flow: authorize at `authorize_at`, redeem at `redeem_at`.
    async fn tokens(
        &self,
        authorize_at: &Instance,
        redeem_at: &Instance,
        client_id: &str,
    ) -> Value {
        let p = pkce();
        let code = self.code(authorize_at, client_id, &p.challenge).await;
        let r = self.redeem(redeem_at, client_id, &code, &p.verifier).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    async fn active(&self, at: &Instance, token: &str) -> bool {
        let r: Value = self
            .http
            .post(format!("{}/introspect", at.base))
            .basic_auth("introspector", Some("introspector-secret"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["active"] == true
    }
}

fn kid_of(jwt: &str) -> String {
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            jwt.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_one_postgres_database() {
    let Some(url) = crate::store::postgres_url() else {
        return;
    };
    // A fresh, empty schema: both instances migrate it as they start together.
    let schema = crate::store::fresh_schema();
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("auth-server.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let cluster = Cluster {
        url: format!("{url}{separator}options=-c%20search_path%3D{schema}"),
        config,
        dir,
        http: http_client(),
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| cluster.start());
        let b = s.spawn(|| cluster.start());
        (a.join().unwrap(), b.join().unwrap())
    });

    // The deploy step finds nothing left to do.
    let out = cluster.command().arg("migrate").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "postgres database is up to date"
    );

    // Both publish the same key set.
    let jwks = cluster.jwks(&a).await;
    assert_eq!(kids(&jwks).len(), 1, "one key, created once: {jwks}");
    assert_eq!(jwks, cluster.jwks(&b).await, "identical JWKS");

    // Register at A, authorize at A, redeem at B.
    let registered: Value = cluster
        .http
        .post(format!("{}/register", a.base))
        .json(&json!({
            "redirect_uris": [CALLBACK],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "client_name": "Registered at A",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = registered["client_id"].as_str().unwrap().to_owned();

    // The registration rate limit (3 a minute here) is global: one at A, two at B, and the
    // fourth is refused whichever instance gets it.
    for (at, expected) in [
        (&b, StatusCode::CREATED),
        (&b, StatusCode::CREATED),
        (&a, StatusCode::TOO_MANY_REQUESTS),
        (&b, StatusCode::TOO_MANY_REQUESTS),
    ] {
        let r = cluster
            .http
            .post(format!("{}/register", at.base))
            .json(&json!({
                "redirect_uris": [CALLBACK],
                "token_endpoint_auth_method": "none",
                "client_name": "Rate limited",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected);
    }
    let t = cluster.tokens(&a, &b, &client_id).await;
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(kid_of(at), kids(&jwks)[0], "B signs with the shared key");
    assert!(cluster.active(&a, at).await, "A knows B's token");

    // Refresh at B, then at A.
    let r = cluster
        .refresh(&b, &client_id, t["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let t2: Value = r.json().await.unwrap();
    let r = cluster
        .refresh(&a, &client_id, t2["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let t3: Value = r.json().await.unwrap();

    // A rotated token reused at the other instance revokes the whole family.
    let r = cluster
        .refresh(&b, &client_id, t2["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(crate::helpers::error_of(r).await.1, "invalid_grant");
    let r = cluster
        .refresh(&a, &client_id, t3["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(
        crate::helpers::error_of(r).await.1,
        "invalid_grant",
        "the live successor died with the family"
    );
    assert!(
        !cluster
            .active(&b, t3["access_token"].as_str().unwrap())
            .await
    );

    // One code redeemed at A and B at the same moment: exactly one success, and the loser's
    // replay revokes what the winner got.
    for _ in 0..5 {
        let p = pkce();
        let code = cluster.code(&a, "scale-client", &p.challenge).await;
        let (ra, rb) = tokio::join!(
            cluster.redeem(&a, "scale-client", &code, &p.verifier),
            cluster.redeem(&b, "scale-client", &code, &p.verifier),
        );
        let statuses = [ra.status(), rb.status()];
        assert_eq!(
            statuses.iter().filter(|s| **s == StatusCode::OK).count(),
            1,
            "{statuses:?}"
        );
        assert!(statuses.contains(&StatusCode::BAD_REQUEST), "{statuses:?}");
        let winner: Value = if ra.status() == StatusCode::OK {
            ra.json().await.unwrap()
        } else {
            rb.json().await.unwrap()
        };
        let r = cluster
            .refresh(
                &a,
                "scale-client",
                winner["refresh_token"].as_str().unwrap(),
            )
            .await;
        assert_eq!(
            crate::helpers::error_of(r).await.1,
            "invalid_grant",
            "the replay revoked the grant"
        );
    }

    // Key rotation with the admin command against the shared database: both instances
    // publish the new key and sign with it (within tokens.key_reload_seconds = 1).
    let out = cluster.command().args(["key", "rotate"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let new_kid = stdout
        .strip_prefix("new active signing key ")
        .and_then(|s| s.split(';').next())
        .unwrap_or_else(|| panic!("{stdout}"))
        .to_owned();
    let listing = cluster.command().args(["key", "list"]).output().unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    // "active from <t> (published, not signing yet)", or "active" once that time has come.
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with(&format!("{new_kid}\tES256")) && l.contains("active")),
        "{listing}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (ja, jb) = (cluster.jwks(&a).await, cluster.jwks(&b).await);
        if kids(&ja).contains(&new_kid) && kids(&jb).contains(&new_kid) {
            assert_eq!(ja, jb, "identical JWKS after the rotation");
            assert_eq!(kids(&ja).len(), 2, "the old key stays published");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rotated key never reached both instances"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Published first, it signs from its activation time on (2 × key_reload_seconds after
    // the rotation), at both instances; until then tokens carry a published key.
    loop {
        let at_b = cluster.tokens(&a, &b, "scale-client").await;
        let at_a = cluster.tokens(&b, &a, "scale-client").await;
        let (kid_b, kid_a) = (
            kid_of(at_b["access_token"].as_str().unwrap()),
            kid_of(at_a["access_token"].as_str().unwrap()),
        );
        let published = kids(&cluster.jwks(&a).await);
        assert!(published.contains(&kid_a) && published.contains(&kid_b));
        if kid_a == new_kid && kid_b == new_kid {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rotated key never signed at both instances"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    drop((a, b));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
}

/// Browser state needs no stickiness: the login page from A, the sign-in at B, the consent
/// page from A, the approval at B, the code redeemed at A; then B knows the session and the
/// remembered consent. Two in-process servers on one schema, no configured session secret
/// (the generated one is shared through the database).
#[tokio::test]
async fn sessions_csrf_and_consent_work_across_instances() {
    use crate::login::{Jar, authorize_query, decide, get_with, hidden, post_with};
    let Some(url) = crate::store::postgres_url() else {
        return;
    };
    let schema = crate::store::fresh_schema();
    auth_server::store::Lifecycle::close(
        &auth_server::store::postgres::PgStore::open_in_schema(&url, &schema)
            .await
            .unwrap(),
    )
    .await;
    let separator = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    let configure = |s: &mut auth_server::Settings| {
        s.database.url = scoped.clone();
        s.dev.auto_approve = false;
        s.set_issuer(ISSUER).unwrap();
    };
    let a = crate::helpers::spawn_app_with(configure).await;
    let b = crate::helpers::spawn_app_with(configure).await;
    let path_of = |location: &str| location.strip_prefix(ISSUER).unwrap().to_owned();

    let mut jar = Jar::default();
    let p = pkce();
    let query = authorize_query(&p.challenge, "mcp:tools");
    let r = get_with(&a, &jar, &format!("/authorize?{query}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    jar.absorb(r.headers());
    let login = r.text().await.unwrap();
    let r = post_with(
        &b,
        &jar,
        "/authorize/login",
        &[
            ("csrf", &hidden(&login, "csrf")),
            ("request", &hidden(&login, "request")),
            ("username", "demo"),
            ("password", "demo"),
        ],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "A's CSRF token is good at B"
    );
    jar.absorb(r.headers());
    let next = path_of(r.headers()["location"].to_str().unwrap());
    let r = get_with(&a, &jar, &next).await;
    assert_eq!(r.status(), StatusCode::OK);
    let consent = r.text().await.unwrap();
    assert!(consent.contains("Demo User"), "B's session is good at A");
    let r = decide(&b, &jar, &consent, "approve").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let q = query_of(r.headers()["location"].to_str().unwrap());
    let t = a.redeem("public-client", &q["code"], &p.verifier).await;
    assert_eq!(t.status(), StatusCode::OK);

    // The consent given at B is remembered at both: straight back with a code.
    for app in [&a, &b] {
        let p = pkce();
        let r = get_with(
            app,
            &jar,
            &format!("/authorize?{}", authorize_query(&p.challenge, "mcp:tools")),
        )
        .await;
        assert_eq!(r.status(), StatusCode::FOUND);
        assert!(query_of(r.headers()["location"].to_str().unwrap()).contains_key("code"));
    }
    a.stop().await;
    b.stop().await;
    auth_server::store::postgres::PgStore::drop_schema(&url, &schema)
        .await
        .unwrap();
}
