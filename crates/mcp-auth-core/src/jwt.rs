//! JWT access tokens (RFC 9068): signing keys, JWKS and verification.
//!
//! * [`SigningKey`] holds a parsed private key (ES256, RS256 or EdDSA) and signs with it; the
//!   key is parsed once, when loaded, never per token. Signing is done here over the parsed
//!   `aws-lc-rs` key pair, because `jsonwebtoken` re-parses its `EncodingKey` on every call
//!   (docs/adr/0001-crypto-backend.md has the measurements).
//! * [`jwks`] publishes public keys as an RFC 7517 JWK Set, each with `kid`, `alg`, `use`.
//! * [`AccessTokenVerifier`] checks a token in the steps of RFC 9068 §4 with `jsonwebtoken`
//!   doing the signature: `typ` is `at+jwt`, `alg` is on the allow-list and matches the key
//!   named by `kid`, the signature verifies, `iss` is exactly the issuer, `aud` contains the
//!   resource, and `exp`/`nbf` hold at the injected time, with a small leeway.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::metadata::Extra;
use crate::scope::ScopeSet;
use crate::token::Audience;
use crate::uri::ResourceUri;

/// The `typ` header of an RFC 9068 access token.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Default clock skew allowed for `exp` and `nbf`, in seconds.
pub const DEFAULT_LEEWAY_SECONDS: i64 = 30;

/// Why a key could not be made or a token could not be signed or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Key generation, parsing or export failed.
    #[error("key error: {0}")]
    Key(String),
    /// Signing failed.
    #[error("signing failed")]
    Signing,
    /// The token is not a well-formed JWS compact serialisation, or its header is unreadable
    /// (this includes `alg: none`, which no key type accepts).
    #[error("malformed token")]
    Malformed,
    /// `typ` is not `at+jwt` (RFC 9068 §4 step 1).
    #[error("token type {0:?} is not at+jwt")]
    WrongType(Option<String>),
    /// `alg` is not allowed, or not the algorithm of the key named by `kid`.
    #[error("algorithm {0} is not allowed")]
    AlgorithmNotAllowed(String),
    /// The header names no `kid`.
    #[error("token header has no kid")]
    MissingKeyId,
    /// No known key has this `kid` (a verifier may refresh its keys and try again).
    #[error("unknown signing key {0:?}")]
    UnknownKeyId(String),
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// A required claim is missing or has the wrong type.
    #[error("invalid claims: {0}")]
    InvalidClaims(String),
    /// `iss` is not the expected issuer.
    #[error("issuer {0:?} is not trusted")]
    WrongIssuer(String),
    /// `aud` does not contain this resource.
    #[error("token audience does not include this resource")]
    WrongAudience,
    /// `exp` has passed.
    #[error("token has expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token is not valid yet")]
    NotYetValid,
}

/// The signing algorithms this workspace issues and accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    /// ECDSA P-256 with SHA-256 (RFC 7518 §3.4). The default.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3); RFC 9068 requires support.
    RS256,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

impl SigningAlgorithm {
    /// Every supported algorithm.
    pub const ALL: [SigningAlgorithm; 3] = [Self::ES256, Self::RS256, Self::EdDSA];

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
            Self::EdDSA => "EdDSA",
        }
    }

    fn jose(self) -> Algorithm {
        match self {
            Self::ES256 => Algorithm::ES256,
            Self::RS256 => Algorithm::RS256,
            Self::EdDSA => Algorithm::EdDSA,
        }
    }

    fn from_jose(alg: Algorithm) -> Option<Self> {
        match alg {
            Algorithm::ES256 => Some(Self::ES256),
            Algorithm::RS256 => Some(Self::RS256),
            Algorithm::EdDSA => Some(Self::EdDSA),
            _ => None,
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlgorithm {
    type Err = JwtError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ES256" => Ok(Self::ES256),
            "RS256" => Ok(Self::RS256),
            "EdDSA" => Ok(Self::EdDSA),
            other => Err(JwtError::AlgorithmNotAllowed(other.to_owned())),
        }
    }
}

/// The claims of an RFC 9068 access token (§2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// The issuer.
    pub iss: String,
    /// The resource owner (or the client, for client credentials).
    pub sub: String,
    /// The resource(s) the token is for (RFC 8707): canonical resource URIs.
    pub aud: Audience,
    /// The client the token was issued to.
    pub client_id: String,
    /// The granted scope (space-separated on the wire).
    #[serde(default, skip_serializing_if = "ScopeSet::is_empty")]
    pub scope: ScopeSet,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Not before (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Unique token id.
    pub jti: String,
    /// When the user authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// Other claims.
    #[serde(flatten)]
    pub extra: Extra,
}

