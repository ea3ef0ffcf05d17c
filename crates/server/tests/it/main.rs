//! Integration tests: the real application over real HTTP, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

mod harness;
mod procs;

mod accounts;
mod api_keys;
mod bad_input;
mod billing;
mod commands;
mod gateway;
mod invoices;
mod isolation;
mod metering;
mod openai_sdk;
mod ops;
mod quotas;
mod roles;
