//! Token endpoint, introspection and revocation messages.
//!
//! * [`TokenRequest`]: the form body of `POST /token` by grant: RFC 6749 §4.1.3
//!   (`authorization_code`, with RFC 7636 §4.5 `code_verifier` and RFC 8707 `resource`) and
//!   §6 (`refresh_token`). Fields stay string-like: the authorization server validates them
//!   and answers with the RFC's error code, which a typed parse could not do. Codes, verifiers,
//!   refresh tokens and secrets are secret newtypes, so `Debug` never shows them.
//! * [`TokenResponse`]: RFC 6749 §5.1.
//! * [`IntrospectionResponse`]: RFC 7662 §2.2; an inactive token serialises as
//!   `{"active":false}` and nothing else.
//! * [`RevocationRequest`]: RFC 7009 §2.1.
//! * [`Audience`]: the JWT `aud` claim (RFC 7519 §4.1.3), one string or an array.

use serde::{Deserialize, Serialize};

use crate::metadata::{Extra, TokenTypeHint};
use crate::secret::{AccessToken, AuthorizationCode, ClientSecret, RefreshToken, SecretString};
use crate::uri::ResourceUri;

/// The token request, by `grant_type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "grant_type", rename_all = "snake_case")]
pub enum TokenRequest {
    /// Redeem an authorization code (RFC 6749 §4.1.3).
    AuthorizationCode {
        /// The code from the authorization response.
        code: AuthorizationCode,
        /// Required if it was in the authorization request (OAuth 2.0 clients send it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        redirect_uri: Option<String>,
        /// RFC 7636 §4.5.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code_verifier: Option<SecretString>,
        /// RFC 8707 §2.2.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resource: Option<String>,
        /// Public clients name themselves here.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        /// `client_secret_post`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_secret: Option<ClientSecret>,
    },
    /// Use a refresh token (RFC 6749 §6).
    RefreshToken {
        /// The refresh token.
        refresh_token: RefreshToken,
        /// A subset of the granted scope.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scope: Option<String>,
        /// RFC 8707 §2.2.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resource: Option<String>,
        /// Public clients name themselves here.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        /// `client_secret_post`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_secret: Option<ClientSecret>,
    },
}

/// RFC 6749 §5.1 successful token response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: AccessToken,
    /// Always `Bearer` from our server; compared case-insensitively when read.
    pub token_type: String,
    /// Lifetime of the access token in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    /// A refresh token (a new one on every rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// The granted scope, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Unknown members.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The JWT `aud` claim: a single string or an array of strings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Audience(pub Vec<String>);

impl Audience {
    /// A single audience.
    pub fn single(aud: impl Into<String>) -> Self {
        Self(vec![aud.into()])
    }

    /// Whether one of the audiences is `resource`, compared in canonical form.
    pub fn contains_resource(&self, resource: &ResourceUri) -> bool {
        self.0.iter().any(|a| resource.matches(a))
    }

    /// The audiences.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl Serialize for Audience {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(s) => Self(vec![s]),
            OneOrMany::Many(v) => Self(v),
        })
    }
}

/// RFC 7662 §2.1 introspection request (form body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntrospectionRequest {
    /// The token to look at.
    pub token: SecretString,
    /// What the caller thinks it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type_hint: Option<TokenTypeHint>,
}

/// RFC 7662 §2.2 introspection response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IntrospectionResponse {
    /// Whether the token is active. When false, nothing else is said.
    pub active: bool,
    /// Granted scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client the token was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The resource owner's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `Bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Expiry (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issued at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Unknown members.
    #[serde(flatten)]
    pub extra: Extra,
}

impl IntrospectionResponse {
    /// `{"active": false}`: for unknown, expired, revoked and other clients' tokens alike.
    pub fn inactive() -> Self {
        Self::default()
    }
}

