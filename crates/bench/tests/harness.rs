//! The harness against the real binaries: `mcp-bench` runs tiny scenarios and writes a
//! report whose rows did work without errors. No speed is asserted. The debug binaries of
//! the workspace are used (`cargo nextest run --workspace` builds them), so the test checks
//! the harness, not the servers' speed.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

use std::path::PathBuf;
use std::process::Command;

/// `target/debug`, two levels above this test binary (`target/debug/deps/harness-…`).
fn debug_bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_owned();
    for name in ["auth-server", "resource-server"] {
        assert!(
            dir.join(name).exists(),
            "{} is missing: run the tests with the workspace (`cargo nextest run --workspace`) or `cargo build --workspace` first",
            dir.join(name).display()
        );
    }
    dir
}

fn mcp_bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mcp-bench"))
}

/// Short scenarios (the whole authorization-code flow, and MCP tool calls in a session with
/// real tokens and without authorization, those two interleaved) plus one start of each
/// service produce a report with work done, no errors, and both files written.
#[test]
fn tiny_scenarios_against_the_real_binaries_report_work_and_no_errors() {
    let out = tempfile::tempdir().unwrap();
    let output = mcp_bench()
        .args([
            "--no-build",
            "--short",
            "--duration",
            "0.5",
            "--warmup",
            "0.2",
        ])
        .args(["--connections", "2", "--startup-repeats", "1"])
        .args(["--scenario", "as-flow", "--scenario", "rs-jwt-session"])
        .args(["--scenario", "rs-noauth-session", "--slice", "0.125"])
        .arg("--bin-dir")
        .arg(debug_bin_dir())
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "mcp-bench failed:\n{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("latest.json")).unwrap()).unwrap();
    assert_eq!(report["schema"], 1);
    assert_eq!(report["environment"]["mode"], "short");
    let rows = report["scenarios"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["as-flow", "rs-jwt-session", "rs-noauth-session"]);
    assert_eq!(report["environment"]["slice_s"], 0.125);
    for row in rows {
        assert!(row["units"].as_u64().unwrap() > 0, "{row}");
        assert_eq!(row["errors"], 0, "{row}");
        assert!(row["problem"].is_null(), "{row}");
        assert!(row["peak_rss_mib"].as_f64().unwrap() > 0.0, "{row}");
    }
    assert_eq!(rows[0]["requests_per_unit"], 2);
    // The pair ran interleaved: 0.5 s each in four slices, every one of which did work.
    assert!(rows[0]["slice_rates"].is_null());
    for row in &rows[1..] {
        let slices = row["slice_rates"].as_array().unwrap();
        assert_eq!(slices.len(), 4, "{row}");
        assert!(slices.iter().all(|r| r.as_f64().unwrap() > 0.0), "{row}");
    }
    let services = report["services"].as_array().unwrap();
    assert_eq!(services.len(), 3);
    for service in services {
        assert_eq!(service["starts"], 1, "{service}");
        assert!(
            service["startup_ms_median"].as_f64().unwrap() > 0.0,
            "{service}"
        );
        assert!(
            service["idle_rss_mib_median"].as_f64().unwrap() > 0.0,
            "{service}"
        );
    }
    let markdown = std::fs::read_to_string(out.path().join("latest.md")).unwrap();
    assert!(
        markdown.contains("| `as-flow` | flow (2 requests) |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| `rs-jwt-session` | request |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("Interleaved in 4 slice pairs"),
        "{markdown}"
    );
    // The table is printed too.
    assert!(String::from_utf8_lossy(&output.stdout).contains("| `as-flow` |"));
}

/// A misspelt scenario stops the run before anything starts, naming `--list`.
#[test]
fn an_unknown_scenario_is_refused() {
    let output = mcp_bench()
        .args(["--no-build", "--scenario", "as-nothing"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown scenario as-nothing"), "{stderr}");
    assert!(stderr.contains("--list"), "{stderr}");
}
