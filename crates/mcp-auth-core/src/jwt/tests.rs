use serde_json::{Value, json};

use super::*;

const ISSUER: &str = "http://localhost:9000";
const RESOURCE: &str = "http://localhost:8001/mcp";
const NOW: i64 = 1_800_000_000;

fn resource() -> ResourceUri {
    ResourceUri::parse(RESOURCE).unwrap()
}

fn claims() -> AccessTokenClaims {
    AccessTokenClaims {
        iss: ISSUER.into(),
        sub: "alice".into(),
        aud: Audience::single(RESOURCE),
        client_id: "client-1".into(),
        scope: ScopeSet::parse("mcp:tools").unwrap(),
        iat: NOW,
        exp: NOW + 900,
        nbf: None,
        jti: "jti-1".into(),
        auth_time: None,
        extra: Extra::new(),
    }
}

fn verifier_for(key: &SigningKey) -> AccessTokenVerifier {
    AccessTokenVerifier::new(ISSUER, resource(), &SigningAlgorithm::ALL, &jwks([key]))
}

fn forge(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(&serde_json::to_vec(header).unwrap()),
        b64(&serde_json::to_vec(claims).unwrap()),
        b64(signature)
    )
}

fn es256() -> SigningKey {
    SigningKey::generate(SigningAlgorithm::ES256, "k1").unwrap()
}

#[test]
fn sign_and_verify_with_every_algorithm() {
    for alg in SigningAlgorithm::ALL {
        let key = SigningKey::generate(alg, format!("kid-{alg}")).unwrap();
        let token = key.sign_access_token(&claims()).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid.as_deref(), Some(key.kid()));
        let verified = verifier_for(&key).verify(&token, NOW + 1).unwrap();
        assert_eq!(verified, claims(), "{alg}");
    }
}

#[test]
fn keys_survive_a_pkcs8_round_trip() {
    for alg in SigningAlgorithm::ALL {
        let key = SigningKey::generate(alg, "k").unwrap();
        let reloaded = SigningKey::from_pkcs8_der(alg, "k", key.pkcs8_der()).unwrap();
        assert_eq!(reloaded.public_jwk(), key.public_jwk());
        let token = reloaded.sign_access_token(&claims()).unwrap();
        assert!(verifier_for(&key).verify(&token, NOW).is_ok(), "{alg}");
    }
    assert!(matches!(
        SigningKey::from_pkcs8_der(SigningAlgorithm::ES256, "k", b"junk"),
        Err(JwtError::Key(_))
    ));
}

#[test]
fn jwks_publishes_public_keys_with_kid_alg_and_use() {
    let ec = es256();
    let ed = SigningKey::generate(SigningAlgorithm::EdDSA, "k2").unwrap();
    let set = serde_json::to_value(jwks([&ec, &ed])).unwrap();
    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["kty"], "EC");
    assert_eq!(keys[0]["crv"], "P-256");
    assert_eq!(keys[0]["kid"], "k1");
    assert_eq!(keys[0]["alg"], "ES256");
    assert_eq!(keys[0]["use"], "sig");
    assert!(keys[0].get("d").is_none(), "no private part");
    assert_eq!(keys[1]["kty"], "OKP");
    assert_eq!(keys[1]["alg"], "EdDSA");
    let rsa = SigningKey::generate(SigningAlgorithm::RS256, "k3").unwrap();
    let set = serde_json::to_value(jwks([&rsa])).unwrap();
    assert_eq!(set["keys"][0]["kty"], "RSA");
    assert_eq!(set["keys"][0]["e"], "AQAB");
    assert!(set["keys"][0].get("d").is_none());
}

#[test]
fn alg_none_is_rejected() {
    let key = es256();
    let token = forge(
        &json!({"alg": "none", "typ": "at+jwt", "kid": "k1"}),
        &serde_json::to_value(claims()).unwrap(),
        b"",
    );
    assert_eq!(
        verifier_for(&key).verify(&token, NOW),
        Err(JwtError::Malformed)
    );
}

