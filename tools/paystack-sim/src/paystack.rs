//! Paystack's API: initialize, verify, charge_authorization, refund, and the
//! simulator's "complete this checkout" control.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kobo_domain::email::Email;
use kobo_payments::paystack::{sign, SIGNATURE_HEADER};
use serde_json::{json, Value};

use crate::reply::{bearer_ok, kobo_amount, now_iso, parse_body, ps_err, ps_ok, random_code};
use crate::state::{AppState, IssuedAuthorization};
use crate::webhooks::{deliver, Delivery, Outgoing, Source};

/// Paystack's minimum charge in NGN: ₦1.00.
const MIN_AMOUNT: i64 = 100;

/// Test authorization codes for `charge_authorization`.
pub(crate) const AUTH_SUCCESS: &str = "AUTH_success";
pub(crate) const AUTH_DECLINE: &str = "AUTH_decline";
pub(crate) const AUTH_INSUFFICIENT: &str = "AUTH_insufficient";

/// A simulated Paystack transaction.
pub(crate) struct PsTxn {
    pub(crate) id: u64,
    pub(crate) reference: String,
    pub(crate) email: String,
    pub(crate) requested: i64,
    pub(crate) amount: i64,
    pub(crate) currency: String,
    pub(crate) status: &'static str,
    pub(crate) gateway_response: Option<&'static str>,
    pub(crate) channel: Option<&'static str>,
    /// As the client sent it; `""` when absent (as Paystack answers).
    pub(crate) metadata: Value,
    pub(crate) callback_url: Option<String>,
    pub(crate) authorization: Option<Value>,
    pub(crate) created_at: String,
    pub(crate) paid_at: Option<String>,
    pub(crate) customer_id: u64,
    pub(crate) customer_code: String,
    /// Kobo refunded so far.
    pub(crate) refunded: i64,
}

impl PsTxn {
    /// The transaction as verify, charge answers and `charge.*` webhooks show it.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "domain": "test",
            "status": self.status,
            "reference": self.reference,
            "receipt_number": null,
            "amount": self.amount,
            "message": null,
            "gateway_response": self.gateway_response,
            "paid_at": self.paid_at,
            "created_at": self.created_at,
            "channel": self.channel,
            "currency": self.currency,
            "ip_address": "127.0.0.1",
            "metadata": self.metadata,
            "log": null,
            "fees": if self.status == "success" { fees(self.amount) } else { 0 },
            "fees_split": null,
            "authorization": self.authorization.clone().unwrap_or_else(|| json!({})),
            "customer": {
                "id": self.customer_id,
                "first_name": null,
                "last_name": null,
                "email": self.email,
                "customer_code": self.customer_code,
                "phone": null,
                "metadata": null,
                "risk_action": "default",
            },
            "plan": null,
            "split": {},
            "order_id": null,
            "paidAt": self.paid_at,
            "createdAt": self.created_at,
            "requested_amount": self.requested,
            "transaction_date": self.created_at,
        })
    }
}

/// Paystack's local card fee: 1.5 %, plus ₦100 from ₦2,500, capped at ₦2,000.
fn fees(amount: i64) -> i64 {
    let mut fee = amount.saturating_mul(15) / 1000;
    if amount >= 250_000 {
        fee = fee.saturating_add(10_000);
    }
    fee.min(200_000)
}

/// A reusable test card.
fn card_authorization(code: &str) -> Value {
    json!({
        "authorization_code": code,
        "bin": "408408",
        "last4": "4081",
        "exp_month": "12",
        "exp_year": "2030",
        "channel": "card",
        "card_type": "visa DEBIT",
        "bank": "TEST BANK",
        "country_code": "NG",
        "brand": "visa",
        "reusable": true,
        "signature": "SIG_kobosimtestcard4081",
        "account_name": null,
    })
}

fn unauthorized() -> Response {
    ps_err(
        StatusCode::UNAUTHORIZED,
        "Invalid key. Format: Authorization: Bearer SECRET_KEY",
    )
}

fn valid_reference(reference: &str) -> bool {
    !reference.is_empty()
        && reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'='))
}

/// The `reference` field: absent → a generated one; invalid → `Err`.
fn reference_field(body: &Value) -> Result<String, Response> {
    match body.get("reference") {
        None | Some(Value::Null) => Ok(format!("T{}", random_code(14))),
        Some(Value::String(s)) if valid_reference(s) => Ok(s.clone()),
        Some(_) => Err(ps_err(
            StatusCode::BAD_REQUEST,
            "Invalid transaction reference: only -, ., = and alphanumeric characters are allowed",
        )),
    }
}

