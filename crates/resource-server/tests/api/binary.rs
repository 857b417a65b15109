//! The `resource-server` binary: configuration layering (file, then environment), the one
//! `listening on` line on stdout, SIGTERM shutdown, and logs that never contain a token.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

/// Starts the binary with a config file setting the issuer and a port that the environment
/// overrides with 0; drives it with good and bad tokens at debug log level; stops it with
/// SIGTERM; then checks stdout and stderr.
#[tokio::test]
async fn the_binary_serves_stops_on_sigterm_and_never_logs_a_token() {
    let key = es256("k1");
    let test_as = TestAs::start(&[&key]).await;
    let config = std::env::temp_dir().join(format!(
        "resource-server-test-{}.toml",
        mcp_auth_core::secret::random_urlsafe(8)
    ));
    std::fs::write(
        &config,
        format!(
            "[http]\nport = 1\n\n[authorization_server]\nissuer = \"{}\"\n",
            test_as.issuer()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_resource-server"))
        .arg("--config")
        .arg(&config)
        .env("RESOURCE_SERVER_HTTP__PORT", "0")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let guard = KillOnDrop(child.id());
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let (line, reader) = tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        (line, reader)
    })
    .await
    .unwrap();
    // The rest of stdout, read until the process exits.
    let stdout_reader = std::thread::spawn(move || {
        let mut reader = reader;
        let mut rest = String::new();
        let _ = reader.read_to_string(&mut rest);
        rest
    });
    let base = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(!base.ends_with(":1"), "the environment overrides the file");

    let http = reqwest::Client::new();
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    // The resource is the default `http://localhost:8001/mcp`, whatever port is bound.
    let mut claims = mcp_auth_core::jwt::AccessTokenClaims {
        iss: test_as.issuer().to_owned(),
        ..placeholder_claims()
    };
    claims.aud = mcp_auth_core::token::Audience::single("http://localhost:8001/mcp");
    let good = key.sign_access_token(&claims).unwrap();
    claims.aud = mcp_auth_core::token::Audience::single("http://elsewhere/mcp");
    let foreign = key.sign_access_token(&claims).unwrap();
    let mcp_url = format!("{base}/mcp");
    let post = |token: &str| post_json_rpc(&http, &mcp_url, &initialize()).bearer_auth(token);
    assert_eq!(post(&good).send().await.unwrap().status(), 200);
    assert_eq!(post(&foreign).send().await.unwrap().status(), 401);
    let in_query = post_json_rpc(&http, &format!("{mcp_url}?access_token={good}"), &json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(in_query.status(), 400);

    let pid = child.id().to_string();
    // `kill` as a shell builtin: no dependency on a procps binary.
    let killed = Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::task::spawn_blocking(move || child.wait().unwrap()),
    )
    .await
    .expect("the server exits after SIGTERM")
    .unwrap();
    assert!(status.success(), "{status}");
    std::mem::forget(guard);
    let _ = std::fs::remove_file(&config);

    assert_eq!(stdout_reader.join().unwrap(), "", "one line on stdout");
    let logs = stderr_reader.join().unwrap();
    assert!(logs.contains("rejected an access token"), "{logs}");
    for secret in [&good, &foreign] {
        assert!(
            !logs.contains(secret.as_str()),
            "a token leaked into the logs"
        );
        let signature = secret.rsplit('.').next().unwrap();
        assert!(
            !logs.contains(signature),
            "a token signature leaked into the logs"
        );
    }
}

/// The binary allocates with mimalloc (ADR 0002: glibc's arena locks cost a futex call per
/// request), built not to ask for transparent huge pages (`no_thp`): with them, mimalloc's
/// first allocations make whole 2 MiB pages resident and the idle server holds about 11 MiB
/// of anonymous memory instead of 2–3. Where the kernel gives huge pages unasked (THP
/// `always`), the memory bound is not checked.
#[tokio::test]
async fn the_binary_allocates_with_mimalloc_in_small_pages() {
    let log = std::env::temp_dir().join(format!(
        "resource-server-alloc-{}.log",
        mcp_auth_core::secret::random_urlsafe(8)
    ));
    let mut command = Command::new(env!("CARGO_BIN_EXE_resource-server"));
    command
        .env("RESOURCE_SERVER_HTTP__PORT", "0")
        .env("RUST_LOG", "warn")
        .env("MIMALLOC_VERBOSE", "1");
    let mut server = demo::process::Server::start("resource-server", command, &log).unwrap();
    let http = reqwest::Client::new();
    let metadata = format!(
        "{}/.well-known/oauth-protected-resource/mcp",
        server.listening
    );
    for _ in 0..20 {
        assert_eq!(http.get(&metadata).send().await.unwrap().status(), 200);
    }
    let anon = demo::process::rss_anon_kib(server.pid().unwrap()).unwrap();
    server.stop();
    let stderr = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert!(stderr.contains("mimalloc: process init"), "{stderr}");
    let thp =
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    if !thp.contains("[always]") {
        assert!(
            anon < 6 * 1024,
            "the idle resource server holds {anon} KiB of anonymous memory"
        );
    }
}

/// Kills the child if the test fails before it has been stopped.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .status();
    }
}

fn placeholder_claims() -> mcp_auth_core::jwt::AccessTokenClaims {
    let now = now();
    mcp_auth_core::jwt::AccessTokenClaims {
        iss: String::new(),
        sub: "alice".into(),
        aud: mcp_auth_core::token::Audience::single(""),
        client_id: "test-client".into(),
        scope: mcp_auth_core::ScopeSet::parse("mcp:tools").unwrap(),
        iat: now,
        exp: now + 300,
        nbf: None,
        jti: mcp_auth_core::secret::random_urlsafe(12),
        auth_time: None,
        extra: mcp_auth_core::metadata::Extra::new(),
    }
}
