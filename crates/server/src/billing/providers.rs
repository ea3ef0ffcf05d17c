//! The configured payment providers.

use crate::error::ApiError;
use crate::settings::Settings;
use axum::http::StatusCode;
use kobo_payments::flutterwave::FlutterwaveClient;
use kobo_payments::paystack::PaystackClient;
use kobo_payments::PaymentError;
use secrecy::ExposeSecret;

pub struct Providers {
    pub paystack: Option<PaystackClient>,
    pub flutterwave: Option<FlutterwaveClient>,
    pub flutterwave_hash: Option<String>,
}

/// How a tenant chose to pay: the provider and its channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    PaystackCard,
    PaystackTransfer,
    FlutterwaveCard,
    FlutterwaveTransfer,
    FlutterwaveUssd,
}

impl Method {
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "paystack_card" => Method::PaystackCard,
            "paystack_transfer" => Method::PaystackTransfer,
            "flutterwave_card" => Method::FlutterwaveCard,
            "flutterwave_transfer" => Method::FlutterwaveTransfer,
            "flutterwave_ussd" => Method::FlutterwaveUssd,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::PaystackCard => "paystack_card",
            Method::PaystackTransfer => "paystack_transfer",
            Method::FlutterwaveCard => "flutterwave_card",
            Method::FlutterwaveTransfer => "flutterwave_transfer",
            Method::FlutterwaveUssd => "flutterwave_ussd",
        }
    }

    pub fn provider(self) -> &'static str {
        match self {
            Method::PaystackCard | Method::PaystackTransfer => "paystack",
            _ => "flutterwave",
        }
    }
}

impl Providers {
    pub fn from_settings(s: &Settings) -> anyhow::Result<Self> {
        let paystack = match &s.paystack_secret_key {
            Some(k) => Some(PaystackClient::new(
                &s.paystack_base_url,
                k.expose_secret().to_string(),
            )?),
            None => None,
        };
        let flutterwave = match &s.flutterwave_secret_key {
            Some(k) => Some(FlutterwaveClient::new(
                &s.flutterwave_base_url,
                k.expose_secret().to_string(),
            )?),
            None => None,
        };
        Ok(Self {
            paystack,
            flutterwave,
            flutterwave_hash: s
                .flutterwave_secret_hash
                .as_ref()
                .map(|h| h.expose_secret().to_string()),
        })
    }

    pub fn paystack(&self) -> Result<&PaystackClient, ApiError> {
        self.paystack.as_ref().ok_or_else(|| {
            ApiError::unavailable(
                "payment_provider_not_configured",
                "Paystack is not configured on this server (KOBO_PAYSTACK_SECRET_KEY)",
                60,
            )
        })
    }

    pub fn flutterwave(&self) -> Result<&FlutterwaveClient, ApiError> {
        self.flutterwave.as_ref().ok_or_else(|| {
            ApiError::unavailable(
                "payment_provider_not_configured",
                "Flutterwave is not configured on this server (KOBO_FLUTTERWAVE_SECRET_KEY)",
                60,
            )
        })
    }
}

/// A provider failure in our envelope.
pub fn payment_error(e: PaymentError) -> ApiError {
    match e {
        PaymentError::UssdLimitExceeded { .. } | PaymentError::InvalidRequest(_) => {
            ApiError::unprocessable("payment_not_allowed", e.to_string())
        }
        PaymentError::Unavailable { .. } => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "payment_provider_unavailable",
            e.to_string(),
        )
        .retry_after(30),
        PaymentError::Provider { .. } | PaymentError::Protocol { .. } => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "payment_provider_error",
            e.to_string(),
        ),
    }
}