fn email_field(body: &Value) -> Result<String, Response> {
    body.get("email")
        .and_then(Value::as_str)
        .filter(|e| Email::parse(e).is_ok())
        .map(|e| e.trim().to_owned())
        .ok_or_else(|| ps_err(StatusCode::BAD_REQUEST, "Invalid Email Address Passed"))
}

fn amount_field(body: &Value) -> Result<i64, Response> {
    kobo_amount(body.get("amount"))
        .filter(|a| *a >= MIN_AMOUNT)
        .ok_or_else(|| ps_err(StatusCode::BAD_REQUEST, "Invalid Amount Sent"))
}

fn currency_field(body: &Value) -> Result<String, Response> {
    match body.get("currency").and_then(Value::as_str) {
        None | Some("NGN") => Ok("NGN".to_owned()),
        Some(_) => Err(ps_err(
            StatusCode::BAD_REQUEST,
            "Currency not supported by merchant",
        )),
    }
}

/// `POST /transaction/initialize`.
pub(crate) async fn initialize(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !bearer_ok(&headers, &state.config.paystack_secret) {
        return unauthorized();
    }
    let Some(body) = parse_body(&body) else {
        return ps_err(StatusCode::BAD_REQUEST, "Invalid JSON body");
    };
    let fields = (|| {
        Ok::<_, Response>((
            email_field(&body)?,
            amount_field(&body)?,
            reference_field(&body)?,
            currency_field(&body)?,
        ))
    })();
    let (email, amount, reference, currency) = match fields {
        Ok(f) => f,
        Err(response) => return response,
    };
    let metadata = match body.get("metadata") {
        None | Some(Value::Null) => json!(""),
        Some(m) => m.clone(),
    };
    let callback_url = body
        .get("callback_url")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .map(str::to_owned);

    let access_code = random_code(15);
    {
        let mut store = state.store.lock();
        if store.transactions.contains_key(&reference) {
            return ps_err(StatusCode::BAD_REQUEST, "Duplicate Transaction Reference");
        }
        let customer = store.customer(&email);
        let txn = PsTxn {
            id: store.next_paystack_id(),
            reference: reference.clone(),
            email,
            requested: amount,
            amount,
            currency,
            status: "abandoned",
            gateway_response: None,
            channel: None,
            metadata,
            callback_url,
            authorization: None,
            created_at: now_iso(),
            paid_at: None,
            customer_id: customer.id,
            customer_code: customer.code,
            refunded: 0,
        };
        store.transactions.insert(reference.clone(), txn);
        store
            .access_codes
            .insert(access_code.clone(), reference.clone());
    }
    ps_ok(
        "Authorization URL created",
        json!({
            "authorization_url": format!("{}/checkout/{access_code}", state.config.public_url),
            "access_code": access_code,
            "reference": reference,
        }),
    )
}

/// `GET /transaction/verify/{reference}`.
pub(crate) async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(reference): Path<String>,
) -> Response {
    if !bearer_ok(&headers, &state.config.paystack_secret) {
        return unauthorized();
    }
    let store = state.store.lock();
    match store.transactions.get(&reference) {
        Some(txn) => ps_ok("Verification successful", txn.to_json()),
        None => ps_err(StatusCode::BAD_REQUEST, "Transaction reference not found"),
    }
}

/// How a simulated checkout ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Failed,
}

impl Outcome {
    pub(crate) fn parse(raw: Option<&Value>) -> Result<Outcome, String> {
        match raw.and_then(Value::as_str) {
            None | Some("success") | Some("successful") => Ok(Outcome::Success),
            Some("failed") | Some("fail") => Ok(Outcome::Failed),
            Some(other) => Err(format!(
                "outcome must be \"success\" or \"failed\", not {other:?}"
            )),
        }
    }
}

/// A signed Paystack webhook for `event` with `data`.
fn signed(state: &AppState, event: &str, data: &Value) -> Outgoing {
    let body = json!({"event": event, "data": data}).to_string();
    Outgoing {
        provider: Source::Paystack,
        event: event.to_owned(),
        header: SIGNATURE_HEADER,
        header_value: sign(state.config.paystack_secret.as_bytes(), body.as_bytes()),
        body,
    }
}

