//! Tracing setup (binary only). `RUST_LOG` overrides the default filter; `json = true`
//! switches to JSON lines. Request spans record the method and path, never the query
//! string or headers (a token could be in either).

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber, writing to stderr (stdout carries the `listening on`
/// line only).
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("resource_server=info,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
