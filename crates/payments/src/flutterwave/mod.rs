//! Flutterwave (v3): the Standard checkout client, the `verif-hash` check and webhook
//! events.
//!
//! Facts this module relies on (Flutterwave's v3 reference):
//! * base URL `https://api.flutterwave.com/v3`, `Authorization: Bearer <secret key>`;
//! * answers are `{status: "success" | "error", message, data}`;
//! * amounts are **decimal naira** (`100`, `1.4`, `"7500"`), not kobo. We send them as
//!   exact strings built from kobo (`"45000.50"`; Flutterwave's Standard examples send
//!   `amount` as a string, and its SDKs type it as a string), and we read them from the
//!   exact JSON text of the answer (never through an `f64`), refusing more than two
//!   decimals;
//! * webhooks carry the dashboard's secret hash verbatim in `verif-hash` (a shared
//!   secret, not an HMAC); `charge.completed` fires for failed charges too, so always
//!   confirm with [`FlutterwaveClient::verify`] before giving value.

mod client;
mod types;
mod webhook;

pub use client::FlutterwaveClient;
pub use types::{
    FlwCustomer, FlwStatus, FlwTransaction, PaymentLink, PaymentMethod, PaymentRequest,
    USSD_MAX_AMOUNT,
};
pub use webhook::{verify_hash, FlwKnownEvent, WebhookEvent, HASH_HEADER};
