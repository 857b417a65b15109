//! Ports: the demo's fixed ports must be free (a busy one is named), and tests pick free
//! ones. A server's issuer or resource URL contains its port, and each server needs the
//! other's URL before it starts, so ports are chosen before the servers bind them.

use std::net::{Ipv4Addr, TcpListener};

use anyhow::{Result, bail};

/// Fails with a message naming `what` and the setting that moves it when `port` is taken
/// on 127.0.0.1.
pub fn ensure_free(port: u16, what: &str, setting: &str) -> Result<()> {
    match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
        Ok(_) => Ok(()),
        Err(e) => bail!(
            "port {port} ({what}) is busy: {e}. Stop whatever listens there, or pick another port with {setting}"
        ),
    }
}

/// A port that was free a moment ago (the OS picks it; the caller binds it next).
pub fn pick_free() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_port_is_named_with_its_setting() {
        let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = taken.local_addr().unwrap().port();
        let err = ensure_free(port, "auth server", "--as-port")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("port {port} (auth server) is busy")),
            "{err}"
        );
        assert!(err.contains("--as-port"), "{err}");
        drop(taken);
        ensure_free(port, "auth server", "--as-port").unwrap();
    }

    #[test]
    fn picked_ports_are_bindable() {
        let port = pick_free().unwrap();
        assert_ne!(port, 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    }
}
