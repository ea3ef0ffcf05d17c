//! Integration tests: the real application over real HTTP, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

mod harness;

mod accounts;
mod api_keys;
mod bad_input;
mod isolation;
mod ops;
mod roles;
