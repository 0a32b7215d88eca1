//! The importer: the controller that keeps tags current (planning comes from
//! the core), the registry client and the memo of what was imported. May use
//! the core, `store`, `access`, `metrics`, `background` and `memory`.

pub mod backend;
pub mod controller;
pub mod memo;
pub mod registry;
mod schedule;
