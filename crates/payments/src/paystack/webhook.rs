//! Paystack webhook events: `{event, data}`.

use kobo_domain::money::Kobo;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::types::{transaction_id_and_reference, RefundStatus, Transaction};
use crate::error::{PaymentError, Provider};
use crate::lenient::{value_kobo, value_opt_kobo, value_opt_string, value_u64};

/// A Paystack webhook body. Any event parses, known or not; verify the signature on the
/// raw bytes ([`super::verify_signature`]) before parsing.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WebhookEvent {
    /// `charge.success`, `refund.processed`, …
    pub event: String,
    /// The event's object, as sent.
    #[serde(default)]
    pub data: Value,
}

/// The events Kobo acts on, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum KnownEvent {
    /// `charge.success`. Still re-verify the transaction before giving value.
    ChargeSuccess(Transaction),
    /// `charge.failed`.
    ChargeFailed(Transaction),
    /// `refund.processed`.
    RefundProcessed(RefundEvent),
    /// `subscription.disable`.
    SubscriptionDisable(SubscriptionEvent),
    /// `subscription.not_renew`.
    SubscriptionNotRenew(SubscriptionEvent),
    /// Any other event (acknowledge it and move on).
    Other,
}

/// `data` of a `refund.*` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundEvent {
    /// The refund's id, when sent.
    pub id: Option<u64>,
    /// The refunded transaction's reference (`transaction_reference`, or
    /// `transaction.reference`).
    pub transaction_reference: Option<String>,
    /// The refund's own reference, when sent.
    pub refund_reference: Option<String>,
    /// The amount refunded, in kobo.
    pub amount: Kobo,
    /// `NGN`, …
    pub currency: Option<String>,
    /// `processed` for `refund.processed`.
    pub status: RefundStatus,
    /// The customer's e-mail address.
    pub customer_email: Option<String>,
}

/// `data` of a `subscription.*` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionEvent {
    /// Paystack's subscription id, when sent.
    pub id: Option<u64>,
    /// `SUB_…`.
    pub subscription_code: String,
    /// `active`, `non-renewing`, `attention`, `completed`, `cancelled`, …
    pub status: Option<String>,
    /// The token needed to enable/disable the subscription.
    pub email_token: Option<String>,
    /// The amount per period, in kobo.
    pub amount: Option<Kobo>,
    /// The customer's e-mail address.
    pub customer_email: Option<String>,
    /// `CUS_…`.
    pub customer_code: Option<String>,
    /// `PLN_…`.
    pub plan_code: Option<String>,
    /// The next charge date (ISO 8601 text), when there is one.
    pub next_payment_date: Option<String>,
}

impl WebhookEvent {
    /// Parse a raw webhook body.
    pub fn parse(raw_body: &[u8]) -> Result<WebhookEvent, PaymentError> {
        serde_json::from_slice(raw_body)
            .map_err(|e| PaymentError::protocol(Provider::Paystack, format!("webhook body: {e}")))
    }

    /// The dedupe key for "process each event once": `"<event>:<data.id>"`; when `data`
    /// has no id, `"<event>:ref:<data.reference>"`; when it has neither,
    /// `"<event>:sha256:<hex digest of data>"`, so a redelivery (identical bytes) still
    /// maps to the same key without two different events colliding.
    ///
    /// Paystack documents no event id; this is the key its redeliveries share.
    pub fn identity(&self) -> String {
        if let Some(id) = self.data.get("id").and_then(non_empty_text) {
            return format!("{}:{id}", self.event);
        }
        if let Some(reference) = self.data.get("reference").and_then(non_empty_text) {
            return format!("{}:ref:{reference}", self.event);
        }
        let canonical = serde_json::to_vec(&self.data).unwrap_or_default();
        let digest = Sha256::digest(&canonical);
        format!("{}:sha256:{}", self.event, hex::encode(digest))
    }

    /// The event, typed when Kobo acts on it. A known event whose `data` does not have
    /// the expected shape is a [`PaymentError::Protocol`] error.
    pub fn typed(&self) -> Result<KnownEvent, PaymentError> {
        let bad = |e: String| {
            PaymentError::protocol(Provider::Paystack, format!("{} data: {e}", self.event))
        };
        Ok(match self.event.as_str() {
            "charge.success" => {
                KnownEvent::ChargeSuccess(Transaction::from_value(self.data.clone()).map_err(bad)?)
            }
            "charge.failed" => {
                KnownEvent::ChargeFailed(Transaction::from_value(self.data.clone()).map_err(bad)?)
            }
            "refund.processed" => {
                KnownEvent::RefundProcessed(refund_event(&self.data).map_err(bad)?)
            }
            "subscription.disable" => {
                KnownEvent::SubscriptionDisable(subscription_event(&self.data).map_err(bad)?)
            }
            "subscription.not_renew" => {
                KnownEvent::SubscriptionNotRenew(subscription_event(&self.data).map_err(bad)?)
            }
            _ => KnownEvent::Other,
        })
    }

