//! Integration tests: one binary, so the crate links once.

mod serving;
