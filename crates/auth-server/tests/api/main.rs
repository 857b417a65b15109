//! Integration tests: the real auth-server on 127.0.0.1:0 with a fresh SQLite file each.

// Test helpers outside #[test] functions panic on purpose when the server misbehaves.
#![allow(clippy::unwrap_used)]

mod authorize;
mod binary;
mod browser;
mod cimd;
mod helpers;
mod introspect_revoke;
mod login;
mod metadata;
mod persistence;
mod register;
mod scale;
mod sqlite_store;
mod store;
mod token;
