//! Serving admission: the TLS and plain listeners, the webhook and admin
//! routes, the handler that composes store, access and audit, and the audit
//! writer. May use the core, `store`, `access` and `metrics`.

pub mod admin;
pub mod admission;
pub mod audit_log;
pub mod server;
pub mod tls;
pub mod webhook;