    /// The transaction of a `charge.success` or `charge.failed` event; `None` for other
    /// events.
    pub fn charge(&self) -> Option<Result<Transaction, PaymentError>> {
        match self.typed() {
            Ok(KnownEvent::ChargeSuccess(t) | KnownEvent::ChargeFailed(t)) => Some(Ok(t)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

fn non_empty_text(value: &Value) -> Option<String> {
    value_opt_string(value).filter(|s| !s.is_empty() && s != "null")
}

fn refund_event(data: &Value) -> Result<RefundEvent, String> {
    let amount = data
        .get("amount")
        .ok_or_else(|| "missing field `amount`".to_owned())
        .and_then(value_kobo)?;
    let (_, nested_reference) =
        transaction_id_and_reference(data.get("transaction").unwrap_or(&Value::Null));
    Ok(RefundEvent {
        id: match data.get("id") {
            None | Some(Value::Null) => None,
            Some(v) => Some(value_u64(v)?),
        },
        transaction_reference: data
            .get("transaction_reference")
            .and_then(non_empty_text)
            .or(nested_reference),
        refund_reference: data.get("refund_reference").and_then(non_empty_text),
        amount,
        currency: data.get("currency").and_then(non_empty_text),
        status: RefundStatus::from(
            data.get("status")
                .and_then(value_opt_string)
                .unwrap_or_default()
                .as_str(),
        ),
        customer_email: data
            .get("customer")
            .and_then(|c| c.get("email"))
            .and_then(non_empty_text),
    })
}

fn subscription_event(data: &Value) -> Result<SubscriptionEvent, String> {
    let text = |key: &str| data.get(key).and_then(non_empty_text);
    let subscription_code =
        text("subscription_code").ok_or_else(|| "missing field `subscription_code`".to_owned())?;
    Ok(SubscriptionEvent {
        id: match data.get("id") {
            None | Some(Value::Null) => None,
            Some(v) => Some(value_u64(v)?),
        },
        subscription_code,
        status: text("status"),
        email_token: text("email_token"),
        amount: value_opt_kobo(data.get("amount").unwrap_or(&Value::Null))?,
        customer_email: data
            .get("customer")
            .and_then(|c| c.get("email"))
            .and_then(non_empty_text),
        customer_code: data
            .get("customer")
            .and_then(|c| c.get("customer_code"))
            .and_then(non_empty_text),
        plan_code: data
            .get("plan")
            .and_then(|p| p.get("plan_code"))
            .and_then(non_empty_text),
        next_payment_date: text("next_payment_date"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paystack::TransactionStatus;
    use serde_json::json;

    fn event(value: Value) -> WebhookEvent {
        WebhookEvent::parse(value.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn identity_is_event_and_id() {
        let e =
            event(json!({"event": "charge.success", "data": {"id": 696134701, "reference": "r2"}}));
        assert_eq!(e.identity(), "charge.success:696134701");
        let e = event(json!({"event": "charge.success", "data": {"id": "696134701"}}));
        assert_eq!(e.identity(), "charge.success:696134701", "string ids too");
        // Beyond 2^53, exactly.
        let e =
            WebhookEvent::parse(br#"{"event":"charge.success","data":{"id":9007199254740993}}"#)
                .unwrap();
        assert_eq!(e.identity(), "charge.success:9007199254740993");
    }

    #[test]
    fn identity_falls_back_to_the_reference_then_to_a_digest() {
        let e =
            event(json!({"event": "charge.success", "data": {"reference": "r2", "amount": 100}}));
        assert_eq!(e.identity(), "charge.success:ref:r2");
        let e = event(json!({"event": "charge.success", "data": {"id": null, "reference": "r2"}}));
        assert_eq!(e.identity(), "charge.success:ref:r2", "a null id is no id");

        let a = event(
            json!({"event": "refund.processed", "data": {"transaction_reference": "t1", "amount": 100}}),
        );
        let b = event(
            json!({"event": "refund.processed", "data": {"transaction_reference": "t1", "amount": 200}}),
        );
        assert!(a.identity().starts_with("refund.processed:sha256:"));
        assert_ne!(
            a.identity(),
            b.identity(),
            "two partial refunds stay distinct"
        );
        assert_eq!(
            a.identity(),
            a.clone().identity(),
            "a redelivery has the same key"
        );
    }

    #[test]
    fn the_same_id_under_different_events_is_different() {
        let a = event(json!({"event": "charge.success", "data": {"id": 5}}));
        let b = event(json!({"event": "refund.processed", "data": {"id": 5, "amount": 1}}));
        assert_ne!(a.identity(), b.identity());
    }

    #[test]
    fn charge_events_are_typed() {
        let e = event(json!({"event": "charge.success", "data": {
            "id": 1, "reference": "r1", "status": "success", "amount": "10000", "currency": "NGN",
            "metadata": "{\"invoice_id\":\"inv_1\"}",
            "authorization": {"authorization_code": "AUTH_x", "reusable": true},
            "customer": {"email": "a@b.co"}}}));
        let KnownEvent::ChargeSuccess(t) = e.typed().unwrap() else {
            panic!("not a charge.success");
        };
        assert_eq!(t.amount, Kobo(10_000));
        assert_eq!(t.metadata["invoice_id"], "inv_1");
        assert_eq!(e.charge().unwrap().unwrap().reference, "r1");

        let failed = event(json!({"event": "charge.failed", "data": {
            "id": 2, "reference": "r2", "status": "failed", "amount": 10000, "gateway_response": "Declined"}}));
        let KnownEvent::ChargeFailed(t) = failed.typed().unwrap() else {
            panic!("not a charge.failed");
        };
        assert_eq!(t.status, TransactionStatus::Failed);
        assert_eq!(t.gateway_response.as_deref(), Some("Declined"));

        let broken = event(json!({"event": "charge.success", "data": {"id": 1}}));
        assert!(matches!(broken.typed(), Err(PaymentError::Protocol { .. })));
    }

    #[test]
    fn refund_and_subscription_events_are_typed() {
        let e = event(json!({"event": "refund.processed", "data": {
            "status": "processed", "transaction_reference": "T1", "refund_reference": null,
            "amount": "10000", "currency": "NGN", "customer": {"email": "a@b.co"}}}));
        let KnownEvent::RefundProcessed(r) = e.typed().unwrap() else {
            panic!("not a refund");
        };
        assert_eq!(r.amount, Kobo(10_000));
        assert_eq!(r.transaction_reference.as_deref(), Some("T1"));
        assert_eq!(r.refund_reference, None);
        assert_eq!(r.status, RefundStatus::Processed);
        assert_eq!(r.customer_email.as_deref(), Some("a@b.co"));
        assert!(e.charge().is_none());

        for (name, expect_disable) in [
            ("subscription.disable", true),
            ("subscription.not_renew", false),
        ] {
            let e = event(json!({"event": name, "data": {
                "id": 1234, "status": "non-renewing", "subscription_code": "SUB_vsyqdmlzble3uii",
                "email_token": "d7gofp6yppn3qz7", "amount": 50000, "next_payment_date": null,
                "plan": {"plan_code": "PLN_gx2wn530m0i3w3m"},
                "customer": {"email": "a@b.co", "customer_code": "CUS_xnxdt6s1zg1f4nx"}}}));
            let s = match e.typed().unwrap() {
                KnownEvent::SubscriptionDisable(s) if expect_disable => s,
                KnownEvent::SubscriptionNotRenew(s) if !expect_disable => s,
                other => panic!("{name} typed as {other:?}"),
            };
            assert_eq!(s.subscription_code, "SUB_vsyqdmlzble3uii");
            assert_eq!(s.id, Some(1234));
            assert_eq!(s.amount, Some(Kobo(50_000)));
            assert_eq!(s.plan_code.as_deref(), Some("PLN_gx2wn530m0i3w3m"));
            assert_eq!(s.customer_code.as_deref(), Some("CUS_xnxdt6s1zg1f4nx"));
            assert_eq!(s.next_payment_date, None);
        }
    }

    #[test]
    fn unknown_events_parse_fine() {
        let e = WebhookEvent::parse(
            br#"{"event":"transfer.success","data":{"id":9,"whatever":[1,2]}}"#,
        )
        .unwrap();
        assert_eq!(e.typed().unwrap(), KnownEvent::Other);
        assert_eq!(e.identity(), "transfer.success:9");
        let no_data = WebhookEvent::parse(br#"{"event":"invoice.create"}"#).unwrap();
        assert_eq!(no_data.data, Value::Null);
        assert!(no_data.identity().starts_with("invoice.create:sha256:"));
        assert!(WebhookEvent::parse(b"not json").is_err());
        assert!(
            WebhookEvent::parse(br#"{"data":{}}"#).is_err(),
            "an event name is required"
        );
    }
}
