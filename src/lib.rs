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
pub mod config;
pub mod decision;
pub mod describe;
pub mod dirstore;
pub mod dirwrite;
pub mod fieldcheck;
pub mod imagestream;
pub mod import;
pub mod importer;
pub mod importmemo;
pub mod jsonw;
pub mod leader;
pub mod manifest;
pub mod memory;
pub mod metrics;
pub mod pullsecret;
pub mod rbac;
pub mod reference;
pub mod registry;
pub mod resolve;
pub mod response;
pub mod sar;
pub mod server;
pub mod snapshot;
pub mod store;
pub mod tls;
pub mod trigger;
pub mod triggers;
pub mod watch;
pub mod webhook;
pub mod wire;
pub mod workload;
