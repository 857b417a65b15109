//! Small security primitives: argon2 password and client-secret hashes, SHA-256 hashes of the
//! secrets this server generates, HMAC-signed cookie values, CSRF tokens and a per-IP
//! fixed-window rate limiter (counted in the database).

use std::net::IpAddr;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, phc::PasswordHash};
use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_auth_core::secret::{ClientSecret, constant_time_eq, fill_random, sha256_urlsafe};

/// Argon2id PHC hash of a password or client secret.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
}

/// Checks a password against a PHC hash (constant-time inside argon2).
pub fn verify_password(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Runs argon2 off the async threads.
pub async fn verify_password_blocking(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

/// The prefix of a stored generated-secret hash (never a valid PHC string).
const GENERATED_SECRET_PREFIX: &str = "$sha256$";

/// The stored form of a client secret this server generated (DCR): `$sha256$` + the
/// base64url SHA-256 of the secret. Such a secret is 256 random bits, so guessing it from its
/// hash is as hopeless as with argon2, while checking it costs a microsecond instead of
/// argon2's tens of milliseconds of CPU (which requests carrying wrong secrets could turn into
/// a denial of service). Secrets an operator chose (`[[clients]]` in the configuration) may be
/// weak: those keep argon2.
pub fn hash_generated_secret(secret: &ClientSecret) -> String {
    format!("{GENERATED_SECRET_PREFIX}{}", secret.digest())
}

/// Checks a presented client secret against its stored hash (either form), in constant time.
pub async fn verify_client_secret(presented: String, stored: String) -> bool {
    match stored.strip_prefix(GENERATED_SECRET_PREFIX) {
        Some(digest) => constant_time_eq(
            sha256_urlsafe(presented.as_bytes()).as_bytes(),
            digest.as_bytes(),
        ),
        None => verify_password_blocking(presented, stored).await,
    }
}

/// A hash that never matches, to spend the same time on unknown users.
pub fn dummy_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0XkIuAqfj6fa8gMkjHIRZKqzQvyUh0fSl/IYCJ5yTWQ"
}

/// HMAC-SHA256 key for cookies and CSRF tokens.
#[derive(Debug)]
pub struct CookieKey(hmac::Key);

impl CookieKey {
    /// From configured material, or random when empty.
    pub fn new(secret: &str) -> Self {
        if secret.is_empty() {
            let mut buf = [0u8; 32];
            fill_random(&mut buf);
            Self(hmac::Key::new(hmac::HMAC_SHA256, &buf))
        } else {
            Self(hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()))
        }
    }

    fn tag(&self, purpose: &str, value: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(purpose.as_bytes());
        ctx.update(b"\x00");
        ctx.update(value.as_bytes());
        URL_SAFE_NO_PAD.encode(ctx.sign().as_ref())
    }

    /// `value.tag`.
    pub fn sign(&self, purpose: &str, value: &str) -> String {
        format!("{value}.{}", self.tag(purpose, value))
    }

    /// The value, if the tag is right.
    pub fn verify<'a>(&self, purpose: &str, signed: &'a str) -> Option<&'a str> {
        let (value, tag) = signed.rsplit_once('.')?;
        let expected = self.tag(purpose, value);
        constant_time_eq(expected.as_bytes(), tag.as_bytes()).then_some(value)
    }

    /// The CSRF token for a CSRF cookie value, bound to the browser's session (the raw
    /// session cookie value, empty before sign-in): a planted cookie pair is useless against
    /// another session.
    pub fn csrf_token(&self, cookie: &str, session: &str) -> String {
        self.tag("csrf", &format!("{cookie}\x00{session}"))
    }

    /// Whether `token` is the CSRF token for `cookie` in `session`.
    pub fn check_csrf(&self, cookie: &str, session: &str, token: &str) -> bool {
        !cookie.is_empty()
            && constant_time_eq(
                self.csrf_token(cookie, session).as_bytes(),
                token.as_bytes(),
            )
    }
}

/// The client's address: the TCP peer, or, when the peer is a trusted proxy, the nearest
/// `X-Forwarded-For` entry that is not itself a trusted proxy (RFC 9700 §4.13).
pub fn client_ip(peer: IpAddr, headers: &axum::http::HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .copied()
        .unwrap_or(peer)
}

/// A fixed-window counter per client IP, kept in the database so that every instance
/// behind one name counts against the same limit.
#[derive(Debug)]
pub struct RateLimiter {
    name: &'static str,
    per_window: u32,
    window_seconds: i64,
}

impl RateLimiter {
    /// `per_window` requests per `window_seconds` per IP, counted under `name`.
    pub fn new(name: &'static str, per_window: u32, window_seconds: i64) -> Self {
        Self {
            name,
            per_window,
            window_seconds,
        }
    }

    /// Counts a request; `Ok(Err(retry_after))` when over the limit.
    pub async fn check(
        &self,
        store: &dyn crate::store::Store,
        ip: IpAddr,
        now: i64,
    ) -> Result<Result<(), u64>, crate::store::StoreError> {
        let bucket = format!("{}:{ip}", self.name);
        let (hits, start) = store
            .rate_limit_hit(&bucket, now, self.window_seconds)
            .await?;
        if hits > i64::from(self.per_window) {
            let retry = (start + self.window_seconds - now).max(1);
            return Ok(Err(u64::try_from(retry).unwrap_or(1)));
        }
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_round_trip() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password("x", dummy_hash()));
    }

    #[test]
    fn signed_values_detect_tampering() {
        let key = CookieKey::new("");
        let signed = key.sign("session", "alice|123");
        assert_eq!(key.verify("session", &signed), Some("alice|123"));
        assert_eq!(key.verify("other", &signed), None);
        let tampered = signed.replace("alice", "mallory");
        assert_eq!(key.verify("session", &tampered), None);
        assert!(key.check_csrf("c", "s", &key.csrf_token("c", "s")));
        assert!(!key.check_csrf("c", "s", &key.csrf_token("d", "s")));
        assert!(!key.check_csrf("c", "s", &key.csrf_token("c", "t")));
        assert!(!key.check_csrf("c", "", &key.csrf_token("c", "s")));
        assert!(!key.check_csrf("", "", &key.csrf_token("", "")));
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.9".parse().unwrap();
        let peer: IpAddr = "203.0.113.5".parse().unwrap();
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "198.51.100.1, 192.0.2.7, 10.0.0.9".parse().unwrap(),
        );
        assert_eq!(
            client_ip(peer, &h, &[proxy]),
            peer,
            "untrusted peer: header ignored"
        );
        assert_eq!(
            client_ip(proxy, &h, &[proxy]),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_ip(proxy, &axum::http::HeaderMap::new(), &[proxy]),
            proxy
        );
    }
}
