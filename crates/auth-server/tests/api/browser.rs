//! The login and consent pages driven in headless Chromium (Debian `chromium` and
//! `chromium-driver`, through chromedriver and fantoccini). Each test saves screenshots
//! under `target/screenshots/` for review.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::extract::RawQuery;
use axum::response::Html;
use axum::routing::get;
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::helpers::{RESOURCE, TestApp, pkce, query_of, spawn_app_with};

struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_binary(candidates: &[&str]) -> String {
    for c in candidates {
        if std::path::Path::new(c).exists() {
            return (*c).to_owned();
        }
    }
    panic!(
        "{candidates:?} not found: install Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver); .ci/run does this"
    );
}

async fn start_driver() -> Driver {
    let driver = find_binary(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]);
    // chromedriver needs a concrete port: take a free one from the OS.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver {
        child,
        port,
        _profile: profile,
    };
    let status = format!("http://127.0.0.1:{port}/status");
    let http = reqwest::Client::new();
    // Readiness: poll the status endpoint until chromedriver answers.
    for _ in 0..600 {
        if let Ok(r) = http.get(&status).send().await
            && r.status().is_success()
        {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("chromedriver did not start");
}

async fn browser(driver: &Driver) -> Client {
    let chromium = find_binary(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1100,900", "--hide-scrollbars",
                format!("--user-data-dir={}", driver._profile.path().display()),
            ],
        }),
    );
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .unwrap()
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn save_screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

/// A stand-in for the MCP client's loopback callback listener.
async fn callback_listener() -> (u16, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/callback",
        get(move |RawQuery(q): RawQuery| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(q.unwrap_or_default());
                Html("<!doctype html><title>Done</title><h1>Signed in. You can close this window.</h1>")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (port, rx)
}

/// Waits for the sign-in form, fills it in and submits it.
async fn sign_in(client: &Client, username: &str, password: &str) {
    client
        .wait()
        .for_element(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys(username)
        .await
        .unwrap();
    client
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    client
        .find(Locator::Id("sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

fn authorize_url(app: &TestApp, redirect_uri: &str, challenge: &str, scope: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", "public-client")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "browser-state")
        .append_pair("resource", RESOURCE)
        .append_pair("scope", scope)
        .finish();
    app.url(&format!("/authorize?{query}"))
}

/// Sign in, approve, land on the client's callback with a code that redeems.
#[tokio::test]
async fn browser_login_and_consent_complete_the_flow() {
    let app = spawn_app_with(|s| s.dev.auto_approve = false).await;
    let (port, mut callbacks) = callback_listener().await;
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let driver = start_driver().await;
    let client = browser(&driver).await;
    let p = pkce();
    client
        .goto(&authorize_url(
            &app,
            &redirect_uri,
            &p.challenge,
            "mcp:tools weather:read offline_access",
        ))
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Id("username"))
        .await
        .unwrap();
    save_screenshot(&client, "login").await;
    sign_in(&client, "demo", "demo").await;

    let approve = client
        .wait()
        .for_element(Locator::Id("approve"))
        .await
        .unwrap();
    let page = client.source().await.unwrap();
    assert!(page.contains("Public Test Client"));
    assert!(
        page.contains(&format!("127.0.0.1:{port}")),
        "redirect host shown"
    );
    assert!(page.contains(RESOURCE));
    assert!(page.contains("weather:read"));
    save_screenshot(&client, "consent").await;
    approve.click().await.unwrap();

    let query = tokio::time::timeout(Duration::from_secs(20), callbacks.recv())
        .await
        .expect("the browser reached the callback")
        .unwrap();
    let q = query_of(&format!("http://x/?{query}"));
    assert_eq!(q["state"], "browser-state");
    assert_eq!(q["iss"], app.base);
    let r = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", &p.verifier),
            ("client_id", "public-client"),
        ])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["scope"], "mcp:tools offline_access weather:read");
    client.close().await.unwrap();
}

/// A wrong password shows an error on the form; a redirect URI that is not registered
/// shows the error page and the browser stays on this server.
#[tokio::test]
async fn browser_shows_the_login_error_and_the_error_page() {
    let app = spawn_app_with(|s| s.dev.auto_approve = false).await;
    let driver = start_driver().await;
    let client = browser(&driver).await;
    let p = pkce();
    client
        .goto(&authorize_url(
            &app,
            "http://127.0.0.1:3000/callback",
            &p.challenge,
            "mcp:tools",
        ))
        .await
        .unwrap();
    sign_in(&client, "demo", "not-the-password").await;
    let error = client
        .wait()
        .for_element(Locator::Id("login-error"))
        .await
        .unwrap();
    assert_eq!(
        error.text().await.unwrap(),
        "Incorrect username or password."
    );
    save_screenshot(&client, "login-error").await;

    client
        .goto(&authorize_url(
            &app,
            "https://evil.example.com/callback",
            &p.challenge,
            "mcp:tools",
        ))
        .await
        .unwrap();
    let title = client
        .wait()
        .for_element(Locator::Id("error-title"))
        .await
        .unwrap();
    assert_eq!(title.text().await.unwrap(), "Invalid redirect URI");
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(&app.base)
    );
    save_screenshot(&client, "error-page").await;
    client.close().await.unwrap();
}

/// A guest sees which requested scopes their account cannot grant.
#[tokio::test]
async fn browser_consent_shows_withheld_scopes_for_a_guest() {
    let app = spawn_app_with(|s| s.dev.auto_approve = false).await;
    let driver = start_driver().await;
    let client = browser(&driver).await;
    let p = pkce();
    client
        .goto(&authorize_url(
            &app,
            "http://127.0.0.1:3000/callback",
            &p.challenge,
            "mcp:tools mcp:admin",
        ))
        .await
        .unwrap();
    sign_in(&client, "guest", "guest").await;
    let withheld = client
        .wait()
        .for_element(Locator::Id("withheld"))
        .await
        .unwrap();
    assert!(withheld.text().await.unwrap().contains("mcp:admin"));
    let scopes = client
        .find(Locator::Id("scopes"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(scopes.contains("mcp:tools") && !scopes.contains("mcp:admin"));
    save_screenshot(&client, "consent-guest").await;
    client.close().await.unwrap();
}
