//! The importer: the controller that keeps tags current, the registry client, the memo and the
//! schedule. May use the core, `store`, `access`, `metrics`, `background` and `memory`.

pub mod backend;
mod compose;
pub mod controller;
mod lookup;
pub mod memo;
pub mod records;
pub mod registry;
mod schedule;
pub mod settings;
mod tls_errors;
mod writeback;
