//! Directory mode's store: reading `--streams-dir` (listing, bounded reads,
//! reloads) and writing a stream back into its own file. May use the core,
//! `background` and `memory`.

pub mod atomic;
mod edit;
pub mod error;
pub mod listing;
pub mod source;
pub mod write;
