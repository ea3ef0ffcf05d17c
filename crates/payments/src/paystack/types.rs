//! Paystack requests and answers, and the liberal parsing of transactions and refunds.

use std::fmt;

use kobo_domain::money::Kobo;
use serde::Deserialize;
use serde_json::Value;

use crate::lenient::{
    de_bool, de_kobo, de_metadata, de_opt_kobo, de_opt_string, de_opt_u64, de_string, de_u64,
    value_opt_string, value_u64,
};

/// `POST /transaction/initialize`.
#[derive(Debug, Clone, PartialEq)]
pub struct InitializeRequest {
    /// The payer's e-mail address.
    pub email: String,
    /// The amount to pay, in kobo.
    pub amount: Kobo,
    /// Our unique reference for this attempt (only `-`, `.`, `=` and alphanumerics);
    /// persist it before calling, so a retried call cannot create a second charge.
    pub reference: String,
    /// Where Paystack sends the payer back (with `?reference=`); empty for the
    /// integration's default.
    pub callback_url: String,
    /// Custom data echoed back in verify answers and webhooks; `null` to send none.
    pub metadata: Value,
    /// Restrict the checkout to these channels (`card`, `bank`, `bank_transfer`, `ussd`,
    /// …); `None` for all.
    pub channels: Option<Vec<String>>,
}

/// The answer to [`InitializeRequest`]: send the payer to `authorization_url`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InitializeResponse {
    /// The hosted checkout page.
    pub authorization_url: String,
    /// The checkout's access code (for Popup/Inline and mobile SDKs).
    pub access_code: String,
    /// The transaction's reference.
    pub reference: String,
}

/// `POST /transaction/charge_authorization`: charge a saved, reusable card.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargeAuthorization {
    /// The e-mail address the authorization belongs to.
    pub email: String,
    /// The amount to charge, in kobo.
    pub amount: Kobo,
    /// `AUTH_…`, from a successful transaction whose authorization is `reusable`.
    pub authorization_code: String,
    /// Our unique reference; derive it from the invoice and attempt
    /// (`inv_<id>_a<n>`), so a retried call cannot charge twice.
    pub reference: String,
    /// Custom data; `null` to send none.
    pub metadata: Value,
}

/// A transaction's status (`data.status`), which is not the API call's `status`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TransactionStatus {
    /// Paid.
    Success,
    /// The payment failed.
    Failed,
    /// The payer never completed the payment.
    Abandoned,
    /// Waiting on the payer (OTP, bank transfer, …).
    Ongoing,
    /// In progress.
    Pending,
    /// In progress (direct debit).
    Processing,
    /// Waiting in a bulk-charge queue.
    Queued,
    /// Refunded or charged back.
    Reversed,
    /// A status this crate does not know.
    Other(String),
}

impl TransactionStatus {
    /// Paystack's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            TransactionStatus::Success => "success",
            TransactionStatus::Failed => "failed",
            TransactionStatus::Abandoned => "abandoned",
            TransactionStatus::Ongoing => "ongoing",
            TransactionStatus::Pending => "pending",
            TransactionStatus::Processing => "processing",
            TransactionStatus::Queued => "queued",
            TransactionStatus::Reversed => "reversed",
            TransactionStatus::Other(other) => other,
        }
    }

    /// True for statuses that will not change any more (`success`, `failed`,
    /// `reversed`). `abandoned` is not final: it means the payer has not finished, and
    /// they may still pay on the same checkout.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            TransactionStatus::Success | TransactionStatus::Failed | TransactionStatus::Reversed
        )
    }
}

impl From<&str> for TransactionStatus {
    fn from(raw: &str) -> Self {
        match raw.trim().to_ascii_lowercase().as_str() {
            "success" => TransactionStatus::Success,
            "failed" => TransactionStatus::Failed,
            "abandoned" => TransactionStatus::Abandoned,
            "ongoing" => TransactionStatus::Ongoing,
            "pending" => TransactionStatus::Pending,
            "processing" => TransactionStatus::Processing,
            "queued" => TransactionStatus::Queued,
            "reversed" => TransactionStatus::Reversed,
            _ => TransactionStatus::Other(raw.to_owned()),
        }
    }
}

impl fmt::Display for TransactionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A saved card (or other instrument) that can be charged again when `reusable`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// `AUTH_…`.
    pub authorization_code: String,
    /// Whether [`ChargeAuthorization`] may use it.
    pub reusable: bool,
    /// Last four digits of the card.
    pub last4: Option<String>,
    /// E.g. `visa DEBIT`.
    pub card_type: Option<String>,
    /// The issuing bank.
    pub bank: Option<String>,
    /// `card`, `bank`, …
    pub channel: Option<String>,
    /// `SIG_…`: the same card has the same signature across authorizations.
    pub signature: Option<String>,
    /// Expiry month, `"01"`–`"12"`.
    pub exp_month: Option<String>,
    /// Expiry year, e.g. `"2030"`.
    pub exp_year: Option<String>,
}

