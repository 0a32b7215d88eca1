//! Integration tests: one binary, so the crate links once.

mod access;
mod common;
mod review;
mod sar;
mod serving;
mod webhook;
