//! `mcp-client`: see the library crate and `mcp-client --help`.

use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    // rmcp logs an ERROR for the expected 401 of the first unauthenticated request; the
    // client reports that step itself, so rmcp stays quiet unless RUST_LOG says otherwise.
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,rmcp=off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    std::process::exit(mcp_client::cli::main().await);
}
