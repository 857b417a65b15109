//! Login and consent over plain HTTP: CSRF, cookies, remembered consent, denial, headers.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::helpers::{CALLBACK, RESOURCE, TestApp, pkce, query_of, spawn_app_with};

/// A tiny cookie jar (reqwest's is not enabled in this workspace).
#[derive(Default)]
pub(crate) struct Jar(BTreeMap<String, String>);

impl Jar {
    pub(crate) fn absorb(&mut self, headers: &HeaderMap) {
        for v in headers.get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            self.0.insert(k.to_owned(), val.to_owned());
        }
    }

    pub(crate) fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn unescape(s: &str) -> String {
    s.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
}

/// The value of the hidden input `name` in `html`.
pub(crate) fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    let end = start + html[start..].find('"').unwrap();
    unescape(&html[start..end])
}

async fn interactive_app() -> TestApp {
    spawn_app_with(|s| s.dev.auto_approve = false).await
}

pub(crate) fn authorize_query(challenge: &str, scope: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", "public-client")
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "st&ate")
        .append_pair("resource", RESOURCE)
        .append_pair("scope", scope)
        .finish()
}

pub(crate) async fn get_with(app: &TestApp, jar: &Jar, path_and_query: &str) -> reqwest::Response {
    app.http
        .get(app.url(path_and_query))
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap()
}

