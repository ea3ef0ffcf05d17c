//! Renewals and dunning, run on a schedule in-process and by `kobo billing renew`.
//!
//! At the end of a period a due renewal is charged with the saved card. A failed charge
//! is retried 1, 3 and 5 days after the period end (the organization keeps its service
//! meanwhile); when the last retry fails the subscription is `past_due` and the payer
//! gets a payment link; 7 days later (the grace period) it is `suspended` and the
//! gateway answers 402 until a payment lands, which restores `active` at once.
//! Subscriptions without a reusable card (bank transfer, USSD) go to `past_due` with a
//! payment link at the period end.
//!
//! Each subscription is claimed for a few minutes before it is worked on, so several
//! replicas (or a cron `kobo billing renew` beside a server) never charge it twice.

use super::periods::{cycle_of, cycle_price};
use super::providers::Method;
use super::settle::{settle, Verified};
use super::subscriptions::{new_reference, open_checkout};
use crate::error::ApiResult;
use crate::state::AppState;
use kobo_domain::money::Kobo;
use kobo_payments::paystack::ChargeAuthorization;
use kobo_store::{NotificationRecord, PaymentRecord, SubscriptionRecord};
use serde::Serialize;
use serde_json::json;

const DAY_MS: i64 = 24 * 3600 * 1000;
/// Retries after the period end, in days.
pub const RETRY_DAYS: [i64; 3] = [1, 3, 5];
pub const GRACE_DAYS: i64 = 7;
const CLAIM_MS: i64 = 5 * 60 * 1000;

/// What one renewal sweep did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub renewed: u32,
    pub retry_scheduled: u32,
    pub past_due: u32,
    pub suspended: u32,
    pub cancelled: u32,
    /// Claimed by another replica, or changed by a payment meanwhile.
    pub skipped: u32,
    pub errors: u32,
}

/// Works through every subscription whose next renewal step is due.
pub async fn run_due(state: &AppState) -> ApiResult<Report> {
    let mut report = Report::default();
    let now_ms = state.clock.now_ms();
    for due in state.store.due_subscriptions(now_ms).await? {
        if !state
            .store
            .claim_subscription(&due.id, now_ms, now_ms + CLAIM_MS)
            .await?
        {
            report.skipped += 1;
            continue;
        }
        let result = step(state, &due.id, &mut report).await;
        if let Err(e) = state.store.release_subscription(&due.id).await {
            tracing::warn!(subscription_id = %due.id, error = %e, "A renewal claim could not be released; it expires by itself.");
        }
        if let Err(e) = result {
            report.errors += 1;
            tracing::warn!(subscription_id = %due.id, error = %e.message, "A renewal step failed; it is retried on the next sweep.");
        }
    }
    Ok(report)
}

/// One due step of one (claimed) subscription.
async fn step(state: &AppState, id: &str, report: &mut Report) -> ApiResult<()> {
    // Read again under the claim: a payment may have landed since the list was made.
    let Some(sub) = state.store.subscription_by_id(id).await? else {
        return Ok(());
    };
    let now_ms = state.clock.now_ms();
    if sub.next_attempt_at.is_none_or(|t| t > now_ms) {
        return Ok(());
    }
    match sub.status.as_str() {
        "active" if sub.cancel_at_period_end => {
            let mut s = sub.clone();
            s.status = "cancelled".into();
            s.cancelled_at = Some(now_ms);
            s.next_attempt_at = None;
            s.updated_at = now_ms;
            if transition(state, &sub, &s, Some((Some("free"), "active"))).await? {
                report.cancelled += 1;
                notify(state, &s, "subscription.cancelled", json!({})).await?;
            } else {
                report.skipped += 1;
            }
        }
        "active" => charge(state, sub, report).await?,
        "past_due" => {
            let mut s = sub.clone();
            s.status = "suspended".into();
            s.next_attempt_at = None;
            s.updated_at = now_ms;
            if transition(state, &sub, &s, Some((None, "suspended"))).await? {
                report.suspended += 1;
                tracing::warn!(org_id = %sub.org_id, subscription_id = %sub.id, "A subscription was suspended after its grace period.");
                notify(state, &s, "subscription.suspended", json!({})).await?;
            } else {
                report.skipped += 1;
            }
        }
        _ => {}
    }
    Ok(())
}

async fn transition(
    state: &AppState,
    before: &SubscriptionRecord,
    after: &SubscriptionRecord,
    org: Option<(Option<&str>, &str)>,
) -> ApiResult<bool> {
    let done = state
        .store
        .transition_subscription(after, before.updated_at, org)
        .await?;
    state.tenants.forget(before.org_id);
    Ok(done)
}

