//! `serve-metadata`: hosts this client's Client ID Metadata Document (CIMD §3) so that a
//! local authorization server can fetch it during a demo. The document's `client_id` is the
//! public URL it is served under; the route is that URL's path.

use axum::Json;
use axum::routing::get;
use mcp_auth_core::metadata::ClientIdMetadataDocument;
use tokio::net::TcpListener;
use url::Url;

use crate::error::{ClientError, Result};
use crate::registration::{check_metadata_url, client_metadata_document};

/// The router serving `document` at the path of its `client_id`.
pub fn app(document: ClientIdMetadataDocument) -> Result<axum::Router> {
    let url = Url::parse(&document.client_id)
        .map_err(|e| ClientError::invalid_url(&document.client_id, e.to_string()))?;
    let path = url.path().to_owned();
    Ok(axum::Router::new()
        .route(&path, get(move || async move { Json(document.clone()) }))
        .route("/healthz", get(|| async { "ok" })))
}

/// Serves the document for `url` on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    url: &str,
    client_name: &str,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    check_metadata_url(url).map_err(|e| ClientError::invalid_url(url, e))?;
    let router = app(client_metadata_document(url, client_name))?;
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| ClientError::io("serving the client metadata document", e))
}
