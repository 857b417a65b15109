//! The binary: `--help` everywhere, `--json` output, `status`/`logout`, `call --args`, the
//! conformance mode's contract, and the CIMD document server.

use std::process::Output;

use serde_json::Value;

use crate::helpers::{AsConfig, RsConfig, World};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-client");

/// Runs the binary off the runtime thread, so the mock servers keep answering.
async fn run(args: Vec<String>, env: Vec<(&'static str, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(BIN)
            .args(&args)
            .envs(env)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn s(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Every command answers `--help`.
#[tokio::test]
async fn every_command_has_help() {
    for command in [
        "login",
        "tools",
        "call",
        "refresh",
        "revoke",
        "status",
        "logout",
        "serve-metadata",
        "conformance",
    ] {
        let output = run(s(&[command, "--help"]), vec![]).await;
        assert!(output.status.success(), "{command}");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("Usage: mcp-client"), "{command}: {text}");
    }
}

/// `tools --json` prints one JSON document with the steps and the tools, and no token;
/// `status` shows the stored tokens without their values; `logout` forgets them.
#[tokio::test]
async fn json_output_status_and_logout() {
    let world = World::default().await;
    let store = world.store_path().display().to_string();
    let url = world.resource_server.url.clone();

    let output = run(
        s(&["--json", "--store", &store, "tools", &url, "--headless"]),
        vec![],
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let doc = json_of(&output);
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["result"]["tools"].as_array().unwrap().len(), 3);
    let kinds: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"token.obtained"), "{kinds:?}");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    for token in world
        .authorization_server
        .state
        .tokens
        .lock()
        .unwrap()
        .keys()
    {
        assert!(!stdout.contains(&format!("\"{token}\"")), "token printed");
    }

    let status = run(s(&["--json", "--store", &store, "status"]), vec![]).await;
    let doc = json_of(&status);
    let tokens = doc["result"]["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["server"], url);
    assert_eq!(tokens[0]["refresh_token"], true);
    assert!(tokens[0].get("access_token").is_none());

    let logout = run(s(&["--json", "--store", &store, "logout", &url]), vec![]).await;
    assert_eq!(json_of(&logout)["result"]["removed"], 1);
    let status = run(s(&["--json", "--store", &store, "status"]), vec![]).await;
    assert!(
        json_of(&status)["result"]["tokens"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// `refresh` refreshes (rotating) at once; `revoke` revokes the refresh token at the
/// revocation endpoint, forgets the tokens and checks that the token no longer refreshes;
/// both refuse clearly when nothing is stored.
#[tokio::test]
async fn refresh_and_revoke_on_request() {
    let world = World::default().await;
    let store = world.store_path().display().to_string();
    let url = world.resource_server.url.clone();
    let refused = run(s(&["--store", &store, "refresh", &url]), vec![]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("no stored tokens"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let login = run(s(&["--store", &store, "login", &url, "--headless"]), vec![]).await;
    assert!(login.status.success());

    let refresh = run(s(&["--json", "--store", &store, "refresh", &url]), vec![]).await;
    let doc = json_of(&refresh);
    assert_eq!(doc["ok"], true, "{doc}");
    assert_eq!(doc["result"]["refresh_token_rotated"], true);
    assert_eq!(world.authorization_server.refreshes(), 1);

    let revoke = run(s(&["--json", "--store", &store, "revoke", &url]), vec![]).await;
    let doc = json_of(&revoke);
    assert_eq!(doc["ok"], true, "{doc}");
    assert_eq!(doc["result"]["revoked"], "refresh_token");
    assert_eq!(doc["result"]["refresh_refused_after_revocation"], true);
    let revocations = world.authorization_server.requests_to("/revoke");
    assert_eq!(revocations.len(), 1);
    assert_eq!(
        revocations[0]
            .params
            .get("token_type_hint")
            .map(String::as_str),
        Some("refresh_token")
    );
    assert!(revocations[0].params.contains_key("client_id"));
    let status = run(s(&["--json", "--store", &store, "status"]), vec![]).await;
    assert!(
        json_of(&status)["result"]["tokens"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let again = run(s(&["--store", &store, "revoke", &url]), vec![]).await;
    assert_eq!(again.status.code(), Some(1));
}

/// `login --show-token` is the one way to see the token.
#[tokio::test]
async fn login_shows_the_token_only_when_asked() {
    let world = World::default().await;
    let store = world.store_path().display().to_string();
    let url = world.resource_server.url.clone();
    let output = run(s(&["--store", &store, "login", &url, "--headless"]), vec![]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(all.contains("Logged in"), "{all}");
    assert!(!all.contains("at-"), "{all}");
    let output = run(
        s(&[
            "--store",
            &store,
            "login",
            &url,
            "--headless",
            "--show-token",
        ]),
        vec![],
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.trim().starts_with("at-"), "{stdout}");
}

/// `call --args` passes a JSON object; a step-up happens on the way; bad JSON is refused.
#[tokio::test]
async fn call_with_arguments_steps_up_and_prints_the_result() {
    let world = World::default().await;
    let store = world.store_path().display().to_string();
    let url = world.resource_server.url.clone();
    let output = run(
        s(&[
            "--store",
            &store,
            "call",
            &url,
            "get_weather",
            "--args",
            r#"{"city":"Paris"}"#,
            "--headless",
        ]),
        vec![],
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("get_weather ok"));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Step-up"));
    let call = world
        .resource_server
        .log()
        .into_iter()
        .rfind(|s| s.body["method"] == "tools/call")
        .unwrap();
    assert_eq!(call.body["params"]["arguments"]["city"], "Paris");

    let bad = run(
        s(&["--store", &store, "call", &url, "whoami", "--args", "[1]"]),
        vec![],
    )
    .await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--args must be a JSON object"));
}

/// The conformance mode: server URL last, pre-registered credentials from
/// `MCP_CONFORMANCE_CONTEXT` (used with HTTP Basic), headless, then tools/list and a call.
#[tokio::test]
async fn conformance_mode_uses_the_context_credentials() {
    let world = World::start(
        AsConfig {
            registration: false,
            token_auth_methods: Some(vec!["client_secret_basic".into()]),
            confidential: Some((
                "pre-registered-client".into(),
                "pre-registered-secret".into(),
            )),
            ..AsConfig::default()
        },
        RsConfig::default(),
    )
    .await;
    let context = serde_json::json!({
        "name": "auth/pre-registration",
        "client_id": "pre-registered-client",
        "client_secret": "pre-registered-secret"
    });
    let output = run(
        s(&["conformance", &world.resource_server.url]),
        vec![
            (
                "MCP_CONFORMANCE_SCENARIO",
                "auth/pre-registration".to_owned(),
            ),
            ("MCP_CONFORMANCE_CONTEXT", context.to_string()),
        ],
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = &world.authorization_server.requests_to("/token")[0];
    assert!(
        token
            .authorization
            .as_deref()
            .unwrap()
            .starts_with("Basic ")
    );
    assert!(
        world
            .authorization_server
            .requests_to("/register")
            .is_empty()
    );
    let methods = world.resource_server.mcp_methods();
    assert!(
        methods.contains(&"tools/list".to_owned()) && methods.contains(&"tools/call".to_owned()),
        "{methods:?}"
    );
}

/// `serve-metadata` serves a document whose `client_id` is its own URL.
#[tokio::test]
async fn metadata_server_serves_the_client_id_metadata_document() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://127.0.0.1:{}/clients/mcp-client.json", addr.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = url.clone();
    let server = tokio::spawn(async move {
        mcp_client::metadata_server::run(listener, &served, "mcp-client", async {
            let _ = stopped.await;
        })
        .await
    });
    let doc: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(doc["client_id"], url);
    assert_eq!(doc["token_endpoint_auth_method"], "none");
    assert_eq!(doc["redirect_uris"][0], "http://127.0.0.1/callback");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// Configuration from the environment (`MCP_CLIENT_SECTION__KEY`) is honoured, and a bad
/// value names its variable.
#[tokio::test]
async fn environment_configuration_is_honoured_and_validated() {
    let world = World::default().await;
    let store = world.store_path();
    let output = run(
        s(&["tools", &world.resource_server.url]),
        vec![
            ("MCP_CLIENT_STORE__PATH", store.display().to_string()),
            ("MCP_CLIENT_AUTHORIZE__MODE", "headless".to_owned()),
        ],
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(store.exists());

    let output = run(
        s(&["status"]),
        vec![("MCP_CLIENT_AUTHORIZE__MAX_AUTHORIZATIONS", "0".to_owned())],
    )
    .await;
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("MCP_CLIENT_AUTHORIZE__MAX_AUTHORIZATIONS"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The `serve-metadata` binary prints `listening on …`, serves the document, and stops
/// cleanly on SIGTERM.
#[cfg(unix)]
#[tokio::test]
async fn serve_metadata_binary_announces_serves_and_stops_on_sigterm() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(BIN)
        .args([
            "serve-metadata",
            "--url",
            "http://127.0.0.1/clients/c.json",
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        line
    })
    .await
    .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let doc: Value = reqwest::get(format!("{base}/clients/c.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["client_id"], "http://127.0.0.1/clients/c.json");
    let pid = child.id().to_string();
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        child.wait().unwrap()
    })
    .await
    .unwrap();
    assert!(status.success(), "{status:?}");
}

/// Headless with `--json` against a server that shows a page: the authorization URL
/// comes as a JSON line on stderr while the client waits; a script that follows it (the
/// "browser") completes the login.
#[tokio::test]
async fn json_headless_announces_the_authorization_url_on_stderr() {
    use std::io::BufRead;
    let world = World::start(
        AsConfig {
            interactive: true,
            ..AsConfig::default()
        },
        RsConfig::default(),
    )
    .await;
    let mut child = std::process::Command::new(BIN)
        .args([
            "--json",
            "--store",
            &world.store_path().display().to_string(),
            "login",
            &world.resource_server.url,
            "--no-browser",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let announced = tokio::task::spawn_blocking(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && let Some(url) = v["authorization_url"].as_str()
            {
                return url.to_owned();
            }
        }
        panic!("no authorization_url line on stderr");
    })
    .await
    .unwrap();
    assert!(announced.contains("/authorize?"), "{announced}");
    // The user approves: the server sends the browser to the client's listener.
    let location = world.authorization_server.next_approval().await;
    reqwest::get(&location).await.unwrap();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(output.status.success());
    assert_eq!(json_of(&output)["ok"], true);
}
