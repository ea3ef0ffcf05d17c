//! The one error type of this crate.

use std::fmt;

use kobo_domain::money::Kobo;

/// Which payment provider an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// Paystack.
    Paystack,
    /// Flutterwave.
    Flutterwave,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::Paystack => "Paystack",
            Provider::Flutterwave => "Flutterwave",
        })
    }
}

/// Why a payment call failed.
///
/// How a caller should react:
/// * [`Unavailable`](PaymentError::Unavailable): transient; retry later with the *same*
///   reference (the provider may or may not have acted on the request).
/// * [`Provider`](PaymentError::Provider): the provider answered and refused
///   (`status: false` / `"error"`); retrying the same request will not help.
/// * [`Protocol`](PaymentError::Protocol): the answer had a shape we do not understand;
///   log it and alert, as something changed on the provider's side.
/// * [`UssdLimitExceeded`](PaymentError::UssdLimitExceeded) and
///   [`InvalidRequest`](PaymentError::InvalidRequest): refused locally, before any
///   request was sent (the server answers 422).
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The provider could not be reached, timed out, or answered 5xx/429.
    #[error("{provider} is unavailable: {message}")]
    Unavailable {
        /// Which provider.
        provider: Provider,
        /// HTTP status, when there was an answer.
        http_status: Option<u16>,
        /// What went wrong.
        message: String,
    },
    /// The provider answered and refused the request.
    #[error("{provider} refused the request: {message}")]
    Provider {
        /// Which provider.
        provider: Provider,
        /// HTTP status of the answer.
        http_status: u16,
        /// The provider's `message`.
        message: String,
    },
    /// The provider's answer (or a webhook body) did not have the expected shape.
    #[error("unexpected answer from {provider}: {message}")]
    Protocol {
        /// Which provider.
        provider: Provider,
        /// What did not match.
        message: String,
    },
    /// USSD payments are limited; the amount is above the limit. Nothing was sent.
    #[error("USSD payments are limited to {limit}; {amount} is above the limit")]
    UssdLimitExceeded {
        /// The amount asked for.
        amount: Kobo,
        /// The largest amount allowed.
        limit: Kobo,
    },
    /// The request is invalid before it reaches the provider. Nothing was sent.
    #[error("invalid payment request: {0}")]
    InvalidRequest(String),
}

impl PaymentError {
    pub(crate) fn protocol(provider: Provider, message: impl Into<String>) -> Self {
        PaymentError::Protocol {
            provider,
            message: message.into(),
        }
    }

    /// True when retrying later (with the same reference) may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, PaymentError::Unavailable { .. })
    }
}
