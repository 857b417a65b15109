//! Proof Key for Code Exchange (RFC 7636), S256 only.
//!
//! OAuth 2.1 §4.1.1 and MCP 2025-11-25 require S256; `plain` is not representable here:
//! [`CodeChallengeMethod`] has one variant and parsing `"plain"` fails.
//!
//! * verifier: 43–128 characters of `[A-Za-z0-9-._~]` (RFC 7636 §4.1);
//! * challenge: `BASE64URL(SHA256(ASCII(verifier)))`, no padding (RFC 7636 §4.2);
//! * verification compares in constant time (RFC 7636 §4.6).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::secret::{constant_time_eq, random_urlsafe, sha256_urlsafe};

/// Why a PKCE value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    /// The verifier is shorter than 43 or longer than 128 characters.
    #[error("code_verifier must be 43 to 128 characters long, got {0}")]
    VerifierLength(usize),
    /// The verifier has a character outside the unreserved set.
    #[error("code_verifier may only use A-Z a-z 0-9 - . _ ~")]
    VerifierCharset,
    /// The challenge is not 43 base64url characters (the length of a SHA-256 digest).
    #[error("code_challenge must be 43 base64url characters (an S256 challenge)")]
    MalformedChallenge,
    /// A method other than `S256`.
    #[error("code_challenge_method {0:?} is not supported: only S256 is")]
    UnsupportedMethod(String),
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// A PKCE code verifier: secret, single-use, neither `Clone` nor printable.
pub struct CodeVerifier(String);

impl CodeVerifier {
    /// A fresh verifier: 32 random bytes, base64url (43 characters, RFC 7636 §4.1).
    pub fn generate() -> Self {
        Self(random_urlsafe(32))
    }

    /// Validates a verifier received from a client.
    pub fn parse(s: &str) -> Result<Self, PkceError> {
        if !(43..=128).contains(&s.len()) {
            return Err(PkceError::VerifierLength(s.len()));
        }
        if !s.bytes().all(is_unreserved) {
            return Err(PkceError::VerifierCharset);
        }
        Ok(Self(s.to_owned()))
    }

    /// The verifier, to send in the token request.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// The S256 challenge of this verifier.
    pub fn challenge(&self) -> CodeChallenge {
        CodeChallenge(sha256_urlsafe(self.0.as_bytes()))
    }
}

impl fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeVerifier([redacted])")
    }
}

/// An S256 code challenge (public: it travels in the authorization URL).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Validates a challenge received with `code_challenge_method=S256`.
    pub fn parse(s: &str) -> Result<Self, PkceError> {
        if s.len() != 43
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(PkceError::MalformedChallenge);
        }
        Ok(Self(s.to_owned()))
    }

    /// The challenge string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `verifier` is the one this challenge was made from (constant time).
    pub fn verify(&self, verifier: &CodeVerifier) -> bool {
        constant_time_eq(verifier.challenge().0.as_bytes(), self.0.as_bytes())
    }
}

impl<'de> Deserialize<'de> for CodeChallenge {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// The PKCE method. Only `S256` exists (OAuth 2.1 removed `plain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CodeChallengeMethod {
    /// `BASE64URL(SHA256(verifier))`.
    S256,
}

impl CodeChallengeMethod {
    /// `"S256"`.
    pub fn as_str(self) -> &'static str {
        "S256"
    }
}

impl FromStr for CodeChallengeMethod {
    type Err = PkceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "S256" => Ok(Self::S256),
            other => Err(PkceError::UnsupportedMethod(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        let verifier = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert_eq!(
            verifier.challenge().as_str(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let challenge =
            CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").unwrap();
        assert!(challenge.verify(&verifier));
    }

    #[test]
    fn wrong_verifier_fails() {
        let challenge = CodeVerifier::generate().challenge();
        assert!(!challenge.verify(&CodeVerifier::generate()));
    }

    #[test]
    fn plain_and_unknown_methods_do_not_exist() {
        assert_eq!(
            "S256".parse::<CodeChallengeMethod>(),
            Ok(CodeChallengeMethod::S256)
        );
        assert_eq!(
            "plain".parse::<CodeChallengeMethod>(),
            Err(PkceError::UnsupportedMethod("plain".into()))
        );
        assert!("s256".parse::<CodeChallengeMethod>().is_err());
        assert!(serde_json::from_str::<CodeChallengeMethod>("\"plain\"").is_err());
    }

    #[test]
    fn verifier_bounds() {
        assert_eq!(
            CodeVerifier::parse(&"a".repeat(42)).unwrap_err(),
            PkceError::VerifierLength(42)
        );
        assert!(CodeVerifier::parse(&"a".repeat(43)).is_ok());
        assert!(CodeVerifier::parse(&"a".repeat(128)).is_ok());
        assert_eq!(
            CodeVerifier::parse(&"a".repeat(129)).unwrap_err(),
            PkceError::VerifierLength(129)
        );
        let bad = format!("{}+", "a".repeat(43));
        assert_eq!(
            CodeVerifier::parse(&bad).unwrap_err(),
            PkceError::VerifierCharset
        );
    }

    #[test]
    fn challenge_shape_is_checked() {
        assert!(CodeChallenge::parse("short").is_err());
        assert!(CodeChallenge::parse(&"a".repeat(44)).is_err());
        assert!(CodeChallenge::parse(&format!("{}=", "a".repeat(42))).is_err());
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(
            format!("{:?}", CodeVerifier::generate()),
            "CodeVerifier([redacted])"
        );
    }

    proptest! {
        #[test]
        fn generated_verifiers_are_valid_and_verify(_seed in 0u8..) {
            let verifier = CodeVerifier::generate();
            prop_assert!(CodeVerifier::parse(verifier.secret()).is_ok());
            let challenge = CodeChallenge::parse(verifier.challenge().as_str()).unwrap();
            prop_assert!(challenge.verify(&verifier));
        }

        #[test]
        fn any_unreserved_string_of_valid_length_is_a_verifier(s in "[A-Za-z0-9._~-]{43,128}") {
            let verifier = CodeVerifier::parse(&s).unwrap();
            prop_assert!(verifier.challenge().verify(&verifier));
        }

        #[test]
        fn anything_else_is_refused(s in "[A-Za-z0-9._~-]{0,42}|[A-Za-z0-9._~-]{129,200}|[A-Za-z0-9]{20}[+/= ][A-Za-z0-9]{30}") {
            prop_assert!(CodeVerifier::parse(&s).is_err());
        }
    }
}