pub(crate) async fn post_with(
    app: &TestApp,
    jar: &Jar,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .header("cookie", jar.header())
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Answers the consent page `consent` with `decision` (`approve` or `deny`), posting its
/// CSRF token and request back to `app`.
pub(crate) async fn decide(
    app: &TestApp,
    jar: &Jar,
    consent: &str,
    decision: &str,
) -> reqwest::Response {
    let form = [
        ("csrf", hidden(consent, "csrf")),
        ("request", hidden(consent, "request")),
        ("decision", decision.to_owned()),
    ];
    app.http
        .post(app.url("/authorize/consent"))
        .header("cookie", jar.header())
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Signs in as demo/demo through the login form; returns the consent page HTML.
pub(crate) async fn sign_in(app: &TestApp, jar: &mut Jar, query: &str) -> String {
    let r = get_with(app, jar, &format!("/authorize?{query}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    jar.absorb(r.headers());
    let html = r.text().await.unwrap();
    let csrf = hidden(&html, "csrf");
    let request = hidden(&html, "request");
    assert_eq!(request, query);
    let r = post_with(
        app,
        jar,
        "/authorize/login",
        &[
            ("csrf", &csrf),
            ("request", &request),
            ("username", "demo"),
            ("password", "demo"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    jar.absorb(r.headers());
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let path = location.strip_prefix(&app.base).unwrap();
    let r = get_with(app, jar, path).await;
    assert_eq!(r.status(), StatusCode::OK);
    // The consent page is not frameable either.
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    r.text().await.unwrap()
}

/// The pages are not frameable, have a strict CSP, no CORS; cookies are HttpOnly and
/// SameSite=Lax (and not Secure on an http issuer).
#[tokio::test]
async fn login_page_headers_and_cookies() {
    let app = interactive_app().await;
    let p = pkce();
    let r = app
        .http
        .get(app.url(&format!(
            "/authorize?{}",
            authorize_query(&p.challenge, "mcp:tools")
        )))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("as_csrf="));
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"));
    let html = r.text().await.unwrap();
    assert!(html.contains("Public Test Client"));
    assert!(html.contains("127.0.0.1:3000"));
}

/// The whole interactive flow: login, consent (showing client, redirect host, resource and
/// scopes), code, token; then the consent is remembered.
#[tokio::test]
async fn login_and_consent_issue_a_code_and_consent_is_remembered() {
    let app = interactive_app().await;
    let mut jar = Jar::default();
    let p = pkce();
    let query = authorize_query(&p.challenge, "mcp:tools");
    let consent = sign_in(&app, &mut jar, &query).await;
    assert!(consent.contains("Public Test Client"));
    assert!(consent.contains("127.0.0.1:3000"));
    assert!(consent.contains(RESOURCE));
    assert!(consent.contains("mcp:tools"));
    assert!(consent.contains("Demo User"));
    let r = decide(&app, &jar, &consent, "approve").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let q = query_of(r.headers()["location"].to_str().unwrap());
    assert_eq!(q["state"], "st&ate");
    assert_eq!(q["iss"], app.base);
    let t = app.redeem("public-client", &q["code"], &p.verifier).await;
    assert_eq!(t.status(), StatusCode::OK);

    // Same scopes again: no page, straight back with a code.
    let p2 = pkce();
    let r = get_with(
        &app,
        &jar,
        &format!("/authorize?{}", authorize_query(&p2.challenge, "mcp:tools")),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert!(query_of(r.headers()["location"].to_str().unwrap()).contains_key("code"));

    // A new scope: asked again, the new scope marked.
    let r = get_with(
        &app,
        &jar,
        &format!(
            "/authorize?{}",
            authorize_query(&p2.challenge, "mcp:tools weather:read")
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("weather:read"));
    assert!(html.contains("badge-new"));
}

/// Denying sends access_denied with state and iss.
#[tokio::test]
async fn denying_consent_returns_access_denied() {
    let app = interactive_app().await;
    let mut jar = Jar::default();
    let p = pkce();
    let consent = sign_in(&app, &mut jar, &authorize_query(&p.challenge, "mcp:tools")).await;
    let r = decide(&app, &jar, &consent, "deny").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let q = query_of(r.headers()["location"].to_str().unwrap());
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st&ate");
    assert_eq!(q["iss"], app.base);
}

/// Forms without the CSRF token bound to the browser's cookie are refused with 403 and no
/// redirect: login and consent alike.
#[tokio::test]
async fn csrf_is_refused() {
    let app = interactive_app().await;
    let mut jar = Jar::default();
    let p = pkce();
    let query = authorize_query(&p.challenge, "mcp:tools");
    let consent = sign_in(&app, &mut jar, &query).await;
    let request = hidden(&consent, "request");
    let csrf = hidden(&consent, "csrf");

    // Consent: missing token, wrong token, token without its cookie.
    for form in [
        vec![("request", request.as_str()), ("decision", "approve")],
        vec![
            ("csrf", "forged"),
            ("request", request.as_str()),
            ("decision", "approve"),
        ],
    ] {
        let r = post_with(&app, &jar, "/authorize/consent", &form).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(r.headers().get("location").is_none());
    }
    let session_only = Jar(jar
        .0
        .iter()
        .filter(|(k, _)| *k != "as_csrf")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect());
    let r = post_with(
        &app,
        &session_only,
        "/authorize/consent",
        &[
            ("csrf", &csrf),
            ("request", &request),
            ("decision", "approve"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Login: a cross-site POST carries no CSRF cookie.
    let r = app
        .http
        .post(app.url("/authorize/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("request", query.as_str()),
            ("username", "demo"),
            ("password", "demo"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get("set-cookie").is_none());
}

/// A wrong password re-renders the form with an error and sets no session.
#[tokio::test]
async fn wrong_password_is_refused() {
    let app = interactive_app().await;
    let mut jar = Jar::default();
    let p = pkce();
    let query = authorize_query(&p.challenge, "mcp:tools");
    let r = get_with(&app, &jar, &format!("/authorize?{query}")).await;
    jar.absorb(r.headers());
    let html = r.text().await.unwrap();
    for (user, password) in [("demo", "wrong"), ("nobody", "demo")] {
        let r = post_with(
            &app,
            &jar,
            "/authorize/login",
            &[
                ("csrf", &hidden(&html, "csrf")),
                ("request", &query),
                ("username", user),
                ("password", password),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(
            r.headers()
                .get("set-cookie")
                .is_none_or(|c| !c.to_str().unwrap().contains("as_session"))
        );
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Incorrect username or password")
        );
    }
}

/// A tampered session cookie is not a session.
#[tokio::test]
async fn a_tampered_session_cookie_is_ignored() {
    let app = interactive_app().await;
    let mut jar = Jar::default();
    let p = pkce();
    let query = authorize_query(&p.challenge, "mcp:tools");
    sign_in(&app, &mut jar, &query).await;
    let session = jar.0["as_session"].clone();
    let (value, tag) = session.rsplit_once('.').unwrap();
    // Swap in another real user's id, keeping demo's tag.
    let guest = app
        .state
        .store
        .get_user_by_name("guest")
        .await
        .unwrap()
        .unwrap();
    let (_, rest) = value.split_once('|').unwrap();
    let forged = format!("{}|{rest}.{tag}", guest.user_id);
    jar.0.insert("as_session".into(), forged);
    let r = get_with(&app, &jar, &format!("/authorize?{query}")).await;
    let html = r.text().await.unwrap();
    assert!(html.contains("Sign in"), "back to the login page");
}

/// prompt=none without a session answers login_required instead of a page.
#[tokio::test]
async fn prompt_none_without_a_session_is_login_required() {
    let app = interactive_app().await;
    let p = pkce();
    let query = format!("{}&prompt=none", authorize_query(&p.challenge, "mcp:tools"));
    let r = app
        .http
        .get(app.url(&format!("/authorize?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let q = query_of(r.headers()["location"].to_str().unwrap());
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["iss"], app.base);
}

/// On an https issuer the cookies are Secure and both the session and the CSRF cookie use the
/// __Host- prefix.
#[tokio::test]
async fn cookies_are_secure_on_an_https_issuer() {
    let app = spawn_app_with(|s| {
        s.dev.auto_approve = false;
        s.set_issuer("https://auth.example.com").unwrap();
    })
    .await;
    let mut jar = Jar::default();
    let p = pkce();
    let query = authorize_query(&p.challenge, "mcp:tools");
    let r = get_with(&app, &jar, &format!("/authorize?{query}")).await;
    let csrf_cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(csrf_cookie.contains("; Secure"), "{csrf_cookie}");
    // The CSRF cookie, too, has the __Host- prefix (Secure, Path=/, no Domain).
    assert!(csrf_cookie.starts_with("__Host-as_csrf="), "{csrf_cookie}");
    assert!(
        csrf_cookie.contains("Path=/;") && !csrf_cookie.contains("Domain"),
        "{csrf_cookie}"
    );
    jar.absorb(r.headers());
    let html = r.text().await.unwrap();
    let r = post_with(
        &app,
        &jar,
        "/authorize/login",
        &[
            ("csrf", &hidden(&html, "csrf")),
            ("request", &query),
            ("username", "demo"),
            ("password", "demo"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("__Host-as_session="), "{cookie}");
    assert!(
        cookie.contains("; Secure")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
    );
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("https://auth.example.com/authorize?")
    );
}

/// The CSRF token is bound to the session: a cookie pair planted from elsewhere (the attacker's
/// CSRF cookie and its token) is refused with the victim's session, and so is the token of the
/// login page once the browser has signed in.
#[tokio::test]
async fn csrf_tokens_are_bound_to_the_session() {
    let app = interactive_app().await;
    let p = pkce();
    let query = authorize_query(&p.challenge, "mcp:tools");
    // The attacker's own pair, obtained without a session.
    let r = get_with(&app, &Jar::default(), &format!("/authorize?{query}")).await;
    let mut attacker = Jar::default();
    attacker.absorb(r.headers());
    let attacker_token = hidden(&r.text().await.unwrap(), "csrf");

    let mut victim = Jar::default();
    let r = get_with(&app, &victim, &format!("/authorize?{query}")).await;
    victim.absorb(r.headers());
    let login_token = hidden(&r.text().await.unwrap(), "csrf");
    let consent = sign_in(&app, &mut victim, &query).await;
    let request = hidden(&consent, "request");
    let own_token = hidden(&consent, "csrf");
    assert_ne!(own_token, login_token, "signing in changes the token");

    let mut planted = Jar(victim.0.clone());
    planted
        .0
        .insert("as_csrf".into(), attacker.0["as_csrf"].clone());
    for (jar, token) in [(&planted, &attacker_token), (&victim, &login_token)] {
        let r = post_with(
            &app,
            jar,
            "/authorize/consent",
            &[
                ("csrf", token.as_str()),
                ("request", request.as_str()),
                ("decision", "approve"),
            ],
        )
        .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    let r = post_with(
        &app,
        &victim,
        "/authorize/consent",
        &[
            ("csrf", own_token.as_str()),
            ("request", request.as_str()),
            ("decision", "approve"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

/// Sign-in attempts are rate limited per IP.
#[tokio::test]
async fn sign_in_attempts_are_rate_limited() {
    let app = spawn_app_with(|s| {
        s.dev.auto_approve = false;
        s.session.login_attempts_per_minute = 2;
    })
    .await;
    let mut jar = Jar::default();
    let p = pkce();
    let query = authorize_query(&p.challenge, "mcp:tools");
    let r = get_with(&app, &jar, &format!("/authorize?{query}")).await;
    jar.absorb(r.headers());
    let csrf = hidden(&r.text().await.unwrap(), "csrf");
    let attempt = |password: &'static str| {
        let form = [
            ("csrf", csrf.clone()),
            ("request", query.clone()),
            ("username", "demo".to_owned()),
            ("password", password.to_owned()),
        ];
        let (app, jar) = (&app, &jar);
        async move {
            app.http
                .post(app.url("/authorize/login"))
                .header("cookie", jar.header())
                .form(&form)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(attempt("wrong").await, StatusCode::UNAUTHORIZED);
    assert_eq!(attempt("wrong").await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        attempt("demo").await,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    app.clock.advance(61);
    assert_eq!(attempt("demo").await, StatusCode::SEE_OTHER);
}

/// prompt=login shows the login page despite a session, and a fresh sign-in satisfies it
/// (no loop).
#[tokio::test]
async fn prompt_login_forces_a_fresh_sign_in_without_looping() {
    let app = interactive_app().await;
    let mut jar = Jar::default();
    let p = pkce();
    sign_in(&app, &mut jar, &authorize_query(&p.challenge, "mcp:tools")).await;
    app.clock.advance(120);
    let query = format!(
        "{}&prompt=login",
        authorize_query(&p.challenge, "mcp:tools")
    );
    let html = get_with(&app, &jar, &format!("/authorize?{query}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("id=\"sign-in\""),
        "login page despite the session"
    );
    let consent = sign_in(&app, &mut jar, &query).await;
    assert!(
        consent.contains("id=\"approve\""),
        "fresh sign-in leads on to consent"
    );
}
