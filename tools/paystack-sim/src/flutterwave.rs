//! Flutterwave's v3 API (Standard checkout and verify) and the simulator's "complete
//! this checkout" control. Amounts are decimal naira, handled exactly.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kobo_domain::email::Email;
use kobo_domain::money::{parse_naira_decimal, Kobo};
use kobo_payments::flutterwave::{HASH_HEADER, USSD_MAX_AMOUNT};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::paystack::Outcome;
use crate::reply::{bearer_ok, encode_component, flw_err, flw_ok, now_iso};
use crate::state::AppState;
use crate::webhooks::{deliver, Delivery, Outgoing, Source};

/// A simulated Flutterwave transaction.
pub(crate) struct FlwTxn {
    pub(crate) tx_ref: String,
    /// Assigned when the payer first completes the checkout.
    pub(crate) id: Option<u64>,
    /// The amount asked for.
    pub(crate) requested: Kobo,
    /// The amount as a JSON number's text (`45000.5`), exactly as answers show it.
    pub(crate) amount_text: String,
    pub(crate) currency: String,
    pub(crate) status: &'static str,
    pub(crate) payment_options: String,
    pub(crate) redirect_url: Option<String>,
    pub(crate) email: String,
    pub(crate) name: Option<String>,
    pub(crate) created_at: String,
    pub(crate) customer_id: u64,
}

/// The transaction as verify and `charge.completed` show it. `amount` is written from
/// its exact decimal text.
#[derive(Serialize)]
struct TxnView<'a> {
    id: u64,
    tx_ref: &'a str,
    flw_ref: String,
    device_fingerprint: &'static str,
    amount: &'a RawValue,
    currency: &'a str,
    charged_amount: &'a RawValue,
    app_fee: u8,
    merchant_fee: u8,
    processor_response: &'static str,
    auth_model: &'static str,
    ip: &'static str,
    narration: &'static str,
    status: &'static str,
    payment_type: &'static str,
    created_at: &'a str,
    account_id: u64,
    customer: CustomerView<'a>,
}

#[derive(Serialize)]
struct CustomerView<'a> {
    id: u64,
    name: Option<&'a str>,
    phone_number: Option<&'a str>,
    email: &'a str,
    created_at: &'a str,
}

impl FlwTxn {
    fn payment_type(&self) -> &'static str {
        match self.payment_options.split(',').next().map(str::trim) {
            Some("banktransfer") => "bank_transfer",
            Some("ussd") => "ussd",
            _ => "card",
        }
    }

    /// The JSON text of the transaction; `None` before it has an id.
    fn to_json(&self) -> Option<Box<RawValue>> {
        let id = self.id?;
        let amount = RawValue::from_string(self.amount_text.clone()).ok()?;
        let view = TxnView {
            id,
            tx_ref: &self.tx_ref,
            flw_ref: format!("FLW-SIM-{id}"),
            device_fingerprint: "kobo-paystack-sim",
            amount: &amount,
            currency: &self.currency,
            charged_amount: &amount,
            app_fee: 0,
            merchant_fee: 0,
            processor_response: if self.status == "successful" {
                "Approved by Financial Institution"
            } else {
                "Declined"
            },
            auth_model: "PIN",
            ip: "127.0.0.1",
            narration: "Kobo simulator",
            status: self.status,
            payment_type: self.payment_type(),
            created_at: &self.created_at,
            account_id: 17_321,
            customer: CustomerView {
                id: self.customer_id,
                name: self.name.as_deref(),
                phone_number: None,
                email: &self.email,
                created_at: &self.created_at,
            },
        };
        serde_json::value::to_raw_value(&view).ok()
    }

    fn event_type(&self) -> &'static str {
        match self.payment_type() {
            "bank_transfer" => "BANK_TRANSFER_TRANSACTION",
            "ussd" => "USSD_TRANSACTION",
            _ => "CARD_TRANSACTION",
        }
    }
}

