//! The hosted checkout pages: a summary and Pay / Fail buttons. Paying settles the
//! transaction (sending the webhook) and sends the browser back to the merchant.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use kobo_domain::money::{format_naira, Kobo};
use serde::Deserialize;
use serde_json::Value;

use crate::paystack::Outcome;
use crate::reply::{encode_component, escape_html, with_query};
use crate::state::AppState;
use crate::{flutterwave, paystack};

/// The Pay / Fail form.
#[derive(Deserialize)]
pub(crate) struct PayForm {
    outcome: String,
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:sans-serif;max-width:28rem;margin:3rem auto}}\
         button{{font-size:1rem;padding:.5rem 1rem;margin:.25rem}}</style></head>\
         <body><h1>{title}</h1>{body}</body></html>",
        title = escape_html(title),
    )
}

fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    (
        status,
        Html(page(title, &format!("<p>{}</p>", escape_html(message)))),
    )
        .into_response()
}

fn buttons(action: &str, pay_label: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"outcome\" value=\"success\">\
         <button type=\"submit\">{pay}</button></form>\
         <form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"outcome\" value=\"failed\">\
         <button type=\"submit\">Fail the payment</button></form>",
        action = escape_html(action),
        pay = escape_html(pay_label),
    )
}

fn outcome(form: &PayForm) -> Option<Outcome> {
    Outcome::parse(Some(&Value::String(form.outcome.clone()))).ok()
}

/// `GET /checkout/{access_code}`.
pub(crate) async fn paystack_page(
    State(state): State<AppState>,
    Path(access_code): Path<String>,
) -> Response {
    let store = state.store.lock();
    let txn = store
        .access_codes
        .get(&access_code)
        .and_then(|reference| store.transactions.get(reference));
    let Some(txn) = txn else {
        return message_page(StatusCode::NOT_FOUND, "Not found", "No such checkout.");
    };
    let amount = format_naira(Kobo(txn.requested));
    let body = format!(
        "<p>Paystack test checkout (simulated)</p><p><b>{amount}</b> from {email}<br>\
         reference <code>{reference}</code>, status <code>{status}</code></p>{buttons}",
        email = escape_html(&txn.email),
        reference = escape_html(&txn.reference),
        status = txn.status,
        buttons = buttons(
            &format!("/checkout/{}/pay", encode_component(&access_code)),
            &format!("Pay {amount}")
        ),
    );
    Html(page("Pay with Paystack (simulator)", &body)).into_response()
}

/// `POST /checkout/{access_code}/pay` (form `outcome=success|failed`).
pub(crate) async fn paystack_pay(
    State(state): State<AppState>,
    Path(access_code): Path<String>,
    Form(form): Form<PayForm>,
) -> Response {
    let Some(outcome) = outcome(&form) else {
        return message_page(StatusCode::BAD_REQUEST, "Bad request", "Unknown outcome.");
    };
    let reference = state.store.lock().access_codes.get(&access_code).cloned();
    let Some(reference) = reference else {
        return message_page(StatusCode::NOT_FOUND, "Not found", "No such checkout.");
    };
    match paystack::complete(&state, &reference, outcome, None, None).await {
        Ok((_, _, Some(callback))) => Redirect::to(&with_query(
            &callback,
            &[("trxref", &reference), ("reference", &reference)],
        ))
        .into_response(),
        Ok((_, _, None)) => message_page(
            StatusCode::OK,
            "Done",
            &format!("Payment {reference} finished. You can close this page."),
        ),
        Err((status, message)) => message_page(status, "Cannot complete", &message),
    }
}

/// `GET /flw/checkout/{tx_ref}`.
pub(crate) async fn flutterwave_page(
    State(state): State<AppState>,
    Path(tx_ref): Path<String>,
) -> Response {
    let store = state.store.lock();
    let Some(txn) = store.flw.get(&tx_ref) else {
        return message_page(StatusCode::NOT_FOUND, "Not found", "No such checkout.");
    };
    let amount = format_naira(txn.requested);
    let body = format!(
        "<p>Flutterwave test checkout (simulated), paying by <code>{options}</code></p>\
         <p><b>{amount}</b> from {email}<br>tx_ref <code>{tx_ref}</code>, status <code>{status}</code></p>{buttons}",
        options = escape_html(&txn.payment_options),
        email = escape_html(&txn.email),
        tx_ref = escape_html(&txn.tx_ref),
        status = txn.status,
        buttons = buttons(
            &format!("/flw/checkout/{}/pay", encode_component(&tx_ref)),
            &format!("Pay {amount}")
        ),
    );
    Html(page("Pay with Flutterwave (simulator)", &body)).into_response()
}

/// `POST /flw/checkout/{tx_ref}/pay` (form `outcome=success|failed`).
pub(crate) async fn flutterwave_pay(
    State(state): State<AppState>,
    Path(tx_ref): Path<String>,
    Form(form): Form<PayForm>,
) -> Response {
    let Some(outcome) = outcome(&form) else {
        return message_page(StatusCode::BAD_REQUEST, "Bad request", "Unknown outcome.");
    };
    match flutterwave::complete(&state, &tx_ref, outcome, None, None).await {
        Ok((id, _, Some(redirect))) => {
            let status = match outcome {
                Outcome::Success => "successful",
                Outcome::Failed => "failed",
            };
            Redirect::to(&with_query(
                &redirect,
                &[
                    ("status", status),
                    ("tx_ref", &tx_ref),
                    ("transaction_id", &id.to_string()),
                ],
            ))
            .into_response()
        }
        Ok((_, _, None)) => message_page(
            StatusCode::OK,
            "Done",
            &format!("Payment {tx_ref} finished. You can close this page."),
        ),
        Err((status, message)) => message_page(status, "Cannot complete", &message),
    }
}