/// Charges the renewal (the first attempt, or a retry).
async fn charge(
    state: &AppState,
    mut sub: SubscriptionRecord,
    report: &mut Report,
) -> ApiResult<()> {
    let before = sub.clone();
    let now_ms = state.clock.now_ms();
    // A downgrade waiting for the period end takes effect with the renewal.
    if let Some(pending) = sub.pending_plan_id.take() {
        if let Some(plan) = state.store.plan(&pending).await? {
            sub.price_kobo = cycle_price(Kobo(plan.price_kobo), cycle_of(&sub.billing_cycle)).0;
            sub.plan_id = plan.id;
        }
    }
    let payment = PaymentRecord {
        id: format!("pay_{}", uuid::Uuid::now_v7().simple()),
        org_id: sub.org_id,
        subscription_id: Some(sub.id.clone()),
        provider: sub.provider.clone(),
        reference: new_reference("ren"),
        purpose: "renewal".into(),
        plan_id: Some(sub.plan_id.clone()),
        amount_kobo: sub.price_kobo,
        currency: "NGN".into(),
        status: "pending".into(),
        provider_txn_id: None,
        paid_amount_kobo: None,
        detail: None,
        created_at: now_ms,
        settled_at: None,
    };
    let card = sub
        .authorization_code
        .clone()
        .filter(|_| sub.provider == "paystack");
    let Some(code) = card else {
        // Nothing to charge automatically: ask the payer, at once.
        return fall_past_due(state, &before, sub, payment, report).await;
    };
    // The new plan and price are written before the charge, so the payment's effects and
    // a concurrent webhook see them.
    sub.updated_at = now_ms;
    if !transition(state, &before, &sub, None).await? {
        report.skipped += 1;
        return Ok(());
    }
    state.store.create_payment(&payment).await?;
    let charged = match state.payments.paystack() {
        Ok(p) => {
            p.charge_authorization(ChargeAuthorization {
                email: sub.billing_email.clone(),
                amount: Kobo(payment.amount_kobo),
                authorization_code: code,
                reference: payment.reference.clone(),
                metadata: json!({"organization_id": sub.org_id.to_string(), "subscription_id": sub.id, "purpose": "renewal"}),
            })
            .await
        }
        Err(e) => return Err(e),
    };
    let outcome = match charged {
        Ok(tx) => Some(
            settle(
                state,
                None,
                &payment.reference,
                Verified::Paystack(Box::new(tx)),
            )
            .await?,
        ),
        Err(e) => {
            tracing::warn!(subscription_id = %sub.id, error = %e, "A renewal charge could not be made.");
            // The provider may still have charged: ask it before counting a failure.
            match state.payments.paystack()?.verify(&payment.reference).await {
                Ok(tx) => Some(
                    settle(
                        state,
                        None,
                        &payment.reference,
                        Verified::Paystack(Box::new(tx)),
                    )
                    .await?,
                ),
                Err(_) => None,
            }
        }
    };
    if outcome.as_ref().is_some_and(|o| o.paid) {
        report.renewed += 1;
        tracing::info!(org_id = %sub.org_id, subscription_id = %sub.id, amount_kobo = payment.amount_kobo, "A subscription was renewed.");
        return Ok(());
    }
    if outcome.is_none() {
        // Unknown fate: leave the payment pending (a webhook may settle it) and try later.
        return Err(crate::error::ApiError::unavailable(
            "payment_provider_unavailable",
            "the renewal charge could not be confirmed",
            300,
        ));
    }
    let Some(latest) = state.store.subscription_by_id(&sub.id).await? else {
        return Ok(());
    };
    let attempt = latest.renewal_attempts + 1;
    let period_end = latest.period_end.unwrap_or(now_ms);
    match RETRY_DAYS.get(usize::try_from(latest.renewal_attempts).unwrap_or(usize::MAX)) {
        Some(days) => {
            let mut s = latest.clone();
            s.renewal_attempts = attempt;
            s.next_attempt_at = Some(period_end + days * DAY_MS);
            s.updated_at = state.clock.now_ms();
            if transition(state, &latest, &s, None).await? {
                report.retry_scheduled += 1;
                notify(
                    state,
                    &s,
                    "subscription.renewal_failed",
                    json!({"attempt": attempt}),
                )
                .await?;
            }
        }
        None => {
            let mut link_payment = payment.clone();
            link_payment.id = format!("pay_{}", uuid::Uuid::now_v7().simple());
            link_payment.reference = new_reference("ren");
            let mut s = latest.clone();
            s.renewal_attempts = attempt;
            fall_past_due(state, &latest, s, link_payment, report).await?;
        }
    }
    Ok(())
}

/// `past_due` with a payment link; suspension follows after the grace period.
async fn fall_past_due(
    state: &AppState,
    before: &SubscriptionRecord,
    mut sub: SubscriptionRecord,
    payment: PaymentRecord,
    report: &mut Report,
) -> ApiResult<()> {
    let now_ms = state.clock.now_ms();
    sub.status = "past_due".into();
    sub.past_due_since = Some(now_ms);
    sub.next_attempt_at = Some(now_ms + GRACE_DAYS * DAY_MS);
    sub.updated_at = now_ms;
    if !transition(state, before, &sub, Some((None, "past_due"))).await? {
        report.skipped += 1;
        return Ok(());
    }
    report.past_due += 1;
    let method = Method::parse(&sub.payment_method).unwrap_or(Method::PaystackCard);
    let url = match open_checkout(state, &payment, method, &sub.billing_email, true).await {
        Ok(url) => Some(url),
        Err(e) => {
            tracing::warn!(subscription_id = %sub.id, error = %e.message, "A renewal payment link could not be opened.");
            None
        }
    };
    notify(
        state,
        &sub,
        "subscription.past_due",
        json!({"payment_url": url, "reference": payment.reference, "amount_kobo": payment.amount_kobo,
               "suspend_at": sub.next_attempt_at}),
    )
    .await?;
    Ok(())
}

async fn notify(
    state: &AppState,
    sub: &SubscriptionRecord,
    kind: &str,
    extra: serde_json::Value,
) -> ApiResult<()> {
    let mut payload = json!({"subscription_id": sub.id, "plan": sub.plan_id, "status": sub.status});
    if let (Some(p), Some(e)) = (payload.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    state
        .store
        .notify(&NotificationRecord {
            id: format!("ntf_{}", uuid::Uuid::now_v7().simple()),
            org_id: sub.org_id,
            kind: kind.into(),
            dedupe_key: format!(
                "{kind}:{}:{}:{}",
                sub.id,
                sub.period_end.unwrap_or(0),
                sub.renewal_attempts
            ),
            payload: payload.to_string(),
            created_at: state.clock.now_ms(),
        })
        .await?;
    Ok(())
}
