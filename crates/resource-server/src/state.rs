//! Shared state of the resource server.

use std::sync::Arc;

use mcp_auth_core::{Clock, well_known};
use tokio_util::sync::CancellationToken;

use crate::authorization_server::AuthorizationServerClient;
use crate::sessions::SessionBindings;
use crate::settings::{Settings, TokenMode};
use crate::validation::introspection::IntrospectionValidator;
use crate::validation::jwt::JwtValidator;
use crate::validation::{Backend, TokenValidator};

/// The most session bindings held; a bind beyond evicts one not used lately.
const MAX_SESSIONS: usize = 10_000;

/// Everything a request handler needs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The validated configuration.
    pub settings: Arc<Settings>,
    /// Access token validation.
    pub validator: Arc<TokenValidator>,
    /// Session → subject.
    pub sessions: Arc<SessionBindings>,
    /// The path-inserted protected resource metadata URL (what challenges point at).
    pub resource_metadata_url: Arc<String>,
    /// Cancelled on shutdown; ends rmcp's sessions and SSE streams.
    pub cancellation: CancellationToken,
    /// The time, for token lifetimes.
    pub clock: Arc<dyn Clock>,
}

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The HTTP client for the AS could not be built.
    #[error("could not build the HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
}

impl AppState {
    /// Builds the state from validated settings.
    pub fn new(mut settings: Settings, clock: Arc<dyn Clock>) -> Result<Self, StateError> {
        // The resource's own origin is always allowed (a same-origin page, and the origin
        // the conformance suite's DNS-rebinding probe sends with a valid Host).
        let own_origin = settings
            .resource
            .uri
            .to_url()
            .origin()
            .ascii_serialization();
        if !settings.security.allowed_origins.contains(&own_origin) {
            settings.security.allowed_origins.push(own_origin);
        }
        let as_settings = &settings.authorization_server;
        let client = Arc::new(AuthorizationServerClient::new(
            as_settings.issuer.clone(),
            as_settings.internal_url.clone(),
            as_settings.http_timeout,
        )?);
        let issuer = as_settings.issuer.as_str().to_owned();
        let audience = settings.resource.uri.clone();
        let backend = match settings.token.mode {
            TokenMode::Jwt => Backend::Jwt(JwtValidator::new(
                client,
                as_settings.jwks_uri.clone(),
                as_settings.jwks_refresh_min_interval,
                issuer,
                audience,
                settings.token.algorithms.clone(),
                settings.token.leeway_secs,
            )),
            TokenMode::Introspection => Backend::Introspection(IntrospectionValidator::new(
                client,
                settings.introspection.endpoint.clone(),
                settings.introspection.client_id.clone(),
                settings.introspection.client_secret.clone(),
                issuer,
                audience,
                settings.token.leeway_secs,
                settings.token.introspection_cache_ttl_secs,
            )),
        };
        let validator =
            TokenValidator::new(backend, settings.token.cache_max_entries, clock.clone());
        let resource_metadata_url =
            well_known::protected_resource_metadata_url(&settings.resource.uri.to_url())
                .to_string();
        Ok(Self {
            settings: Arc::new(settings),
            validator: Arc::new(validator),
            sessions: Arc::new(SessionBindings::new(MAX_SESSIONS)),
            resource_metadata_url: Arc::new(resource_metadata_url),
            cancellation: CancellationToken::new(),
            clock,
        })
    }
}
