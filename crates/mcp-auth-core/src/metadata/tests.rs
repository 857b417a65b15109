use serde_json::json;

use super::*;

/// Parses `doc` as `T`, serialises it again and checks nothing was lost or changed.
fn assert_round_trip<T>(doc: &Value)
where
    T: serde::de::DeserializeOwned + Serialize,
{
    let parsed: T = serde_json::from_value(doc.clone()).unwrap();
    assert_eq!(&serde_json::to_value(&parsed).unwrap(), doc);
}

#[test]
fn protected_resource_metadata_round_trip_keeps_unknown_fields() {
    assert_round_trip::<ProtectedResourceMetadata>(&json!({
        "resource": "https://mcp.example.com/mcp",
        "authorization_servers": ["https://as.example.com"],
        "scopes_supported": ["mcp:tools"],
        "bearer_methods_supported": ["header"],
        "resource_name": "Example",
        "dpop_bound_access_tokens_required": false,
        "x-vendor": {"nested": [1, 2]}
    }));
}

#[test]
fn protected_resource_metadata_golden() {
    let doc = ProtectedResourceMetadata {
        resource: "http://localhost:8001/mcp".into(),
        authorization_servers: vec!["http://localhost:9000".into()],
        jwks_uri: None,
        scopes_supported: Some(vec!["mcp:tools".into()]),
        bearer_methods_supported: Some(vec!["header".into()]),
        resource_signing_alg_values_supported: None,
        resource_name: Some("mcp-auth demo".into()),
        resource_documentation: None,
        resource_policy_uri: None,
        resource_tos_uri: None,
        extra: Extra::new(),
    };
    assert_eq!(
        serde_json::to_string(&doc).unwrap(),
        r#"{"resource":"http://localhost:8001/mcp","authorization_servers":["http://localhost:9000"],"scopes_supported":["mcp:tools"],"bearer_methods_supported":["header"],"resource_name":"mcp-auth demo"}"#
    );
}

fn as_metadata() -> AuthorizationServerMetadata {
    AuthorizationServerMetadata {
        issuer: "http://localhost:9000".into(),
        authorization_endpoint: Some("http://localhost:9000/authorize".into()),
        token_endpoint: Some("http://localhost:9000/token".into()),
        jwks_uri: Some("http://localhost:9000/jwks".into()),
        registration_endpoint: Some("http://localhost:9000/register".into()),
        scopes_supported: Some(vec!["mcp:tools".into(), "offline_access".into()]),
        response_types_supported: vec!["code".into()],
        response_modes_supported: None,
        grant_types_supported: Some(vec![GrantType::AuthorizationCode, GrantType::RefreshToken]),
        token_endpoint_auth_methods_supported: Some(vec![
            TokenEndpointAuthMethod::None,
            TokenEndpointAuthMethod::ClientSecretBasic,
            TokenEndpointAuthMethod::ClientSecretPost,
        ]),
        token_endpoint_auth_signing_alg_values_supported: None,
        service_documentation: None,
        revocation_endpoint: Some("http://localhost:9000/revoke".into()),
        revocation_endpoint_auth_methods_supported: None,
        introspection_endpoint: Some("http://localhost:9000/introspect".into()),
        introspection_endpoint_auth_methods_supported: None,
        code_challenge_methods_supported: Some(vec!["S256".into()]),
        client_id_metadata_document_supported: Some(true),
        authorization_response_iss_parameter_supported: Some(true),
        extra: Extra::new(),
    }
}

#[test]
fn authorization_server_metadata_golden() {
    assert_eq!(
        serde_json::to_value(as_metadata()).unwrap(),
        json!({
            "issuer": "http://localhost:9000",
            "authorization_endpoint": "http://localhost:9000/authorize",
            "token_endpoint": "http://localhost:9000/token",
            "jwks_uri": "http://localhost:9000/jwks",
            "registration_endpoint": "http://localhost:9000/register",
            "scopes_supported": ["mcp:tools", "offline_access"],
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
            "revocation_endpoint": "http://localhost:9000/revoke",
            "introspection_endpoint": "http://localhost:9000/introspect",
            "code_challenge_methods_supported": ["S256"],
            "client_id_metadata_document_supported": true,
            "authorization_response_iss_parameter_supported": true
        })
    );
}

#[test]
fn authorization_server_metadata_round_trip_and_checks() {
    let mut doc = serde_json::to_value(as_metadata()).unwrap();
    doc["subject_types_supported"] = json!(["public"]);
    doc["grant_types_supported"] = json!([
        "authorization_code",
        "urn:ietf:params:oauth:grant-type:device_code"
    ]);
    assert_round_trip::<AuthorizationServerMetadata>(&doc);

    let parsed: AuthorizationServerMetadata = serde_json::from_value(doc).unwrap();
    assert!(parsed.supports_s256());
    assert!(parsed.supports_client_id_metadata_documents());
    assert_eq!(
        parsed.grant_types_supported.unwrap()[1],
        GrantType::Other("urn:ietf:params:oauth:grant-type:device_code".into())
    );

    let minimal: AuthorizationServerMetadata = serde_json::from_value(
        json!({"issuer": "https://as", "response_types_supported": ["code"]}),
    )
    .unwrap();
    assert!(!minimal.supports_s256());
    assert!(!minimal.supports_client_id_metadata_documents());
    let plain_only: AuthorizationServerMetadata = serde_json::from_value(
        json!({"issuer": "https://as", "code_challenge_methods_supported": ["plain"]}),
    )
    .unwrap();
    assert!(!plain_only.supports_s256());
}

