//! Client registration in the MCP priority order (checklist R1):
//!
//! 1. pre-registered credentials (flag, config, environment), optionally bound to one issuer;
//! 2. a registration this client stored earlier for the same issuer (never another's);
//! 3. a Client ID Metadata Document URL as `client_id`, when the authorization server
//!    advertises `client_id_metadata_document_supported` and a URL is configured;
//! 4. RFC 7591 dynamic registration (`application_type: native`, public client), stored
//!    per issuer;
//! 5. otherwise a clear error.

use mcp_auth_core::metadata::{
    ApplicationType, AuthorizationServerMetadata, ClientIdMetadataDocument, ClientMetadata,
    ClientRegistrationResponse, GrantType, TokenEndpointAuthMethod,
};
use mcp_auth_core::secret::ClientSecret;
use mcp_auth_core::uri::is_loopback;
use mcp_auth_core::{Clock, ErrorResponse};
use serde_json::json;
use url::Url;

use crate::discovery::Discovery;
use crate::error::{ClientError, Result};
use crate::report::Reporter;
use crate::settings::Settings;
use crate::store::{Registration, RegistrationMethod, Store};

/// Checks a Client ID Metadata Document URL: `https` with a path, no fragment, userinfo or
/// dot segments (CIMD §3). Plain `http` is accepted on loopback only, for a local demo.
pub fn check_metadata_url(raw: &str) -> std::result::Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    if url.scheme() == "http" && is_loopback(&url) {
        if url.path() == "/" || url.fragment().is_some() {
            return Err(format!("{raw:?} needs a path and no fragment"));
        }
        return Ok(url);
    }
    mcp_auth_core::ClientId::parse(raw)
        .and_then(|id| id.metadata_document_url())
        .map_err(|e| e.to_string())
}

/// The Client ID Metadata Document this client publishes at `url`.
pub fn client_metadata_document(url: &str, client_name: &str) -> ClientIdMetadataDocument {
    ClientIdMetadataDocument {
        client_id: url.to_owned(),
        metadata: ClientMetadata {
            // RFC 8252 §7.3: the authorization server accepts any port on loopback.
            redirect_uris: vec!["http://127.0.0.1/callback".to_owned()],
            token_endpoint_auth_method: Some(TokenEndpointAuthMethod::None),
            grant_types: Some(vec![GrantType::AuthorizationCode, GrantType::RefreshToken]),
            response_types: Some(vec!["code".to_owned()]),
            client_name: Some(client_name.to_owned()),
            software_id: Some("mcp-client".to_owned()),
            software_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            application_type: Some(ApplicationType::Native),
            ..ClientMetadata::default()
        },
    }
}

/// Picks how a confidential pre-registered client authenticates: Basic when the server
/// allows it (it is the RFC 8414 default), else form-body credentials.
fn secret_method(metadata: &AuthorizationServerMetadata) -> TokenEndpointAuthMethod {
    match &metadata.token_endpoint_auth_methods_supported {
        None => TokenEndpointAuthMethod::ClientSecretBasic,
        Some(methods) if methods.contains(&TokenEndpointAuthMethod::ClientSecretBasic) => {
            TokenEndpointAuthMethod::ClientSecretBasic
        }
        Some(methods) if methods.contains(&TokenEndpointAuthMethod::ClientSecretPost) => {
            TokenEndpointAuthMethod::ClientSecretPost
        }
        Some(_) => TokenEndpointAuthMethod::ClientSecretBasic,
    }
}

