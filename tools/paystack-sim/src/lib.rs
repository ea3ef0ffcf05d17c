//! A stand-alone HTTP server that behaves like Paystack's and Flutterwave's (v3)
//! documented APIs, for Kobo's tests and for local development. State lives in memory.
//!
//! # Paystack (at the root, so `KOBO_PAYSTACK_BASE_URL=http://127.0.0.1:PORT`)
//!
//! * `POST /transaction/initialize`: Bearer secret key (401 otherwise); `amount` an
//!   integer (number or digit string) of at least 100 kobo; `email`; an optional
//!   `reference` (`-`, `.`, `=`, alphanumerics; generated when absent; reused → 400
//!   "Duplicate Transaction Reference"). Answers `authorization_url`
//!   `{public}/checkout/{access_code}`.
//! * `GET /checkout/{access_code}`: a small page with Pay / Fail buttons; paying sends
//!   the webhook and redirects to `callback_url?trxref=REF&reference=REF`.
//! * `GET /transaction/verify/{reference}`.
//! * `POST /transaction/charge_authorization`: test codes `AUTH_success` (and every
//!   code issued by a successful simulated payment, for the same e-mail),
//!   `AUTH_decline` ("Declined"), `AUTH_insufficient` ("Insufficient Funds").
//! * `POST /refund`: `transaction` (id or reference), optional `amount`; sends
//!   `refund.processed`.
//!
//! # Flutterwave (under `/flw/v3`, so
//! `KOBO_FLUTTERWAVE_BASE_URL=http://127.0.0.1:PORT/flw/v3`)
//!
//! * `POST /flw/v3/payments` (Standard checkout) → `{status:"success", data:{link}}`,
//!   link `{public}/flw/checkout/{tx_ref}`. Amounts are decimal naira (number or
//!   string); `ussd` above ₦500,000 is refused.
//! * `GET /flw/v3/transactions/{id}/verify`.
//!
//! # Simulator controls (no authentication)
//!
//! * `POST /sim/paystack/{reference}/complete` `{"outcome": "success"|"failed",
//!   "amount"?: kobo, "currency"?: "NGN"}`: settle a checkout; sends a signed
//!   `charge.success` / `charge.failed` (header `x-paystack-signature`).
//! * `POST /sim/flutterwave/{tx_ref}/complete` `{"outcome", "amount"?: "decimal naira"}`:
//!   sends `charge.completed` with header `verif-hash`.
//! * `GET /sim/webhooks`: every delivery, numbered from 1;
//!   `POST /sim/webhooks/replay/{n}`: send delivery `n` again, byte for byte.
//!
//! Webhooks are delivered once, before the triggering request answers (so a test can
//! assert right after), with no automatic retries; the receiver's status is recorded.

// Field parsers return a ready `Response` as their error, as axum handlers do; the
// simulator is not a hot path, so boxing them would only add noise.
#![allow(clippy::result_large_err)]

mod checkout;
mod flutterwave;
mod paystack;
mod reply;
mod state;
mod webhooks;

use std::future::Future;

use axum::routing::{get, post};
use axum::Router;

use state::AppState;

/// Start-up options.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where Paystack webhooks go; `None` records them without sending.
    pub webhook_url: Option<String>,
    /// Where Flutterwave webhooks go; `None` records them without sending.
    pub flutterwave_webhook_url: Option<String>,
    /// The Paystack secret key clients must present, and the webhook signing key.
    pub paystack_secret: String,
    /// The Flutterwave secret key clients must present.
    pub flutterwave_secret: String,
    /// The secret hash sent in `verif-hash`.
    pub flutterwave_hash: String,
    /// This server's address as browsers see it, without a trailing `/` (for checkout
    /// links).
    pub public_url: String,
}

/// The application, ready to serve.
pub fn router(config: SimConfig) -> Router {
    Router::new()
        .route("/transaction/initialize", post(paystack::initialize))
        .route("/transaction/verify/{reference}", get(paystack::verify))
        .route(
            "/transaction/charge_authorization",
            post(paystack::charge_authorization),
        )
        .route("/refund", post(paystack::refund))
        .route("/checkout/{access_code}", get(checkout::paystack_page))
        .route("/checkout/{access_code}/pay", post(checkout::paystack_pay))
        .route("/flw/v3/payments", post(flutterwave::payments))
        .route("/flw/v3/transactions/{id}/verify", get(flutterwave::verify))
        .route("/flw/checkout/{tx_ref}", get(checkout::flutterwave_page))
        .route(
            "/flw/checkout/{tx_ref}/pay",
            post(checkout::flutterwave_pay),
        )
        .route(
            "/sim/paystack/{reference}/complete",
            post(paystack::sim_complete),
        )
        .route(
            "/sim/flutterwave/{tx_ref}/complete",
            post(flutterwave::sim_complete),
        )
        .route("/sim/webhooks", get(webhooks::list))
        .route("/sim/webhooks/replay/{n}", post(webhooks::replay))
        .with_state(AppState::new(config))
}

/// Serve on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: SimConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(config))
        .with_graceful_shutdown(shutdown)
        .await
}
