//! Secret strings: access and refresh tokens, authorization codes, client secrets.
//!
//! OAuth 2.1 §7.1 and RFC 9700 §4.14 ask that these never leak into logs and are stored
//! hashed. The types here make the safe thing the easy thing:
//!
//! * `Debug` prints `Name([redacted])`; there is no `Display`;
//! * equality is constant-time ([`subtle`]), so comparing a presented secret with a stored
//!   one leaks nothing through timing;
//! * [`SecretString::digest`] gives the SHA-256 digest (base64url) to store at rest and to
//!   key caches by, and [`SecretString::generate`] makes a fresh 256-bit random value.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

/// Fills `buf` from the operating system's CSPRNG.
///
/// # Panics
/// Only if the operating system cannot supply randomness, in which case no secret can be
/// made safely and stopping is the right outcome.
pub fn fill_random(buf: &mut [u8]) {
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(buf).expect("the operating system's random number generator failed");
}

/// `bytes` random bytes, base64url without padding.
pub fn random_urlsafe(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    fill_random(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// SHA-256 of `input`, base64url without padding: the at-rest form of a secret.
pub fn sha256_urlsafe(input: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, input))
}

/// SHA-256 of `input`, the raw 32 bytes (a cache key that needs no encoding).
pub fn sha256(input: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, input).as_ref());
    out
}

/// Constant-time equality of two byte strings (the length is not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

macro_rules! secret_string {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// A fresh random value: 32 bytes from the OS CSPRNG, base64url (43 chars).
            pub fn generate() -> Self {
                Self(random_urlsafe(32))
            }

            /// The secret itself. Call this only where the value must leave the process.
            pub fn secret(&self) -> &str {
                &self.0
            }

            /// SHA-256 digest (base64url): what is stored at rest, and a safe cache key.
            pub fn digest(&self) -> String {
                sha256_urlsafe(self.0.as_bytes())
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
            }
        }

        impl Eq for $name {}
    };
}

secret_string!(
    /// An OAuth access token (RFC 6749 §1.4), opaque or JWT.
    AccessToken
);
secret_string!(
    /// An OAuth refresh token (RFC 6749 §1.5).
    RefreshToken
);
secret_string!(
    /// An authorization code (RFC 6749 §4.1.2).
    AuthorizationCode
);
secret_string!(
    /// A client secret (RFC 6749 §2.3.1).
    ClientSecret
);
secret_string!(
    /// Any other secret string: session keys, initial access tokens, passwords in transit.
    SecretString
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let token = AccessToken::new("eyJhbGciOi.secret.value");
        let shown = format!("{token:?} {:?}", RefreshToken::new("rt-123"));
        assert_eq!(shown, "AccessToken([redacted]) RefreshToken([redacted])");
        assert!(!shown.contains("secret"));
    }

    #[test]
    fn equality_compares_values() {
        assert_eq!(ClientSecret::new("abc"), ClientSecret::new("abc"));
        assert_ne!(ClientSecret::new("abc"), ClientSecret::new("abd"));
        assert_ne!(ClientSecret::new("abc"), ClientSecret::new("abcd"));
    }

    #[test]
    fn generated_secrets_are_43_urlsafe_chars_and_distinct() {
        let a = RefreshToken::generate();
        let b = RefreshToken::generate();
        assert_eq!(a.secret().len(), 43);
        assert!(
            a.secret()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
    }

    #[test]
    fn digest_is_sha256_base64url() {
        // SHA-256("abc") = ba7816bf...; base64url of it:
        assert_eq!(
            SecretString::new("abc").digest(),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
        // The raw form is the same digest, unencoded.
        assert_eq!(
            URL_SAFE_NO_PAD.encode(sha256(b"abc")),
            sha256_urlsafe(b"abc")
        );
        assert_eq!(sha256(b"abc")[..4], [0xba, 0x78, 0x16, 0xbf]);
    }

    #[test]
    fn serde_is_transparent() {
        let json = serde_json::to_string(&AccessToken::new("t")).unwrap();
        assert_eq!(json, "\"t\"");
        let back: AccessToken = serde_json::from_str(&json).unwrap();
        assert_eq!(back.secret(), "t");
    }
}
