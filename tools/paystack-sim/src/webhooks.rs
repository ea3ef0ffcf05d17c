//! Webhook delivery, the delivery log and replays.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;

use crate::reply::now_iso;
use crate::state::AppState;

/// Which provider a webhook imitates (and so which URL it goes to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Source {
    Paystack,
    Flutterwave,
}

/// One webhook sent (or attempted).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Delivery {
    /// 1-based position in the log; what `/sim/webhooks/replay/{n}` takes.
    pub(crate) n: usize,
    pub(crate) provider: Source,
    pub(crate) event: String,
    /// Where it was sent; `null` when no URL is configured.
    pub(crate) url: Option<String>,
    /// `x-paystack-signature` or `verif-hash`.
    pub(crate) header: &'static str,
    pub(crate) header_value: String,
    /// The exact bytes sent (always UTF-8 JSON).
    pub(crate) body: String,
    /// The receiver's HTTP status; `null` when nothing answered.
    pub(crate) response_status: Option<u16>,
    /// Why delivery failed, when it did.
    pub(crate) error: Option<String>,
    /// For a replay, the `n` of the original.
    pub(crate) replay_of: Option<usize>,
    pub(crate) sent_at: String,
}

/// A webhook to send.
pub(crate) struct Outgoing {
    pub(crate) provider: Source,
    pub(crate) event: String,
    pub(crate) header: &'static str,
    pub(crate) header_value: String,
    pub(crate) body: String,
}

/// POST the webhook once, record the outcome, return the record. Call it without
/// holding the store lock (the receiver may call back into the simulator).
pub(crate) async fn deliver(
    state: &AppState,
    outgoing: Outgoing,
    replay_of: Option<usize>,
) -> Delivery {
    let url = match outgoing.provider {
        Source::Paystack => state.config.webhook_url.clone(),
        Source::Flutterwave => state.config.flutterwave_webhook_url.clone(),
    };
    let (response_status, error) = match &url {
        None => (None, Some("no webhook URL configured".to_owned())),
        Some(url) => {
            let sent = state
                .http
                .post(url)
                .header(header::CONTENT_TYPE, "application/json")
                .header(outgoing.header, &outgoing.header_value)
                .body(outgoing.body.clone())
                .send()
                .await;
            match sent {
                Ok(answer) => (Some(answer.status().as_u16()), None),
                Err(e) => (None, Some(e.to_string())),
            }
        }
    };
    let mut store = state.store.lock();
    let delivery = Delivery {
        n: store.webhooks.len() + 1,
        provider: outgoing.provider,
        event: outgoing.event,
        url,
        header: outgoing.header,
        header_value: outgoing.header_value,
        body: outgoing.body,
        response_status,
        error,
        replay_of,
        sent_at: now_iso(),
    };
    store.webhooks.push(delivery.clone());
    delivery
}

/// `GET /sim/webhooks`.
pub(crate) async fn list(State(state): State<AppState>) -> Response {
    let store = state.store.lock();
    Json(json!({ "webhooks": store.webhooks })).into_response()
}

/// `POST /sim/webhooks/replay/{n}`: send delivery `n` again, byte for byte.
pub(crate) async fn replay(State(state): State<AppState>, Path(n): Path<usize>) -> Response {
    let original = {
        let store = state.store.lock();
        n.checked_sub(1)
            .and_then(|i| store.webhooks.get(i))
            .cloned()
    };
    let Some(original) = original else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"status": false, "message": format!("no webhook number {n}")})),
        )
            .into_response();
    };
    let outgoing = Outgoing {
        provider: original.provider,
        event: original.event,
        header: original.header,
        header_value: original.header_value,
        body: original.body,
    };
    Json(deliver(&state, outgoing, Some(n)).await).into_response()
}
