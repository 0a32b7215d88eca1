//! The decisions of imagestream-webhook, with no I/O: image references, the
//! ImageStream types and the snapshot streams are resolved in, what admission
//! answers and records, RBAC, pull-secret matching, import planning, trigger
//! patches, `describe`, image records and what `new-app` makes of them, the
//! reading of registry push events and OpenShift objects, and the reading of
//! manifests and the config file.
//!
//! It may not use a Kubernetes client, an async runtime, a network or TLS
//! stack, metrics or log output: every input comes in as a value and every
//! answer goes out as one, so each is tested with hand-built objects. The
//! one question admission cannot answer alone (may this service account use
//! that stream?) goes through the [`access::AccessPort`] the binary supplies.

pub mod access;
pub mod admission;
pub mod config;
pub mod crds;
pub mod describe;
pub mod events;
pub mod image;
pub mod import;
pub mod manifest;
pub mod newapp;
pub mod openshift;
pub mod output;
pub mod pullsecret;
pub mod rbac;
pub mod reference;
pub mod stream;
pub mod text;
pub mod trigger;
