//! OpenShift image streams for any Kubernetes cluster: the admission webhook,
//! its stream store and its command line.
//!
//! Pure modules (`reference`, `imagestream`, `snapshot`, `resolve`, `wire`,
//! `workload`, `decision`, `response`, `manifest`, `config`) do no I/O; the edges
//! (`server`, `tls`, `webhook`, `admin`, `dirstore`, `cmd`) hold no decisions.

pub mod access;
pub mod admin;
pub mod admission;
pub mod audit;
pub mod background;
pub mod certs;
pub mod cli;
pub mod cluster;
pub mod cmd;
pub mod dirstore;
pub mod dirwrite;
pub mod importer;
pub mod importmemo;
pub mod leader;
pub mod memory;
pub mod metrics;
pub mod registry;
pub mod sar;
pub mod server;
pub mod store;
pub mod tls;
pub mod triggers;
pub mod watch;
pub mod webhook;
