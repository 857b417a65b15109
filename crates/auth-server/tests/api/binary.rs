//! The `auth-server` binary: the `listening on` line, layered configuration from the
//! environment, validation errors, graceful SIGTERM, and the admin subcommands.

use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::helpers::{spawn_in, spawn_listening};

const BIN: &str = env!("CARGO_BIN_EXE_auth-server");

fn command(data_dir: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.env("AUTH_SERVER_HTTP__PORT", "0")
        .env("AUTH_SERVER_DATABASE__DATA_DIR", data_dir)
        .env("RUST_LOG", "warn");
    c
}

/// The binary is built without aws-lc's CPU-jitter entropy source (`.cargo/config.toml`,
/// ADR 0001): with it, the first random number of every process costs ~50 ms of CPU.
/// The source's code is linked in exactly when it is enabled, so its symbols tell.
#[test]
fn the_binary_leaves_out_aws_lc_jitter_entropy() {
    let binary = std::fs::read(BIN).unwrap();
    let needle = b"jent_entropy_collector_alloc";
    assert!(
        !binary.windows(needle.len()).any(|w| w == needle),
        "{BIN} links aws-lc's jitter entropy: build with AWS_LC_SYS_NO_JITTER_ENTROPY=1"
    );
}

/// Defaults, then a file, then the environment: prints exactly `listening on http://<addr>` on
/// stdout, serves the configured issuer, and exits cleanly on SIGTERM, with the SQLite WAL
/// checkpointed into the database file.
#[tokio::test]
async fn the_binary_serves_with_env_overrides_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    // Layers: the file turns DCR off and sets an issuer; the environment wins on the issuer.
    let file = dir.path().join("auth-server.toml");
    std::fs::write(
        &file,
        "issuer = \"http://from-file.example\"\n[dcr]\nenabled = false\n",
    )
    .unwrap();
    let (mut child, base) = spawn_listening(
        command(dir.path())
            .env("AUTH_SERVER_CONFIG", &file)
            .env("AUTH_SERVER_ISSUER", "http://auth.test.example:9000")
            .env("AUTH_SERVER_TOKENS__ACCESS_TOKEN_TTL_SECONDS", "120")
            .stderr(Stdio::null()),
    );
    let metadata: Value = reqwest::get(format!("{base}/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], "http://auth.test.example:9000");
    assert_eq!(
        metadata["token_endpoint"],
        "http://auth.test.example:9000/token"
    );
    assert!(
        dir.path().join("auth-server.db").exists(),
        "SQLite file in the data directory"
    );
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(dir.path()), 0o700, "data directory is private");
        for file in ["auth-server.db", "auth-server.db-wal", "auth-server.db-shm"] {
            assert_eq!(
                mode(&dir.path().join(file)),
                0o600,
                "{file}: the database and its WAL (with the signing key) are private"
            );
        }
    }
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    let wal = std::fs::metadata(dir.path().join("auth-server.db-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "the store was closed: nothing left in the WAL");
}

/// A bad value stops the start with the key and its environment variable named.
#[test]
fn invalid_settings_name_the_key_and_env_var() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path())
        .env("AUTH_SERVER_TOKENS__AUTHORIZATION_CODE_TTL_SECONDS", "3600")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tokens.authorization_code_ttl_seconds"),
        "{stderr}"
    );
    assert!(
        stderr.contains("AUTH_SERVER_TOKENS__AUTHORIZATION_CODE_TTL_SECONDS"),
        "{stderr}"
    );
}

/// `key rotate` publishes a key that signs only after two reload periods (other instances
/// must publish it first); `key rotate --now`, for a lone or stopped server, signs at once.
#[tokio::test]
async fn key_rotate_now_signs_with_the_new_key_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = command(dir.path()).args(args).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&["key", "rotate"]);
    run(&["key", "rotate"]);
    assert!(
        run(&["key", "list"]).contains("not signing yet"),
        "a plain rotation waits before signing"
    );
    let announced = run(&["key", "rotate", "--now"]);
    let listing = run(&["key", "list"]);
    assert!(!listing.contains("not signing yet"), "{listing}");
    let active: Vec<&str> = listing
        .lines()
        .filter(|l| l.ends_with("\tactive"))
        .collect();
    assert_eq!(active.len(), 1, "{listing}");
    let kid = active[0].split('\t').next().unwrap();
    assert!(announced.contains(kid), "{announced} names {kid}");
}

