//! OpenShift image streams for any Kubernetes cluster: the binary around
//! `imagestream-core`, grouped by capability. Each folder's module doc says
//! what it owns and what it may use; `runtime` alone wires them together.

pub mod access;
pub mod background;
pub mod cli;
pub mod events;
pub mod importer;
pub mod leadership;
pub mod memory;
pub mod metrics;
pub mod runtime;
pub mod serving;
pub mod store;
pub mod triggers;