/// Settle the checkout of `reference`, then send `charge.success` / `charge.failed`.
pub(crate) async fn complete(
    state: &AppState,
    reference: &str,
    outcome: Outcome,
    amount: Option<i64>,
    currency: Option<String>,
) -> Result<(Value, Delivery, Option<String>), (StatusCode, String)> {
    let (event, data, callback_url) = {
        let mut guard = state.store.lock();
        let store = &mut *guard;
        let txn = store.transactions.get_mut(reference).ok_or((
            StatusCode::NOT_FOUND,
            "Transaction reference not found".to_owned(),
        ))?;
        if matches!(txn.status, "success" | "reversed") {
            return Err((
                StatusCode::CONFLICT,
                format!("Transaction {reference} is already {}", txn.status),
            ));
        }
        txn.amount = amount.unwrap_or(txn.requested);
        if let Some(currency) = currency {
            txn.currency = currency;
        }
        txn.channel = Some("card");
        let event = match outcome {
            Outcome::Success => {
                let code = format!("AUTH_{}", random_code(10));
                let authorization = card_authorization(&code);
                store.authorizations.insert(
                    code,
                    IssuedAuthorization {
                        email: txn.email.clone(),
                        json: authorization.clone(),
                    },
                );
                txn.status = "success";
                txn.gateway_response = Some("Successful");
                txn.paid_at = Some(now_iso());
                txn.authorization = Some(authorization);
                "charge.success"
            }
            Outcome::Failed => {
                txn.status = "failed";
                txn.gateway_response = Some("Declined");
                txn.paid_at = None;
                txn.authorization = None;
                "charge.failed"
            }
        };
        (event, txn.to_json(), txn.callback_url.clone())
    };
    let delivery = deliver(state, signed(state, event, &data), None).await;
    Ok((data, delivery, callback_url))
}

/// `POST /sim/paystack/{reference}/complete`
/// `{"outcome": "success"|"failed", "amount"?: kobo, "currency"?: "NGN"}`.
pub(crate) async fn sim_complete(
    State(state): State<AppState>,
    Path(reference): Path<String>,
    body: Bytes,
) -> Response {
    let Some(body) = parse_body(&body) else {
        return ps_err(StatusCode::BAD_REQUEST, "Invalid JSON body");
    };
    let outcome = match Outcome::parse(body.get("outcome")) {
        Ok(o) => o,
        Err(message) => return ps_err(StatusCode::BAD_REQUEST, &message),
    };
    let amount = match body.get("amount") {
        None | Some(Value::Null) => None,
        Some(v) => match kobo_amount(Some(v)) {
            Some(a) => Some(a),
            None => return ps_err(StatusCode::BAD_REQUEST, "amount must be whole kobo"),
        },
    };
    let currency = body
        .get("currency")
        .and_then(Value::as_str)
        .map(str::to_owned);
    match complete(&state, &reference, outcome, amount, currency).await {
        Ok((transaction, webhook, _)) => Json(json!({
            "status": true,
            "transaction": transaction,
            "webhook": webhook,
        }))
        .into_response(),
        Err((status, message)) => ps_err(status, &message),
    }
}

/// `POST /transaction/charge_authorization`.
pub(crate) async fn charge_authorization(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !bearer_ok(&headers, &state.config.paystack_secret) {
        return unauthorized();
    }
    let Some(body) = parse_body(&body) else {
        return ps_err(StatusCode::BAD_REQUEST, "Invalid JSON body");
    };
    let fields = (|| {
        Ok::<_, Response>((
            email_field(&body)?,
            amount_field(&body)?,
            reference_field(&body)?,
            currency_field(&body)?,
        ))
    })();
    let (email, amount, reference, currency) = match fields {
        Ok(f) => f,
        Err(response) => return response,
    };
    let Some(code) = body
        .get("authorization_code")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
    else {
        return ps_err(StatusCode::BAD_REQUEST, "Authorization code is required");
    };
    let metadata = match body.get("metadata") {
        None | Some(Value::Null) => json!(""),
        Some(m) => m.clone(),
    };

    let (event, data) = {
        let mut store = state.store.lock();
        let (status, gateway_response, authorization) = match code {
            AUTH_SUCCESS => ("success", "Approved", card_authorization(code)),
            AUTH_DECLINE => ("failed", "Declined", card_authorization(code)),
            AUTH_INSUFFICIENT => ("failed", "Insufficient Funds", card_authorization(code)),
            issued => match store.authorizations.get(issued) {
                Some(auth) if auth.email.eq_ignore_ascii_case(&email) => {
                    ("success", "Approved", auth.json.clone())
                }
                Some(_) => {
                    return ps_err(
                        StatusCode::BAD_REQUEST,
                        "Authorization code does not belong to this customer",
                    )
                }
                None => return ps_err(StatusCode::BAD_REQUEST, "Invalid Authorization Code"),
            },
        };
        if store.transactions.contains_key(&reference) {
            return ps_err(StatusCode::BAD_REQUEST, "Duplicate Transaction Reference");
        }
        let customer = store.customer(&email);
        let now = now_iso();
        let txn = PsTxn {
            id: store.next_paystack_id(),
            reference: reference.clone(),
            email,
            requested: amount,
            amount,
            currency,
            status,
            gateway_response: Some(gateway_response),
            channel: Some("card"),
            metadata,
            callback_url: None,
            authorization: Some(authorization),
            created_at: now.clone(),
            paid_at: (status == "success").then_some(now),
            customer_id: customer.id,
            customer_code: customer.code,
            refunded: 0,
        };
        let data = txn.to_json();
        store.transactions.insert(reference, txn);
        let event = if status == "success" {
            "charge.success"
        } else {
            "charge.failed"
        };
        (event, data)
    };
    deliver(&state, signed(&state, event, &data), None).await;
    ps_ok("Charge attempted", data)
}