/// Obtains a client id for `discovery.issuer`, reporting which way was taken. The flag
/// says whether the registration was reused from the store (it may be stale).
pub async fn register(
    http: &reqwest::Client,
    discovery: &Discovery,
    settings: &Settings,
    store: &Store,
    redirect_uri: &str,
    clock: &dyn Clock,
    reporter: &Reporter,
) -> Result<(Registration, bool)> {
    let issuer = discovery.issuer.as_str();
    let metadata = &discovery.as_metadata;

    // 1. Pre-registered.
    if let Some(pre) = &settings.pre_registered {
        if pre.issuer.as_deref().is_none_or(|i| i == issuer) {
            let method = if pre.client_secret.is_some() {
                secret_method(metadata)
            } else {
                TokenEndpointAuthMethod::None
            };
            reporter.step(
                "registration.pre_registered",
                format!(
                    "Using the pre-registered client {} (token endpoint authentication: {method})",
                    pre.client_id
                ),
                json!({"client_id": pre.client_id, "issuer": issuer, "token_endpoint_auth_method": method}),
            );
            let registration = Registration {
                issuer: issuer.to_owned(),
                client_id: pre.client_id.clone(),
                client_secret: pre.client_secret.clone().map(ClientSecret::new),
                token_endpoint_auth_method: method,
                method: RegistrationMethod::PreRegistered,
                redirect_uris: vec![redirect_uri.to_owned()],
                registered_at: clock.now(),
            };
            return Ok((registration, false));
        }
        reporter.step(
            "registration.pre_registered_skipped",
            format!(
                "The pre-registered client is for {}, not {issuer}: not using it here",
                pre.issuer.as_deref().unwrap_or_default()
            ),
            json!({"configured_issuer": pre.issuer, "issuer": issuer}),
        );
    }

    let cimd_url = settings
        .metadata_url
        .as_deref()
        .filter(|_| metadata.supports_client_id_metadata_documents());

    // 2. Stored for this issuer (and still the right kind).
    if let Some(stored) = store.registration(issuer)? {
        let usable = match stored.method {
            RegistrationMethod::Cimd => cimd_url == Some(stored.client_id.as_str()),
            RegistrationMethod::Dcr => cimd_url.is_none(),
            RegistrationMethod::PreRegistered => false,
        };
        if usable {
            reporter.step(
                "registration.stored",
                format!(
                    "Reusing client {} registered earlier at {issuer} ({})",
                    stored.client_id,
                    method_name(stored.method)
                ),
                json!({"client_id": stored.client_id, "issuer": issuer, "method": stored.method}),
            );
            return Ok((stored, true));
        }
    }

    // 3. Client ID Metadata Document.
    if let Some(url) = cimd_url {
        reporter.step(
            "registration.cimd",
            format!(
                "Authorization server supports Client ID Metadata Documents: client id is {url}"
            ),
            json!({"client_id": url, "issuer": issuer}),
        );
        let registration = Registration {
            issuer: issuer.to_owned(),
            client_id: url.to_owned(),
            client_secret: None,
            token_endpoint_auth_method: TokenEndpointAuthMethod::None,
            method: RegistrationMethod::Cimd,
            redirect_uris: vec![redirect_uri.to_owned()],
            registered_at: clock.now(),
        };
        store.save_registration(registration.clone())?;
        return Ok((registration, false));
    }
    let cimd_reason = if metadata.supports_client_id_metadata_documents() {
        "the server supports Client ID Metadata Documents but no client.metadata_url is configured"
    } else {
        "the server does not support Client ID Metadata Documents"
    };

    // 4. Dynamic registration.
    let Some(endpoint) = metadata.registration_endpoint.as_deref() else {
        return Err(ClientError::NoRegistrationMethod {
            issuer: issuer.to_owned(),
            cimd: cimd_reason.to_owned(),
        });
    };
    let request = ClientMetadata {
        redirect_uris: vec![redirect_uri.to_owned()],
        token_endpoint_auth_method: Some(TokenEndpointAuthMethod::None),
        grant_types: Some(vec![GrantType::AuthorizationCode, GrantType::RefreshToken]),
        response_types: Some(vec!["code".to_owned()]),
        client_name: Some(settings.client_name.clone()),
        software_id: Some("mcp-client".to_owned()),
        software_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        application_type: Some(ApplicationType::Native),
        ..ClientMetadata::default()
    };
    let response = http
        .post(endpoint)
        .header("accept", "application/json")
        .json(&request)
        .send()
        .await
        .map_err(|e| ClientError::http(endpoint, e))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| ClientError::http(endpoint, e))?;
    if !status.is_success() {
        let why = serde_json::from_slice::<ErrorResponse>(&bytes)
            .map_or_else(|_| format!("HTTP {}", status.as_u16()), |e| e.to_string());
        return Err(ClientError::Registration(why));
    }
    let issued: ClientRegistrationResponse = serde_json::from_slice(&bytes)
        .map_err(|e| ClientError::Registration(format!("unreadable response: {e}")))?;
    let method = issued
        .metadata
        .token_endpoint_auth_method
        .clone()
        .unwrap_or(if issued.client_secret.is_some() {
            TokenEndpointAuthMethod::ClientSecretBasic
        } else {
            TokenEndpointAuthMethod::None
        });
    reporter.step(
        "registration.dcr",
        format!(
            "Registered dynamically at {endpoint} ({cimd_reason}): client id {}, application_type native, token endpoint authentication {method}",
            issued.client_id
        ),
        json!({"endpoint": endpoint, "client_id": issued.client_id, "issuer": issuer, "token_endpoint_auth_method": method}),
    );
    let registration = Registration {
        issuer: issuer.to_owned(),
        client_id: issued.client_id,
        client_secret: issued.client_secret,
        token_endpoint_auth_method: method,
        method: RegistrationMethod::Dcr,
        redirect_uris: vec![redirect_uri.to_owned()],
        registered_at: clock.now(),
    };
    store.save_registration(registration.clone())?;
    Ok((registration, false))
}

fn method_name(method: RegistrationMethod) -> &'static str {
    match method {
        RegistrationMethod::PreRegistered => "pre-registered",
        RegistrationMethod::Cimd => "Client ID Metadata Document",
        RegistrationMethod::Dcr => "dynamic registration",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_follow_the_cimd_rules_with_a_loopback_exception() {
        assert!(check_metadata_url("https://app.example.com/client.json").is_ok());
        assert!(check_metadata_url("http://127.0.0.1:7000/client.json").is_ok());
        for bad in [
            "https://app.example.com",
            "https://app.example.com/",
            "http://app.example.com/client.json",
            "https://u:p@app.example.com/c.json",
            "https://app.example.com/a/../c.json",
        ] {
            assert!(check_metadata_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_published_document_names_itself_and_is_a_public_native_client() {
        let doc = client_metadata_document("https://app.example.com/c.json", "mcp-client");
        let v = serde_json::to_value(&doc).unwrap();
        assert_eq!(v["client_id"], "https://app.example.com/c.json");
        assert_eq!(v["token_endpoint_auth_method"], "none");
        assert_eq!(v["application_type"], "native");
        assert_eq!(v["redirect_uris"][0], "http://127.0.0.1/callback");
    }
}
