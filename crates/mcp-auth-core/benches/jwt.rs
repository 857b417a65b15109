//! Micro-benchmarks of the token hot paths: JWT signing and verification per algorithm,
//! and what `jsonwebtoken` alone costs when it parses the key on every call (the reason
//! `SigningKey` keeps its key parsed; see docs/adr/0001-crypto-backend.md); PKCE S256
//! verification; and the SHA-256 digest of a refresh token or authorization code (what the
//! AS stores and looks up; both are 43 characters). `WWW-Authenticate` building is in the
//! `challenge` bench, the resource server's whole validation path (with its cache key) in
//! its own `validation` bench.

use std::hint::black_box;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
    UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use mcp_auth_core::ResourceUri;
use mcp_auth_core::jwt::{
    AccessTokenClaims, AccessTokenVerifier, SigningAlgorithm, SigningKey, jwks,
};
use mcp_auth_core::metadata::Extra;
use mcp_auth_core::pkce::CodeVerifier;
use mcp_auth_core::scope::ScopeSet;
use mcp_auth_core::secret::RefreshToken;
use mcp_auth_core::token::Audience;

const NOW: i64 = 1_800_000_000;

fn claims() -> AccessTokenClaims {
    AccessTokenClaims {
        iss: "http://localhost:9000".into(),
        sub: "alice".into(),
        aud: Audience::single("http://localhost:8001/mcp"),
        client_id: "https://app.example.com/client.json".into(),
        scope: ScopeSet::parse("mcp:tools weather:read").expect("valid scope"),
        iat: NOW,
        exp: NOW + 900,
        nbf: None,
        jti: "6c1f8a52-0f7c-4d0e-9b1c-2f7f2d1e9a10".into(),
        auth_time: None,
        extra: Extra::new(),
    }
}

fn bench_jwt(c: &mut Criterion) {
    let resource = ResourceUri::parse("http://localhost:8001/mcp").expect("valid resource");
    for alg in SigningAlgorithm::ALL {
        let key = SigningKey::generate(alg, "k1").expect("key generation");
        let verifier = AccessTokenVerifier::new(
            "http://localhost:9000",
            resource.clone(),
            &[alg],
            &jwks([&key]),
        );
        let token = key.sign_access_token(&claims()).expect("sign");

        c.bench_function(&format!("sign/{alg}/cached-key"), |b| {
            b.iter(|| key.sign_access_token(black_box(&claims())))
        });
        c.bench_function(&format!("verify/{alg}"), |b| {
            b.iter(|| verifier.verify(black_box(&token), NOW))
        });
        // The floor: the bare signature check on the same token, with no JOSE around it.
        let (signing_input, signature) = token.rsplit_once('.').expect("three parts");
        let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
        let jwk = serde_json::to_value(key.public_jwk()).expect("jwk");
        let field = |name: &str| {
            URL_SAFE_NO_PAD
                .decode(jwk[name].as_str().expect("field"))
                .expect("b64")
        };
        c.bench_function(&format!("verify-raw-signature/{alg}"), |b| match alg {
            SigningAlgorithm::ES256 => {
                let point = [vec![4u8], field("x"), field("y")].concat();
                let key = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point);
                b.iter(|| key.verify(black_box(signing_input.as_bytes()), &signature))
            }
            SigningAlgorithm::EdDSA => {
                let key = UnparsedPublicKey::new(&ED25519, field("x"));
                b.iter(|| key.verify(black_box(signing_input.as_bytes()), &signature))
            }
            SigningAlgorithm::RS256 => {
                let key = RsaPublicKeyComponents {
                    n: field("n"),
                    e: field("e"),
                };
                b.iter(|| {
                    key.verify(
                        &RSA_PKCS1_2048_8192_SHA256,
                        black_box(signing_input.as_bytes()),
                        &signature,
                    )
                })
            }
        });

        // jsonwebtoken's own encode path, which parses the private key on every call.
        let header = {
            let mut h = jsonwebtoken::Header::new(match alg {
                SigningAlgorithm::ES256 => jsonwebtoken::Algorithm::ES256,
                SigningAlgorithm::RS256 => jsonwebtoken::Algorithm::RS256,
                SigningAlgorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
            });
            h.typ = Some("at+jwt".into());
            h.kid = Some("k1".into());
            h
        };
        let encoding_key = match alg {
            SigningAlgorithm::ES256 => jsonwebtoken::EncodingKey::from_ec_der(key.pkcs8_der()),
            SigningAlgorithm::EdDSA => jsonwebtoken::EncodingKey::from_ed_der(key.pkcs8_der()),
            // jsonwebtoken wants PKCS#1 for RSA; the comparison is made for the EC and Ed keys.
            SigningAlgorithm::RS256 => continue,
        };
        c.bench_function(&format!("sign/{alg}/jsonwebtoken-encode"), |b| {
            b.iter(|| jsonwebtoken::encode(&header, black_box(&claims()), &encoding_key))
        });
    }

    let verifier = CodeVerifier::generate();
    let challenge = verifier.challenge();
    c.bench_function("pkce/s256-verify", |b| {
        b.iter(|| challenge.verify(black_box(&verifier)))
    });
    // What the token endpoint does with the form field: validate the verifier, then check it.
    c.bench_function("pkce/parse-and-verify", |b| {
        b.iter(|| {
            CodeVerifier::parse(black_box(verifier.secret()))
                .is_ok_and(|presented| challenge.verify(&presented))
        })
    });
    let refresh = RefreshToken::generate();
    c.bench_function("secret/sha256-digest", |b| {
        b.iter(|| black_box(&refresh).digest())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = bench_jwt
}
criterion_main!(benches);
