//! Integration tests: the real `kobo-mock-upstream` binary, driven through
//! `kobo-providers`. Each test starts its own server process, so tests run in parallel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod anthropic;
mod helpers;
mod mock_kind;
mod openai;
mod resilience;
mod server;
