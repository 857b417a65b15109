//! Token endpoint requests (RFC 6749 §4.1.3, §6; OAuth 2.1 §4.3): the code exchange and the
//! refresh, both with `resource` (RFC 8707, checklist A1), and client authentication as
//! registered (`none`: `client_id` in the body; `client_secret_basic`: HTTP Basic with
//! form-urlencoded id and secret, RFC 6749 §2.3.1; `client_secret_post`: both in the body).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mcp_auth_core::metadata::TokenEndpointAuthMethod;
use mcp_auth_core::pkce::CodeVerifier;
use mcp_auth_core::secret::{ClientSecret, RefreshToken};
use mcp_auth_core::token::TokenResponse;
use mcp_auth_core::{ErrorResponse, OAuthErrorCode};

use crate::error::{ClientError, Result};

/// How the client identifies itself at the token endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientCredentials {
    /// The client id.
    pub client_id: String,
    /// The secret, for confidential clients.
    pub client_secret: Option<ClientSecret>,
    /// The method.
    pub method: TokenEndpointAuthMethod,
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Adds the client authentication as registered to a request to `endpoint` (the token or
/// the revocation endpoint): HTTP Basic, or the id (and secret) in the form body.
fn authenticated(
    http: &reqwest::Client,
    endpoint: &str,
    client: &ClientCredentials,
    form: &mut Vec<(&'static str, String)>,
) -> reqwest::RequestBuilder {
    let mut request = http.post(endpoint).header("accept", "application/json");
    match (&client.method, &client.client_secret) {
        (TokenEndpointAuthMethod::ClientSecretBasic, Some(secret)) => {
            let pair = format!(
                "{}:{}",
                form_encode(&client.client_id),
                form_encode(secret.secret())
            );
            request = request.header("authorization", format!("Basic {}", STANDARD.encode(pair)));
        }
        (TokenEndpointAuthMethod::ClientSecretPost, Some(secret)) => {
            form.push(("client_id", client.client_id.clone()));
            form.push(("client_secret", secret.secret().to_owned()));
        }
        _ => form.push(("client_id", client.client_id.clone())),
    }
    request
}

async fn post_token(
    http: &reqwest::Client,
    endpoint: &str,
    client: &ClientCredentials,
    mut form: Vec<(&'static str, String)>,
) -> Result<TokenResponse> {
    let request = authenticated(http, endpoint, client, &mut form).form(&form);
    let bytes = send_oauth_form(request, endpoint, "token")
        .await?
        .map_err(ClientError::TokenEndpoint)?;
    let token: TokenResponse = serde_json::from_slice(&bytes)
        .map_err(|e| ClientError::TokenResponse(format!("not a token response: {e}")))?;
    if !token.token_type.eq_ignore_ascii_case("bearer") {
        return Err(ClientError::TokenResponse(format!(
            "token_type is {:?}, only Bearer is supported",
            token.token_type
        )));
    }
    if token.access_token.secret().is_empty() {
        return Err(ClientError::TokenResponse("empty access_token".into()));
    }
    Ok(token)
}

/// Inputs of [`exchange_code`].
#[derive(Debug)]
pub struct CodeExchange<'a> {
    /// The token endpoint.
    pub endpoint: &'a str,
    /// Client identification.
    pub client: &'a ClientCredentials,
    /// The authorization code.
    pub code: String,
    /// The PKCE verifier (consumed).
    pub verifier: CodeVerifier,
    /// The redirect URI of the request.
    pub redirect_uri: &'a str,
    /// The RFC 8707 resource.
    pub resource: &'a str,
}

/// `grant_type=authorization_code`.
pub async fn exchange_code(http: &reqwest::Client, x: CodeExchange<'_>) -> Result<TokenResponse> {
    let form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", x.code),
        ("redirect_uri", x.redirect_uri.to_owned()),
        ("code_verifier", x.verifier.secret().to_owned()),
        ("resource", x.resource.to_owned()),
    ];
    post_token(http, x.endpoint, x.client, form).await
}

/// `grant_type=refresh_token`, with the same `resource`.
pub async fn refresh(
    http: &reqwest::Client,
    endpoint: &str,
    client: &ClientCredentials,
    refresh_token: &RefreshToken,
    resource: &str,
) -> Result<TokenResponse> {
    let form = vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh_token.secret().to_owned()),
        ("resource", resource.to_owned()),
    ];
    post_token(http, endpoint, client, form).await
}

/// RFC 7009 §2.1: revokes `token` (`token_type_hint` `refresh_token` or `access_token`),
/// authenticating as at the token endpoint. 200 means revoked (or already unknown).
pub async fn revoke(
    http: &reqwest::Client,
    endpoint: &str,
    client: &ClientCredentials,
    token: &str,
    token_type_hint: &str,
) -> Result<()> {
    let mut form = vec![
        ("token", token.to_owned()),
        ("token_type_hint", token_type_hint.to_owned()),
    ];
    let request = authenticated(http, endpoint, client, &mut form).form(&form);
    send_oauth_form(request, endpoint, "revocation")
        .await?
        .map(drop)
        .map_err(ClientError::Revocation)
}

/// Sends an OAuth form request. A 2xx gives the body; any other status gives the RFC 6749
/// §5.2 error body, or a stand-in naming the HTTP status when the server sent none
/// (`endpoint_name` says which endpoint, for that stand-in's description).
async fn send_oauth_form(
    request: reqwest::RequestBuilder,
    endpoint: &str,
    endpoint_name: &str,
) -> Result<std::result::Result<Vec<u8>, ErrorResponse>> {
    let response = request
        .send()
        .await
        .map_err(|e| ClientError::http(endpoint, e))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| ClientError::http(endpoint, e))?;
    if status.is_success() {
        return Ok(Ok(bytes.to_vec()));
    }
    Ok(Err(serde_json::from_slice::<ErrorResponse>(&bytes)
        .unwrap_or_else(|_| {
            ErrorResponse::new(
                OAuthErrorCode::Other(format!("http_{}", status.as_u16())),
                format!("the {endpoint_name} endpoint gave no OAuth error body"),
            )
        })))
}