/// A Paystack transaction, from verify, charge_authorization or a `charge.*` webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    /// Paystack's id (unsigned 64-bit).
    pub id: u64,
    /// The reference.
    pub reference: String,
    /// The transaction's status.
    pub status: TransactionStatus,
    /// The amount paid, in kobo. Compare it with *your* expected amount (and check
    /// [`Transaction::currency`]) before giving value.
    pub amount: Kobo,
    /// The amount asked for, when Paystack reports it.
    pub requested_amount: Option<Kobo>,
    /// `NGN`, …
    pub currency: String,
    /// When it was paid (ISO 8601 text as Paystack sends it).
    pub paid_at: Option<String>,
    /// `card`, `bank`, `ussd`, `bank_transfer`, `dedicated_nuban`, …
    pub channel: Option<String>,
    /// Paystack's gateway message: `Successful`, `Approved`, `Declined`,
    /// `Insufficient Funds`, …
    pub gateway_response: Option<String>,
    /// The card or other instrument used; `None` when Paystack sends none (or `{}`).
    pub authorization: Option<Authorization>,
    /// The customer's e-mail address.
    pub customer_email: Option<String>,
    /// The metadata: an object (also when Paystack sent it as a JSON string), `null`
    /// when it was absent, `null` or `""`, or a plain string otherwise.
    pub metadata: Value,
}

impl Transaction {
    /// True when the transaction succeeded in `currency` for at least `expected`.
    pub fn pays_at_least(&self, currency: &str, expected: Kobo) -> bool {
        self.status == TransactionStatus::Success
            && self.currency.eq_ignore_ascii_case(currency)
            && self.amount >= expected
    }

    /// Parse `data` of a verify answer, a charge answer or a `charge.*` webhook.
    pub fn from_value(data: Value) -> Result<Transaction, String> {
        let wire: WireTransaction = serde_json::from_value(data).map_err(|e| e.to_string())?;
        Ok(wire.into())
    }
}

#[derive(Deserialize)]
struct WireTransaction {
    #[serde(deserialize_with = "de_u64")]
    id: u64,
    #[serde(deserialize_with = "de_string")]
    reference: String,
    #[serde(deserialize_with = "de_string")]
    status: String,
    #[serde(deserialize_with = "de_kobo")]
    amount: Kobo,
    #[serde(default, deserialize_with = "de_opt_kobo")]
    requested_amount: Option<Kobo>,
    #[serde(default, deserialize_with = "de_opt_string")]
    currency: Option<String>,
    #[serde(default, deserialize_with = "de_opt_string")]
    paid_at: Option<String>,
    #[serde(default, rename = "paidAt", deserialize_with = "de_opt_string")]
    paid_at_camel: Option<String>,
    #[serde(default, deserialize_with = "de_opt_string")]
    channel: Option<String>,
    #[serde(default, deserialize_with = "de_opt_string")]
    gateway_response: Option<String>,
    #[serde(default)]
    authorization: Value,
    #[serde(default)]
    customer: Value,
    #[serde(default, deserialize_with = "de_metadata")]
    metadata: Value,
}

impl From<WireTransaction> for Transaction {
    fn from(w: WireTransaction) -> Self {
        Transaction {
            id: w.id,
            reference: w.reference,
            status: TransactionStatus::from(w.status.as_str()),
            amount: w.amount,
            requested_amount: w.requested_amount,
            currency: w.currency.unwrap_or_default(),
            paid_at: w.paid_at.or(w.paid_at_camel),
            channel: w.channel,
            gateway_response: w.gateway_response,
            authorization: parse_authorization(w.authorization),
            customer_email: w.customer.get("email").and_then(value_opt_string),
            metadata: w.metadata,
        }
    }
}

#[derive(Deserialize)]
struct WireAuthorization {
    #[serde(default, deserialize_with = "de_opt_string")]
    authorization_code: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    reusable: bool,
    #[serde(default, deserialize_with = "de_opt_string")]
    last4: Option<String>,
    #[serde(default, deserialize_with = "de_opt_string")]
    card_type: Option<String>,
    #[serde(default, deserialize_with = "de_opt_string")]
    bank: Option<String>,
    #[serde(default, deserialize_with = "de_opt_string")]
    channel: Option<String>,
    #[serde(default, deserialize_with = "de_opt_string")]
    signature: Option<String>,
    #[serde(default, deserialize_with = "de_opt_string")]
    exp_month: Option<String>,
    #[serde(default, deserialize_with = "de_opt_string")]
    exp_year: Option<String>,
}

