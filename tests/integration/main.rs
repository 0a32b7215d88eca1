//! Integration tests: one binary, so the crate links once.

mod access;
mod cluster;
mod common;
mod fakeapi;
mod leader;
mod manifests;
mod review;
mod sar;
mod serving;
mod webhook;
