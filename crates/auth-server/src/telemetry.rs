//! Tracing set-up for the binary: `RUST_LOG` (default `auth_server=info,tower_http=info`),
//! written to stderr so stdout carries only the `listening on` line.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `json` selects the JSON formatter.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("auth_server=info,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}