enum KeyPair {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private signing key with its `kid`, parsed once.
pub struct SigningKey {
    kid: String,
    alg: SigningAlgorithm,
    pkcs8: Vec<u8>,
    pair: KeyPair,
    public_jwk: Jwk,
    rng: SystemRandom,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn key_err(what: &str) -> impl Fn(aws_lc_rs::error::KeyRejected) -> JwtError + '_ {
    move |e| JwtError::Key(format!("{what}: {e}"))
}

impl SigningKey {
    /// Generates a new key (P-256, RSA-2048 or Ed25519).
    pub fn generate(alg: SigningAlgorithm, kid: impl Into<String>) -> Result<Self, JwtError> {
        let unspecified = |_| JwtError::Key(format!("could not generate an {alg} key"));
        let pkcs8 = match alg {
            SigningAlgorithm::ES256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                    .map_err(unspecified)?
                    .as_ref()
                    .to_vec()
            }
            SigningAlgorithm::RS256 => {
                let pair =
                    RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(unspecified)?;
                pair.as_der().map_err(unspecified)?.as_ref().to_vec()
            }
            SigningAlgorithm::EdDSA => Ed25519KeyPair::generate()
                .and_then(|pair| pair.to_pkcs8v1())
                .map_err(unspecified)?
                .as_ref()
                .to_vec(),
        };
        Self::from_pkcs8_der(alg, kid, &pkcs8)
    }

    /// Loads a key from its PKCS#8 DER encoding (as [`SigningKey::pkcs8_der`] gives it).
    pub fn from_pkcs8_der(
        alg: SigningAlgorithm,
        kid: impl Into<String>,
        der: &[u8],
    ) -> Result<Self, JwtError> {
        let kid = kid.into();
        let (pair, jwk) = match alg {
            SigningAlgorithm::ES256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(key_err("not a P-256 PKCS#8 key"))?;
                // Uncompressed point: 0x04 || x (32 bytes) || y (32 bytes).
                let point = pair.public_key().as_ref();
                let (x, y) = point
                    .get(1..33)
                    .zip(point.get(33..65))
                    .ok_or_else(|| JwtError::Key("unexpected P-256 public key".into()))?;
                let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y)});
                (KeyPair::Ec(pair), jwk)
            }
            SigningAlgorithm::RS256 => {
                let pair = RsaKeyPair::from_pkcs8(der).map_err(key_err("not an RSA PKCS#8 key"))?;
                let public = pair.public_key();
                let n = public.modulus().big_endian_without_leading_zero();
                let e = public.exponent().big_endian_without_leading_zero();
                let jwk = json!({"kty": "RSA", "n": b64(n), "e": b64(e)});
                (KeyPair::Rsa(pair), jwk)
            }
            SigningAlgorithm::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8(der)
                    .map_err(key_err("not an Ed25519 PKCS#8 key"))?;
                let x = b64(pair.public_key().as_ref());
                (
                    KeyPair::Ed(pair),
                    json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
                )
            }
        };
        let mut jwk = jwk;
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!(alg.as_str());
        jwk["use"] = json!("sig");
        let public_jwk: Jwk =
            serde_json::from_value(jwk).map_err(|e| JwtError::Key(e.to_string()))?;
        Ok(Self {
            kid,
            alg,
            pkcs8: der.to_vec(),
            pair,
            public_jwk,
            rng: SystemRandom::new(),
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.alg
    }

    /// The private key, PKCS#8 DER, for storage. Handle as a secret.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key as a JWK with `kid`, `alg` and `use: sig`.
    pub fn public_jwk(&self) -> &Jwk {
        &self.public_jwk
    }

    /// Signs `claims` as a JWS compact serialisation with header `{alg, typ, kid}`.
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, JwtError> {
        let header = json!({"alg": self.alg.as_str(), "typ": typ, "kid": self.kid});
        let header = serde_json::to_vec(&header).map_err(|_| JwtError::Signing)?;
        let claims = serde_json::to_vec(claims).map_err(|_| JwtError::Signing)?;
        let mut token = String::with_capacity((header.len() + claims.len()) * 4 / 3 + 400);
        URL_SAFE_NO_PAD.encode_string(header, &mut token);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut token);
        let signature = self.sign_bytes(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }

    /// Signs an RFC 9068 access token (`typ: at+jwt`).
    pub fn sign_access_token(&self, claims: &AccessTokenClaims) -> Result<String, JwtError> {
        self.sign(ACCESS_TOKEN_TYP, claims)
    }

    fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, JwtError> {
        match &self.pair {
            KeyPair::Ec(pair) => pair
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| JwtError::Signing),
            KeyPair::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut signature)
                    .map_err(|_| JwtError::Signing)?;
                Ok(signature)
            }
            KeyPair::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The JWK Set of the given keys' public halves (RFC 7517 §5).
pub fn jwks<'a>(keys: impl IntoIterator<Item = &'a SigningKey>) -> JwkSet {
    JwkSet {
        keys: keys.into_iter().map(|k| k.public_jwk.clone()).collect(),
    }
}

struct VerificationKey {
    alg: SigningAlgorithm,
    key: DecodingKey,
}

