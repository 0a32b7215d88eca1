//! Integration tests: one binary, so the crate links once.

mod access;
mod bypass;
mod chart;
mod cli;
mod cluster;
mod common;
mod convert;
mod dirfaults;
mod events;
mod fakeapi;
mod faults;
mod importer;
mod importmodes;
mod leader;
mod manifests;
mod observability;
mod registry;
mod reliability;
mod review;
mod sar;
mod secrets;
mod serving;
mod set;
mod tag;
mod triggers;
mod webhook;
