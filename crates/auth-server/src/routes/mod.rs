//! HTTP endpoints, one module per endpoint.

pub mod authorize;
pub mod health;
pub mod interaction;
pub mod introspect;
pub mod jwks;
pub mod metadata;
pub mod register;
pub mod revoke;
pub mod token;
