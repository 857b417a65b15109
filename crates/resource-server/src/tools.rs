//! The MCP server: three demo tools with real behaviour, behind per-tool scopes.
//!
//! | tool | default scope | what |
//! |---|---|---|
//! | `whoami` | `mcp:tools` | the caller's subject, client id and granted scopes |
//! | `get_weather` | `weather:read` | deterministic sample weather for a city |
//! | `admin_stats` | `mcp:admin` | counters of this server (sessions, cached tokens, key refreshes) |
//!
//! The scope decision is made by the HTTP guard ([`crate::auth`]) before rmcp sees the
//! request; each tool checks it again from the [`AuthContext`] the guard inserted, so a
//! routing mistake cannot expose a tool. With `dev.disable_authorization` (loopback only)
//! there is no caller: `whoami` answers `anonymous` and no scope is checked. Protocol
//! versions are pinned up to 2025-11-25.

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ErrorData, Implementation, ProtocolVersion, ServerCapabilities, ServerConfig,
};
use rmcp::{ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::json;

use crate::state::AppState;
use crate::transport;
use crate::validation::{AuthContext, Backend};

/// The subject `whoami` reports when authorization is switched off.
pub const ANONYMOUS: &str = "anonymous";

/// Arguments of `get_weather`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct WeatherRequest {
    /// The city, for example "Lisbon".
    #[schemars(description = "the city, for example \"Lisbon\"")]
    pub city: String,
}

/// The MCP tool server; one per session (one per request in the stateless mode).
#[derive(Debug, Clone)]
pub struct McpTools {
    state: AppState,
    /// Built once by [`McpTools::shared_router`] and shared by every instance.
    tool_router: Arc<ToolRouter<Self>>,
}

/// The authenticated caller of `tool`, its scopes checked again; `None` when authorization
/// is switched off (`dev.disable_authorization`): an anonymous caller, no scope to check.
fn caller(
    parts: &http::request::Parts,
    state: &AppState,
    tool: &str,
) -> Result<Option<Arc<AuthContext>>, ErrorData> {
    let Some(auth) = parts.extensions.get::<Arc<AuthContext>>().cloned() else {
        if state.settings.dev.disable_authorization {
            return Ok(None);
        }
        return Err(ErrorData::internal_error(
            "the request was not authenticated",
            None,
        ));
    };
    if !state
        .settings
        .tools
        .required_for(tool)
        .is_subset(&auth.scopes)
    {
        return Err(ErrorData::invalid_request(
            format!("{tool} needs a scope the token does not have"),
            None,
        ));
    }
    Ok(Some(auth))
}

/// Sample weather for `city`: the same city always gives the same answer.
pub fn sample_weather(city: &str) -> serde_json::Value {
    const CONDITIONS: [&str; 6] = [
        "sunny",
        "partly cloudy",
        "cloudy",
        "light rain",
        "windy",
        "fog",
    ];
    // FNV-1a over the normalised name: stable across runs and platforms.
    let normalised = city.trim().to_lowercase();
    let hash = normalised.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let temperature_c = i64::try_from(hash % 40).unwrap_or(0) - 5;
    let humidity = 30 + (hash >> 8) % 61;
    let condition = CONDITIONS[usize::try_from((hash >> 16) % 6).unwrap_or(0)];
    json!({
        "city": city.trim(),
        "temperature_c": temperature_c,
        "humidity_percent": humidity,
        "conditions": condition,
        "source": "sample data",
    })
}

#[tool_router]
impl McpTools {
    /// The tool table, to build once and hand to every [`McpTools::new`]. rmcp's stateless
    /// mode asks for a new server on every request, and building a router validates each
    /// tool name into fresh hash maps: about a quarter of a stateless `tools/call`'s
    /// instructions when it was rebuilt per request. The table is never changed after this.
    pub fn shared_router() -> Arc<ToolRouter<Self>> {
        Arc::new(Self::tool_router())
    }

    /// A tool server over the shared state and the shared tool table.
    pub fn new(state: AppState, tool_router: Arc<ToolRouter<Self>>) -> Self {
        Self { state, tool_router }
    }

    #[tool(description = "Who am I: the caller's subject, client id and granted scopes.")]
    async fn whoami(
        &self,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let whoami = match caller(&parts, &self.state, "whoami")? {
            Some(auth) => json!({
                "subject": auth.subject,
                "client_id": auth.client_id,
                "scopes": auth.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                "expires_at": auth.expires_at,
            }),
            // Authorization is switched off: nobody is authenticated.
            None => json!({
                "subject": ANONYMOUS,
                "client_id": null,
                "scopes": [],
                "expires_at": null,
                "authorization": "disabled",
            }),
        };
        Ok(CallToolResult::structured(whoami))
    }

    #[tool(description = "Current weather for a city (deterministic sample data).")]
    async fn get_weather(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(WeatherRequest { city }): Parameters<WeatherRequest>,
    ) -> Result<CallToolResult, ErrorData> {
        caller(&parts, &self.state, "get_weather")?;
        let trimmed = city.trim();
        if trimmed.is_empty() || trimmed.chars().count() > 100 {
            return Err(ErrorData::invalid_params(
                "city must be between 1 and 100 characters",
                None,
            ));
        }
        Ok(CallToolResult::structured(sample_weather(trimmed)))
    }

    #[tool(description = "Administrators only: counters of this server.")]
    async fn admin_stats(
        &self,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        caller(&parts, &self.state, "admin_stats")?;
        let (mode, jwks_refreshes) = match self.state.validator.backend() {
            Backend::Jwt(v) => ("jwt", Some(v.refreshes())),
            Backend::Introspection(_) => ("introspection", None),
        };
        Ok(CallToolResult::structured(json!({
            "token_mode": mode,
            "bound_sessions": self.state.sessions.len(),
            "cached_tokens": self.state.validator.cached_tokens(),
            "jwks_refreshes": jwks_refreshes,
        })))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for McpTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "mcp-auth-resource-server",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_protocol_version(ProtocolVersion::V_2025_11_25)
            .with_instructions(
                "Demo MCP server protected by OAuth 2.1. Tools: whoami (mcp:tools), \
                 get_weather (weather:read), admin_stats (mcp:admin).",
            )
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        transport::supported_protocol_versions()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weather_is_deterministic_and_plausible() {
        let a = sample_weather("Lisbon");
        let b = sample_weather("  lisbon ");
        for field in ["temperature_c", "humidity_percent", "conditions"] {
            assert_eq!(a[field], b[field], "case and spaces do not matter");
        }
        assert_eq!(a["city"], "Lisbon");
        let t = a["temperature_c"].as_i64().unwrap();
        assert!((-5..35).contains(&t));
        let h = a["humidity_percent"].as_u64().unwrap();
        assert!((30..=90).contains(&h));
        assert_ne!(sample_weather("Lisbon"), sample_weather("Oslo"));
    }
}