/// `None` for a missing, `null`, `{}` or code-less authorization.
fn parse_authorization(value: Value) -> Option<Authorization> {
    if !value.is_object() {
        return None;
    }
    let wire: WireAuthorization = serde_json::from_value(value).ok()?;
    let code = wire.authorization_code.filter(|c| !c.trim().is_empty())?;
    Some(Authorization {
        authorization_code: code,
        reusable: wire.reusable,
        last4: wire.last4,
        card_type: wire.card_type,
        bank: wire.bank,
        channel: wire.channel,
        signature: wire.signature,
        exp_month: wire.exp_month,
        exp_year: wire.exp_year,
    })
}

/// A refund's status.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RefundStatus {
    /// Queued (what `POST /refund` answers).
    Pending,
    /// Being processed.
    Processing,
    /// Done: the money went back.
    Processed,
    /// It failed.
    Failed,
    /// Paystack needs someone to look at it.
    NeedsAttention,
    /// A status this crate does not know.
    Other(String),
}

impl RefundStatus {
    /// Paystack's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Processing => "processing",
            RefundStatus::Processed => "processed",
            RefundStatus::Failed => "failed",
            RefundStatus::NeedsAttention => "needs-attention",
            RefundStatus::Other(other) => other,
        }
    }
}

impl From<&str> for RefundStatus {
    fn from(raw: &str) -> Self {
        match raw.trim().to_ascii_lowercase().as_str() {
            "pending" => RefundStatus::Pending,
            "processing" => RefundStatus::Processing,
            "processed" => RefundStatus::Processed,
            "failed" => RefundStatus::Failed,
            "needs-attention" | "needs_attention" => RefundStatus::NeedsAttention,
            _ => RefundStatus::Other(raw.to_owned()),
        }
    }
}

impl fmt::Display for RefundStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refund, from `POST /refund`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// Paystack's refund id.
    pub id: u64,
    /// The refunded transaction's id, when reported.
    pub transaction_id: Option<u64>,
    /// The refunded transaction's reference, when reported.
    pub transaction_reference: Option<String>,
    /// The amount refunded, in kobo.
    pub amount: Kobo,
    /// `NGN`, …
    pub currency: String,
    /// `pending` right after the request; `refund.processed` arrives later.
    pub status: RefundStatus,
    /// When Paystack expects to finish (ISO 8601 text).
    pub expected_at: Option<String>,
}

#[derive(Deserialize)]
struct WireRefund {
    #[serde(deserialize_with = "de_u64")]
    id: u64,
    #[serde(deserialize_with = "de_kobo")]
    amount: Kobo,
    #[serde(default, deserialize_with = "de_opt_string")]
    currency: Option<String>,
    #[serde(default, deserialize_with = "de_string")]
    status: String,
    #[serde(default, deserialize_with = "de_opt_string")]
    expected_at: Option<String>,
    #[serde(default)]
    transaction: Value,
    #[serde(default, deserialize_with = "de_opt_string")]
    transaction_reference: Option<String>,
    #[serde(default, deserialize_with = "de_opt_u64")]
    transaction_id: Option<u64>,
}

impl Refund {
    /// Parse `data` of a `POST /refund` answer. `transaction` may be the transaction
    /// object, its id, or its reference.
    pub fn from_value(data: Value) -> Result<Refund, String> {
        let w: WireRefund = serde_json::from_value(data).map_err(|e| e.to_string())?;
        let (nested_id, nested_reference) = transaction_id_and_reference(&w.transaction);
        Ok(Refund {
            id: w.id,
            transaction_id: w.transaction_id.or(nested_id),
            transaction_reference: w.transaction_reference.or(nested_reference),
            amount: w.amount,
            currency: w.currency.unwrap_or_default(),
            status: RefundStatus::from(w.status.as_str()),
            expected_at: w.expected_at,
        })
    }
}

