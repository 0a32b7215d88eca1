//! Integration tests: one binary, so the crate links once.

mod access;
mod bypass;
mod chart;
mod cli;
mod cluster;
mod common;
mod dirfaults;
mod fakeapi;
mod faults;
mod importer;
mod importscale;
mod leader;
mod manifests;
mod observability;
mod registry;
mod reliability;
mod review;
mod sar;
mod secrets;
mod serving;
mod triggers;
mod webhook;
