//! The one way a payment is settled.
//!
//! Whoever learns of a payment's fate first — the provider's webhook, the payer's return
//! to the callback URL, or a renewal/upgrade charge — brings a transaction *verified
//! server-side* here. We compare it with what we expected (our reference, NGN, the exact
//! amount), work out what the payment buys, and hand both to the store, which applies
//! them at most once in one transaction. Everyone else gets `AlreadySettled`.

use super::periods::{cycle_of, cycle_price, first_period, next_period};
use crate::error::ApiResult;
use crate::state::AppState;
use kobo_domain::clock::from_ms;
use kobo_domain::money::Kobo;
use kobo_payments::flutterwave::{FlwStatus, FlwTransaction};
use kobo_payments::paystack::{Transaction, TransactionStatus};
use kobo_store::{Activation, Applied, PaymentEventRecord, PaymentRecord, Settlement};

/// A transaction as the provider's own API reported it (never a webhook body alone).
#[derive(Clone, Debug)]
pub enum Verified {
    Paystack(Box<Transaction>),
    Flutterwave(FlwTransaction),
    /// Nothing to collect (an upgrade whose credit covers the new plan).
    Free {
        amount: Kobo,
    },
}

impl Verified {
    pub fn free(p: &PaymentRecord) -> Self {
        Verified::Free {
            amount: Kobo(p.amount_kobo),
        }
    }
}

/// What the verified transaction says, before it is compared with our expectation.
struct Report {
    /// `Some(true)` paid, `Some(false)` failed for good, `None` not final yet.
    succeeded: Option<bool>,
    reference: String,
    currency: String,
    amount: Kobo,
    provider_txn_id: Option<String>,
    /// A reusable card for renewals.
    authorization_code: Option<String>,
    message: Option<String>,
}

fn report(v: &Verified, expected_reference: &str) -> Report {
    match v {
        Verified::Paystack(t) => Report {
            succeeded: match t.status {
                TransactionStatus::Success => Some(true),
                // `abandoned` only means the payer has not finished yet: they may still pay.
                TransactionStatus::Failed | TransactionStatus::Reversed => Some(false),
                _ => None,
            },
            reference: t.reference.clone(),
            currency: t.currency.clone(),
            amount: t.amount,
            provider_txn_id: Some(t.id.to_string()),
            authorization_code: t
                .authorization
                .as_ref()
                .filter(|a| a.reusable)
                .map(|a| a.authorization_code.clone()),
            message: t.gateway_response.clone(),
        },
        Verified::Flutterwave(t) => Report {
            succeeded: match &t.status {
                FlwStatus::Successful => Some(true),
                FlwStatus::Failed => Some(false),
                FlwStatus::Other(o) if o.eq_ignore_ascii_case("cancelled") => Some(false),
                _ => None,
            },
            reference: t.tx_ref.clone(),
            currency: t.currency.clone(),
            amount: t.amount,
            provider_txn_id: Some(t.id.to_string()),
            authorization_code: None,
            message: t.payment_type.clone(),
        },
        Verified::Free { amount } => Report {
            succeeded: Some(true),
            reference: expected_reference.to_string(),
            currency: "NGN".into(),
            amount: *amount,
            provider_txn_id: None,
            authorization_code: None,
            message: None,
        },
    }
}

/// How one settlement attempt ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The payment is (now or already) paid.
    pub paid: bool,
    /// The payment's status after this call.
    pub status: String,
    pub applied: Applied,
}

