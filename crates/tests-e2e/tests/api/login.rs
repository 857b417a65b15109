//! The login-and-consent path with a real user: the client runs headless with `--json` and
//! announces the authorization URL; the test plays the browser over HTTP (login form as
//! demo/demo, consent page, approve) and the final redirect lands on the client's loopback
//! listener, which completes the flow.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::helpers::{Options, World};

/// A tiny cookie jar (reqwest's `cookies` feature is not enabled in the workspace).
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn absorb(&mut self, headers: &HeaderMap) {
        for v in headers.get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            self.0.insert(k.to_owned(), val.to_owned());
        }
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The value of the hidden input `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end]
        .replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
}

fn absolute(base: &str, location: &str) -> String {
    url::Url::parse(base)
        .unwrap()
        .join(location)
        .unwrap()
        .to_string()
}

/// demo/demo signs in, sees the consent page for the client, approves; the client gets
/// its tokens and calls whoami as that user.
#[tokio::test]
async fn login_and_consent_over_http_with_a_real_user() {
    let world = World::start(Options {
        auto_approve: false,
    });
    let client = world.client("login");
    let mut child = Command::new(&client.bin)
        .args(["--json", "--store"])
        .arg(&client.store)
        .args(["login", &world.resource, "--headless", "--timeout", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && let Some(url) = v["authorization_url"].as_str()
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    let authorization_url = tokio::time::timeout(std::time::Duration::from_secs(30), rx)
        .await
        .expect("the client announced no authorization URL")
        .unwrap();
    assert!(authorization_url.starts_with(&format!("{}/authorize?", world.issuer)));

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut jar = Jar::default();
    let r = http.get(&authorization_url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the login page");
    jar.absorb(r.headers());
    let login = r.text().await.unwrap();
    let r = http
        .post(format!("{}/authorize/login", world.issuer))
        .header("cookie", jar.header())
        .form(&[
            ("csrf", hidden(&login, "csrf").as_str()),
            ("request", hidden(&login, "request").as_str()),
            ("username", "demo"),
            ("password", "demo"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "signed in");
    jar.absorb(r.headers());
    let consent_url = absolute(&world.issuer, r.headers()["location"].to_str().unwrap());
    let r = http
        .get(&consent_url)
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the consent page");
    let consent = r.text().await.unwrap();
    assert!(consent.contains("mcp:tools"), "{consent}");
    assert!(consent.contains("127.0.0.1"), "the redirect host is shown");
    let r = http
        .post(format!("{}/authorize/consent", world.issuer))
        .header("cookie", jar.header())
        .form(&[
            ("csrf", hidden(&consent, "csrf").as_str()),
            ("request", hidden(&consent, "request").as_str()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "approved");
    let callback = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(callback.starts_with("http://127.0.0.1:"), "{callback}");
    // The browser follows the redirect to the client's loopback listener.
    let r = http.get(&callback).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());

    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success());
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["ok"], true, "{doc}");
    assert_eq!(doc["result"]["scope"], "mcp:tools offline_access");
    // The sign-in's argon2 check (after the start-up ones) left no 19 MiB behind.
    crate::memory::assert_password_hashing_memory_given_back(&world);

    let whoami = tokio::task::spawn_blocking(move || {
        client.run(&crate::helpers::call(&world.resource, "whoami", &[]))
    })
    .await
    .unwrap()
    .unwrap();
    let text = whoami["result"]["content"][0]["text"].as_str().unwrap();
    let who: Value = serde_json::from_str(text).unwrap();
    assert!(
        who["subject"].as_str().unwrap().starts_with("user-"),
        "{who}"
    );
    assert_eq!(who["scopes"], serde_json::json!(["mcp:tools"]));
}
