//! The periodic invoice sweep: overdue invoices, due-soon reminders (3 days ahead),
//! and payment links that could not be opened at issue time. Every step is
//! idempotent (conditional updates, notification dedupe keys), so replicas may sweep
//! at the same time.

use super::run::render_pdf;
use crate::error::ApiResult;
use crate::state::AppState;
use chrono::{DateTime, Days, Utc};
use kobo_domain::calendar::lagos_date;
use kobo_store::NotificationRecord;
use serde::Serialize;
use serde_json::json;

/// Days before the due date that the reminder is written.
pub const DUE_SOON_DAYS: u64 = 3;

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct SweepReport {
    pub overdue: u64,
    pub due_soon: u64,
    pub links_opened: u64,
}

pub async fn sweep(state: &AppState, now: DateTime<Utc>) -> ApiResult<SweepReport> {
    let mut report = SweepReport::default();
    let today = lagos_date(now);
    let now_ms = now.timestamp_millis();
    let overdue = state.store.mark_overdue(&today.to_string(), now_ms).await?;
    for inv in &overdue {
        tracing::info!(org_id = %inv.org_id, invoice = %inv.number, due_date = %inv.due_date, "An invoice is overdue.");
        render_pdf(state, &inv.id).await;
    }
    report.overdue = overdue.len() as u64;

    let horizon = today
        .checked_add_days(Days::new(DUE_SOON_DAYS))
        .unwrap_or(today);
    for inv in state
        .store
        .invoices_due_between(&today.to_string(), &horizon.to_string())
        .await?
    {
        let n = NotificationRecord {
            id: format!("ntf_{}", uuid::Uuid::now_v7().simple()),
            org_id: inv.org_id,
            kind: "invoice.due_soon".into(),
            dedupe_key: format!("invoice.due_soon:{}", inv.id),
            payload: json!({"invoice_id": inv.id, "number": inv.number, "amount_due_kobo": inv.amount_due_kobo, "due_date": inv.due_date, "payment_url": inv.payment_url}).to_string(),
            created_at: now_ms,
        };
        if state.store.notify(&n).await? {
            report.due_soon += 1;
        }
    }

    for inv in state.store.invoices_awaiting_payment(50).await? {
        match super::payment::collect(state, &inv).await {
            Ok(_) => {
                report.links_opened += 1;
                render_pdf(state, &inv.id).await;
            }
            Err(e) => {
                tracing::debug!(invoice = %inv.number, error = %e.message, "The invoice's payment could not be opened yet.");
            }
        }
    }
    Ok(report)
}
