//! One MCP session (protocol 2025-11-25 over rmcp's Streamable HTTP client) and its
//! operations, each wrapped so that a refusal leads to an authorization or a step-up
//! followed by a retry on the same session (MCP 2025-11-25 "Scope Challenge Handling").

use std::sync::Arc;

use rmcp::RoleClient;
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig, JsonObject, Tool};
use rmcp::service::RunningService;
use serde_json::json;

use crate::error::{ClientError, Result};
use crate::session::McpClient;
use crate::transport::failure_of_request;

/// A live MCP session.
#[derive(Debug)]
pub struct Connection {
    client: Arc<McpClient>,
    service: RunningService<RoleClient, ClientConfig>,
}

impl Connection {
    pub(crate) fn new(
        client: Arc<McpClient>,
        service: RunningService<RoleClient, ClientConfig>,
    ) -> Self {
        Self { client, service }
    }

    /// The client.
    pub fn client(&self) -> &Arc<McpClient> {
        &self.client
    }

    /// `tools/list` (all pages).
    pub async fn list_tools(&self) -> Result<Vec<Tool>> {
        let tools = self
            .with_auth("tools/list", || self.service.list_all_tools())
            .await?;
        self.client.reporter.step(
            "mcp.tools_list",
            format!(
                "tools/list: {} tool(s): {}",
                tools.len(),
                tools
                    .iter()
                    .map(|t| t.name.as_ref())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            json!({"count": tools.len()}),
        );
        Ok(tools)
    }

    /// `tools/call`.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
    ) -> Result<CallToolResult> {
        let result = self
            .with_auth("tools/call", || {
                let mut params = CallToolRequestParams::new(name.to_owned());
                if let Some(args) = arguments.clone() {
                    params = params.with_arguments(args);
                }
                self.service.call_tool(params)
            })
            .await?;
        self.client.reporter.step(
            "mcp.tools_call",
            format!(
                "tools/call {name}: {}",
                if result.is_error == Some(true) {
                    "the tool reported an error"
                } else {
                    "ok"
                }
            ),
            json!({"tool": name, "is_error": result.is_error}),
        );
        Ok(result)
    }

    /// Runs one MCP operation, authorizing or stepping up on refusals, then retrying on
    /// the same session.
    async fn with_auth<T, F, Fut>(&self, what: &str, op: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, rmcp::ServiceError>>,
    {
        let mut authorizations = 0;
        loop {
            let _ = self.client.transport_http.take_failure();
            let generation = self.client.tokens.generation();
            match op().await {
                Ok(value) => return Ok(value),
                Err(e) => {
                    // The error itself says which refusal it was; the recorded one is the
                    // fallback for error paths that lose the cause.
                    let recorded = self.client.transport_http.take_failure();
                    let Some(failure) = failure_of_request(&e).or(recorded) else {
                        return Err(ClientError::Mcp(format!("{what} failed: {e}")));
                    };
                    self.client
                        .handle_failure(failure, generation, &mut authorizations)
                        .await?;
                    self.client.reporter.step(
                        "mcp.retry",
                        format!("Retrying {what} on the same MCP session with the new token"),
                        json!({"operation": what}),
                    );
                }
            }
        }
    }

    /// Closes the session.
    pub async fn close(self) {
        let _ = self.service.cancel().await;
    }
}
