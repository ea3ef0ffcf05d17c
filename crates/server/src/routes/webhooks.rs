//! `POST /api/v1/webhooks/paystack` and `/flutterwave`.
//!
//! The signature (Paystack: HMAC-SHA512 of the raw body; Flutterwave: the shared
//! `verif-hash`) is checked on the raw bytes before anything is parsed: 401 and no change
//! otherwise. Every event is stored once per (provider, identity); a payment is given
//! value only after the provider's own API confirms it (webhook bodies are claims, not
//! proof). Replays and concurrent copies answer 200 and change nothing.

use crate::billing::providers::payment_error;
use crate::billing::settle::{settle, Verified};
use crate::error::{ApiError, ApiResult};
use crate::extract::RawBody;
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use kobo_payments::flutterwave::{self, FlwKnownEvent};
use kobo_payments::paystack::{self, KnownEvent};
use kobo_store::{Applied, PaymentEventRecord};
use serde_json::{json, Value};

fn event_record(
    state: &AppState,
    provider: &str,
    identity: String,
    event: &str,
    reference: Option<String>,
    raw: &[u8],
) -> PaymentEventRecord {
    PaymentEventRecord {
        id: format!("evt_{}", uuid::Uuid::now_v7().simple()),
        provider: provider.into(),
        identity,
        event: event.into(),
        reference,
        payload: String::from_utf8_lossy(raw).into_owned(),
        outcome: "received".into(),
        detail: None,
        received_at: state.clock.now_ms(),
    }
}

fn ack(outcome: &str) -> Json<Value> {
    Json(json!({"status": "ok", "outcome": outcome}))
}

fn bad_signature() -> ApiError {
    ApiError::unauthorized(
        "invalid_signature",
        "the webhook signature is missing or wrong",
    )
}

/// Stores an event that settles nothing; a replay is a no-op.
async fn store_only(
    state: &AppState,
    mut ev: PaymentEventRecord,
    outcome: &str,
    detail: &str,
) -> ApiResult<Json<Value>> {
    ev.outcome = outcome.into();
    ev.detail = Some(detail.into());
    let first = state.store.record_event(&ev).await?;
    Ok(ack(if first { outcome } else { "duplicate" }))
}

fn settled_label(applied: &Applied) -> &'static str {
    match applied {
        Applied::Settled => "applied",
        Applied::AlreadySettled => "already_settled",
        Applied::DuplicateEvent => "duplicate",
        Applied::UnknownReference => "unknown_reference",
    }
}

#[utoipa::path(post, path = "/api/v1/webhooks/paystack", tag = "billing", request_body(content = String, description = "the provider's raw JSON body", content_type = "application/json"), responses((status = 200), (status = 401)))]
pub async fn paystack(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> ApiResult<Json<Value>> {
    let client = state.payments.paystack()?;
    let signature = headers
        .get("x-paystack-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(bad_signature)?;
    if !paystack::verify_signature(client.webhook_secret(), &raw, signature) {
        tracing::warn!("A Paystack webhook with a bad signature was refused.");
        return Err(bad_signature());
    }
    let event = paystack::WebhookEvent::parse(&raw)
        .map_err(|e| ApiError::bad_request("invalid_webhook", e.to_string()))?;
    let reference = event
        .data
        .get("reference")
        .and_then(Value::as_str)
        .map(str::to_string);
    let ev = event_record(
        &state,
        "paystack",
        event.identity(),
        &event.event,
        reference,
        &raw,
    );
    let typed = match event.typed() {
        Ok(t) => t,
        Err(e) => return store_only(&state, ev, "invalid", &e.to_string()).await,
    };
    match typed {
        KnownEvent::ChargeSuccess(claim) | KnownEvent::ChargeFailed(claim) => {
            // Ask Paystack itself; a transient failure answers 503 so Paystack retries.
            let tx = client.verify(&claim.reference).await.map_err(|e| {
                tracing::warn!(reference = %claim.reference, error = %e, "A Paystack webhook could not be verified; Paystack will retry.");
                payment_error(e)
            })?;
            let outcome = settle(
                &state,
                Some(&ev),
                &claim.reference,
                Verified::Paystack(Box::new(tx)),
            )
            .await?;
            Ok(ack(settled_label(&outcome.applied)))
        }
        KnownEvent::RefundProcessed(r) => {
            let Some(reference) = r.transaction_reference.clone() else {
                return store_only(
                    &state,
                    ev,
                    "ignored",
                    "the refund names no transaction reference",
                )
                .await;
            };
            let applied = state.store.mark_refunded(&ev, &reference).await?;
            if applied == Applied::Settled {
                if let Some(p) = state.store.payment_by_reference(&reference).await? {
                    tracing::info!(org_id = %p.org_id, reference = %reference, amount_kobo = r.amount.0, "A refund was processed.");
                }
            }
            Ok(ack(settled_label(&applied)))
        }
        KnownEvent::SubscriptionDisable(_) | KnownEvent::SubscriptionNotRenew(_) => {
            // Kobo renews with saved authorizations, not Paystack plans: nothing to change.
            store_only(&state, ev, "ignored", "Kobo does not use Paystack-managed subscriptions; renewals use saved authorizations").await
        }
        KnownEvent::Other => {
            store_only(&state, ev, "unknown_event", "stored and acknowledged").await
        }
    }
}

#[utoipa::path(post, path = "/api/v1/webhooks/flutterwave", tag = "billing", request_body(content = String, description = "the provider's raw JSON body", content_type = "application/json"), responses((status = 200), (status = 401)))]
pub async fn flutterwave(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(raw): RawBody,
) -> ApiResult<Json<Value>> {
    let client = state.payments.flutterwave()?;
    let Some(secret) = state.payments.flutterwave_hash.as_deref() else {
        return Err(ApiError::unavailable(
            "payment_provider_not_configured",
            "KOBO_FLUTTERWAVE_SECRET_HASH is not set",
            60,
        ));
    };
    let given = headers
        .get("verif-hash")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(bad_signature)?;
    if !flutterwave::verify_hash(secret, given) {
        tracing::warn!("A Flutterwave webhook with a bad verif-hash was refused.");
        return Err(bad_signature());
    }
    let event = flutterwave::WebhookEvent::parse(&raw)
        .map_err(|e| ApiError::bad_request("invalid_webhook", e.to_string()))?;
    let reference = event
        .data
        .get("tx_ref")
        .and_then(Value::as_str)
        .map(str::to_string);
    let ev = event_record(
        &state,
        "flutterwave",
        event.identity(),
        &event.event,
        reference,
        &raw,
    );
    let typed = match event.typed() {
        Ok(t) => t,
        Err(e) => return store_only(&state, ev, "invalid", &e.to_string()).await,
    };
    match typed {
        FlwKnownEvent::ChargeCompleted(claim) => {
            // `charge.completed` also fires for failures: the verified status decides.
            let tx = client.verify(claim.id).await.map_err(|e| {
                tracing::warn!(tx_ref = %claim.tx_ref, error = %e, "A Flutterwave webhook could not be verified; Flutterwave will retry.");
                payment_error(e)
            })?;
            if tx.tx_ref != claim.tx_ref {
                return store_only(
                    &state,
                    ev,
                    "failed_verification",
                    "the verified transaction has another tx_ref",
                )
                .await;
            }
            let outcome =
                settle(&state, Some(&ev), &claim.tx_ref, Verified::Flutterwave(tx)).await?;
            Ok(ack(settled_label(&outcome.applied)))
        }
        FlwKnownEvent::Other => {
            store_only(&state, ev, "unknown_event", "stored and acknowledged").await
        }
    }
}
