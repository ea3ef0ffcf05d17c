//! Collecting an invoice's amount due: the saved card of an active Paystack
//! subscription is charged; otherwise a checkout link (payment request) is opened.
//!
//! The payment row and its link to the invoice are written *before* the provider is
//! called, so the webhook — whenever it arrives — finds the invoice and marks it paid in
//! the settlement's transaction, and a direct charge and its webhook race safely through
//! the one settlement path ([`crate::billing::settle::settle`]).

use crate::billing::providers::{payment_error, Method};
use crate::billing::settle::{settle, Verified};
use crate::billing::subscriptions::{new_reference, open_checkout};
use crate::error::ApiResult;
use crate::state::AppState;
use kobo_domain::money::Kobo;
use kobo_domain::rbac::Role;
use kobo_payments::paystack::ChargeAuthorization;
use kobo_store::{InvoiceRecord, PaymentRecord};
use serde_json::json;

/// How the amount due is being collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collection {
    /// Nothing is due.
    NothingDue,
    /// The saved card was charged and the invoice is paid.
    Charged,
    /// The payer has a link to pay.
    Link(String),
}

/// The e-mail that receives payment requests: the subscription's billing e-mail, else
/// the first owner's.
async fn billing_email(state: &AppState, inv: &InvoiceRecord) -> ApiResult<Option<String>> {
    if let Some(sub) = state.store.current_subscription(inv.org_id).await? {
        return Ok(Some(sub.billing_email));
    }
    let members = state.store.members(inv.org_id).await?;
    Ok(members
        .into_iter()
        .find(|m| m.role == Role::Owner)
        .map(|m| m.email))
}

fn payment(inv: &InvoiceRecord, provider: &str, now_ms: i64) -> PaymentRecord {
    PaymentRecord {
        id: format!("pay_{}", uuid::Uuid::now_v7().simple()),
        org_id: inv.org_id,
        subscription_id: None,
        provider: provider.into(),
        reference: new_reference("inv"),
        purpose: "invoice".into(),
        plan_id: inv.plan_id.clone(),
        amount_kobo: inv.amount_due_kobo,
        currency: "NGN".into(),
        status: "pending".into(),
        provider_txn_id: None,
        paid_amount_kobo: None,
        detail: Some(format!("invoice {}", inv.number)),
        created_at: now_ms,
        settled_at: None,
    }
}

/// Starts collecting `inv`'s amount due (see the module documentation).
pub async fn collect(state: &AppState, inv: &InvoiceRecord) -> ApiResult<Collection> {
    if inv.amount_due_kobo <= 0 || !matches!(inv.status.as_str(), "pending" | "overdue") {
        return Ok(Collection::NothingDue);
    }
    let now_ms = state.clock.now_ms();
    let sub = state.store.current_subscription(inv.org_id).await?;
    if let Some(sub) = sub
        .as_ref()
        .filter(|s| s.status == "active" && s.provider == "paystack")
    {
        if let Some(code) = &sub.authorization_code {
            let paystack = state.payments.paystack()?;
            let p = payment(inv, "paystack", now_ms);
            state.store.create_payment(&p).await?;
            state
                .store
                .attach_invoice_payment(&inv.id, inv.org_id, &p.reference, None, now_ms)
                .await?;
            let charged = paystack
                .charge_authorization(ChargeAuthorization {
                    email: sub.billing_email.clone(),
                    amount: Kobo(p.amount_kobo),
                    authorization_code: code.clone(),
                    reference: p.reference.clone(),
                    metadata: json!({"organization_id": inv.org_id.to_string(), "invoice_id": inv.id, "purpose": "invoice"}),
                })
                .await;
            let tx = match charged {
                Ok(tx) => tx,
                // The provider may have charged before the answer was lost: ask it. If it
                // cannot say, the payment stays attached (its webhook may still settle it).
                Err(e) => {
                    tracing::warn!(org_id = %inv.org_id, invoice = %inv.number, error = %e, "An invoice charge got no answer; asking Paystack what happened.");
                    paystack.verify(&p.reference).await.map_err(payment_error)?
                }
            };
            let outcome =
                settle(state, None, &p.reference, Verified::Paystack(Box::new(tx))).await?;
            if outcome.paid {
                tracing::info!(org_id = %inv.org_id, invoice = %inv.number, "An invoice was paid with the saved card.");
                return Ok(Collection::Charged);
            }
            tracing::info!(org_id = %inv.org_id, invoice = %inv.number, status = %outcome.status, "The saved card was not charged; a payment link is sent instead.");
        }
    }
    let Some(email) = billing_email(state, inv).await? else {
        tracing::warn!(org_id = %inv.org_id, invoice = %inv.number, "The organization has no billing e-mail; no payment link was opened.");
        return Ok(Collection::NothingDue);
    };
    let method = sub
        .as_ref()
        .and_then(|s| Method::parse(&s.payment_method))
        .unwrap_or(Method::PaystackCard);
    // A provider that is not configured is an error before anything is written.
    match method.provider() {
        "paystack" => state.payments.paystack().map(|_| ())?,
        _ => state.payments.flutterwave().map(|_| ())?,
    }
    let p = payment(inv, method.provider(), now_ms);
    state.store.create_payment(&p).await?;
    state
        .store
        .attach_invoice_payment(&inv.id, inv.org_id, &p.reference, None, now_ms)
        .await?;
    let url = match open_checkout(state, &p, method, &email, false).await {
        Ok(url) => url,
        Err(e) => {
            // Let the sweep open a fresh link later; this reference is never shown to anyone.
            state
                .store
                .detach_invoice_payment(&inv.id, &p.reference, now_ms)
                .await?;
            return Err(e);
        }
    };
    state
        .store
        .attach_invoice_payment(&inv.id, inv.org_id, &p.reference, Some(&url), now_ms)
        .await?;
    Ok(Collection::Link(url))
}
