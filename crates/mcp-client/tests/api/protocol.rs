//! The MCP protocol revision: 2025-11-25 by default; with `mcp.protocol_version =
//! "2026-07-28"` the draft's `server/discover` lifecycle and per-request metadata on the
//! stateless wire, falling back to `initialize` for a 2025-11-25 server.

use mcp_client::McpProtocol;
use serde_json::Value;

use crate::helpers::{AsConfig, MockAs, RsConfig, World};

fn draft_world_config() -> RsConfig {
    RsConfig {
        draft: true,
        ..RsConfig::default()
    }
}

fn mcp_posts(world: &World) -> Vec<Value> {
    world
        .resource_server
        .log()
        .into_iter()
        .filter(|s| s.path == "/mcp" && s.method == "POST")
        .map(|s| s.body)
        .collect()
}

/// Against a draft server, the client discovers instead of initializing, and every request
/// carries the draft's header and `_meta` (the mock answers 400 otherwise) and no session.
#[tokio::test]
async fn the_draft_protocol_uses_server_discover_and_request_metadata() {
    let mut world = World::start(AsConfig::default(), draft_world_config()).await;
    let mut settings = world.settings();
    settings.protocol = McpProtocol::V2026_07_28;
    let connection = world.client_with(settings).connect().await.unwrap();
    let tools = connection.list_tools().await.unwrap();
    assert_eq!(tools.len(), 3);
    connection.call_tool("whoami", None).await.unwrap();
    connection.close().await;

    assert_eq!(world.resource_server.initializes(), 0);
    assert_eq!(world.resource_server.discovers(), 1);
    let methods = world.resource_server.mcp_methods();
    assert!(!methods.iter().any(|m| m == "initialize"), "{methods:?}");
    for body in mcp_posts(&world) {
        assert_eq!(
            body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"], "2026-07-28",
            "{body}"
        );
    }
    assert!(
        world
            .resource_server
            .log()
            .iter()
            .all(|s| s.session.is_none()),
        "a session id on the stateless wire"
    );
}

/// The draft setting does not break 2025-11-25 servers: `server/discover` gets "method not
/// found", and the client falls back to the `initialize` handshake at 2025-11-25.
#[tokio::test]
async fn the_draft_protocol_falls_back_to_initialize_for_a_2025_11_25_server() {
    let mut world = World::default().await;
    let mut settings = world.settings();
    settings.protocol = McpProtocol::V2026_07_28;
    let connection = world.client_with(settings).connect().await.unwrap();
    connection.call_tool("whoami", None).await.unwrap();
    connection.close().await;

    assert_eq!(world.resource_server.initializes(), 1);
    let methods = world.resource_server.mcp_methods();
    let discover = methods.iter().position(|m| m == "server/discover");
    let initialize = methods.iter().position(|m| m == "initialize");
    assert!(discover.is_some() && discover < initialize, "{methods:?}");
    let init = mcp_posts(&world)
        .into_iter()
        .find(|b| b["method"] == "initialize")
        .unwrap();
    assert_eq!(init["params"]["protocolVersion"], "2025-11-25");
}

/// The default stays 2025-11-25 with the `initialize` handshake and no `server/discover`.
#[tokio::test]
async fn the_default_protocol_is_2025_11_25_with_initialize() {
    let mut world = World::default().await;
    let connection = world.client().connect().await.unwrap();
    connection.close().await;
    let methods = world.resource_server.mcp_methods();
    assert_eq!(methods.first().map(String::as_str), Some("initialize"));
    assert!(
        !methods.iter().any(|m| m == "server/discover"),
        "{methods:?}"
    );
}

/// SEP-2352 on the draft wire (the conformance scenario auth/authorization-server-migration):
/// when the server moves to another authorization server in the middle of a session, the
/// client registers there and never presents the first server's client id to it.
#[tokio::test]
async fn on_the_draft_wire_a_move_to_another_authorization_server_registers_there() {
    let mut world = World::start(AsConfig::default(), draft_world_config()).await;
    let mut settings = world.settings();
    settings.protocol = McpProtocol::V2026_07_28;
    let connection = world.client_with(settings).connect().await.unwrap();
    connection.list_tools().await.unwrap();
    let first_client_id = world.authorizations()[0].params["client_id"].clone();

    let second = MockAs::start(AsConfig::default()).await;
    world.resource_server.move_to(&second);
    connection.call_tool("whoami", None).await.unwrap();
    connection.close().await;

    assert_eq!(second.requests_to("/register").len(), 1);
    assert!(
        second
            .log()
            .iter()
            .all(|s| s.params.get("client_id") != Some(&first_client_id)),
        "the first authorization server's client id went to the second"
    );
    assert_eq!(world.resource_server.initializes(), 0);
}
