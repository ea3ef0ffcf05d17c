//! Invoices and credit notes: gapless numbers assigned in the transaction that writes
//! the document, billing-run claims, the overdue sweep, and the operator's tax rates
//! and holiday amendments.
//!
//! Numbering: a counter row per (organization, series, Lagos year) is incremented with
//! `INSERT … ON CONFLICT DO UPDATE … RETURNING`, which on PostgreSQL holds the row lock
//! until the transaction ends, so concurrent writers of one organization queue up; the
//! invoice insert then either commits with that number or rolls the increment back
//! with it (e.g. on the unique (organization, kind, period) key when another replica
//! invoiced the period first). Numbers therefore have neither gaps nor duplicates.

use crate::sql::{conflict, id, json, to_json};
use crate::{Result, SqlStore, StoreError};
use async_trait::async_trait;
use chrono::NaiveDate;
use kobo_domain::ids::OrgId;
use kobo_domain::invoice::{credit_note_prefix, default_prefix, number, InvoiceLine, Series};
use kobo_domain::tax::TaxRate;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

/// An invoice or a credit note as stored. Money is kobo.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InvoiceRecord {
    pub id: String,
    pub org_id: OrgId,
    /// `invoice` or `credit_note`.
    pub kind: String,
    /// Assigned by the store on insert.
    pub number: String,
    pub year: i32,
    pub sequence: i64,
    /// `YYYY-MM` for invoices.
    pub period: Option<String>,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
    /// `draft | pending | paid | overdue | cancelled`; credit notes are `issued`.
    pub status: String,
    /// Lagos dates, `YYYY-MM-DD`.
    pub invoice_date: String,
    pub due_date: String,
    pub currency: String,
    /// JSON objects.
    pub seller: String,
    pub buyer: String,
    pub plan_id: Option<String>,
    pub lines: Vec<InvoiceLine>,
    pub subtotal_kobo: i64,
    pub tax_name: String,
    pub tax_basis_points: u32,
    pub tax_kobo: i64,
    pub total_kobo: i64,
    pub amount_paid_kobo: i64,
    pub amount_due_kobo: i64,
    pub credit_for: Option<String>,
    pub reason: Option<String>,
    pub payment_reference: Option<String>,
    pub payment_url: Option<String>,
    pub issued_at: i64,
    pub paid_at: Option<i64>,
    pub cancelled_at: Option<i64>,
    pub cancel_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An operator amendment of the holiday calendar.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HolidayAmendment {
    pub date: NaiveDate,
    /// `add` (a declared day off) or `remove` (a listed holiday that is not one).
    pub action: String,
    pub name: String,
}

/// Why issuing a document did not write it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Issue {
    /// Written, with its number.
    Issued(Box<InvoiceRecord>),
    /// The organization already has an invoice for this period.
    AlreadyInvoiced,
    /// A credit note would credit more than the invoice's total.
    OverCredited { remaining_kobo: i64 },
}

