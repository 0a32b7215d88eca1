//! The trigger controller: watches workloads and patches them when a tag they
//! follow moves (the patches come from the core). May use the core, `store`,
//! `access`, the audit writer of `serving` and `metrics`.

pub mod controller;
