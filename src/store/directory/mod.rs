//! Directory mode: `--streams-dir` listed within bounds, read and reloaded, and streams written
//! back into their own files. May use the core, `background` and `memory`.

pub mod atomic;
mod edit;
pub mod error;
pub mod listing;
pub mod source;
pub mod write;
