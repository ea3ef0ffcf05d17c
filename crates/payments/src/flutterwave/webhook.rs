//! Flutterwave webhooks: the `verif-hash` check and `{event, data}` events.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::types::FlwTransaction;
use crate::error::{PaymentError, Provider};
use crate::lenient::value_opt_string;

/// The header Flutterwave (v3) puts the secret hash in.
pub const HASH_HEADER: &str = "verif-hash";

/// True when the `verif-hash` header equals the secret hash set in Flutterwave's
/// dashboard. This is a shared secret sent verbatim, **not** an HMAC of the body; the
/// comparison is constant-time. An empty expected hash (not configured) never matches.
pub fn verify_hash(expected_secret_hash: &str, header: &str) -> bool {
    if expected_secret_hash.is_empty() {
        return false;
    }
    bool::from(
        expected_secret_hash
            .as_bytes()
            .ct_eq(header.trim().as_bytes()),
    )
}

/// A Flutterwave webhook body. Any event parses; check [`verify_hash`] first.
///
/// `charge.completed` is sent for failed charges too: read the status, and confirm with
/// [`super::FlutterwaveClient::verify`] before giving value.
#[derive(Debug, Clone)]
pub struct WebhookEvent {
    /// `charge.completed`, …
    pub event: String,
    /// The event's object (for inspection; typed parsing uses the exact text).
    pub data: Value,
    /// `data` exactly as sent, so amounts are read without floating point.
    raw_data: Box<RawValue>,
}

/// The events Kobo acts on, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlwKnownEvent {
    /// `charge.completed`: successful **or failed**; see [`FlwTransaction::status`].
    ChargeCompleted(FlwTransaction),
    /// Any other event.
    Other,
}

#[derive(Deserialize)]
struct Wire<'a> {
    event: String,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

impl WebhookEvent {
    /// Parse a raw webhook body.
    pub fn parse(raw_body: &[u8]) -> Result<WebhookEvent, PaymentError> {
        let bad = |e: serde_json::Error| {
            PaymentError::protocol(Provider::Flutterwave, format!("webhook body: {e}"))
        };
        let wire: Wire<'_> = serde_json::from_slice(raw_body).map_err(bad)?;
        let raw_text = wire.data.map_or("null", RawValue::get);
        let raw_data = RawValue::from_string(raw_text.to_owned()).map_err(bad)?;
        let data = serde_json::from_str(raw_text).map_err(bad)?;
        Ok(WebhookEvent {
            event: wire.event,
            data,
            raw_data,
        })
    }

    /// The dedupe key: `"<event>:<data.id>"`; without an id,
    /// `"<event>:tx_ref:<data.tx_ref>"`; with neither, `"<event>:sha256:<digest>"`.
    pub fn identity(&self) -> String {
        let text = |key: &str| {
            self.data
                .get(key)
                .and_then(value_opt_string)
                .filter(|s| !s.is_empty())
        };
        if let Some(id) = text("id") {
            return format!("{}:{id}", self.event);
        }
        if let Some(tx_ref) = text("tx_ref") {
            return format!("{}:tx_ref:{tx_ref}", self.event);
        }
        let digest = Sha256::digest(self.raw_data.get().as_bytes());
        format!("{}:sha256:{}", self.event, hex::encode(digest))
    }

    /// The event, typed when Kobo acts on it.
    pub fn typed(&self) -> Result<FlwKnownEvent, PaymentError> {
        match self.event.as_str() {
            "charge.completed" => FlwTransaction::from_json(self.raw_data.get())
                .map(FlwKnownEvent::ChargeCompleted)
                .map_err(|e| {
                    PaymentError::protocol(
                        Provider::Flutterwave,
                        format!("{} data: {e}", self.event),
                    )
                }),
            _ => Ok(FlwKnownEvent::Other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flutterwave::FlwStatus;
    use kobo_domain::money::Kobo;

    const SAMPLE: &str = r#"{"event":"charge.completed","data":{"id":285959875,"tx_ref":"Links-616626414629",
        "flw_ref":"PeterEkene/FLW270177170","amount":100.5,"currency":"NGN","charged_amount":100.5,
        "app_fee":1.4,"merchant_fee":0,"status":"successful","payment_type":"card",
        "customer":{"id":215604089,"name":"Yemi Desola","email":"user@gmail.com"}}}"#;

    #[test]
    fn verif_hash_is_a_constant_time_equality_not_an_hmac() {
        assert!(verify_hash("myhash", "myhash"));
        assert!(verify_hash("myhash", " myhash "));
        assert!(!verify_hash("myhash", "myhasH"));
        assert!(!verify_hash("myhash", "myhash2"));
        assert!(!verify_hash("myhash", "myhas"));
        assert!(!verify_hash("myhash", ""));
        assert!(!verify_hash("", ""), "an unset hash never matches");
    }

    #[test]
    fn charge_completed_is_typed_with_an_exact_amount() {
        let e = WebhookEvent::parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(e.identity(), "charge.completed:285959875");
        let FlwKnownEvent::ChargeCompleted(t) = e.typed().unwrap() else {
            panic!("not a charge");
        };
        assert_eq!(t.amount, Kobo(10_050));
        assert_eq!(t.status, FlwStatus::Successful);
        assert_eq!(t.tx_ref, "Links-616626414629");
    }

    #[test]
    fn failed_charges_also_arrive_as_charge_completed() {
        let failed = SAMPLE.replace("\"successful\"", "\"failed\"");
        let e = WebhookEvent::parse(failed.as_bytes()).unwrap();
        let FlwKnownEvent::ChargeCompleted(t) = e.typed().unwrap() else {
            panic!("not a charge");
        };
        assert_eq!(t.status, FlwStatus::Failed);
        assert!(!t.pays_at_least("Links-616626414629", "NGN", Kobo(1)));
    }

    #[test]
    fn identity_fallbacks_and_unknown_events() {
        let e =
            WebhookEvent::parse(br#"{"event":"charge.completed","data":{"tx_ref":"t1"}}"#).unwrap();
        assert_eq!(e.identity(), "charge.completed:tx_ref:t1");
        assert!(matches!(e.typed(), Err(PaymentError::Protocol { .. })));
        let e =
            WebhookEvent::parse(br#"{"event":"transfer.completed","data":{"id":"77"}}"#).unwrap();
        assert_eq!(e.identity(), "transfer.completed:77");
        assert_eq!(e.typed().unwrap(), FlwKnownEvent::Other);
        let e = WebhookEvent::parse(br#"{"event":"x.y"}"#).unwrap();
        assert!(e.identity().starts_with("x.y:sha256:"));
        assert!(WebhookEvent::parse(b"{}").is_err());
        let too_precise = SAMPLE.replace("\"amount\":100.5", "\"amount\":100.555");
        assert!(WebhookEvent::parse(too_precise.as_bytes())
            .unwrap()
            .typed()
            .is_err());
    }
}
