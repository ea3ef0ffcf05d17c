//! The Flutterwave v3 API client.

use std::fmt;

use kobo_domain::money::Kobo;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::types::{FlwTransaction, PaymentLink, PaymentMethod, PaymentRequest, USSD_MAX_AMOUNT};
use crate::error::{PaymentError, Provider};
use crate::http::{self, BaseUrl};
use crate::lenient::de_string;

const PROVIDER: Provider = Provider::Flutterwave;

/// A Flutterwave v3 API client: one connection pool, Kobo's timeouts (5 s to connect,
/// 30 s per request), the secret key sent as `Authorization: Bearer`. Cheap to clone.
#[derive(Clone)]
pub struct FlutterwaveClient {
    http: reqwest::Client,
    base: BaseUrl,
    secret_key: SecretString,
}

impl fmt::Debug for FlutterwaveClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlutterwaveClient")
            .field("base", &self.base)
            .field("secret_key", &"[redacted]")
            .finish()
    }
}

/// `{status: "success" | "error", message, data}`, with `data` kept as exact text.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(deserialize_with = "de_string")]
    status: String,
    #[serde(default, deserialize_with = "de_string")]
    message: String,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Serialize)]
struct PaymentBody<'a> {
    tx_ref: &'a str,
    /// Exact decimal naira, as a string (`"45000.50"`).
    amount: String,
    currency: &'a str,
    redirect_url: &'a str,
    customer: CustomerBody<'a>,
    payment_options: &'static str,
    #[serde(skip_serializing_if = "Value::is_null")]
    meta: &'a Value,
}

#[derive(Serialize)]
struct CustomerBody<'a> {
    email: &'a str,
}

impl FlutterwaveClient {
    /// Flutterwave's production v3 base URL.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.flutterwave.com/v3";

    /// A client for `base_url` (e.g. [`Self::DEFAULT_BASE_URL`], or
    /// `http://127.0.0.1:PORT/flw/v3` for the simulator). Fails only on an invalid URL
    /// or when no HTTP client can be built.
    pub fn new(
        base_url: &str,
        secret_key: impl Into<SecretString>,
    ) -> Result<FlutterwaveClient, PaymentError> {
        Self::with_http_client(http::build_client(PROVIDER)?, base_url, secret_key)
    }

    /// Like [`Self::new`], sharing an existing `reqwest::Client` (whose timeouts apply).
    pub fn with_http_client(
        http: reqwest::Client,
        base_url: &str,
        secret_key: impl Into<SecretString>,
    ) -> Result<FlutterwaveClient, PaymentError> {
        Ok(FlutterwaveClient {
            http,
            base: BaseUrl::parse(PROVIDER, base_url)?,
            secret_key: secret_key.into(),
        })
    }

    /// Check a request without sending it: a positive amount, a reference, an e-mail,
    /// and for USSD the currency NGN and at most [`USSD_MAX_AMOUNT`]
    /// ([`PaymentError::UssdLimitExceeded`]).
    pub fn check(request: &PaymentRequest) -> Result<(), PaymentError> {
        if request.amount <= Kobo::ZERO {
            return Err(PaymentError::InvalidRequest(format!(
                "the amount must be positive, not {}",
                request.amount
            )));
        }
        for (field, value) in [
            ("tx_ref", &request.tx_ref),
            ("currency", &request.currency),
            ("customer email", &request.customer_email),
        ] {
            if value.trim().is_empty() {
                return Err(PaymentError::InvalidRequest(format!("{field} is empty")));
            }
        }
        if request.method == PaymentMethod::Ussd {
            if !request.currency.eq_ignore_ascii_case("NGN") {
                return Err(PaymentError::InvalidRequest(format!(
                    "USSD payments are in NGN only, not {}",
                    request.currency
                )));
            }
            if request.amount > USSD_MAX_AMOUNT {
                return Err(PaymentError::UssdLimitExceeded {
                    amount: request.amount,
                    limit: USSD_MAX_AMOUNT,
                });
            }
        }
        Ok(())
    }

    /// `POST /payments`: create a Standard (hosted) checkout and return its link.
    /// Refused locally, before any request, when [`Self::check`] fails.
    pub async fn initiate(&self, request: PaymentRequest) -> Result<PaymentLink, PaymentError> {
        Self::check(&request)?;
        let body = PaymentBody {
            tx_ref: &request.tx_ref,
            amount: request.amount.to_naira_string(),
            currency: &request.currency,
            redirect_url: &request.redirect_url,
            customer: CustomerBody {
                email: &request.customer_email,
            },
            payment_options: request.method.payment_options(),
            meta: &request.meta,
        };
        let url = self.base.join(&["payments"]);
        let data = self
            .call(self.http.post(url).json(&body), "payments")
            .await?;
        serde_json::from_str(&data)
            .map_err(|e| PaymentError::protocol(PROVIDER, format!("payments: {e}")))
    }