#[async_trait]
pub trait Invoices: Send + Sync {
    /// The organization's invoice prefix (`None`: the default).
    async fn invoice_prefix(&self, org: OrgId) -> Result<Option<String>>;
    async fn set_invoice_prefix(&self, org: OrgId, prefix: Option<&str>) -> Result<()>;
    /// Claims the billing of `org` for `period` until `until_ms`; false if another
    /// worker holds it or it is done.
    async fn claim_invoice_run(
        &self,
        org: OrgId,
        period: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool>;
    /// Marks the claim done (`outcome` says what happened), or frees it for a retry.
    async fn finish_invoice_run(
        &self,
        org: OrgId,
        period: &str,
        outcome: Option<&str>,
        now_ms: i64,
    ) -> Result<()>;
    /// Numbers and writes an invoice or credit note, and its `…issued` notification, in
    /// one transaction. `number`, `sequence` of `inv` are ignored; `year` names the series year.
    async fn issue_invoice(&self, inv: &InvoiceRecord) -> Result<Issue>;
    async fn invoice(&self, org: OrgId, id: &str) -> Result<Option<InvoiceRecord>>;
    /// Any tenant's document (operator routes, background work).
    async fn invoice_by_id(&self, id: &str) -> Result<Option<InvoiceRecord>>;
    /// Newest first, strictly before the cursor `(issued_at, id)`.
    async fn invoices_of(
        &self,
        org: OrgId,
        before: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<InvoiceRecord>>;
    /// Records a payment attempt for an invoice (and its checkout link, when there is one).
    async fn attach_invoice_payment(
        &self,
        invoice_id: &str,
        org: OrgId,
        reference: &str,
        url: Option<&str>,
        now_ms: i64,
    ) -> Result<()>;
    /// Forgets a payment attempt that never reached the provider, so a new one can open.
    async fn detach_invoice_payment(
        &self,
        invoice_id: &str,
        reference: &str,
        now_ms: i64,
    ) -> Result<()>;
    /// Cancels an unpaid invoice with its reason and an `invoice.cancelled` notification;
    /// `None` if it is not (any longer) cancellable.
    async fn cancel_invoice(
        &self,
        id: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<Option<InvoiceRecord>>;
    /// Pending invoices whose due date is before Lagos date `today` become overdue, each
    /// with its `invoice.overdue` notification in the same transaction; returns them.
    async fn mark_overdue(&self, today: &str, now_ms: i64) -> Result<Vec<InvoiceRecord>>;
    /// Pending invoices due on Lagos dates `from..=to`.
    async fn invoices_due_between(&self, from: &str, to: &str) -> Result<Vec<InvoiceRecord>>;
    /// Pending invoices with an amount due and no payment opened yet.
    async fn invoices_awaiting_payment(&self, limit: u32) -> Result<Vec<InvoiceRecord>>;
    async fn tax_rates(&self) -> Result<Vec<TaxRate>>;
    async fn upsert_tax_rate(&self, rate: &TaxRate, now_ms: i64) -> Result<()>;
    async fn holiday_amendments(&self) -> Result<Vec<HolidayAmendment>>;
    async fn upsert_holiday_amendment(&self, a: &HolidayAmendment, now_ms: i64) -> Result<()>;
}

const COLS: &str = "id, org_id, kind, number, year, sequence, period, period_start, period_end, status, invoice_date, \
    due_date, currency, seller, buyer, plan_id, lines, subtotal_kobo, tax_name, tax_basis_points, tax_kobo, total_kobo, \
    amount_paid_kobo, amount_due_kobo, credit_for, reason, payment_reference, payment_url, issued_at, paid_at, \
    cancelled_at, cancel_reason, created_at, updated_at";

fn row(r: &AnyRow) -> Result<InvoiceRecord> {
    Ok(InvoiceRecord {
        id: r.try_get("id")?,
        org_id: id(r, "org_id")?,
        kind: r.try_get("kind")?,
        number: r.try_get("number")?,
        year: i32::try_from(r.try_get::<i64, _>("year")?)
            .map_err(|_| StoreError::Corrupt("invoice year".into()))?,
        sequence: r.try_get("sequence")?,
        period: r.try_get("period")?,
        period_start: r.try_get("period_start")?,
        period_end: r.try_get("period_end")?,
        status: r.try_get("status")?,
        invoice_date: r.try_get("invoice_date")?,
        due_date: r.try_get("due_date")?,
        currency: r.try_get("currency")?,
        seller: r.try_get("seller")?,
        buyer: r.try_get("buyer")?,
        plan_id: r.try_get("plan_id")?,
        lines: json(r, "lines")?,
        subtotal_kobo: r.try_get("subtotal_kobo")?,
        tax_name: r.try_get("tax_name")?,
        tax_basis_points: u32::try_from(r.try_get::<i64, _>("tax_basis_points")?)
            .map_err(|_| StoreError::Corrupt("tax basis points".into()))?,
        tax_kobo: r.try_get("tax_kobo")?,
        total_kobo: r.try_get("total_kobo")?,
        amount_paid_kobo: r.try_get("amount_paid_kobo")?,
        amount_due_kobo: r.try_get("amount_due_kobo")?,
        credit_for: r.try_get("credit_for")?,
        reason: r.try_get("reason")?,
        payment_reference: r.try_get("payment_reference")?,
        payment_url: r.try_get("payment_url")?,
        issued_at: r.try_get("issued_at")?,
        paid_at: r.try_get("paid_at")?,
        cancelled_at: r.try_get("cancelled_at")?,
        cancel_reason: r.try_get("cancel_reason")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Writes a notification inside `tx`, once per dedupe key.
async fn notify_in(
    tx: &mut Transaction<'static, Any>,
    org: &str,
    kind: &str,
    dedupe_key: &str,
    payload: &serde_json::Value,
    now_ms: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO notifications (id, org_id, kind, dedupe_key, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(format!("ntf_{}", uuid::Uuid::now_v7().simple()))
    .bind(org)
    .bind(kind)
    .bind(dedupe_key)
    .bind(to_json(payload)?)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn summary(inv: &InvoiceRecord) -> serde_json::Value {
    serde_json::json!({
        "invoice_id": inv.id,
        "number": inv.number,
        "kind": inv.kind,
        "period": inv.period,
        "total_kobo": inv.total_kobo,
        "amount_due_kobo": inv.amount_due_kobo,
        "due_date": inv.due_date,
        "status": inv.status,
    })
}

/// Inside `apply_settlement`'s transaction: a successful payment of exactly an
/// invoice's amount due marks the invoice paid (from pending or overdue, once) and
/// writes `invoice.paid`. Returns true if this call marked it.
pub(crate) async fn settle_invoice_payment(
    tx: &mut Transaction<'static, Any>,
    reference: &str,
    paid_kobo: Option<i64>,
    now_ms: i64,
) -> Result<bool> {
    let found = sqlx::query(&format!(
        "SELECT {COLS} FROM invoices WHERE id = (SELECT invoice_id FROM invoice_payments WHERE reference = $1)"
    ))
    .bind(reference)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(inv) = found.as_ref().map(row).transpose()? else {
        return Ok(false);
    };
    if paid_kobo != Some(inv.amount_due_kobo) {
        return Ok(false);
    }
    let done = sqlx::query(
        "UPDATE invoices SET status = 'paid', paid_at = $1, payment_reference = $2, updated_at = $1 \
         WHERE id = $3 AND status IN ('pending', 'overdue')",
    )
    .bind(now_ms)
    .bind(reference)
    .bind(&inv.id)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    let mut paid = inv;
    paid.status = "paid".into();
    let mut payload = summary(&paid);
    payload["reference"] = reference.into();
    notify_in(
        tx,
        &paid.org_id.to_string(),
        "invoice.paid",
        &format!("invoice.paid:{}", paid.id),
        &payload,
        now_ms,
    )
    .await?;
    Ok(true)
}

fn date_of(s: &str, what: &str) -> Result<NaiveDate> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("bad date in {what}: {s}")))
}

#[async_trait]
impl Invoices for SqlStore {
    async fn invoice_prefix(&self, org: OrgId) -> Result<Option<String>> {
        let p: Option<Option<String>> =
            sqlx::query_scalar("SELECT invoice_prefix FROM organizations WHERE id = $1")
                .bind(org.to_string())
                .fetch_optional(&self.read)
                .await?;
        Ok(p.flatten())
    }

    async fn set_invoice_prefix(&self, org: OrgId, prefix: Option<&str>) -> Result<()> {
        let done = sqlx::query("UPDATE organizations SET invoice_prefix = $1 WHERE id = $2")
            .bind(prefix)
            .bind(org.to_string())
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn claim_invoice_run(
        &self,
        org: OrgId,
        period: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO invoice_runs (org_id, period, claimed_until) VALUES ($1, $2, $3) \
             ON CONFLICT (org_id, period) DO UPDATE SET claimed_until = excluded.claimed_until \
             WHERE invoice_runs.done_at IS NULL AND invoice_runs.claimed_until <= $4",
        )
        .bind(org.to_string())
        .bind(period)
        .bind(until_ms)
        .bind(now_ms)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_invoice_run(
        &self,
        org: OrgId,
        period: &str,
        outcome: Option<&str>,
        now_ms: i64,
    ) -> Result<()> {
        // With an outcome the claim is done for good; without one it is freed for a retry.
        match outcome {
            Some(o) => {
                sqlx::query("UPDATE invoice_runs SET done_at = $1, outcome = $2 WHERE org_id = $3 AND period = $4")
                    .bind(now_ms)
                    .bind(o)
                    .bind(org.to_string())
                    .bind(period)
                    .execute(&self.write)
                    .await?;
            }
            None => {
                sqlx::query(
                    "UPDATE invoice_runs SET claimed_until = 0 WHERE org_id = $1 AND period = $2",
                )
                .bind(org.to_string())
                .bind(period)
                .execute(&self.write)
                .await?;
            }
        }
        Ok(())
    }

    async fn issue_invoice(&self, inv: &InvoiceRecord) -> Result<Issue> {
        let series = if inv.kind == "credit_note" {
            Series::CreditNote
        } else {
            Series::Invoice
        };
        let org = inv.org_id.to_string();
        let mut tx = self.write.begin().await?;
        let next: i64 = sqlx::query_scalar(
            "INSERT INTO invoice_counters (org_id, series, year, last_number) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (org_id, series, year) DO UPDATE SET last_number = invoice_counters.last_number + 1 \
             RETURNING last_number",
        )
        .bind(&org)
        .bind(series.as_str())
        .bind(i64::from(inv.year))
        .fetch_one(&mut *tx)
        .await?;
        if series == Series::CreditNote {
            // Serialised by the counter row: the credits of one invoice never exceed it.
            let (total, credited): (Option<i64>, i64) = {
                let total: Option<i64> = sqlx::query_scalar("SELECT total_kobo FROM invoices WHERE id = $1 AND org_id = $2 AND kind = 'invoice'")
                    .bind(inv.credit_for.clone().unwrap_or_default())
                    .bind(&org)
                    .fetch_optional(&mut *tx)
                    .await?;
                let credited: i64 = sqlx::query_scalar(
                    "SELECT CAST(COALESCE(SUM(-total_kobo), 0) AS BIGINT) FROM invoices WHERE credit_for = $1 AND kind = 'credit_note'",
                )
                .bind(inv.credit_for.clone().unwrap_or_default())
                .fetch_one(&mut *tx)
                .await?;
                (total, credited)
            };
            let Some(total) = total else {
                return Err(StoreError::NotFound);
            };
            let remaining = total - credited;
            if -inv.total_kobo > remaining {
                return Ok(Issue::OverCredited {
                    remaining_kobo: remaining,
                });
            }
        }
        let stored: Option<Option<String>> =
            sqlx::query_scalar("SELECT invoice_prefix FROM organizations WHERE id = $1")
                .bind(&org)
                .fetch_optional(&mut *tx)
                .await?;
        let prefix = stored
            .flatten()
            .unwrap_or_else(|| default_prefix(inv.org_id));
        let prefix = if series == Series::CreditNote {
            credit_note_prefix(&prefix)
        } else {
            prefix
        };
        let sequence =
            u64::try_from(next).map_err(|_| StoreError::Corrupt("invoice counter".into()))?;
        let mut rec = inv.clone();
        rec.number = number(&prefix, inv.year, sequence);
        rec.sequence = next;
        let inserted = sqlx::query(&format!(
            "INSERT INTO invoices ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34)"
        ))
        .bind(&rec.id)
        .bind(&org)
        .bind(&rec.kind)
        .bind(&rec.number)
        .bind(i64::from(rec.year))
        .bind(rec.sequence)
        .bind(rec.period.clone())
        .bind(rec.period_start)
        .bind(rec.period_end)
        .bind(&rec.status)
        .bind(&rec.invoice_date)
        .bind(&rec.due_date)
        .bind(&rec.currency)
        .bind(&rec.seller)
        .bind(&rec.buyer)
        .bind(rec.plan_id.clone())
        .bind(to_json(&rec.lines)?)
        .bind(rec.subtotal_kobo)
        .bind(&rec.tax_name)
        .bind(i64::from(rec.tax_basis_points))
        .bind(rec.tax_kobo)
        .bind(rec.total_kobo)
        .bind(rec.amount_paid_kobo)
        .bind(rec.amount_due_kobo)
        .bind(rec.credit_for.clone())
        .bind(rec.reason.clone())
        .bind(rec.payment_reference.clone())
        .bind(rec.payment_url.clone())
        .bind(rec.issued_at)
        .bind(rec.paid_at)
        .bind(rec.cancelled_at)
        .bind(rec.cancel_reason.clone())
        .bind(rec.created_at)
        .bind(rec.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict(e, "an invoice for this period"));
        match inserted {
            Ok(_) => {}
            // Dropping the transaction rolls the counter back: no gap.
            Err(StoreError::Conflict(_)) => return Ok(Issue::AlreadyInvoiced),
            Err(e) => return Err(e),
        }
        let kind = if series == Series::CreditNote {
            "credit_note.issued"
        } else {
            "invoice.issued"
        };
        notify_in(
            &mut tx,
            &org,
            kind,
            &format!("{kind}:{}", rec.id),
            &summary(&rec),
            rec.issued_at,
        )
        .await?;
        tx.commit().await?;
        Ok(Issue::Issued(Box::new(rec)))
    }

    async fn invoice(&self, org: OrgId, inv_id: &str) -> Result<Option<InvoiceRecord>> {
        let mut tx = self.tenant_tx(org).await?;
        let r = sqlx::query(&format!(
            "SELECT {COLS} FROM invoices WHERE org_id = $1 AND id = $2"
        ))
        .bind(org.to_string())
        .bind(inv_id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        r.as_ref().map(row).transpose()
    }

    async fn invoice_by_id(&self, inv_id: &str) -> Result<Option<InvoiceRecord>> {
        sqlx::query(&format!("SELECT {COLS} FROM invoices WHERE id = $1"))
            .bind(inv_id)
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(row)
            .transpose()
    }

    async fn invoices_of(
        &self,
        org: OrgId,
        before: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<InvoiceRecord>> {
        let (at, after) = before.unwrap_or((i64::MAX, "\u{10FFFF}".to_string()));
        let mut tx = self.tenant_tx(org).await?;
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM invoices WHERE org_id = $1 AND (issued_at < $2 OR (issued_at = $2 AND id < $3)) \
             ORDER BY issued_at DESC, id DESC LIMIT $4"
        ))
        .bind(org.to_string())
        .bind(at)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(row).collect()
    }

    async fn attach_invoice_payment(
        &self,
        invoice_id: &str,
        org: OrgId,
        reference: &str,
        url: Option<&str>,
        now_ms: i64,
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query("INSERT INTO invoice_payments (reference, invoice_id, org_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (reference) DO NOTHING")
            .bind(reference)
            .bind(invoice_id)
            .bind(org.to_string())
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE invoices SET payment_reference = $1, payment_url = COALESCE($2, payment_url), updated_at = $3 \
             WHERE id = $4 AND status IN ('pending', 'overdue')",
        )
        .bind(reference)
        .bind(url)
        .bind(now_ms)
        .bind(invoice_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn detach_invoice_payment(
        &self,
        invoice_id: &str,
        reference: &str,
        now_ms: i64,
    ) -> Result<()> {
        sqlx::query("UPDATE invoices SET payment_reference = NULL, updated_at = $1 WHERE id = $2 AND payment_reference = $3")
            .bind(now_ms)
            .bind(invoice_id)
            .bind(reference)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn cancel_invoice(
        &self,
        inv_id: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<Option<InvoiceRecord>> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "UPDATE invoices SET status = 'cancelled', cancelled_at = $1, cancel_reason = $2, updated_at = $1 \
             WHERE id = $3 AND kind = 'invoice' AND status IN ('draft', 'pending', 'overdue')",
        )
        .bind(now_ms)
        .bind(reason)
        .bind(inv_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        let r = sqlx::query(&format!("SELECT {COLS} FROM invoices WHERE id = $1"))
            .bind(inv_id)
            .fetch_one(&mut *tx)
            .await?;
        let inv = row(&r)?;
        let mut payload = summary(&inv);
        payload["reason"] = reason.into();
        notify_in(
            &mut tx,
            &inv.org_id.to_string(),
            "invoice.cancelled",
            &format!("invoice.cancelled:{}", inv.id),
            &payload,
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(inv))
    }

    async fn mark_overdue(&self, today: &str, now_ms: i64) -> Result<Vec<InvoiceRecord>> {
        let mut tx = self.write.begin().await?;
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM invoices WHERE status = 'pending' AND kind = 'invoice' AND due_date < $1 ORDER BY due_date, id LIMIT 500"
        ))
        .bind(today)
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            let mut inv = row(r)?;
            let done = sqlx::query("UPDATE invoices SET status = 'overdue', updated_at = $1 WHERE id = $2 AND status = 'pending'")
                .bind(now_ms)
                .bind(&inv.id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 1 {
                inv.status = "overdue".into();
                notify_in(
                    &mut tx,
                    &inv.org_id.to_string(),
                    "invoice.overdue",
                    &format!("invoice.overdue:{}", inv.id),
                    &summary(&inv),
                    now_ms,
                )
                .await?;
                out.push(inv);
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn invoices_due_between(&self, from: &str, to: &str) -> Result<Vec<InvoiceRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM invoices WHERE status = 'pending' AND kind = 'invoice' AND due_date >= $1 AND due_date <= $2 ORDER BY due_date, id"
        ))
        .bind(from)
        .bind(to)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(row).collect()
    }

    async fn invoices_awaiting_payment(&self, limit: u32) -> Result<Vec<InvoiceRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM invoices WHERE status IN ('pending', 'overdue') AND kind = 'invoice' AND amount_due_kobo > 0 \
             AND payment_reference IS NULL ORDER BY issued_at, id LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(row).collect()
    }

    async fn tax_rates(&self) -> Result<Vec<TaxRate>> {
        let rows = sqlx::query(
            "SELECT effective_from, name, basis_points FROM tax_rates ORDER BY effective_from",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                let from: String = r.try_get("effective_from")?;
                Ok(TaxRate {
                    name: r.try_get("name")?,
                    basis_points: u32::try_from(r.try_get::<i64, _>("basis_points")?)
                        .map_err(|_| StoreError::Corrupt("tax basis points".into()))?,
                    effective_from: date_of(&from, "tax_rates")?,
                })
            })
            .collect()
    }

    async fn upsert_tax_rate(&self, rate: &TaxRate, now_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO tax_rates (effective_from, name, basis_points, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (effective_from) DO UPDATE SET name = excluded.name, basis_points = excluded.basis_points, created_at = excluded.created_at",
        )
        .bind(rate.effective_from.to_string())
        .bind(&rate.name)
        .bind(i64::from(rate.basis_points))
        .bind(now_ms)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn holiday_amendments(&self) -> Result<Vec<HolidayAmendment>> {
        let rows = sqlx::query("SELECT holiday_date, action, name FROM holiday_amendments ORDER BY holiday_date, action")
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| {
                let d: String = r.try_get("holiday_date")?;
                Ok(HolidayAmendment {
                    date: date_of(&d, "holiday_amendments")?,
                    action: r.try_get("action")?,
                    name: r.try_get("name")?,
                })
            })
            .collect()
    }

    async fn upsert_holiday_amendment(&self, a: &HolidayAmendment, now_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO holiday_amendments (holiday_date, action, name, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (holiday_date, action) DO UPDATE SET name = excluded.name, created_at = excluded.created_at",
        )
        .bind(a.date.to_string())
        .bind(&a.action)
        .bind(&a.name)
        .bind(now_ms)
        .execute(&self.write)
        .await?;
        Ok(())
    }
}
