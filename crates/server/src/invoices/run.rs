//! The billing run: one invoice per organization and Lagos month.
//!
//! Safe to start several times and on several replicas at once: each organization's
//! month is claimed first (a lease that expires, so a crashed worker's share is taken
//! over), and the store refuses a second invoice for the same (organization, month).
//! The invoice is numbered in the transaction that writes it. Collecting the amount due
//! (saved card or payment link) and the PDF come after; a failure there never undoes
//! the invoice, and the sweep retries the payment link.

use super::figures::{compose, Inputs};
use super::payment::{collect, Collection};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use kobo_domain::calendar::{due_date, lagos_date};
use kobo_domain::holidays::HolidayCalendar;
use kobo_domain::ids::OrgId;
use kobo_domain::invoice::{number_year, totals, BillingMonth};
use kobo_domain::plan::Plan;
use kobo_domain::tax::TaxTable;
use kobo_store::{InvoiceRecord, Issue, OrgRecord};
use serde::Serialize;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};

/// How long one worker holds an organization's month.
const CLAIM_MS: i64 = 10 * 60 * 1000;
/// Organizations billed at once.
const CONCURRENCY: usize = 4;

/// What the run did, by organization.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct RunReport {
    pub period: String,
    pub organizations: u64,
    pub issued: u64,
    /// Nothing to pay (e.g. free plan within its allowance): no invoice.
    pub nothing_due: u64,
    /// Invoiced before (an earlier run or another replica).
    pub already_invoiced: u64,
    /// Held by another worker right now, or done by an earlier run.
    pub skipped: u64,
    /// Organizations created after the month.
    pub not_yet_customers: u64,
    pub errors: u64,
}

/// One organization's result.
#[derive(Debug, Clone)]
pub enum OrgOutcome {
    Issued(Box<InvoiceRecord>),
    NothingDue,
    AlreadyInvoiced,
    Skipped,
    NotYetCustomer,
}

/// Everything that is the same for every organization of a run.
pub struct RunContext {
    pub month: BillingMonth,
    pub now: DateTime<Utc>,
    pub plans: Vec<Plan>,
    pub taxes: TaxTable,
    pub holidays: HolidayCalendar,
}

impl RunContext {
    pub async fn load(
        state: &AppState,
        month: BillingMonth,
        now: DateTime<Utc>,
    ) -> ApiResult<Self> {
        if month.period().end > now {
            return Err(ApiError::unprocessable(
                "period_not_over",
                format!("the billing period {month} has not ended yet in Lagos time"),
            )
            .with_param("period"));
        }
        Ok(Self {
            month,
            now,
            plans: state.store.plans().await?,
            taxes: super::tax_table(state).await?,
            holidays: super::holidays(state).await?,
        })
    }
}

/// Every organization, in id order.
pub async fn all_organizations(state: &AppState) -> ApiResult<Vec<OrgRecord>> {
    let mut out = Vec::new();
    let mut after: Option<OrgId> = None;
    loop {
        let page = state.store.list_organizations(after, 500).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        let full = page.len() == 500;
        out.extend(page);
        if !full {
            break;
        }
    }
    Ok(out)
}