/// RFC 7009 §2.1 revocation request (form body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationRequest {
    /// The token to revoke.
    pub token: SecretString,
    /// What the caller thinks it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type_hint: Option<TokenTypeHint>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn form<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, serde_json::Error> {
        // A form body is a flat string map; serde_json stands in for the form decoder.
        let map: std::collections::BTreeMap<String, String> = body
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        serde_json::from_value(serde_json::to_value(map)?)
    }

    #[test]
    fn authorization_code_form_body() {
        let request: TokenRequest = form(
            "grant_type=authorization_code&code=abc&redirect_uri=http://127.0.0.1:1/cb&code_verifier=v&resource=http://localhost:8001/mcp&client_id=c",
        )
        .unwrap();
        assert_eq!(
            request,
            TokenRequest::AuthorizationCode {
                code: AuthorizationCode::new("abc"),
                redirect_uri: Some("http://127.0.0.1:1/cb".into()),
                code_verifier: Some(SecretString::new("v")),
                resource: Some("http://localhost:8001/mcp".into()),
                client_id: Some("c".into()),
                client_secret: None,
            }
        );
    }

    #[test]
    fn refresh_token_form_body() {
        let request: TokenRequest =
            form("grant_type=refresh_token&refresh_token=r&scope=a&client_id=c&client_secret=s")
                .unwrap();
        assert_eq!(
            request,
            TokenRequest::RefreshToken {
                refresh_token: RefreshToken::new("r"),
                scope: Some("a".into()),
                resource: None,
                client_id: Some("c".into()),
                client_secret: Some(ClientSecret::new("s")),
            }
        );
    }

    #[test]
    fn debug_of_requests_never_shows_secrets() {
        let request: TokenRequest = form(
            "grant_type=authorization_code&code=code-123&code_verifier=verifier-456&client_secret=secret-789&client_id=c",
        )
        .unwrap();
        let refresh: TokenRequest =
            form("grant_type=refresh_token&refresh_token=refresh-123").unwrap();
        let introspection: IntrospectionRequest = form("token=token-123").unwrap();
        let revocation: RevocationRequest = form("token=token-456").unwrap();
        let shown = format!("{request:?} {refresh:?} {introspection:?} {revocation:?}");
        for secret in [
            "code-123",
            "verifier-456",
            "secret-789",
            "refresh-123",
            "token-123",
            "token-456",
        ] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn password_and_unknown_grants_do_not_parse() {
        assert!(form::<TokenRequest>("grant_type=password&username=u&password=p").is_err());
        assert!(form::<TokenRequest>("grant_type=authorization_code").is_err());
        assert!(form::<TokenRequest>("code=abc").is_err());
    }

    #[test]
    fn token_response_golden() {
        let response = TokenResponse {
            access_token: AccessToken::new("at"),
            token_type: "Bearer".into(),
            expires_in: Some(900),
            refresh_token: Some(RefreshToken::new("rt")),
            scope: Some("mcp:tools".into()),
            extra: Extra::new(),
        };
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({"access_token": "at", "token_type": "Bearer", "expires_in": 900, "refresh_token": "rt", "scope": "mcp:tools"})
        );
        let back: TokenResponse =
            serde_json::from_value(serde_json::to_value(&response).unwrap()).unwrap();
        assert_eq!(back, response);
    }

    #[test]
    fn inactive_introspection_says_nothing_else() {
        assert_eq!(
            serde_json::to_value(IntrospectionResponse::inactive()).unwrap(),
            json!({"active": false})
        );
    }

    #[test]
    fn introspection_round_trip_keeps_unknown_fields() {
        let doc = json!({
            "active": true, "scope": "a b", "client_id": "c", "token_type": "Bearer",
            "exp": 2, "iat": 1, "sub": "alice", "aud": ["http://localhost:8001/mcp", "x"],
            "iss": "http://localhost:9000", "jti": "j", "cnf": {"jkt": "abc"}
        });
        let parsed: IntrospectionResponse = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), doc);
        let resource = ResourceUri::parse("http://localhost:8001/mcp/").unwrap();
        assert!(parsed.aud.unwrap().contains_resource(&resource));
    }

    #[test]
    fn audience_is_one_string_or_many() {
        let one: Audience = serde_json::from_str("\"https://h/mcp\"").unwrap();
        assert_eq!(serde_json::to_string(&one).unwrap(), "\"https://h/mcp\"");
        let many: Audience = serde_json::from_str(r#"["a","b"]"#).unwrap();
        assert_eq!(serde_json::to_string(&many).unwrap(), r#"["a","b"]"#);
        assert!(!many.contains_resource(&ResourceUri::parse("https://h/mcp").unwrap()));
    }

    #[test]
    fn revocation_request_reads_the_hint() {
        let r: RevocationRequest = form("token=t&token_type_hint=refresh_token").unwrap();
        assert_eq!(r.token_type_hint, Some(TokenTypeHint::RefreshToken));
    }
}
