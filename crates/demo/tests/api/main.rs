//! The `demo` binary itself, over the real servers (built next to it by the workspace test
//! run): the six steps and exit 0, a busy port named, and nothing left running or bound
//! after it ends, also when it is stopped by a signal.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener};
use std::process::{Command, Stdio};

use demo::ports::pick_free;

const DEMO: &str = env!("CARGO_BIN_EXE_demo");

fn ports() -> [u16; 3] {
    [
        pick_free().unwrap(),
        pick_free().unwrap(),
        pick_free().unwrap(),
    ]
}

fn demo(ports: [u16; 3]) -> Command {
    let mut command = Command::new(DEMO);
    command.args([
        "--no-build",
        "--as-port",
        &ports[0].to_string(),
        "--rs-port",
        &ports[1].to_string(),
        "--cimd-port",
        &ports[2].to_string(),
    ]);
    command
}

/// Every port is free again (a server still running would hold it).
fn all_free(ports: [u16; 3]) {
    for port in ports {
        TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .unwrap_or_else(|e| panic!("port {port} is still bound: {e}"));
    }
}

/// The demo prints the six steps in order and the success line, exits 0, and stops its
/// servers.
#[test]
fn the_demo_prints_the_six_steps_exits_0_and_leaves_no_port_bound() {
    let ports = ports();
    let output = demo(ports).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut at = 0;
    for step in [
        "1. Discovery",
        "2. Registration by a Client ID Metadata Document",
        "3. whoami succeeds",
        "4. get_weather is refused: 403 insufficient_scope",
        "5. Step-up",
        "6. get_weather succeeds; then a refresh and a revocation",
        "✔ Demo complete",
    ] {
        let found = stdout[at..]
            .find(step)
            .unwrap_or_else(|| panic!("{step:?} missing or out of order:\n{stdout}"));
        at += found;
    }
    all_free(ports);
}

/// A busy port stops the demo before it starts anything, naming the port and its flag.
#[test]
fn a_busy_port_is_named() {
    let ports = ports();
    let _taken = TcpListener::bind((Ipv4Addr::LOCALHOST, ports[1])).unwrap();
    let output = demo(ports).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("port {} (resource server) is busy", ports[1])),
        "{stderr}"
    );
    assert!(stderr.contains("--rs-port"), "{stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).is_empty());
}

/// SIGTERM while the servers run: every one of them is stopped, the demo exits 143, and no
/// port stays bound.
#[test]
fn sigterm_stops_every_server_the_demo_started() {
    let ports = ports();
    let mut child = demo(ports)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    // The CIMD host is the last server started: all three run now.
    lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("CIMD host"))
        .expect("the servers started");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{status}");
    all_free(ports);
}
