//! The demo's building blocks, shared with `tests-e2e`:
//!
//! * [`process`]: the three real binaries as children, started and awaited on their
//!   `listening on http://…` line, stopped (SIGTERM, then SIGKILL) when their guard drops;
//! * [`ports`]: free-port checks that name the busy port, and free-port picking;
//! * [`journey`]: `mcp-client --json` runs, their steps grouped into the six demo steps.

pub mod journey;
pub mod ports;
pub mod process;
