//! The trigger controller: patches workloads when a tag they follow moves. May use the core,
//! `store`, `access`, `metrics` and `serving`'s audit writer.

pub mod controller;