/// Verifies RFC 9068 access tokens for one resource against one issuer's keys.
///
/// Build it once per key set (keys are decoded here, not per token) and share it.
pub struct AccessTokenVerifier {
    issuer: String,
    audience: ResourceUri,
    algorithms: Vec<SigningAlgorithm>,
    keys: BTreeMap<String, VerificationKey>,
    leeway: i64,
}

impl fmt::Debug for AccessTokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessTokenVerifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("algorithms", &self.algorithms)
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("leeway", &self.leeway)
            .finish()
    }
}

impl AccessTokenVerifier {
    /// A verifier for tokens from `issuer` for `audience`, accepting the keys of `jwks`
    /// whose algorithm is in `algorithms`. Keys without `kid`, without a usable `alg`, or
    /// marked for another `use` are ignored.
    pub fn new(
        issuer: impl Into<String>,
        audience: ResourceUri,
        algorithms: &[SigningAlgorithm],
        jwks: &JwkSet,
    ) -> Self {
        let mut keys = BTreeMap::new();
        for jwk in &jwks.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            if jwk
                .common
                .public_key_use
                .as_ref()
                .is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature)
            {
                continue;
            }
            let Some(alg) = key_algorithm(jwk) else {
                continue;
            };
            if !algorithms.contains(&alg) {
                continue;
            }
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid, VerificationKey { alg, key });
            }
        }
        Self {
            issuer: issuer.into(),
            audience,
            algorithms: algorithms.to_vec(),
            keys,
            leeway: DEFAULT_LEEWAY_SECONDS,
        }
    }

    /// Sets the clock skew allowed for `exp` and `nbf`.
    pub fn with_leeway(mut self, seconds: i64) -> Self {
        self.leeway = seconds;
        self
    }

    /// Whether a key with this id is known.
    pub fn knows_kid(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// The resource this verifier accepts tokens for.
    pub fn audience(&self) -> &ResourceUri {
        &self.audience
    }

    /// Verifies `token` at the time `clock` gives.
    pub fn verify_now(
        &self,
        token: &str,
        clock: &dyn crate::clock::Clock,
    ) -> Result<AccessTokenClaims, JwtError> {
        self.verify(token, clock.now())
    }

    /// Verifies `token` at time `now` (Unix seconds) and returns its claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<AccessTokenClaims, JwtError> {
        // RFC 9068 §4 step 1 and RFC 8725 §3.1: read the header, insist on `at+jwt` and an
        // allowed algorithm before touching a key.
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP) || t.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(JwtError::WrongType(header.typ));
        }
        let alg = SigningAlgorithm::from_jose(header.alg)
            .filter(|a| self.algorithms.contains(a))
            .ok_or_else(|| JwtError::AlgorithmNotAllowed(format!("{:?}", header.alg)))?;
        // Step 2: the key named by `kid`, which must be a key for this algorithm.
        let kid = header.kid.ok_or(JwtError::MissingKeyId)?;
        let key = self
            .keys
            .get(&kid)
            .ok_or_else(|| JwtError::UnknownKeyId(kid.clone()))?;
        if key.alg != alg {
            return Err(JwtError::AlgorithmNotAllowed(alg.to_string()));
        }
        // Step 3: the signature, and the claims' shape. Time, issuer and audience are
        // checked below against our own clock and rules.
        let mut validation = Validation::new(alg.jose());
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<AccessTokenClaims>(token, &key.key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => JwtError::BadSignature,
                ErrorKind::Json(e) => JwtError::InvalidClaims(e.to_string()),
                ErrorKind::InvalidAlgorithm => JwtError::AlgorithmNotAllowed(alg.to_string()),
                _ => JwtError::Malformed,
            })?
            .claims;
        // Step 4: the issuer, exactly.
        if claims.iss != self.issuer {
            return Err(JwtError::WrongIssuer(claims.iss));
        }
        // Step 5: the audience contains this resource.
        if !claims.aud.contains_resource(&self.audience) {
            return Err(JwtError::WrongAudience);
        }
        // Step 6: the validity window.
        if now >= claims.exp.saturating_add(self.leeway) {
            return Err(JwtError::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(self.leeway))
        {
            return Err(JwtError::NotYetValid);
        }
        Ok(claims)
    }
}

/// The algorithm a JWK is for: its `alg`, or, when absent, the one its key type implies.
fn key_algorithm(jwk: &Jwk) -> Option<SigningAlgorithm> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, KeyAlgorithm};
    match jwk.common.key_algorithm {
        Some(KeyAlgorithm::ES256) => Some(SigningAlgorithm::ES256),
        Some(KeyAlgorithm::RS256) => Some(SigningAlgorithm::RS256),
        Some(KeyAlgorithm::EdDSA) => Some(SigningAlgorithm::EdDSA),
        Some(_) => None,
        None => match &jwk.algorithm {
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                Some(SigningAlgorithm::ES256)
            }
            AlgorithmParameters::RSA(_) => Some(SigningAlgorithm::RS256),
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                Some(SigningAlgorithm::EdDSA)
            }
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests;
