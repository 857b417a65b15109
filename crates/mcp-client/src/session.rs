//! The MCP session with authorization around it: connect, list tools, call a tool, and for
//! each operation turn a refusal into the right next step (checklist S4, S5, A1):
//!
//! * 401 → discovery → registration → authorization (scope per S1) → retry;
//! * 403 `insufficient_scope` → step-up: a new authorization for the union of the granted
//!   and the challenged scopes → retry on the **same** MCP session;
//! * at most `max_authorizations` authorizations per operation.

use std::sync::Arc;

use mcp_auth_core::challenge::BearerChallenge;
use mcp_auth_core::{Clock, OAuthErrorCode, ScopeSet};
use rmcp::ServiceExt;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;
use url::Url;

use crate::authorize::{AuthorizationRequest, CallbackListener, RequestParams, run_user_agent};
use crate::connection::Connection;
use crate::discovery::{self, Discovery, report_challenge};
use crate::error::{ClientError, Result};
use crate::http::{Lookup, UrlPolicy, oauth_client, system_lookup};
use crate::registration::register;
use crate::report::Reporter;
use crate::settings::{McpProtocol, Settings};
use crate::store::{RegistrationMethod, Store};
use crate::token::{ClientCredentials, CodeExchange, exchange_code};
use crate::tokens::{Credentials, TokenManager, load_credentials};
use crate::transport::{AuthFailure, AuthorizedHttp, failure_of_initialize};

/// What an authorization produced (no secrets).
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuthorizationSummary {
    /// The authorization server.
    pub issuer: String,
    /// The resource.
    pub resource: String,
    /// The client id used.
    pub client_id: String,
    /// How it was obtained.
    pub registration: RegistrationMethod,
    /// Scopes granted.
    pub scope: Option<String>,
    /// Seconds until expiry.
    pub expires_in: Option<u64>,
    /// Whether a refresh token came with it.
    pub refresh_token: bool,
}

/// A client for one MCP server.
#[derive(Debug)]
pub struct McpClient {
    pub(crate) settings: Settings,
    pub(crate) server: Url,
    pub(crate) http: reqwest::Client,
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) reporter: Reporter,
    pub(crate) policy: UrlPolicy,
    pub(crate) tokens: Arc<TokenManager>,
    pub(crate) transport_http: AuthorizedHttp,
    /// One authorization at a time: parallel operations refused together wait for the
    /// first one's new token instead of each opening a browser.
    pub(crate) authorizing: tokio::sync::Mutex<()>,
}

impl McpClient {
    /// A client for `server`, starting from the tokens stored for it (if any).
    pub fn new(
        settings: Settings,
        server: &str,
        clock: Arc<dyn Clock>,
        reporter: Reporter,
    ) -> Result<Arc<Self>> {
        Self::with_lookup(settings, server, clock, reporter, system_lookup())
    }

