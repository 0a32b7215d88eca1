//! Integration tests: one binary, so the crate links once.

mod common;
mod review;
mod serving;
mod webhook;
