//! The Paystack API client.

use std::fmt;

use kobo_domain::money::Kobo;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::types::{
    ChargeAuthorization, InitializeRequest, InitializeResponse, Refund, Transaction,
};
use crate::error::{PaymentError, Provider};
use crate::http::{self, BaseUrl};
use crate::lenient::{de_bool, de_string};

const PROVIDER: Provider = Provider::Paystack;

/// A Paystack API client: one connection pool, Kobo's timeouts (5 s to connect, 30 s
/// per request), the secret key sent as `Authorization: Bearer`. Cheap to clone.
#[derive(Clone)]
pub struct PaystackClient {
    http: reqwest::Client,
    base: BaseUrl,
    secret_key: SecretString,
}

impl fmt::Debug for PaystackClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PaystackClient")
            .field("base", &self.base)
            .field("secret_key", &"[redacted]")
            .finish()
    }
}

/// `{status: bool, message, data}`.
#[derive(Deserialize)]
struct Envelope {
    #[serde(deserialize_with = "de_bool")]
    status: bool,
    #[serde(default, deserialize_with = "de_string")]
    message: String,
    #[serde(default)]
    data: Value,
}

#[derive(Serialize)]
struct InitializeBody<'a> {
    email: &'a str,
    amount: Kobo,
    reference: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    callback_url: &'a str,
    #[serde(skip_serializing_if = "Value::is_null")]
    metadata: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    channels: Option<&'a [String]>,
}

#[derive(Serialize)]
struct ChargeBody<'a> {
    email: &'a str,
    amount: Kobo,
    authorization_code: &'a str,
    reference: &'a str,
    #[serde(skip_serializing_if = "Value::is_null")]
    metadata: &'a Value,
}

#[derive(Serialize)]
struct RefundBody<'a> {
    transaction: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount: Option<Kobo>,
}

impl PaystackClient {
    /// Paystack's production base URL.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.paystack.co";

    /// A client for `base_url` (e.g. [`Self::DEFAULT_BASE_URL`] or the simulator's
    /// address). Fails only on an invalid URL or when no HTTP client can be built.
    pub fn new(
        base_url: &str,
        secret_key: impl Into<SecretString>,
    ) -> Result<PaystackClient, PaymentError> {
        Self::with_http_client(http::build_client(PROVIDER)?, base_url, secret_key)
    }

    /// Like [`Self::new`], sharing an existing `reqwest::Client` (whose timeouts apply).
    pub fn with_http_client(
        http: reqwest::Client,
        base_url: &str,
        secret_key: impl Into<SecretString>,
    ) -> Result<PaystackClient, PaymentError> {
        Ok(PaystackClient {
            http,
            base: BaseUrl::parse(PROVIDER, base_url)?,
            secret_key: secret_key.into(),
        })
    }

    /// The secret key, as bytes, for [`super::verify_signature`].
    pub fn webhook_secret(&self) -> &[u8] {
        self.secret_key.expose_secret().as_bytes()
    }

    /// `POST /transaction/initialize`: start a hosted checkout.
    pub async fn initialize(
        &self,
        request: InitializeRequest,
    ) -> Result<InitializeResponse, PaymentError> {
        check_amount(request.amount)?;
        check_not_empty("email", &request.email)?;
        check_not_empty("reference", &request.reference)?;
        let body = InitializeBody {
            email: &request.email,
            amount: request.amount,
            reference: &request.reference,
            callback_url: &request.callback_url,
            metadata: &request.metadata,
            channels: request.channels.as_deref(),
        };
        let url = self.base.join(&["transaction", "initialize"]);
        let data = self
            .call(self.http.post(url).json(&body), "initialize")
            .await?;
        serde_json::from_value(data)
            .map_err(|e| PaymentError::protocol(PROVIDER, format!("initialize: {e}")))
    }

    /// `GET /transaction/verify/{reference}`: the transaction's current state. The
    /// source of truth before giving value (webhooks only say "look again").
    pub async fn verify(&self, reference: &str) -> Result<Transaction, PaymentError> {
        check_not_empty("reference", reference)?;
        let url = self.base.join(&["transaction", "verify", reference]);
        let data = self.call(self.http.get(url), "verify").await?;
        transaction(data, "verify")
    }

