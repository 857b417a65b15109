//! One test binary: the real binaries end to end, and the static Docker checks.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

mod docker;
mod helpers;
mod inspector;
mod journeys;
mod login;
mod memory;
mod outages;