/// The id and reference held by a `transaction` field that may be an object, a number
/// (the id) or a string (the reference, or an id in digits).
pub(crate) fn transaction_id_and_reference(value: &Value) -> (Option<u64>, Option<String>) {
    match value {
        Value::Object(map) => (
            map.get("id").and_then(|v| value_u64(v).ok()),
            map.get("reference").and_then(value_opt_string),
        ),
        Value::Number(_) => (value_u64(value).ok(), None),
        Value::String(s) if !s.is_empty() => (None, Some(s.clone())),
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn verify_sample() -> Value {
        // Shaped like the verify example in Paystack's reference (trimmed).
        serde_json::from_str(
            r#"{"id":4099260516,"domain":"test","status":"success","reference":"re4lyvq3s3",
            "receipt_number":null,"amount":40333,"message":null,"gateway_response":"Successful",
            "paid_at":"2024-08-22T09:15:02.000Z","created_at":"2024-08-22T09:14:24.000Z",
            "channel":"card","currency":"NGN","ip_address":"197.210.54.33","metadata":"",
            "fees":10283,"fees_split":null,
            "authorization":{"authorization_code":"AUTH_uh8bcl3zbn","bin":"408408","last4":"4081",
              "exp_month":"12","exp_year":"2030","channel":"card","card_type":"visa ","bank":"TEST BANK",
              "country_code":"NG","brand":"visa","reusable":true,"signature":"SIG_yEXu7dLBeqG0kU7g95Ke",
              "account_name":null},
            "customer":{"id":181873746,"first_name":null,"last_name":null,"email":"demo@test.com",
              "customer_code":"CUS_1rkzaqsv4rrhqo6","phone":null,"metadata":null,"risk_action":"default"},
            "plan":null,"split":{},"order_id":null,"paidAt":"2024-08-22T09:15:02.000Z",
            "requested_amount":30050,"transaction_date":"2024-08-22T09:14:24.000Z"}"#,
        )
        .unwrap()
    }

    #[test]
    fn parses_the_documented_verify_shape() {
        let t = Transaction::from_value(verify_sample()).unwrap();
        assert_eq!(t.id, 4_099_260_516);
        assert_eq!(t.reference, "re4lyvq3s3");
        assert_eq!(t.status, TransactionStatus::Success);
        assert_eq!(t.amount, Kobo(40_333));
        assert_eq!(t.requested_amount, Some(Kobo(30_050)));
        assert_eq!(t.currency, "NGN");
        assert_eq!(t.paid_at.as_deref(), Some("2024-08-22T09:15:02.000Z"));
        assert_eq!(t.channel.as_deref(), Some("card"));
        assert_eq!(t.gateway_response.as_deref(), Some("Successful"));
        assert_eq!(t.customer_email.as_deref(), Some("demo@test.com"));
        assert_eq!(t.metadata, Value::Null, "\"\" metadata is null");
        let auth = t.authorization.clone().unwrap();
        assert_eq!(auth.authorization_code, "AUTH_uh8bcl3zbn");
        assert!(auth.reusable);
        assert_eq!(auth.last4.as_deref(), Some("4081"));
        assert_eq!(auth.card_type.as_deref(), Some("visa "));
        assert_eq!(auth.bank.as_deref(), Some("TEST BANK"));
        assert_eq!(auth.signature.as_deref(), Some("SIG_yEXu7dLBeqG0kU7g95Ke"));
        assert!(t.pays_at_least("NGN", Kobo(30_050)));
        assert!(t.pays_at_least("ngn", Kobo(40_333)));
        assert!(!t.pays_at_least("NGN", Kobo(40_334)));
        assert!(!t.pays_at_least("USD", Kobo(1)));
    }

    #[test]
    fn metadata_may_be_an_object_a_json_string_or_empty() {
        let mut data = verify_sample();
        data["metadata"] = json!({"org_id": "org_1", "invoice_id": "inv_9"});
        let t = Transaction::from_value(data.clone()).unwrap();
        assert_eq!(t.metadata["invoice_id"], "inv_9");

        data["metadata"] = json!("{\"org_id\":\"org_1\",\"invoice_id\":\"inv_9\"}");
        let t = Transaction::from_value(data.clone()).unwrap();
        assert_eq!(
            t.metadata,
            json!({"org_id": "org_1", "invoice_id": "inv_9"})
        );

        data["metadata"] = json!("");
        assert_eq!(
            Transaction::from_value(data.clone()).unwrap().metadata,
            Value::Null
        );

        data["metadata"] = Value::Null;
        assert_eq!(
            Transaction::from_value(data.clone()).unwrap().metadata,
            Value::Null
        );

        data.as_object_mut().unwrap().remove("metadata");
        assert_eq!(Transaction::from_value(data).unwrap().metadata, Value::Null);
    }

    #[test]
    fn amounts_and_ids_may_be_strings_and_ids_exceed_two_to_the_53() {
        let mut data = verify_sample();
        data["amount"] = json!("20000");
        data["requested_amount"] = json!("20000");
        data["id"] = json!("18446744073709551615");
        let t = Transaction::from_value(data.clone()).unwrap();
        assert_eq!(t.amount, Kobo(20_000));
        assert_eq!(t.requested_amount, Some(Kobo(20_000)));
        assert_eq!(t.id, u64::MAX);

        // As a JSON number 2^53 + 1 would be rounded by a float parser; not here.
        let text = serde_json::to_string(&verify_sample())
            .unwrap()
            .replace("4099260516", "9007199254740993");
        let t = Transaction::from_value(serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(t.id, 9_007_199_254_740_993);
    }

    #[test]
    fn fractional_kobo_is_refused_not_rounded() {
        let mut data = verify_sample();
        data["amount"] = json!(100.5);
        assert!(Transaction::from_value(data.clone()).is_err());
        data["amount"] = json!("100.50");
        assert!(Transaction::from_value(data).is_err());
    }

    #[test]
    fn empty_or_codeless_authorizations_are_none_and_paid_at_falls_back_to_camel_case() {
        let mut data = verify_sample();
        data["authorization"] = json!({});
        data.as_object_mut().unwrap().remove("paid_at");
        data["status"] = json!("abandoned");
        let t = Transaction::from_value(data.clone()).unwrap();
        assert_eq!(t.authorization, None);
        assert_eq!(t.paid_at.as_deref(), Some("2024-08-22T09:15:02.000Z"));
        assert_eq!(t.status, TransactionStatus::Abandoned);
        assert!(!t.pays_at_least("NGN", Kobo(1)));

        data["authorization"] = json!({"authorization_code": null, "reusable": "true"});
        assert_eq!(
            Transaction::from_value(data.clone()).unwrap().authorization,
            None
        );
        data["authorization"] = Value::Null;
        assert_eq!(Transaction::from_value(data).unwrap().authorization, None);
    }

    #[test]
    fn statuses_round_trip_and_unknown_ones_are_kept() {
        for s in [
            "success",
            "failed",
            "abandoned",
            "ongoing",
            "pending",
            "processing",
            "queued",
            "reversed",
        ] {
            let status = TransactionStatus::from(s);
            assert!(!matches!(status, TransactionStatus::Other(_)), "{s}");
            assert_eq!(status.as_str(), s);
        }
        assert_eq!(
            TransactionStatus::from("SUCCESS"),
            TransactionStatus::Success
        );
        assert_eq!(
            TransactionStatus::from("mystery"),
            TransactionStatus::Other("mystery".into())
        );
        assert!(TransactionStatus::Reversed.is_final());
        assert!(!TransactionStatus::Ongoing.is_final());
        assert!(!TransactionStatus::Abandoned.is_final());
        assert_eq!(
            RefundStatus::from("needs-attention"),
            RefundStatus::NeedsAttention
        );
        assert_eq!(RefundStatus::Processed.to_string(), "processed");
    }

    #[test]
    fn refunds_accept_the_transaction_as_object_id_or_reference() {
        let documented = json!({
            "transaction": {"id": 1004723697u64, "domain": "live", "reference": "T685312322670591",
                            "amount": 10000, "paid_at": "2021-08-20T18:34:11.000Z", "channel": "apple_pay"},
            "integration": 412829, "deducted_amount": 0, "channel": null, "merchant_note": "Refund for transaction T685312322670591 by test@me.com",
            "customer_note": "Refund for transaction T685312322670591", "status": "pending",
            "refunded_by": "test@me.com", "expected_at": "2021-12-16T09:21:17.016Z",
            "currency": "NGN", "domain": "live", "amount": 10000, "fully_deducted": false,
            "id": 3018284, "createdAt": "2021-12-07T09:21:17.122Z"
        });
        let r = Refund::from_value(documented).unwrap();
        assert_eq!(r.id, 3_018_284);
        assert_eq!(r.transaction_id, Some(1_004_723_697));
        assert_eq!(r.transaction_reference.as_deref(), Some("T685312322670591"));
        assert_eq!(r.amount, Kobo(10_000));
        assert_eq!(r.status, RefundStatus::Pending);
        assert_eq!(r.currency, "NGN");

        let by_id = Refund::from_value(
            json!({"id": "7", "amount": "500", "status": "processed", "transaction": 99}),
        )
        .unwrap();
        assert_eq!(by_id.transaction_id, Some(99));
        assert_eq!(by_id.amount, Kobo(500));
        assert_eq!(by_id.status, RefundStatus::Processed);

        let by_ref =
            Refund::from_value(json!({"id": 8, "amount": 500, "transaction": "ref-1"})).unwrap();
        assert_eq!(by_ref.transaction_reference.as_deref(), Some("ref-1"));
        assert_eq!(by_ref.transaction_id, None);
    }
}