#[test]
fn hs256_signed_with_the_public_key_is_rejected() {
    let key = SigningKey::generate(SigningAlgorithm::RS256, "k1").unwrap();
    let public = serde_json::to_vec(key.public_jwk()).unwrap();
    let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": "k1"});
    let body = serde_json::to_value(claims()).unwrap();
    let signing_input = format!(
        "{}.{}",
        b64(&serde_json::to_vec(&header).unwrap()),
        b64(&serde_json::to_vec(&body).unwrap())
    );
    let mac = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &public),
        signing_input.as_bytes(),
    );
    let token = forge(&header, &body, mac.as_ref());
    assert!(matches!(
        verifier_for(&key).verify(&token, NOW),
        Err(JwtError::AlgorithmNotAllowed(_))
    ));
}

#[test]
fn algorithm_must_match_the_key_named_by_kid() {
    // An ES256 token whose kid names an EdDSA key.
    let ec = SigningKey::generate(SigningAlgorithm::ES256, "ed").unwrap();
    let ed = SigningKey::generate(SigningAlgorithm::EdDSA, "ed").unwrap();
    let token = ec.sign_access_token(&claims()).unwrap();
    assert!(matches!(
        verifier_for(&ed).verify(&token, NOW),
        Err(JwtError::AlgorithmNotAllowed(_))
    ));
}

#[test]
fn algorithms_outside_the_allow_list_are_rejected() {
    let key = SigningKey::generate(SigningAlgorithm::EdDSA, "k1").unwrap();
    let token = key.sign_access_token(&claims()).unwrap();
    let es_only = AccessTokenVerifier::new(
        ISSUER,
        resource(),
        &[SigningAlgorithm::ES256],
        &jwks([&key]),
    );
    assert!(matches!(
        es_only.verify(&token, NOW),
        Err(JwtError::AlgorithmNotAllowed(_))
    ));
}

#[test]
fn wrong_typ_is_rejected() {
    let key = es256();
    for typ in ["JWT", "jwt", "application/jwt", "at+jwt2"] {
        let token = key.sign(typ, &claims()).unwrap();
        assert_eq!(
            verifier_for(&key).verify(&token, NOW),
            Err(JwtError::WrongType(Some(typ.into()))),
            "{typ}"
        );
    }
    let token = key.sign("application/at+jwt", &claims()).unwrap();
    assert!(verifier_for(&key).verify(&token, NOW).is_ok());
}

#[test]
fn wrong_issuer_is_rejected() {
    let key = es256();
    for iss in [
        "http://localhost:9000/",
        "https://evil.example",
        "HTTP://localhost:9000",
    ] {
        let token = key
            .sign_access_token(&AccessTokenClaims {
                iss: iss.into(),
                ..claims()
            })
            .unwrap();
        assert_eq!(
            verifier_for(&key).verify(&token, NOW),
            Err(JwtError::WrongIssuer(iss.into()))
        );
    }
}

#[test]
fn audience_must_contain_this_resource() {
    let key = es256();
    let other = key
        .sign_access_token(&AccessTokenClaims {
            aud: Audience::single("https://other.example/mcp"),
            ..claims()
        })
        .unwrap();
    assert_eq!(
        verifier_for(&key).verify(&other, NOW),
        Err(JwtError::WrongAudience)
    );
    let several = key
        .sign_access_token(&AccessTokenClaims {
            aud: Audience(vec![
                "https://other.example/mcp".into(),
                format!("{RESOURCE}/"),
            ]),
            ..claims()
        })
        .unwrap();
    assert!(verifier_for(&key).verify(&several, NOW).is_ok());
}

