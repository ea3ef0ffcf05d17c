//! Paystack: the API client, webhook signatures and webhook events.
//!
//! Facts this module relies on (Paystack's API reference):
//! * every answer is `{status: bool, message, data}`; `status` is the status of the API
//!   call, not of the transaction (that is `data.status`);
//! * requests carry `Authorization: Bearer <secret key>`;
//! * amounts are integers in kobo, sometimes sent as numeric strings;
//! * transaction ids are unsigned 64-bit integers;
//! * webhooks are `{event, data}` signed with `x-paystack-signature`, the hex HMAC-SHA512
//!   of the raw body keyed with the secret key. No event id is documented, so
//!   [`WebhookEvent::identity`] derives the dedupe key from the event name and `data`.

mod client;
mod signature;
mod types;
mod webhook;

pub use client::PaystackClient;
pub use signature::{sign, verify_signature, SIGNATURE_HEADER};
pub use types::{
    Authorization, ChargeAuthorization, InitializeRequest, InitializeResponse, Refund,
    RefundStatus, Transaction, TransactionStatus,
};
pub use webhook::{KnownEvent, RefundEvent, SubscriptionEvent, WebhookEvent};