/// `user add` stores an argon2 hash (password from stdin); `key rotate` adds an active key
/// and keeps the old one published; a server on the same data directory sees both.
#[tokio::test]
async fn admin_commands_add_users_and_rotate_keys() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut child = command(dir.path())
        .args([
            "user",
            "add",
            "alice",
            "--role",
            "user",
            "--display-name",
            "Alice",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"alice-password-1\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    for _ in 0..2 {
        let out = command(dir.path())
            .args(["key", "rotate"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let out = command(dir.path()).args(["key", "list"]).output().unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listing.lines().count(), 2, "{listing}");
    assert_eq!(listing.matches("active").count(), 1, "{listing}");

    let clock =
        mcp_auth_core::FixedClock::new(mcp_auth_core::Clock::now(&mcp_auth_core::SystemClock));
    let app = spawn_in(dir.clone(), clock, |_| {}).await;
    let alice = app
        .state
        .store
        .get_user_by_name("alice")
        .await
        .unwrap()
        .unwrap();
    assert!(alice.password_hash.starts_with("$argon2"));
    assert!(auth_server::security::verify_password(
        "alice-password-1",
        &alice.password_hash
    ));
    assert_eq!(alice.display_name.as_deref(), Some("Alice"));
    let jwks: Value = app.get("/jwks").await.json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let dir = app.stop().await;
    let out = command(dir.path())
        .args(["user", "remove", "alice"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = command(dir.path()).args(["user", "list"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("alice"));
}

/// A whole session at debug level — sign-in, code, token, refresh, a confidential client's
/// secret — leaves no password, code, verifier, token or secret in the logs.
#[tokio::test]
async fn logs_never_contain_secrets() {
    use crate::login::{Jar, hidden};

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("auth-server.toml");
    std::fs::write(
        &file,
        "[[users]]\nusername = \"carol\"\npassword = \"Pa55-carol-unique\"\nrole = \"admin\"\n",
    )
    .unwrap();
    let log_path = dir.path().join("server.log");
    let (mut child, base) = spawn_listening(
        command(dir.path())
            .env("AUTH_SERVER_CONFIG", &file)
            .env("RUST_LOG", "debug")
            .stderr(Stdio::from(std::fs::File::create(&log_path).unwrap())),
    );
    let http = crate::helpers::http_client();
    let p = crate::helpers::pkce();
    let redirect = "http://127.0.0.1:4444/callback";
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", "demo-client")
        .append_pair("redirect_uri", redirect)
        .append_pair("code_challenge", &p.challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "log-state")
        .finish();
    let mut jar = Jar::default();
    let r = http
        .get(format!("{base}/authorize?{query}"))
        .send()
        .await
        .unwrap();
    jar.absorb(r.headers());
    let html = r.text().await.unwrap();
    let form = [
        ("csrf", hidden(&html, "csrf")),
        ("request", query.clone()),
        ("username", "carol".to_owned()),
        ("password", "Pa55-carol-unique".to_owned()),
    ];
    let r = http
        .post(format!("{base}/authorize/login"))
        .header("cookie", jar.header())
        .form(&form)
        .send()
        .await
        .unwrap();
    jar.absorb(r.headers());
    let r = http
        .get(format!("{base}/authorize?{query}"))
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap();
    let consent = r.text().await.unwrap();
    let form = [
        ("csrf", hidden(&consent, "csrf")),
        ("request", query.clone()),
        ("decision", "approve".to_owned()),
    ];
    let r = http
        .post(format!("{base}/authorize/consent"))
        .header("cookie", jar.header())
        .form(&form)
        .send()
        .await
        .unwrap();
    let q = crate::helpers::query_of(r.headers()["location"].to_str().unwrap());
    let code = q["code"].clone();
    let tokens: Value = http
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("code_verifier", p.verifier.as_str()),
            ("client_id", "demo-client"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refreshed: Value = http
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", "demo-client"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let registered: Value = http
        .post(format!("{base}/register"))
        .json(&serde_json::json!({"redirect_uris": [redirect]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = registered["client_secret"].as_str().unwrap().to_owned();
    let _ = http
        .post(format!("{base}/token"))
        .basic_auth(registered["client_id"].as_str().unwrap(), Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("code_verifier", "y"),
        ])
        .send()
        .await
        .unwrap();
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();

    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("authorization code issued"),
        "logging happened: {log}"
    );
    for (what, value) in [
        ("password", "Pa55-carol-unique".to_owned()),
        ("code", code),
        ("verifier", p.verifier.clone()),
        ("access token", access),
        ("refresh token", refresh),
        (
            "rotated refresh token",
            refreshed["refresh_token"].as_str().unwrap().to_owned(),
        ),
        ("client secret", secret),
        ("state", "log-state".to_owned()),
    ] {
        assert!(!log.contains(&value), "the log contains the {what}");
    }
}