#[test]
fn expiry_and_not_before_use_the_given_time_and_leeway() {
    let key = es256();
    let verifier = verifier_for(&key).with_leeway(30);
    let token = key.sign_access_token(&claims()).unwrap();
    assert!(verifier.verify(&token, NOW + 900 + 29).is_ok());
    assert_eq!(
        verifier.verify(&token, NOW + 900 + 30),
        Err(JwtError::Expired)
    );
    let future = key
        .sign_access_token(&AccessTokenClaims {
            nbf: Some(NOW + 100),
            ..claims()
        })
        .unwrap();
    assert_eq!(verifier.verify(&future, NOW), Err(JwtError::NotYetValid));
    assert!(verifier.verify(&future, NOW + 71).is_ok());

    let clock = crate::clock::FixedClock::new(NOW);
    assert!(verifier.verify_now(&token, &clock).is_ok());
    clock.advance(3600);
    assert_eq!(verifier.verify_now(&token, &clock), Err(JwtError::Expired));
}

#[test]
fn missing_required_claims_are_rejected() {
    let key = es256();
    for missing in ["iss", "sub", "aud", "client_id", "iat", "exp", "jti"] {
        let mut body = serde_json::to_value(claims()).unwrap();
        body.as_object_mut().unwrap().remove(missing);
        let token = key.sign(ACCESS_TOKEN_TYP, &body).unwrap();
        assert!(
            matches!(
                verifier_for(&key).verify(&token, NOW),
                Err(JwtError::InvalidClaims(_))
            ),
            "missing {missing}"
        );
    }
}

#[test]
fn unknown_and_missing_kid_are_reported() {
    let key = es256();
    let stranger = SigningKey::generate(SigningAlgorithm::ES256, "k9").unwrap();
    let token = stranger.sign_access_token(&claims()).unwrap();
    assert_eq!(
        verifier_for(&key).verify(&token, NOW),
        Err(JwtError::UnknownKeyId("k9".into()))
    );
    let no_kid = forge(
        &json!({"alg": "ES256", "typ": "at+jwt"}),
        &serde_json::to_value(claims()).unwrap(),
        &[0; 64],
    );
    assert_eq!(
        verifier_for(&key).verify(&no_kid, NOW),
        Err(JwtError::MissingKeyId)
    );
}

#[test]
fn tampered_payload_and_foreign_signature_fail() {
    let key = es256();
    let token = key.sign_access_token(&claims()).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let elevated = AccessTokenClaims {
        scope: ScopeSet::parse("mcp:tools admin").unwrap(),
        ..claims()
    };
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(&serde_json::to_vec(&elevated).unwrap()),
        parts[2]
    );
    assert_eq!(
        verifier_for(&key).verify(&tampered, NOW),
        Err(JwtError::BadSignature)
    );

    // Same kid, different key.
    let impostor = SigningKey::generate(SigningAlgorithm::ES256, "k1").unwrap();
    let forged = impostor.sign_access_token(&claims()).unwrap();
    assert_eq!(
        verifier_for(&key).verify(&forged, NOW),
        Err(JwtError::BadSignature)
    );
}

#[test]
fn garbage_is_malformed() {
    let key = es256();
    for token in ["", "a.b", "a.b.c", "....", "eyJhbGciOiJFUzI1NiJ9"] {
        assert_eq!(
            verifier_for(&key).verify(token, NOW),
            Err(JwtError::Malformed),
            "{token}"
        );
    }
}

#[test]
fn verifier_skips_unusable_keys() {
    let good = es256();
    let mut set = jwks([&good]);
    let mut no_kid = good.public_jwk().clone();
    no_kid.common.key_id = None;
    set.keys.push(no_kid);
    let mut encryption = SigningKey::generate(SigningAlgorithm::ES256, "enc")
        .unwrap()
        .public_jwk()
        .clone();
    encryption.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Encryption);
    set.keys.push(encryption);
    let verifier = AccessTokenVerifier::new(ISSUER, resource(), &SigningAlgorithm::ALL, &set);
    assert!(verifier.knows_kid("k1"));
    assert!(!verifier.knows_kid("enc"));
}

#[test]
fn debug_of_a_signing_key_shows_no_key_material() {
    let key = es256();
    let shown = format!("{key:?}");
    assert!(shown.contains("k1") && shown.contains("ES256"));
    assert!(!shown.contains("pkcs8"));
}
