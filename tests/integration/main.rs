//! Integration tests: one binary, so the crate links once.

mod access;
mod bypass;
mod cluster;
mod common;
mod fakeapi;
mod faults;
mod importer;
mod leader;
mod manifests;
mod observability;
mod registry;
mod reliability;
mod review;
mod sar;
mod serving;
mod triggers;
mod webhook;