/// Settles the payment `reference` with a verified transaction (and, from a webhook,
/// stores the event once in the same transaction).
pub async fn settle(
    state: &AppState,
    event: Option<&PaymentEventRecord>,
    reference: &str,
    verified: Verified,
) -> ApiResult<Outcome> {
    let now_ms = state.clock.now_ms();
    let r = report(&verified, reference);
    let Some(payment) = state.store.payment_by_reference(reference).await? else {
        let s = bare(
            reference,
            "failed",
            now_ms,
            Some("no payment has this reference"),
        );
        let applied = state.store.apply_settlement(event, &s).await?;
        return Ok(Outcome {
            paid: false,
            status: "unknown".into(),
            applied,
        });
    };
    let Some(succeeded) = r.succeeded else {
        // Not final (pending, abandoned): keep the event for the record, settle nothing.
        // It is stored under an identity of its own, so a later copy of the same event
        // (the provider retries) is still applied once the payment is final.
        if let Some(ev) = event {
            let mut ev = ev.clone();
            ev.identity = format!("{}#unconfirmed-{}", ev.identity, ev.id);
            ev.outcome = "ignored".into();
            ev.detail = Some("the provider reports the payment as not final yet".into());
            state.store.record_event(&ev).await?;
        }
        return Ok(Outcome {
            paid: false,
            status: payment.status.clone(),
            applied: Applied::AlreadySettled,
        });
    };
    let mismatch = r.reference != payment.reference
        || !r.currency.eq_ignore_ascii_case(&payment.currency)
        || r.amount.0 != payment.amount_kobo;
    let cancelled = succeeded && !mismatch && paid_too_late(state, &payment).await?;
    let status = if !succeeded {
        "failed"
    } else if mismatch || cancelled {
        // Paid, but not what we asked for (or for a subscription already cancelled): kept
        // and flagged for the operator to refund, no value given.
        "flagged"
    } else {
        "success"
    };
    let detail = if mismatch && succeeded {
        Some(format!(
            "expected {} kobo {} for {}, the provider reports {} kobo {} for {}",
            payment.amount_kobo,
            payment.currency,
            payment.reference,
            r.amount.0,
            r.currency,
            r.reference
        ))
    } else if cancelled {
        Some("paid after its subscription was cancelled: nothing was activated; refund it".into())
    } else {
        r.message.clone()
    };
    let activation = if status == "success" {
        activation_for(state, &payment, r.authorization_code.clone()).await?
    } else {
        None
    };
    let s = Settlement {
        reference: payment.reference.clone(),
        status: status.into(),
        provider_txn_id: r.provider_txn_id,
        paid_amount_kobo: Some(r.amount.0),
        detail,
        now_ms,
        activation,
    };
    let applied = state.store.apply_settlement(event, &s).await?;
    state.tenants.forget(payment.org_id);
    let now = state.store.payment_by_reference(reference).await?;
    let final_status = now.map_or_else(|| status.to_string(), |p| p.status);
    if applied == Applied::Settled {
        tracing::info!(org_id = %payment.org_id, reference = %payment.reference, status = %final_status, purpose = %payment.purpose, "A payment was settled.");
        if final_status == "flagged" {
            tracing::warn!(org_id = %payment.org_id, reference = %payment.reference, "A payment did not match what was expected and was flagged.");
        }
    }
    Ok(Outcome {
        paid: final_status == "success",
        status: final_status,
        applied,
    })
}

fn bare(reference: &str, status: &str, now_ms: i64, detail: Option<&str>) -> Settlement {
    Settlement {
        reference: reference.to_string(),
        status: status.to_string(),
        provider_txn_id: None,
        paid_amount_kobo: None,
        detail: detail.map(str::to_string),
        now_ms,
        activation: None,
    }
}

/// A checkout paid after its subscription was cancelled (e.g. an old link of a
/// subscription replaced by a newer one) must not bring that subscription back.
async fn paid_too_late(state: &AppState, p: &PaymentRecord) -> ApiResult<bool> {
    let Some(sub_id) = &p.subscription_id else {
        return Ok(false);
    };
    Ok(state
        .store
        .subscription_by_id(sub_id)
        .await?
        .is_some_and(|s| s.status == "cancelled"))
}

/// What a successful payment buys: a first period, the next period, or a new plan.
async fn activation_for(
    state: &AppState,
    p: &PaymentRecord,
    authorization_code: Option<String>,
) -> ApiResult<Option<Activation>> {
    let Some(sub_id) = &p.subscription_id else {
        return Ok(None);
    };
    let Some(sub) = state.store.subscription_by_id(sub_id).await? else {
        return Ok(None);
    };
    let plan_id = p.plan_id.clone().unwrap_or_else(|| sub.plan_id.clone());
    let cycle = cycle_of(&sub.billing_cycle);
    let mut a = Activation {
        subscription_id: sub.id.clone(),
        plan_id: plan_id.clone(),
        price_kobo: None,
        period_start: None,
        period_end: None,
        anchor_day: None,
        authorization_code,
    };
    match p.purpose.as_str() {
        "subscription" => {
            let (start, end, anchor) = first_period(state.clock.now(), cycle);
            a.period_start = Some(start.timestamp_millis());
            a.period_end = Some(end.timestamp_millis());
            a.anchor_day = Some(anchor);
            a.price_kobo = Some(p.amount_kobo);
        }
        "renewal" => {
            let (start, end) = match sub.period_end {
                Some(end) => next_period(from_ms(end), cycle, sub.anchor_day),
                None => {
                    let (s, e, _) = first_period(state.clock.now(), cycle);
                    (s, e)
                }
            };
            a.period_start = Some(start.timestamp_millis());
            a.period_end = Some(end.timestamp_millis());
            a.price_kobo = Some(p.amount_kobo);
        }
        "upgrade" => {
            // The period stays; renewals are charged at the new plan's price.
            if let Some(plan) = state.store.plan(&plan_id).await? {
                a.price_kobo = Some(cycle_price(Kobo(plan.price_kobo), cycle).0);
            }
        }
        // Other purposes (invoices) buy no subscription change.
        _ => return Ok(None),
    }
    Ok(Some(a))
}
