//! The importer: the controller that keeps tags current, the registry client, the memo and the
//! schedule. May use the core, `store`, `access`, `metrics`, `background` and `memory`.

pub mod backend;
mod compose;
pub mod controller;
pub mod memo;
pub mod registry;
mod schedule;
mod settings;
mod writeback;