#[test]
fn client_metadata_round_trip_keeps_unknown_fields() {
    assert_round_trip::<ClientMetadata>(&json!({
        "redirect_uris": ["http://127.0.0.1:33418/callback", "http://127.0.0.1:33418/callback"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": "MCP Inspector",
        "client_uri": "https://github.com/modelcontextprotocol/inspector",
        "scope": "mcp:tools",
        "application_type": "native",
        "software_id": "inspector",
        "post_logout_redirect_uris": ["http://localhost/out"]
    }));
}

#[test]
fn client_id_metadata_document_parses_and_flags_shared_secrets() {
    let doc: ClientIdMetadataDocument = serde_json::from_value(json!({
        "client_id": "https://app.example.com/client.json",
        "client_name": "Example",
        "redirect_uris": ["http://127.0.0.1/callback"],
        "token_endpoint_auth_method": "client_secret_post",
        "client_secret": "oops"
    }))
    .unwrap();
    assert_eq!(doc.client_id, "https://app.example.com/client.json");
    assert!(
        doc.metadata
            .token_endpoint_auth_method
            .as_ref()
            .unwrap()
            .uses_shared_secret()
    );
    assert!(doc.metadata.extra.contains_key("client_secret"));
    assert!(!doc.metadata.extra.contains_key("client_id"));
    assert!(!TokenEndpointAuthMethod::None.uses_shared_secret());
    assert!(!TokenEndpointAuthMethod::PrivateKeyJwt.uses_shared_secret());
}

#[test]
fn registration_response_golden_for_a_public_client_has_no_secret() {
    let response = ClientRegistrationResponse {
        client_id: "c_3f9a".into(),
        client_secret: None,
        client_id_issued_at: Some(1_700_000_000),
        client_secret_expires_at: None,
        metadata: ClientMetadata {
            redirect_uris: vec!["http://127.0.0.1:6276/oauth/callback".into()],
            token_endpoint_auth_method: Some(TokenEndpointAuthMethod::None),
            grant_types: Some(vec![GrantType::AuthorizationCode, GrantType::RefreshToken]),
            response_types: Some(vec!["code".into()]),
            client_name: Some("cli".into()),
            application_type: Some(ApplicationType::Native),
            ..ClientMetadata::default()
        },
    };
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({
            "client_id": "c_3f9a",
            "client_id_issued_at": 1_700_000_000,
            "redirect_uris": ["http://127.0.0.1:6276/oauth/callback"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "client_name": "cli",
            "application_type": "native"
        })
    );
}

#[test]
fn registration_response_for_a_confidential_client_carries_secret_and_expiry() {
    let doc = json!({
        "client_id": "c_1",
        "client_secret": "s3cret",
        "client_id_issued_at": 1,
        "client_secret_expires_at": 0,
        "redirect_uris": ["https://app.example.com/cb"],
        "token_endpoint_auth_method": "client_secret_basic"
    });
    assert_round_trip::<ClientRegistrationResponse>(&doc);
    let parsed: ClientRegistrationResponse = serde_json::from_value(doc).unwrap();
    assert_eq!(parsed.client_secret.unwrap().secret(), "s3cret");
}

#[test]
fn open_enums_keep_unknown_values() {
    assert_eq!(ApplicationType::parse("native"), ApplicationType::Native);
    assert_eq!(
        ApplicationType::parse("tv"),
        ApplicationType::Other("tv".into())
    );
    assert_eq!(
        TokenTypeHint::parse("refresh_token"),
        TokenTypeHint::RefreshToken
    );
    assert_eq!(
        serde_json::to_string(&TokenEndpointAuthMethod::Other("tls_client_auth".into())).unwrap(),
        "\"tls_client_auth\""
    );
}

#[test]
fn client_id_metadata_document_golden() {
    let doc = ClientIdMetadataDocument {
        client_id: "https://client.example.com/oauth/client.json".into(),
        metadata: ClientMetadata {
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            token_endpoint_auth_method: Some(TokenEndpointAuthMethod::None),
            grant_types: Some(vec![GrantType::AuthorizationCode, GrantType::RefreshToken]),
            response_types: Some(vec!["code".into()]),
            client_name: Some("mcp-client".into()),
            application_type: Some(ApplicationType::Native),
            ..ClientMetadata::default()
        },
    };
    assert_eq!(
        serde_json::to_string(&doc).unwrap(),
        r#"{"client_id":"https://client.example.com/oauth/client.json","redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"client_name":"mcp-client","application_type":"native"}"#
    );
    assert_round_trip::<ClientIdMetadataDocument>(&serde_json::to_value(&doc).unwrap());
}