    /// [`McpClient::new`] with the host-name lookup of the OAuth client's SSRF guard
    /// replaced (tests map names to addresses without a DNS server).
    pub fn with_lookup(
        settings: Settings,
        server: &str,
        clock: Arc<dyn Clock>,
        reporter: Reporter,
        lookup: Lookup,
    ) -> Result<Arc<Self>> {
        let server =
            Url::parse(server).map_err(|e| ClientError::invalid_url(server, e.to_string()))?;
        if !matches!(server.scheme(), "http" | "https") {
            return Err(ClientError::invalid_url(
                server.as_str(),
                "the MCP server URL must be http or https",
            ));
        }
        let store = Store::new(settings.store_path.clone());
        let policy = UrlPolicy::for_server(
            &server,
            settings.allow_insecure_http,
            settings.allow_private_addresses,
        );
        let http = oauth_client(settings.http_timeout, &policy, &server, lookup)?;
        let initial = load_credentials(&store, &settings, &server)?;
        if let Some(c) = &initial {
            reporter.step(
                "store.tokens",
                format!(
                    "Found stored tokens for {server} from {} (scope: {})",
                    c.issuer,
                    c.scope.as_ref().map_or_else(|| "unknown".to_owned(), ToString::to_string)
                ),
                json!({"issuer": c.issuer, "resource": c.resource, "store": store.path().display().to_string()}),
            );
        }
        let tokens = Arc::new(TokenManager::new(
            initial,
            http.clone(),
            store.clone(),
            clock.clone(),
            reporter.clone(),
            settings.refresh_margin_secs,
        ));
        // The MCP transport gets its own client: no global timeout on SSE streams.
        let mcp_http = reqwest::Client::builder()
            .user_agent(concat!("mcp-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::http("(client setup)", e))?;
        let transport_http = AuthorizedHttp::new(mcp_http, tokens.clone());
        Ok(Arc::new(Self {
            settings,
            server,
            http,
            store,
            clock,
            reporter,
            policy,
            tokens,
            transport_http,
            authorizing: tokio::sync::Mutex::new(()),
        }))
    }

    /// The shared token holder.
    pub fn tokens(&self) -> &Arc<TokenManager> {
        &self.tokens
    }

    /// The reporter.
    pub fn reporter(&self) -> &Reporter {
        &self.reporter
    }

    /// `login`: probe the server, and authorize whether or not it challenged.
    pub async fn login(&self) -> Result<AuthorizationSummary> {
        let challenge = discovery::probe(&self.http, &self.server, &self.reporter).await?;
        self.authorize(challenge.as_ref(), None).await
    }

    /// Opens an MCP session (protocol 2025-11-25, or the 2026-07-28 draft when configured),
    /// authorizing as the server demands.
    pub async fn connect(self: &Arc<Self>) -> Result<Connection> {
        let mut authorizations = 0;
        loop {
            let _ = self.transport_http.take_failure();
            let generation = self.tokens.generation();
            let transport = StreamableHttpClientTransport::with_client(
                self.transport_http.clone(),
                StreamableHttpClientTransportConfig::with_uri(self.server.as_str()),
            );
            let config = ClientConfig::new(
                ClientCapabilities::default(),
                Implementation::new("mcp-client", env!("CARGO_PKG_VERSION")),
            )
            .with_protocol_version(ProtocolVersion::V_2025_11_25);
            let served = match self.settings.protocol {
                McpProtocol::V2025_11_25 => config.serve(transport).await,
                McpProtocol::V2026_07_28 => {
                    config
                        .serve_with_lifecycle(
                            transport,
                            ClientLifecycleMode::Auto {
                                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                                legacy_version: Some(ProtocolVersion::V_2025_11_25),
                            },
                        )
                        .await
                }
            };
            match served {
                Ok(service) => {
                    let version = service
                        .peer_info()
                        .map(|i| i.protocol_version.to_string())
                        .unwrap_or_default();
                    self.reporter.step(
                        "mcp.initialize",
                        format!(
                            "MCP session initialized with {} (protocol {version})",
                            self.server
                        ),
                        json!({"server": self.server.as_str(), "protocol_version": version}),
                    );
                    return Ok(Connection::new(self.clone(), service));
                }
                Err(e) => {
                    let recorded = self.transport_http.take_failure();
                    let Some(failure) = failure_of_initialize(&e).or(recorded) else {
                        return Err(ClientError::Mcp(format!("initialize failed: {e}")));
                    };
                    self.handle_failure(failure, generation, &mut authorizations)
                        .await?;
                }
            }
        }
    }

    /// Turns a refusal into an authorization (bounded per operation). `generation` is the
    /// token generation the refused request started with: if the tokens changed since
    /// (another operation authorized), the caller just retries.
    pub(crate) async fn handle_failure(
        &self,
        failure: AuthFailure,
        generation: u64,
        authorizations: &mut u32,
    ) -> Result<()> {
        let _one_at_a_time = self.authorizing.lock().await;
        if self.tokens.generation() != generation {
            self.reporter.step(
                "authorize.shared",
                "Another operation obtained a new token meanwhile: retrying with it",
                json!({}),
            );
            return Ok(());
        }
        if *authorizations >= self.settings.max_authorizations {
            self.reporter.step(
                "authorize.limit",
                format!(
                    "Giving up: {authorizations} authorizations for this operation and the server still refuses"
                ),
                json!({"max_authorizations": self.settings.max_authorizations}),
            );
            return Err(ClientError::TooManyAuthorizations(*authorizations));
        }
        *authorizations += 1;
        match failure {
            AuthFailure::Unauthorized(header) => {
                let challenge = BearerChallenge::parse(&header);
                report_challenge(&self.reporter, 401, Some(&header), challenge.as_ref());
                self.authorize(challenge.as_ref(), None).await?;
            }
            AuthFailure::InsufficientScope(header) => {
                let challenge = BearerChallenge::parse(&header);
                report_challenge(&self.reporter, 403, Some(&header), challenge.as_ref());
                let granted = self
                    .tokens
                    .snapshot()
                    .await
                    .and_then(|c| c.scope)
                    .unwrap_or_default();
                let needed = challenge
                    .as_ref()
                    .and_then(|c| c.scope.clone())
                    .unwrap_or_default();
                let union = granted.union(&needed);
                self.reporter.step(
                    "step_up",
                    format!(
                        "Step-up: the operation needs [{needed}]; re-authorizing for granted ∪ challenged = [{union}]"
                    ),
                    json!({"granted": granted.to_string(), "challenged": needed.to_string(), "requested": union.to_string()}),
                );
                self.authorize(challenge.as_ref(), Some(union)).await?;
            }
        }
        Ok(())
    }

    /// The whole authorization: discovery, registration, the code flow, the token.
    /// `step_up` replaces scope selection with the given set. A stored registration the
    /// server no longer knows (its store was reset) is dropped and replaced once.
    pub async fn authorize(
        &self,
        challenge: Option<&BearerChallenge>,
        step_up: Option<ScopeSet>,
    ) -> Result<AuthorizationSummary> {
        match self.authorize_once(challenge, step_up.clone()).await {
            Err(ClientError::StaleRegistration { issuer, cause }) => {
                self.reporter.step(
                    "registration.stale",
                    format!("The authorization server refused the stored client ({cause}): forgetting it and registering again"),
                    json!({"issuer": issuer, "error": cause.to_string()}),
                );
                self.store.remove_registration(&issuer)?;
                self.authorize_once(challenge, step_up)
                    .await
                    .map_err(|e| match e {
                        ClientError::StaleRegistration { cause, .. } => *cause,
                        other => other,
                    })
            }
            other => other,
        }
    }

    async fn authorize_once(
        &self,
        challenge: Option<&BearerChallenge>,
        step_up: Option<ScopeSet>,
    ) -> Result<AuthorizationSummary> {
        let discovery = discovery::discover(
            &self.http,
            &self.server,
            challenge,
            &self.policy,
            self.settings.legacy_discovery,
            &self.reporter,
        )
        .await?;
        let mut listener = CallbackListener::bind(self.settings.callback_port).await?;
        let (registration, reused) = register(
            &self.http,
            &discovery,
            &self.settings,
            &self.store,
            listener.redirect_uri(),
            self.clock.as_ref(),
            &self.reporter,
        )
        .await?;
        let scope = self.select_scope(&discovery, step_up);
        let request = AuthorizationRequest::new(RequestParams {
            authorization_endpoint: discovery.authorization_endpoint(),
            client_id: &registration.client_id,
            redirect_uri: listener.redirect_uri(),
            resource: &discovery.resource,
            scope,
        })?;
        self.reporter.step(
            "authorize.request",
            format!(
                "Authorization request to {}: PKCE S256, state, resource {}, scope {}",
                discovery.authorization_endpoint(),
                discovery.resource,
                request
                    .scope
                    .as_ref()
                    .map_or_else(|| "(omitted)".to_owned(), ToString::to_string)
            ),
            json!({"authorization_endpoint": discovery.authorization_endpoint(), "client_id": registration.client_id,
                   "redirect_uri": listener.redirect_uri(), "resource": discovery.resource,
                   "scope": request.scope.as_ref().map(ToString::to_string)}),
        );
        let stale = |e: ClientError| -> ClientError {
            let refused_client = match &e {
                ClientError::AuthorizationRejected { .. } => true,
                ClientError::TokenEndpoint(body) => matches!(
                    body.error,
                    OAuthErrorCode::InvalidClient | OAuthErrorCode::UnauthorizedClient
                ),
                _ => false,
            };
            if reused && refused_client {
                ClientError::StaleRegistration {
                    issuer: discovery.issuer.to_string(),
                    cause: Box::new(e),
                }
            } else {
                e
            }
        };
        let query = run_user_agent(
            self.settings.mode,
            &self.http,
            &request.url,
            &mut listener,
            self.settings.authorize_timeout,
            &self.reporter,
        )
        .await
        .map_err(stale)?;
        let redirect_uri = listener.redirect_uri().to_owned();
        drop(listener);
        let iss_advertised = discovery
            .as_metadata
            .authorization_response_iss_parameter_supported
            == Some(true);
        let requested_scope = request.scope.clone();
        let (code, verifier) = request.finish(&query, discovery.issuer.as_str(), iss_advertised)?;
        self.reporter.step(
            "authorize.callback",
            format!(
                "Authorization response accepted: state matches, iss {}",
                if query.contains("iss=") {
                    "matches the issuer"
                } else {
                    "absent (not advertised)"
                }
            ),
            json!({}),
        );
        let client = ClientCredentials {
            client_id: registration.client_id.clone(),
            client_secret: registration.client_secret.clone(),
            method: registration.token_endpoint_auth_method.clone(),
        };
        let token = exchange_code(
            &self.http,
            CodeExchange {
                endpoint: discovery.token_endpoint(),
                client: &client,
                code,
                verifier,
                redirect_uri: &redirect_uri,
                resource: &discovery.resource,
            },
        )
        .await
        .map_err(stale)?;
        let mut credentials = Credentials {
            issuer: discovery.issuer.to_string(),
            resource: discovery.resource.clone(),
            server: self.server.to_string(),
            token_endpoint: discovery.token_endpoint().to_owned(),
            client,
            access_token: token.access_token.clone(),
            refresh_token: None,
            expires_at: None,
            scope: requested_scope,
        };
        let expires_in = token.expires_in;
        let has_refresh = token.refresh_token.is_some();
        credentials.apply(token, self.clock.now());
        let summary = AuthorizationSummary {
            issuer: credentials.issuer.clone(),
            resource: credentials.resource.clone(),
            client_id: credentials.client.client_id.clone(),
            registration: registration.method,
            scope: credentials.scope.as_ref().map(ToString::to_string),
            expires_in,
            refresh_token: has_refresh,
        };
        self.reporter.step(
            "token.obtained",
            format!(
                "Access token obtained from {} (scope: {}, {}{}); stored in {}",
                discovery.token_endpoint(),
                summary.scope.as_deref().unwrap_or("unspecified"),
                expires_in.map_or_else(
                    || "no expiry given".to_owned(),
                    |s| format!("expires in {s} s")
                ),
                if has_refresh {
                    ", with a refresh token"
                } else {
                    ", no refresh token"
                },
                self.store.path().display()
            ),
            serde_json::to_value(&summary).unwrap_or_default(),
        );
        self.tokens.set(credentials).await;
        Ok(summary)
    }

    /// S1 (challenge scope, else PRM `scopes_supported`, else omitted) or the step-up set,
    /// plus `offline_access` when the authorization server lists it.
    fn select_scope(&self, discovery: &Discovery, step_up: Option<ScopeSet>) -> Option<ScopeSet> {
        let challenge_scope = discovery
            .challenge
            .as_ref()
            .and_then(|c| c.scope.clone())
            .filter(|s| !s.is_empty());
        let prm_scope = discovery
            .prm
            .scopes_supported
            .as_ref()
            .and_then(|s| ScopeSet::from_tokens(s).ok())
            .filter(|s| !s.is_empty());
        let (mut scope, source) = match (step_up, challenge_scope, prm_scope) {
            (Some(s), _, _) => (Some(s), "step-up: granted ∪ challenged"),
            (None, Some(s), _) => (Some(s), "from the WWW-Authenticate challenge"),
            (None, None, Some(s)) => (Some(s), "from the resource's scopes_supported"),
            (None, None, None) => (None, "none advertised: scope omitted"),
        };
        let offline = self.settings.offline_access
            && discovery
                .as_metadata
                .scopes_supported
                .as_ref()
                .is_some_and(|s| s.iter().any(|x| x == "offline_access"));
        if offline
            && let Some(s) = scope.as_mut()
            && let Ok(offline_access) = mcp_auth_core::Scope::parse("offline_access")
        {
            s.insert(offline_access);
        }
        self.reporter.step(
            "authorize.scope",
            format!(
                "Scope: {} ({source}{})",
                scope
                    .as_ref()
                    .map_or_else(|| "(none)".to_owned(), ToString::to_string),
                if offline && scope.is_some() {
                    "; offline_access added, the server lists it"
                } else {
                    ""
                }
            ),
            json!({"scope": scope.as_ref().map(ToString::to_string), "source": source}),
        );
        scope
    }
}