/// Bills every organization for `month` as of `now`; `progress` is called once per
/// organization with the number done so far.
pub async fn run_period(
    state: &AppState,
    month: BillingMonth,
    now: DateTime<Utc>,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> ApiResult<RunReport> {
    let ctx = RunContext::load(state, month, now).await?;
    let orgs = all_organizations(state).await?;
    let total = orgs.len() as u64;
    let done = AtomicU64::new(0);
    let (ctx, done) = (&ctx, &done);
    let results: Vec<(OrgId, ApiResult<OrgOutcome>)> = futures::stream::iter(orgs)
        .map(move |org: OrgRecord| async move {
            let r = bill_org(state, ctx, &org).await;
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            (org.id, r)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut report = RunReport {
        period: month.to_string(),
        organizations: total,
        ..RunReport::default()
    };
    for (org, r) in results {
        match r {
            Ok(OrgOutcome::Issued(_)) => report.issued += 1,
            Ok(OrgOutcome::NothingDue) => report.nothing_due += 1,
            Ok(OrgOutcome::AlreadyInvoiced) => report.already_invoiced += 1,
            Ok(OrgOutcome::Skipped) => report.skipped += 1,
            Ok(OrgOutcome::NotYetCustomer) => report.not_yet_customers += 1,
            Err(e) => {
                report.errors += 1;
                tracing::warn!(org_id = %org, period = %month, error = %e.message, "An organization could not be billed; the next run retries it.");
            }
        }
    }
    tracing::info!(period = %month, organizations = report.organizations, issued = report.issued, errors = report.errors, "A billing run finished.");
    Ok(report)
}

/// Claims and bills one organization's month.
pub async fn bill_org(
    state: &AppState,
    ctx: &RunContext,
    org: &OrgRecord,
) -> ApiResult<OrgOutcome> {
    let period = ctx.month.period();
    if org.created_at >= period.end.timestamp_millis() {
        return Ok(OrgOutcome::NotYetCustomer);
    }
    let now_ms = ctx.now.timestamp_millis();
    let key = ctx.month.to_string();
    if !state
        .store
        .claim_invoice_run(org.id, &key, now_ms, now_ms + CLAIM_MS)
        .await?
    {
        return Ok(OrgOutcome::Skipped);
    }
    match issue_for(state, ctx, org).await {
        Ok(outcome) => {
            let label = match &outcome {
                OrgOutcome::Issued(_) => "issued",
                OrgOutcome::NothingDue => "nothing_due",
                OrgOutcome::AlreadyInvoiced => "already_invoiced",
                OrgOutcome::Skipped | OrgOutcome::NotYetCustomer => "skipped",
            };
            state
                .store
                .finish_invoice_run(org.id, &key, Some(label), now_ms)
                .await?;
            if let OrgOutcome::Issued(inv) = &outcome {
                after_issue(state, inv).await;
            }
            Ok(outcome)
        }
        Err(e) => {
            state
                .store
                .finish_invoice_run(org.id, &key, None, now_ms)
                .await?;
            Err(e)
        }
    }
}

fn money(e: kobo_domain::money::MoneyError) -> ApiError {
    ApiError::internal(&e)
}

async fn issue_for(state: &AppState, ctx: &RunContext, org: &OrgRecord) -> ApiResult<OrgOutcome> {
    let period = ctx.month.period();
    let payments = state.store.payments_of(org.id).await?;
    let subscription = state.store.current_subscription(org.id).await?;
    let first = ctx.month.first_day().to_string();
    let last = period.last_day().to_string();
    let (tokens_used, _) = state.store.billed_totals(org.id, &first, &last).await?;
    let figures = compose(&Inputs {
        org,
        plans: &ctx.plans,
        payments: &payments,
        subscription: subscription.as_ref(),
        tokens_used,
        period,
    })
    .map_err(money)?;
    if figures.lines.is_empty() {
        return Ok(OrgOutcome::NothingDue);
    }
    let invoice_date = lagos_date(ctx.now);
    let t = totals(
        &figures.lines,
        ctx.taxes.rate_on(invoice_date),
        figures.amount_paid,
    )
    .map_err(money)?;
    if t.total.as_i64() == 0 {
        return Ok(OrgOutcome::NothingDue);
    }
    let due = due_date(invoice_date, figures.terms_days, &ctx.holidays);
    let now_ms = ctx.now.timestamp_millis();
    let owner = state
        .store
        .members(org.id)
        .await?
        .into_iter()
        .find(|m| m.role == kobo_domain::rbac::Role::Owner)
        .map(|m| m.email);
    let email = subscription
        .as_ref()
        .map(|s| s.billing_email.clone())
        .or(owner);
    let seller = &state.settings.seller;
    let paid_in_full = t.amount_due.as_i64() <= 0;
    let inv = InvoiceRecord {
        id: format!("inv_{}", uuid::Uuid::now_v7().simple()),
        org_id: org.id,
        kind: "invoice".into(),
        number: String::new(),
        year: number_year(invoice_date),
        sequence: 0,
        period: Some(ctx.month.to_string()),
        period_start: Some(period.start.timestamp_millis()),
        period_end: Some(period.end.timestamp_millis()),
        status: if paid_in_full { "paid" } else { "pending" }.into(),
        invoice_date: invoice_date.to_string(),
        due_date: due.to_string(),
        currency: "NGN".into(),
        seller: json!({"name": seller.name, "address": seller.address, "tin": seller.tin, "email": seller.email}).to_string(),
        buyer: json!({"name": org.name, "email": email, "organization_id": org.id.to_string()}).to_string(),
        plan_id: Some(figures.plan_id.clone()),
        lines: figures.lines,
        subtotal_kobo: t.subtotal.as_i64(),
        tax_name: t.tax_name,
        tax_basis_points: t.tax_basis_points,
        tax_kobo: t.tax.as_i64(),
        total_kobo: t.total.as_i64(),
        amount_paid_kobo: t.amount_paid.as_i64(),
        amount_due_kobo: t.amount_due.as_i64(),
        credit_for: None,
        reason: None,
        payment_reference: None,
        payment_url: None,
        issued_at: now_ms,
        paid_at: paid_in_full.then_some(now_ms),
        cancelled_at: None,
        cancel_reason: None,
        created_at: now_ms,
        updated_at: now_ms,
    };
    match state.store.issue_invoice(&inv).await? {
        Issue::Issued(rec) => {
            tracing::info!(org_id = %org.id, invoice = %rec.number, total_kobo = rec.total_kobo, amount_due_kobo = rec.amount_due_kobo, "An invoice was issued.");
            Ok(OrgOutcome::Issued(rec))
        }
        Issue::AlreadyInvoiced => Ok(OrgOutcome::AlreadyInvoiced),
        Issue::OverCredited { .. } => Err(ApiError::internal(&std::io::Error::other(
            "an invoice cannot over-credit",
        ))),
    }
}

/// Collection and PDF: best effort, logged; the sweep retries the payment link.
pub async fn after_issue(state: &AppState, inv: &InvoiceRecord) {
    match collect(state, inv).await {
        Ok(Collection::Link(_) | Collection::Charged) | Ok(Collection::NothingDue) => {}
        Err(e) => {
            tracing::warn!(org_id = %inv.org_id, invoice = %inv.number, error = %e.message, "The invoice's payment could not be opened yet; the sweep tries again.")
        }
    }
    render_pdf(state, &inv.id).await;
}

/// Renders (again) the stored PDF of an invoice from its current row.
pub async fn render_pdf(state: &AppState, invoice_id: &str) {
    let current = match state.store.invoice_by_id(invoice_id).await {
        Ok(Some(inv)) => inv,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(invoice_id, error = %e, "The invoice could not be read to render its PDF.");
            return;
        }
    };
    if let Err(e) = super::pdf::store(&state.settings.data_dir, &current).await {
        tracing::warn!(invoice = %current.number, error = %e.message, "The invoice PDF could not be written; it is rendered on first download.");
    }
}
