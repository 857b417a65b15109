//! Client authentication at the token, introspection and revocation endpoints (OAuth 2.1
//! §2.4): `none` (public clients send `client_id`), `client_secret_basic` and
//! `client_secret_post`. Secrets are compared through their stored hash: SHA-256 for the
//! secrets this server generated, argon2 for secrets from the configuration. Only the client's
//! registered `token_endpoint_auth_method` is accepted: a `client_secret_basic` client cannot
//! send its secret in the body, a `client_secret_post` client cannot use Basic, and a `none`
//! client cannot send a secret at all.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::AppState;
use crate::error::AppError;
use crate::security::verify_client_secret;
use crate::store::ClientRecord;

/// A form body with every parameter at most once (RFC 6749 §3.2: parameters MUST NOT be
/// repeated).
#[derive(Debug, Default)]
pub struct FormParams(BTreeMap<String, String>);

impl FormParams {
    /// Parses `application/x-www-form-urlencoded`; a repeated parameter is `invalid_request`.
    pub fn parse(body: &[u8]) -> Result<Self, AppError> {
        let mut map = BTreeMap::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            if map.insert(k.to_string(), v.to_string()).is_some() {
                return Err(AppError::invalid_request(format!(
                    "parameter {k} is repeated"
                )));
            }
        }
        Ok(Self(map))
    }

    /// Parses a request body, checking the content type.
    pub fn from_request(headers: &HeaderMap, body: &Bytes) -> Result<Self, AppError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
        {
            return Err(AppError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        Self::parse(body)
    }

    /// A non-empty parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A required parameter.
    pub fn require(&self, name: &str) -> Result<&str, AppError> {
        self.get(name)
            .ok_or_else(|| AppError::invalid_request(format!("{name} is required")))
    }
}

/// Whether the request carries HTTP Basic credentials (for the `WWW-Authenticate` choice).
pub fn used_basic(headers: &HeaderMap) -> bool {
    matches!(basic_credentials(headers), Ok(Some(_)))
}

/// The credentials a request presented.
#[derive(Debug)]
struct Presented {
    client_id: String,
    secret: Option<String>,
    via_basic: bool,
}

fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, AppError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or("");
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let bad = || AppError::invalid_client("malformed Basic credentials", true);
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before encoding.
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

fn presented(headers: &HeaderMap, form: &FormParams) -> Result<Presented, AppError> {
    let basic = basic_credentials(headers)?;
    match basic {
        Some((id, secret)) => {
            if form.get("client_secret").is_some() {
                return Err(AppError::invalid_request(
                    "use one client authentication method, not several",
                ));
            }
            if form.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(AppError::invalid_request(
                    "client_id in the body differs from the Basic credentials",
                ));
            }
            // Some public clients send `Basic base64(client_id:)`: an empty secret is none.
            Ok(Presented {
                client_id: id,
                secret: (!secret.is_empty()).then_some(secret),
                via_basic: true,
            })
        }
        None => {
            let client_id = form.get("client_id").ok_or_else(|| {
                AppError::invalid_client("client authentication is required", false)
            })?;
            Ok(Presented {
                client_id: client_id.to_owned(),
                secret: form.get("client_secret").map(str::to_owned),
                via_basic: false,
            })
        }
    }
}

/// Authenticates the calling client. With `confidential_only`, public clients are refused
/// (introspection).
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    form: &FormParams,
    confidential_only: bool,
) -> Result<ClientRecord, AppError> {
    let p = presented(headers, form)?;
    let fail = |why: &str| AppError::invalid_client(why, p.via_basic);
    let client = state.store.get_client(&p.client_id).await?;
    // Client ids are not secret (they travel in authorization URLs), so an unknown id is
    // refused at once: no decoy hash check, which would only hand out free CPU time.
    let Some(client) = client else {
        return Err(fail("unknown client"));
    };
    // The registered method is the only one accepted (a Basic header with an empty secret is
    // how some public clients send their id: that is `none`, checked below).
    let wrong_method = match client.auth_method.as_str() {
        "client_secret_basic" => !p.via_basic,
        "client_secret_post" => p.via_basic,
        _ => false,
    };
    if wrong_method {
        return Err(fail(&format!(
            "this client is registered for token_endpoint_auth_method {}",
            client.auth_method
        )));
    }
    match (&client.secret_hash, p.secret) {
        (Some(hash), Some(secret)) => {
            if !verify_client_secret(secret, hash.clone()).await {
                return Err(fail("client authentication failed"));
            }
        }
        (Some(_), None) => return Err(fail("this client must authenticate with its secret")),
        (None, Some(_)) => {
            return Err(fail("this is a public client: it has no secret to send"));
        }
        (None, None) => {
            if confidential_only {
                return Err(fail("only confidential clients may call this endpoint"));
            }
        }
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_invalid_requests() {
        assert!(FormParams::parse(b"a=1&a=2").is_err());
        let f = FormParams::parse(b"a=1&b=&c=x%20y").unwrap();
        assert_eq!(f.get("a"), Some("1"));
        assert_eq!(f.get("b"), None);
        assert_eq!(f.get("c"), Some("x y"));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut h = HeaderMap::new();
        let encoded = STANDARD.encode("my%20client:s%3Acret");
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {encoded}").parse().unwrap(),
        );
        assert_eq!(
            basic_credentials(&h).unwrap(),
            Some(("my client".to_owned(), "s:cret".to_owned()))
        );
        h.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert!(basic_credentials(&h).is_err());
        h.insert(header::AUTHORIZATION, "Bearer x".parse().unwrap());
        assert_eq!(basic_credentials(&h).unwrap(), None);
    }
}
