//! `mcp-auth-serve`: the serving plumbing `auth-server` and `resource-server` share, written
//! once. It does I/O (sockets, signals), so it cannot live in the pure `mcp-auth-core`.
//!
//! * [`nodelay`]: the listener both servers serve on, with `TCP_NODELAY` on every accepted
//!   connection;
//! * [`shutdown_signal`]: completes on Ctrl-C or SIGTERM.

use axum::serve::{ListenerExt as _, TapIo};
use tokio::net::{TcpListener, TcpStream};

/// A listener whose accepted connections have `TCP_NODELAY` set.
pub type NoDelayListener = TapIo<TcpListener, fn(&mut TcpStream)>;

/// `listener`, setting `TCP_NODELAY` on each connection it accepts.
///
/// Without it, Nagle's algorithm holds back the second small write of an answer (an SSE
/// answer leaves as the priming event, then the message; a response may leave as head, then
/// body) until the client's delayed ACK arrives, about 40 ms later: a keep-alive client
/// waiting for each answer then makes some 25 requests a second. A connection on which the
/// option cannot be set is served anyway.
pub fn nodelay(listener: TcpListener) -> NoDelayListener {
    listener.tap_io(set_nodelay)
}

fn set_nodelay(tcp: &mut TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY on an accepted connection");
    }
}

/// Completes on Ctrl-C or SIGTERM. A signal that cannot be listened for is logged and
/// never completes (the other one still can).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::serve::Listener;

    use super::*;

    /// Whether the server side of a fresh connection to `listener` has `TCP_NODELAY`.
    async fn accepted_has_nodelay(
        mut listener: impl Listener<Io = TcpStream, Addr = SocketAddr>,
    ) -> bool {
        let addr = listener.local_addr().unwrap();
        // The kernel completes the handshake into the backlog: connect, then accept.
        let _client = TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await;
        accepted.nodelay().unwrap()
    }

    /// The socket the server accepted (not the client's) has `TCP_NODELAY`; a plain
    /// listener's does not, so this checks the wrapper, not a default of the system.
    #[tokio::test]
    async fn accepted_connections_have_nodelay_set() {
        let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
        assert!(!accepted_has_nodelay(plain).await, "off by default");
        let wrapped = nodelay(TcpListener::bind("127.0.0.1:0").await.unwrap());
        assert!(accepted_has_nodelay(wrapped).await);
    }
}