/// `45000.5` for ₦45,000.50, `45000` for ₦45,000.00: how Flutterwave prints amounts.
fn naira_number_text(amount: Kobo) -> String {
    let text = amount.to_naira_string();
    let trimmed = text.trim_end_matches('0').trim_end_matches('.');
    if trimmed.is_empty() || trimmed == "-" {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// The text of a JSON number or numeric string, unquoted.
fn decimal_text(raw: &RawValue) -> Option<String> {
    let text = raw.get().trim();
    if text.starts_with('"') {
        serde_json::from_str::<String>(text).ok()
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        Some(text.to_owned())
    } else {
        None
    }
}

fn unauthorized() -> Response {
    flw_err(StatusCode::UNAUTHORIZED, "Invalid authorization key")
}

#[derive(Deserialize)]
struct PaymentBody {
    tx_ref: Option<String>,
    amount: Option<Box<RawValue>>,
    currency: Option<String>,
    redirect_url: Option<String>,
    #[serde(default)]
    customer: Value,
    payment_options: Option<String>,
}

/// `POST /flw/v3/payments` (Standard checkout).
pub(crate) async fn payments(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !bearer_ok(&headers, &state.config.flutterwave_secret) {
        return unauthorized();
    }
    let Ok(body) = serde_json::from_slice::<PaymentBody>(&body) else {
        return flw_err(StatusCode::BAD_REQUEST, "Invalid JSON body");
    };
    let Some(tx_ref) = body.tx_ref.filter(|t| !t.trim().is_empty()) else {
        return flw_err(StatusCode::BAD_REQUEST, "tx_ref is required");
    };
    let amount = body
        .amount
        .as_deref()
        .and_then(decimal_text)
        .and_then(|t| parse_naira_decimal(&t).ok())
        .filter(|a| *a > Kobo::ZERO);
    let Some(amount) = amount else {
        return flw_err(
            StatusCode::BAD_REQUEST,
            "amount must be a positive number of naira with at most two decimals",
        );
    };
    let currency = body.currency.unwrap_or_else(|| "NGN".to_owned());
    let Some(email) = body
        .customer
        .get("email")
        .and_then(Value::as_str)
        .filter(|e| Email::parse(e).is_ok())
        .map(str::to_owned)
    else {
        return flw_err(StatusCode::BAD_REQUEST, "customer.email is required");
    };
    let payment_options = body.payment_options.unwrap_or_else(|| "card".to_owned());
    let ussd_only = payment_options.split(',').map(str::trim).eq(["ussd"]);
    if ussd_only && amount > USSD_MAX_AMOUNT {
        return flw_err(
            StatusCode::BAD_REQUEST,
            "USSD payments cannot be more than NGN 500,000",
        );
    }
    {
        let mut store = state.store.lock();
        if store.flw.contains_key(&tx_ref) {
            return flw_err(StatusCode::BAD_REQUEST, "Duplicate tx_ref");
        }
        let customer = store.customer(&email);
        store.flw.insert(
            tx_ref.clone(),
            FlwTxn {
                tx_ref: tx_ref.clone(),
                id: None,
                requested: amount,
                amount_text: naira_number_text(amount),
                currency,
                status: "pending",
                payment_options,
                redirect_url: body.redirect_url.filter(|u| !u.is_empty()),
                email,
                name: body
                    .customer
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                created_at: now_iso(),
                customer_id: customer.id,
            },
        );
    }
    flw_ok(
        "Hosted Link",
        json!({"link": format!("{}/flw/checkout/{}", state.config.public_url, encode_component(&tx_ref))}),
    )
}

/// `GET /flw/v3/transactions/{id}/verify`.
pub(crate) async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !bearer_ok(&headers, &state.config.flutterwave_secret) {
        return unauthorized();
    }
    let not_found = || {
        flw_err(
            StatusCode::BAD_REQUEST,
            "No transaction was found for this id",
        )
    };
    let Ok(id) = id.parse::<u64>() else {
        return not_found();
    };
    let store = state.store.lock();
    let view = store
        .flw_ids
        .get(&id)
        .and_then(|tx_ref| store.flw.get(tx_ref))
        .and_then(FlwTxn::to_json);
    match view {
        Some(view) => flw_ok("Transaction fetched successfully", view),
        None => not_found(),
    }
}

/// Settle the checkout of `tx_ref`, then send `charge.completed` with `verif-hash`.
/// `amount_text`, when given, is used verbatim as the paid amount (any JSON number,
/// so a test can also send amounts a client must refuse).
pub(crate) async fn complete(
    state: &AppState,
    tx_ref: &str,
    outcome: Outcome,
    amount_text: Option<String>,
    currency: Option<String>,
) -> Result<(u64, Delivery, Option<String>), (StatusCode, String)> {
    let (id, body, redirect_url) = {
        let mut guard = state.store.lock();
        let store = &mut *guard;
        let Some(txn) = store.flw.get(tx_ref) else {
            return Err((
                StatusCode::NOT_FOUND,
                format!("No transaction with tx_ref {tx_ref}"),
            ));
        };
        if txn.status == "successful" {
            return Err((
                StatusCode::CONFLICT,
                format!("Transaction {tx_ref} is already successful"),
            ));
        }
        let id = match txn.id {
            Some(id) => id,
            None => {
                let id = store.next_flutterwave_id();
                store.flw_ids.insert(id, tx_ref.to_owned());
                id
            }
        };
        let Some(txn) = store.flw.get_mut(tx_ref) else {
            return Err((
                StatusCode::NOT_FOUND,
                format!("No transaction with tx_ref {tx_ref}"),
            ));
        };
        txn.id = Some(id);
        txn.status = match outcome {
            Outcome::Success => "successful",
            Outcome::Failed => "failed",
        };
        txn.amount_text = amount_text.unwrap_or_else(|| naira_number_text(txn.requested));
        if let Some(currency) = currency {
            txn.currency = currency;
        }
        let Some(data) = txn.to_json() else {
            return Err((
                StatusCode::BAD_REQUEST,
                "amount is not a JSON number".to_owned(),
            ));
        };
        let body = format!(
            r#"{{"event":"charge.completed","data":{},"event.type":"{}"}}"#,
            data.get(),
            txn.event_type()
        );
        (id, body, txn.redirect_url.clone())
    };
    let outgoing = Outgoing {
        provider: Source::Flutterwave,
        event: "charge.completed".to_owned(),
        header: HASH_HEADER,
        header_value: state.config.flutterwave_hash.clone(),
        body,
    };
    let delivery = deliver(state, outgoing, None).await;
    Ok((id, delivery, redirect_url))
}

/// `POST /sim/flutterwave/{tx_ref}/complete`
/// `{"outcome": "success"|"failed", "amount"?: "decimal naira", "currency"?: "NGN"}`.
pub(crate) async fn sim_complete(
    State(state): State<AppState>,
    Path(tx_ref): Path<String>,
    body: Bytes,
) -> Response {
    #[derive(Deserialize, Default)]
    struct Body {
        outcome: Option<Value>,
        amount: Option<Box<RawValue>>,
        currency: Option<String>,
    }
    let parsed = if body.iter().all(u8::is_ascii_whitespace) {
        Ok(Body::default())
    } else {
        serde_json::from_slice::<Body>(&body)
    };
    let Ok(parsed) = parsed else {
        return flw_err(StatusCode::BAD_REQUEST, "Invalid JSON body");
    };
    let outcome = match Outcome::parse(parsed.outcome.as_ref()) {
        Ok(o) => o,
        Err(message) => return flw_err(StatusCode::BAD_REQUEST, &message),
    };
    let amount_text = match parsed.amount.as_deref() {
        None => None,
        Some(raw) if raw.get() == "null" => None,
        Some(raw) => match decimal_text(raw).filter(|t| RawValue::from_string(t.clone()).is_ok()) {
            Some(t) => Some(t),
            None => {
                return flw_err(
                    StatusCode::BAD_REQUEST,
                    "amount must be a decimal number of naira",
                )
            }
        },
    };
    match complete(&state, &tx_ref, outcome, amount_text, parsed.currency).await {
        Ok((id, webhook, _)) => Json(json!({
            "status": "success",
            "transaction_id": id,
            "webhook": webhook,
        }))
        .into_response(),
        Err((status, message)) => flw_err(status, &message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_print_like_flutterwave() {
        assert_eq!(naira_number_text(Kobo(4_500_000)), "45000");
        assert_eq!(naira_number_text(Kobo(4_500_050)), "45000.5");
        assert_eq!(naira_number_text(Kobo(4_500_005)), "45000.05");
        assert_eq!(naira_number_text(Kobo(1)), "0.01");
        assert_eq!(naira_number_text(Kobo(10_000)), "100");
        assert_eq!(naira_number_text(Kobo(0)), "0");
    }
}
