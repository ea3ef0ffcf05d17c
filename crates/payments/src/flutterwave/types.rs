//! Flutterwave requests and answers, with exact naira ↔ kobo conversion.

use std::fmt;

use kobo_domain::money::{parse_naira_decimal, Kobo};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::lenient::{de_opt_string, de_string, de_u64, value_opt_string};

/// The largest USSD payment Kobo asks Flutterwave for: ₦500,000.00. USSD payments
/// above it are refused before any request is sent.
pub const USSD_MAX_AMOUNT: Kobo = Kobo(50_000_000);

/// How the payer will pay on the hosted checkout (`payment_options`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentMethod {
    /// `card`.
    Card,
    /// `banktransfer`.
    BankTransfer,
    /// `ussd` (NGN only, at most [`USSD_MAX_AMOUNT`]).
    Ussd,
}

impl PaymentMethod {
    /// Flutterwave's `payment_options` value.
    pub fn payment_options(self) -> &'static str {
        match self {
            PaymentMethod::Card => "card",
            PaymentMethod::BankTransfer => "banktransfer",
            PaymentMethod::Ussd => "ussd",
        }
    }
}

/// `POST /payments` (Standard checkout).
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentRequest {
    /// Our unique reference for this attempt; persist it before calling.
    pub tx_ref: String,
    /// The amount, in kobo (sent as exact decimal naira).
    pub amount: Kobo,
    /// `NGN`.
    pub currency: String,
    /// Where Flutterwave sends the payer back (with `status`, `tx_ref`,
    /// `transaction_id`; never trust `status` from there).
    pub redirect_url: String,
    /// The payer's e-mail address.
    pub customer_email: String,
    /// Card, bank transfer or USSD.
    pub method: PaymentMethod,
    /// Custom data; `null` to send none.
    pub meta: Value,
}

/// The answer to [`PaymentRequest`]: send the payer to `link`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PaymentLink {
    /// The hosted checkout page.
    pub link: String,
}

/// A Flutterwave transaction status.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FlwStatus {
    /// `successful`.
    Successful,
    /// `failed`.
    Failed,
    /// `pending`.
    Pending,
    /// Anything else, kept as sent.
    Other(String),
}

impl FlwStatus {
    /// Flutterwave's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            FlwStatus::Successful => "successful",
            FlwStatus::Failed => "failed",
            FlwStatus::Pending => "pending",
            FlwStatus::Other(other) => other,
        }
    }
}

impl From<&str> for FlwStatus {
    fn from(raw: &str) -> Self {
        match raw.trim().to_ascii_lowercase().as_str() {
            "successful" | "success" => FlwStatus::Successful,
            "failed" => FlwStatus::Failed,
            "pending" => FlwStatus::Pending,
            _ => FlwStatus::Other(raw.to_owned()),
        }
    }
}

impl fmt::Display for FlwStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The customer of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlwCustomer {
    /// E-mail address.
    pub email: Option<String>,
    /// Name.
    pub name: Option<String>,
}

/// A Flutterwave transaction, from verify or a `charge.completed` webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlwTransaction {
    /// Flutterwave's id (what [`super::FlutterwaveClient::verify`] takes).
    pub id: u64,
    /// Our reference.
    pub tx_ref: String,
    /// Flutterwave's reference.
    pub flw_ref: Option<String>,
    /// The status; only `successful` means paid.
    pub status: FlwStatus,
    /// The amount, in kobo, converted exactly from the decimal naira sent.
    pub amount: Kobo,
    /// The amount charged to the payer (fees included), when sent.
    pub charged_amount: Option<Kobo>,
    /// `NGN`, …
    pub currency: String,
    /// `card`, `bank_transfer`, `ussd`, …
    pub payment_type: Option<String>,
    /// The customer.
    pub customer: FlwCustomer,
}

impl FlwTransaction {
    /// Flutterwave's four checks: the reference matches, the status is `successful`,
    /// the currency matches, and the amount is at least what was expected.
    pub fn pays_at_least(&self, tx_ref: &str, currency: &str, expected: Kobo) -> bool {
        self.tx_ref == tx_ref
            && self.status == FlwStatus::Successful
            && self.currency.eq_ignore_ascii_case(currency)
            && self.amount >= expected
    }

    /// Parse the exact JSON text of a transaction object (`data` of verify or of a
    /// `charge.completed` webhook).
    pub fn from_json(text: &str) -> Result<FlwTransaction, String> {
        let w: WireTransaction<'_> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Ok(FlwTransaction {
            id: w.id,
            tx_ref: w.tx_ref,
            flw_ref: w.flw_ref,
            status: FlwStatus::from(w.status.as_str()),
            amount: naira_from_json(w.amount)?,
            charged_amount: match w.charged_amount {
                Some(raw) if raw.get().trim() != "null" => Some(naira_from_json(raw)?),
                _ => None,
            },
            currency: w.currency.unwrap_or_default(),
            payment_type: w.payment_type,
            customer: FlwCustomer {
                email: w.customer.get("email").and_then(value_opt_string),
                name: w.customer.get("name").and_then(value_opt_string),
            },
        })
    }
}

