//! Kobo's payment providers: Paystack and Flutterwave (v3) clients, webhook
//! verification and webhook event parsing.
//!
//! * [`paystack`]: [`paystack::PaystackClient`] (initialize, verify,
//!   charge_authorization, refund), [`paystack::verify_signature`] /
//!   [`paystack::sign`] (HMAC-SHA512 of the raw body, hex) and
//!   [`paystack::WebhookEvent`].
//! * [`flutterwave`]: [`flutterwave::FlutterwaveClient`] (Standard checkout, verify),
//!   [`flutterwave::verify_hash`] (the `verif-hash` header: a shared secret compared in
//!   constant time, not an HMAC) and [`flutterwave::WebhookEvent`].
//!
//! Money is always [`kobo_domain::money::Kobo`]. Paystack speaks integer kobo (sometimes
//! as numeric strings); Flutterwave speaks decimal naira, which is converted exactly with
//! [`kobo_domain::money::parse_naira_decimal`] and [`Kobo::to_naira_string`], never
//! through a float.
//!
//! Parsing is liberal where the providers are known to vary (ids as numbers or strings,
//! amounts as numbers or numeric strings, `metadata` as an object, a JSON string or `""`)
//! and strict where money is concerned (a fractional kobo amount or a naira amount with
//! more than two decimals is a [`PaymentError::Protocol`] error).
//!
//! [`Kobo::to_naira_string`]: kobo_domain::money::Kobo::to_naira_string

mod error;
mod http;
mod lenient;

pub mod flutterwave;
pub mod paystack;

pub use error::{PaymentError, Provider};
