//! Serving admission: the listeners and TLS, the webhook and admin routes, the admission handler,
//! the audit writer. May use the core, `store`, `access` and `metrics`.

pub mod admin;
pub mod admission;
pub mod audit_log;
pub mod body;
pub mod server;
pub mod tls;
pub mod webhook;