#[derive(Deserialize)]
struct WireTransaction<'a> {
    #[serde(deserialize_with = "de_u64")]
    id: u64,
    #[serde(deserialize_with = "de_string")]
    tx_ref: String,
    #[serde(default, deserialize_with = "de_opt_string")]
    flw_ref: Option<String>,
    #[serde(deserialize_with = "de_string")]
    status: String,
    #[serde(borrow)]
    amount: &'a RawValue,
    #[serde(default, borrow)]
    charged_amount: Option<&'a RawValue>,
    #[serde(default, deserialize_with = "de_opt_string")]
    currency: Option<String>,
    #[serde(default, deserialize_with = "de_opt_string")]
    payment_type: Option<String>,
    #[serde(default)]
    customer: Value,
}

/// Kobo from a JSON number or string of decimal naira, exactly: `100` → 10000,
/// `1.4` → 140, `"45000.50"` → 4500050. More than two decimals, exponents and
/// anything non-numeric are refused.
pub(crate) fn naira_from_json(raw: &RawValue) -> Result<Kobo, String> {
    let text = raw.get().trim();
    let decimal = if text.starts_with('"') {
        serde_json::from_str::<String>(text).map_err(|e| e.to_string())?
    } else {
        text.to_owned()
    };
    parse_naira_decimal(&decimal).map_err(|e| format!("amount: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn naira_amounts_convert_exactly() {
        assert_eq!(naira_from_json(&raw("100")), Ok(Kobo(10_000)));
        assert_eq!(naira_from_json(&raw("1.4")), Ok(Kobo(140)));
        assert_eq!(naira_from_json(&raw("45000.50")), Ok(Kobo(4_500_050)));
        assert_eq!(naira_from_json(&raw("\"45000.05\"")), Ok(Kobo(4_500_005)));
        assert_eq!(naira_from_json(&raw("0.1")), Ok(Kobo(10)));
        // 0.29 * 100 = 28.999999999999996 in floating point; exact here.
        assert_eq!(naira_from_json(&raw("0.29")), Ok(Kobo(29)));
        assert_eq!(naira_from_json(&raw("1.15")), Ok(Kobo(115)));
        // Beyond f64's 15-16 significant digits, still exact.
        assert_eq!(
            naira_from_json(&raw("92233720368547758.07")),
            Ok(Kobo(i64::MAX))
        );
        for bad in [
            "1.005",
            "\"1.005\"",
            "1e3",
            "null",
            "\"\"",
            "true",
            "\"abc\"",
        ] {
            assert!(naira_from_json(&raw(bad)).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn kobo_goes_out_as_exact_naira_strings() {
        assert_eq!(Kobo(4_500_000).to_naira_string(), "45000.00");
        assert_eq!(Kobo(4_500_050).to_naira_string(), "45000.50");
        assert_eq!(Kobo(1).to_naira_string(), "0.01");
        assert_eq!(USSD_MAX_AMOUNT.to_naira_string(), "500000.00");
    }

    #[test]
    fn parses_a_verify_answer() {
        let text = r#"{"id":285959875,"tx_ref":"Links-616626414629","flw_ref":"PeterEkene/FLW270177170",
            "device_fingerprint":"a42937f4a73ce8bb8b8df14e63a2df31","amount":100,"currency":"NGN",
            "charged_amount":101.4,"app_fee":1.4,"merchant_fee":0,"processor_response":"Approved by Financial Institution",
            "auth_model":"PIN","ip":"197.210.64.96","narration":"CARD Transaction ","status":"successful",
            "payment_type":"card","created_at":"2020-07-06T19:17:04.000Z","account_id":17321,
            "customer":{"id":215604089,"name":"Yemi Desola","phone_number":null,"email":"user@gmail.com",
            "created_at":"2020-07-06T19:17:04.000Z"}}"#;
        let t = FlwTransaction::from_json(text).unwrap();
        assert_eq!(t.id, 285_959_875);
        assert_eq!(t.amount, Kobo(10_000));
        assert_eq!(t.charged_amount, Some(Kobo(10_140)));
        assert_eq!(t.status, FlwStatus::Successful);
        assert_eq!(t.customer.email.as_deref(), Some("user@gmail.com"));
        assert_eq!(t.payment_type.as_deref(), Some("card"));
        assert!(t.pays_at_least("Links-616626414629", "NGN", Kobo(10_000)));
        assert!(!t.pays_at_least("other-ref", "NGN", Kobo(10_000)));
        assert!(!t.pays_at_least("Links-616626414629", "NGN", Kobo(10_001)));

        let big_id = text.replace("285959875", "9007199254740993");
        assert_eq!(
            FlwTransaction::from_json(&big_id).unwrap().id,
            9_007_199_254_740_993
        );

        let too_precise = text.replace("\"amount\":100", "\"amount\":100.005");
        assert!(FlwTransaction::from_json(&too_precise).is_err());

        let no_charged = text.replace("\"charged_amount\":101.4", "\"charged_amount\":null");
        assert_eq!(
            FlwTransaction::from_json(&no_charged)
                .unwrap()
                .charged_amount,
            None
        );
    }

    #[test]
    fn statuses() {
        assert_eq!(FlwStatus::from("successful"), FlwStatus::Successful);
        assert_eq!(FlwStatus::from("failed"), FlwStatus::Failed);
        assert_eq!(FlwStatus::from("weird"), FlwStatus::Other("weird".into()));
        assert_eq!(
            PaymentMethod::BankTransfer.payment_options(),
            "banktransfer"
        );
        assert_eq!(PaymentMethod::Ussd.payment_options(), "ussd");
        assert_eq!(PaymentMethod::Card.payment_options(), "card");
    }
}
