//! Starts the `kobo-paystack-sim` binary and drives it with `kobo-payments`' clients,
//! receiving its webhooks on a small in-test server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod flutterwave;
mod helpers;
mod paystack;
mod webhooks;