    /// `GET /transactions/{id}/verify`: the transaction's current state, with the
    /// amount converted exactly to kobo. Check [`FlwTransaction::pays_at_least`] before
    /// giving value.
    pub async fn verify(&self, transaction_id: u64) -> Result<FlwTransaction, PaymentError> {
        let id = transaction_id.to_string();
        let url = self.base.join(&["transactions", &id, "verify"]);
        let data = self.call(self.http.get(url), "verify").await?;
        FlwTransaction::from_json(&data)
            .map_err(|e| PaymentError::protocol(PROVIDER, format!("verify: {e}")))
    }

    /// Send, read the envelope, and return the exact text of `data` on success.
    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<String, PaymentError> {
        let request = request.bearer_auth(self.secret_key.expose_secret());
        let answer = http::send(PROVIDER, request).await?;
        let envelope = serde_json::from_slice::<Envelope<'_>>(&answer.body);
        if http::is_transient_status(answer.status) {
            let message = match &envelope {
                Ok(e) if !e.message.is_empty() => e.message.clone(),
                _ => http::excerpt(&answer.body),
            };
            return Err(PaymentError::Unavailable {
                provider: PROVIDER,
                http_status: Some(answer.status),
                message: format!("{what}: HTTP {}: {message}", answer.status),
            });
        }
        match envelope {
            Err(e) => Err(PaymentError::protocol(
                PROVIDER,
                format!(
                    "{what}: HTTP {} with a body that is not Flutterwave's envelope ({e}): {}",
                    answer.status,
                    http::excerpt(&answer.body)
                ),
            )),
            Ok(envelope)
                if !envelope.status.eq_ignore_ascii_case("success")
                    || !(200..300).contains(&answer.status) =>
            {
                tracing::debug!(what, status = answer.status, message = %envelope.message, "Flutterwave refused the request");
                Err(PaymentError::Provider {
                    provider: PROVIDER,
                    http_status: answer.status,
                    message: if envelope.message.is_empty() {
                        format!("HTTP {}", answer.status)
                    } else {
                        envelope.message
                    },
                })
            }
            Ok(Envelope {
                data: Some(data), ..
            }) => Ok(data.get().to_owned()),
            Ok(Envelope { data: None, .. }) => Err(PaymentError::protocol(
                PROVIDER,
                format!("{what}: a successful answer without data"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: PaymentMethod, amount: Kobo) -> PaymentRequest {
        PaymentRequest {
            tx_ref: "kobo_tx_1".into(),
            amount,
            currency: "NGN".into(),
            redirect_url: "https://kobo.example/billing/callback".into(),
            customer_email: "a@b.co".into(),
            method,
            meta: Value::Null,
        }
    }

    #[tokio::test]
    async fn ussd_above_500k_naira_is_refused_before_calling() {
        // Nothing listens on this port: a request would fail with Unavailable instead.
        let client = FlutterwaveClient::new("http://127.0.0.1:9/v3", "FLWSECK_TEST-x").unwrap();
        let over = request(PaymentMethod::Ussd, Kobo(50_000_001));
        match client.initiate(over).await {
            Err(PaymentError::UssdLimitExceeded { amount, limit }) => {
                assert_eq!(amount, Kobo(50_000_001));
                assert_eq!(limit, Kobo(50_000_000));
            }
            other => panic!("expected UssdLimitExceeded, got {other:?}"),
        }
        assert!(FlutterwaveClient::check(&request(PaymentMethod::Ussd, Kobo(50_000_000))).is_ok());
        assert!(FlutterwaveClient::check(&request(PaymentMethod::Card, Kobo(50_000_001))).is_ok());
        assert!(
            FlutterwaveClient::check(&request(PaymentMethod::BankTransfer, Kobo(900_000_000)))
                .is_ok()
        );
        let mut usd = request(PaymentMethod::Ussd, Kobo(100));
        usd.currency = "USD".into();
        assert!(matches!(
            FlutterwaveClient::check(&usd),
            Err(PaymentError::InvalidRequest(_))
        ));
        assert!(matches!(
            FlutterwaveClient::check(&request(PaymentMethod::Card, Kobo(0))),
            Err(PaymentError::InvalidRequest(_))
        ));
    }

    #[test]
    fn the_body_carries_exact_naira_as_a_string() {
        let r = request(PaymentMethod::BankTransfer, Kobo(4_500_050));
        let body = PaymentBody {
            tx_ref: &r.tx_ref,
            amount: r.amount.to_naira_string(),
            currency: &r.currency,
            redirect_url: &r.redirect_url,
            customer: CustomerBody {
                email: &r.customer_email,
            },
            payment_options: r.method.payment_options(),
            meta: &r.meta,
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({
                "tx_ref": "kobo_tx_1", "amount": "45000.50", "currency": "NGN",
                "redirect_url": "https://kobo.example/billing/callback",
                "customer": {"email": "a@b.co"}, "payment_options": "banktransfer"
            })
        );
    }

    #[tokio::test]
    async fn an_unreachable_provider_is_unavailable() {
        // Bind then drop a listener so the port is (almost certainly) closed.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let client =
            FlutterwaveClient::new(&format!("http://127.0.0.1:{port}/v3"), "FLWSECK_TEST-x")
                .unwrap();
        let err = client.verify(1).await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
    }
}