/// `POST /refund` `{transaction: id or reference, amount?: kobo}`.
pub(crate) async fn refund(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !bearer_ok(&headers, &state.config.paystack_secret) {
        return unauthorized();
    }
    let Some(body) = parse_body(&body) else {
        return ps_err(StatusCode::BAD_REQUEST, "Invalid JSON body");
    };
    let key = match body.get("transaction") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return ps_err(
                StatusCode::BAD_REQUEST,
                "Transaction reference or id is required",
            )
        }
    };
    let asked = match body.get("amount") {
        None | Some(Value::Null) => None,
        Some(v) => match kobo_amount(Some(v)).filter(|a| *a > 0) {
            Some(a) => Some(a),
            None => return ps_err(StatusCode::BAD_REQUEST, "Invalid Amount Sent"),
        },
    };
    let text = |field: &str| body.get(field).and_then(Value::as_str).map(str::to_owned);
    let (customer_note, merchant_note) = (text("customer_note"), text("merchant_note"));

    let (answer, processed) = {
        let mut guard = state.store.lock();
        let store = &mut *guard;
        let reference = if store.transactions.contains_key(&key) {
            Some(key.clone())
        } else {
            key.parse::<u64>().ok().and_then(|id| {
                store
                    .transactions
                    .values()
                    .find(|t| t.id == id)
                    .map(|t| t.reference.clone())
            })
        };
        let Some(txn) = reference.and_then(|r| store.transactions.get_mut(&r)) else {
            return ps_err(StatusCode::NOT_FOUND, "Transaction not found");
        };
        match txn.status {
            "success" => {}
            "reversed" => {
                return ps_err(
                    StatusCode::BAD_REQUEST,
                    "Transaction has been fully reversed",
                )
            }
            _ => {
                return ps_err(
                    StatusCode::BAD_REQUEST,
                    "Transaction has not been completed",
                )
            }
        }
        let remaining = txn.amount - txn.refunded;
        let amount = asked.unwrap_or(remaining);
        if amount > remaining || amount <= 0 {
            return ps_err(
                StatusCode::BAD_REQUEST,
                "Refund amount cannot be greater than transaction amount",
            );
        }
        txn.refunded += amount;
        if txn.refunded == txn.amount {
            txn.status = "reversed";
        }
        let now = now_iso();
        let transaction = json!({
            "id": txn.id,
            "domain": "test",
            "reference": txn.reference,
            "amount": txn.amount,
            "paid_at": txn.paid_at,
            "channel": txn.channel,
            "currency": txn.currency,
            "authorization": txn.authorization,
            "customer": {"id": txn.customer_id, "email": txn.email, "customer_code": txn.customer_code},
            "metadata": txn.metadata,
        });
        let (reference, currency, email, customer_code) = (
            txn.reference.clone(),
            txn.currency.clone(),
            txn.email.clone(),
            txn.customer_code.clone(),
        );
        let id = store.next_refund_id();
        let answer = json!({
            "transaction": transaction,
            "integration": 100_000,
            "deducted_amount": 0,
            "channel": null,
            "merchant_note": merchant_note.unwrap_or_else(|| format!("Refund for transaction {reference}")),
            "customer_note": customer_note.unwrap_or_else(|| format!("Refund for transaction {reference}")),
            "status": "pending",
            "refunded_by": "kobo-paystack-sim",
            "expected_at": now,
            "currency": currency,
            "domain": "test",
            "amount": amount,
            "fully_deducted": false,
            "id": id,
            "createdAt": now,
        });
        let processed = json!({
            "id": id,
            "status": "processed",
            "transaction_reference": reference,
            "refund_reference": format!("RFD_{}", random_code(10)),
            "amount": amount,
            "currency": currency,
            "processor": "kobo-paystack-sim",
            "customer": {"email": email, "customer_code": customer_code},
            "integration": 100_000,
            "domain": "test",
            "refunded_at": now,
        });
        (answer, processed)
    };
    deliver(&state, signed(&state, "refund.processed", &processed), None).await;
    ps_ok("Refund has been queued for processing", answer)
}