    /// `POST /transaction/charge_authorization`: charge a saved reusable authorization.
    ///
    /// A declined charge is not an error: the answer is a transaction whose status is
    /// `failed` and whose `gateway_response` says why (`Declined`, `Insufficient Funds`).
    pub async fn charge_authorization(
        &self,
        request: ChargeAuthorization,
    ) -> Result<Transaction, PaymentError> {
        check_amount(request.amount)?;
        check_not_empty("email", &request.email)?;
        check_not_empty("authorization_code", &request.authorization_code)?;
        check_not_empty("reference", &request.reference)?;
        let body = ChargeBody {
            email: &request.email,
            amount: request.amount,
            authorization_code: &request.authorization_code,
            reference: &request.reference,
            metadata: &request.metadata,
        };
        let url = self.base.join(&["transaction", "charge_authorization"]);
        let data = self
            .call(self.http.post(url).json(&body), "charge_authorization")
            .await?;
        transaction(data, "charge_authorization")
    }

    /// `POST /refund`: refund `amount` (the whole transaction when `None`) of the
    /// transaction with this id or reference. The answer is usually `pending`; the
    /// `refund.processed` webhook follows.
    pub async fn refund(
        &self,
        transaction: &str,
        amount: Option<Kobo>,
    ) -> Result<Refund, PaymentError> {
        check_not_empty("transaction", transaction)?;
        if let Some(amount) = amount {
            check_amount(amount)?;
        }
        let url = self.base.join(&["refund"]);
        let body = RefundBody {
            transaction,
            amount,
        };
        let data = self.call(self.http.post(url).json(&body), "refund").await?;
        Refund::from_value(data)
            .map_err(|e| PaymentError::protocol(PROVIDER, format!("refund: {e}")))
    }

    /// Send, read the envelope, and return `data` when `status` is true.
    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Value, PaymentError> {
        let request = request.bearer_auth(self.secret_key.expose_secret());
        let answer = http::send(PROVIDER, request).await?;
        let envelope = serde_json::from_slice::<Envelope>(&answer.body);
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
                    "{what}: HTTP {} with a body that is not Paystack's envelope ({e}): {}",
                    answer.status,
                    http::excerpt(&answer.body)
                ),
            )),
            Ok(envelope) if !envelope.status || !(200..300).contains(&answer.status) => {
                tracing::debug!(what, status = answer.status, message = %envelope.message, "Paystack refused the request");
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
            Ok(envelope) => Ok(envelope.data),
        }
    }
}

fn transaction(data: Value, what: &str) -> Result<Transaction, PaymentError> {
    Transaction::from_value(data)
        .map_err(|e| PaymentError::protocol(PROVIDER, format!("{what}: {e}")))
}

fn check_amount(amount: Kobo) -> Result<(), PaymentError> {
    if amount.as_i64() <= 0 {
        return Err(PaymentError::InvalidRequest(format!(
            "the amount must be positive, not {amount}"
        )));
    }
    Ok(())
}

fn check_not_empty(field: &str, value: &str) -> Result<(), PaymentError> {
    if value.trim().is_empty() {
        return Err(PaymentError::InvalidRequest(format!("{field} is empty")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn invalid_requests_are_refused_before_any_call() {
        // Port 9 (discard) on localhost: nothing is sent because validation fails first.
        let client = PaystackClient::new("http://127.0.0.1:9", "sk_test_x").unwrap();
        let request = InitializeRequest {
            email: "a@b.co".into(),
            amount: Kobo(0),
            reference: "r1".into(),
            callback_url: String::new(),
            metadata: Value::Null,
            channels: None,
        };
        assert!(matches!(
            client.initialize(request).await,
            Err(PaymentError::InvalidRequest(_))
        ));
        assert!(matches!(
            client.verify("").await,
            Err(PaymentError::InvalidRequest(_))
        ));
        assert!(matches!(
            client.refund("ref", Some(Kobo(-1))).await,
            Err(PaymentError::InvalidRequest(_))
        ));
    }

    #[test]
    fn bad_base_urls_are_refused_and_the_key_is_not_printed() {
        assert!(PaystackClient::new("not a url", "sk").is_err());
        assert!(PaystackClient::new("mailto:x@y.z", "sk").is_err());
        let client = PaystackClient::new("http://127.0.0.1:1/", "sk_test_secret").unwrap();
        assert!(!format!("{client:?}").contains("sk_test_secret"));
        assert_eq!(
            client
                .base
                .join(&["transaction", "verify", "a/b c"])
                .as_str(),
            "http://127.0.0.1:1/transaction/verify/a%2Fb%20c"
        );
    }

    #[test]
    fn request_bodies_send_integer_kobo_and_omit_empty_fields() {
        let body = InitializeBody {
            email: "a@b.co",
            amount: Kobo(4_500_000),
            reference: "r1",
            callback_url: "",
            metadata: &Value::Null,
            channels: None,
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"email": "a@b.co", "amount": 4_500_000, "reference": "r1"})
        );
    }
}
