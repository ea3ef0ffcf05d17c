//! Subscriptions, payments and provider events. A payment is settled at most once:
//! the event row (unique per provider and event identity) and the conditional update
//! of the payment (`WHERE status = 'pending'`) sit in one transaction with the effects.

use crate::sql::id;
use crate::{
    Activation, Applied, Billing, PaymentEventRecord, PaymentRecord, Result, Settlement, SqlStore,
    SubscriptionRecord,
};
use async_trait::async_trait;
use kobo_domain::ids::OrgId;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

const SUB_COLS: &str = "id, org_id, plan_id, status, billing_cycle, anchor_day, price_kobo, provider, payment_method, \
    billing_email, period_start, period_end, cancel_at_period_end, pending_plan_id, authorization_code, renewal_attempts, \
    next_attempt_at, past_due_since, created_at, updated_at, cancelled_at";
const PAY_COLS: &str = "id, org_id, subscription_id, provider, reference, purpose, plan_id, amount_kobo, currency, status, \
    provider_txn_id, paid_amount_kobo, detail, created_at, settled_at";

fn sub_row(r: &AnyRow) -> Result<SubscriptionRecord> {
    Ok(SubscriptionRecord {
        id: r.try_get("id")?,
        org_id: id(r, "org_id")?,
        plan_id: r.try_get("plan_id")?,
        status: r.try_get("status")?,
        billing_cycle: r.try_get("billing_cycle")?,
        anchor_day: u32::try_from(r.try_get::<i64, _>("anchor_day")?).unwrap_or(1),
        price_kobo: r.try_get("price_kobo")?,
        provider: r.try_get("provider")?,
        payment_method: r.try_get("payment_method")?,
        billing_email: r.try_get("billing_email")?,
        period_start: r.try_get("period_start")?,
        period_end: r.try_get("period_end")?,
        cancel_at_period_end: r.try_get::<i64, _>("cancel_at_period_end")? != 0,
        pending_plan_id: r.try_get("pending_plan_id")?,
        authorization_code: r.try_get("authorization_code")?,
        renewal_attempts: u32::try_from(r.try_get::<i64, _>("renewal_attempts")?).unwrap_or(0),
        next_attempt_at: r.try_get("next_attempt_at")?,
        past_due_since: r.try_get("past_due_since")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        cancelled_at: r.try_get("cancelled_at")?,
    })
}

fn pay_row(r: &AnyRow) -> Result<PaymentRecord> {
    Ok(PaymentRecord {
        id: r.try_get("id")?,
        org_id: id(r, "org_id")?,
        subscription_id: r.try_get("subscription_id")?,
        provider: r.try_get("provider")?,
        reference: r.try_get("reference")?,
        purpose: r.try_get("purpose")?,
        plan_id: r.try_get("plan_id")?,
        amount_kobo: r.try_get("amount_kobo")?,
        currency: r.try_get("currency")?,
        status: r.try_get("status")?,
        provider_txn_id: r.try_get("provider_txn_id")?,
        paid_amount_kobo: r.try_get("paid_amount_kobo")?,
        detail: r.try_get("detail")?,
        created_at: r.try_get("created_at")?,
        settled_at: r.try_get("settled_at")?,
    })
}

fn event_row(r: &AnyRow) -> Result<PaymentEventRecord> {
    Ok(PaymentEventRecord {
        id: r.try_get("id")?,
        provider: r.try_get("provider")?,
        identity: r.try_get("identity")?,
        event: r.try_get("event")?,
        reference: r.try_get("reference")?,
        payload: r.try_get("payload")?,
        outcome: r.try_get("outcome")?,
        detail: r.try_get("detail")?,
        received_at: r.try_get("received_at")?,
    })
}

async fn write_sub(
    tx: &mut Transaction<'static, Any>,
    s: &SubscriptionRecord,
    insert: bool,
) -> Result<()> {
    let sql = if insert {
        format!("INSERT INTO subscriptions ({SUB_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)")
    } else {
        "UPDATE subscriptions SET org_id = $2, plan_id = $3, status = $4, billing_cycle = $5, anchor_day = $6, price_kobo = $7, \
         provider = $8, payment_method = $9, billing_email = $10, period_start = $11, period_end = $12, cancel_at_period_end = $13, \
         pending_plan_id = $14, authorization_code = $15, renewal_attempts = $16, next_attempt_at = $17, past_due_since = $18, \
         created_at = $19, updated_at = $20, cancelled_at = $21 WHERE id = $1"
            .to_string()
    };
    sqlx::query(&sql)
        .bind(&s.id)
        .bind(s.org_id.to_string())
        .bind(&s.plan_id)
        .bind(&s.status)
        .bind(&s.billing_cycle)
        .bind(i64::from(s.anchor_day))
        .bind(s.price_kobo)
        .bind(&s.provider)
        .bind(&s.payment_method)
        .bind(&s.billing_email)
        .bind(s.period_start)
        .bind(s.period_end)
        .bind(i64::from(s.cancel_at_period_end))
        .bind(s.pending_plan_id.clone())
        .bind(s.authorization_code.clone())
        .bind(i64::from(s.renewal_attempts))
        .bind(s.next_attempt_at)
        .bind(s.past_due_since)
        .bind(s.created_at)
        .bind(s.updated_at)
        .bind(s.cancelled_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_payment(tx: &mut Transaction<'static, Any>, p: &PaymentRecord) -> Result<()> {
    sqlx::query(&format!("INSERT INTO payments ({PAY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"))
        .bind(&p.id)
        .bind(p.org_id.to_string())
        .bind(p.subscription_id.clone())
        .bind(&p.provider)
        .bind(&p.reference)
        .bind(&p.purpose)
        .bind(p.plan_id.clone())
        .bind(p.amount_kobo)
        .bind(&p.currency)
        .bind(&p.status)
        .bind(p.provider_txn_id.clone())
        .bind(p.paid_amount_kobo)
        .bind(p.detail.clone())
        .bind(p.created_at)
        .bind(p.settled_at)
        .execute(&mut **tx)
        .await
        .map_err(|e| crate::sql::conflict(e, "a payment with this reference"))?;
    Ok(())
}

async fn activate(tx: &mut Transaction<'static, Any>, a: &Activation, now_ms: i64) -> Result<()> {
    // A cancelled subscription stays cancelled whatever is paid for it (the caller flags
    // such a payment for a refund); the organization's plan is left alone too.
    let done = sqlx::query(
        "UPDATE subscriptions SET status = 'active', plan_id = $1, price_kobo = COALESCE($2, price_kobo), \
         period_start = COALESCE($3, period_start), period_end = COALESCE($4, period_end), anchor_day = COALESCE($5, anchor_day), \
         authorization_code = COALESCE($6, authorization_code), renewal_attempts = 0, \
         next_attempt_at = COALESCE($4, period_end), past_due_since = NULL, updated_at = $7 \
         WHERE id = $8 AND status <> 'cancelled'",
    )
    .bind(&a.plan_id)
    .bind(a.price_kobo)
    .bind(a.period_start)
    .bind(a.period_end)
    .bind(a.anchor_day.map(i64::from))
    .bind(a.authorization_code.clone())
    .bind(now_ms)
    .bind(&a.subscription_id)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(());
    }
    sqlx::query(
        "UPDATE organizations SET plan_id = $1, status = 'active', \
         billing_anchor_day = COALESCE($2, billing_anchor_day) WHERE id = (SELECT org_id FROM subscriptions WHERE id = $3)",
    )
    .bind(&a.plan_id)
    .bind(a.anchor_day.map(i64::from))
    .bind(&a.subscription_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl Billing for SqlStore {
    async fn start_subscription(
        &self,
        sub: &SubscriptionRecord,
        payment: &PaymentRecord,
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        // An earlier checkout that was never paid is replaced.
        sqlx::query("UPDATE subscriptions SET status = 'cancelled', cancelled_at = $1, updated_at = $1 WHERE org_id = $2 AND status = 'pending_payment'")
            .bind(sub.created_at)
            .bind(sub.org_id.to_string())
            .execute(&mut *tx)
            .await?;
        write_sub(&mut tx, sub, true).await?;
        insert_payment(&mut tx, payment).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn save_subscription(&self, sub: &SubscriptionRecord) -> Result<()> {
        let mut tx = self.write.begin().await?;
        write_sub(&mut tx, sub, false).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn transition_subscription(
        &self,
        sub: &SubscriptionRecord,
        expected_updated_at: i64,
        org: Option<(Option<&str>, &str)>,
    ) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        // PostgreSQL: hold the row so a concurrent activation waits for this transaction.
        let lock = if self.backend == crate::Backend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let current: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT updated_at FROM subscriptions WHERE id = $1{lock}"
        ))
        .bind(&sub.id)
        .fetch_optional(&mut *tx)
        .await?;
        if current != Some(expected_updated_at) {
            return Ok(false);
        }
        write_sub(&mut tx, sub, false).await?;
        if let Some((plan_id, status)) = org {
            sqlx::query(
                "UPDATE organizations SET status = $1, plan_id = COALESCE($2, plan_id) WHERE id = $3",
            )
            .bind(status)
            .bind(plan_id)
            .bind(sub.org_id.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn current_subscription(&self, org: OrgId) -> Result<Option<SubscriptionRecord>> {
        let mut tx = self.tenant_tx(org).await?;
        let row = sqlx::query(&format!(
            "SELECT {SUB_COLS} FROM subscriptions WHERE org_id = $1 AND status <> 'cancelled' ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .bind(org.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.as_ref().map(sub_row).transpose()
    }

    async fn subscription(&self, org: OrgId, sub_id: &str) -> Result<Option<SubscriptionRecord>> {
        let mut tx = self.tenant_tx(org).await?;
        let row = sqlx::query(&format!(
            "SELECT {SUB_COLS} FROM subscriptions WHERE org_id = $1 AND id = $2"
        ))
        .bind(org.to_string())
        .bind(sub_id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.as_ref().map(sub_row).transpose()
    }

    async fn subscription_by_id(&self, sub_id: &str) -> Result<Option<SubscriptionRecord>> {
        sqlx::query(&format!(
            "SELECT {SUB_COLS} FROM subscriptions WHERE id = $1"
        ))
        .bind(sub_id)
        .fetch_optional(&self.read)
        .await?
        .as_ref()
        .map(sub_row)
        .transpose()
    }

    async fn due_subscriptions(&self, now_ms: i64) -> Result<Vec<SubscriptionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {SUB_COLS} FROM subscriptions WHERE status IN ('active', 'past_due', 'suspended') \
             AND next_attempt_at IS NOT NULL AND next_attempt_at <= $1 ORDER BY next_attempt_at"
        ))
        .bind(now_ms)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(sub_row).collect()
    }

    async fn claim_subscription(&self, sub_id: &str, now_ms: i64, until_ms: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE subscriptions SET claimed_until = $1 WHERE id = $2 AND (claimed_until IS NULL OR claimed_until <= $3)")
            .bind(until_ms)
            .bind(sub_id)
            .bind(now_ms)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_subscription(&self, sub_id: &str) -> Result<()> {
        sqlx::query("UPDATE subscriptions SET claimed_until = NULL WHERE id = $1")
            .bind(sub_id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn set_org_status(&self, org: OrgId, plan_id: Option<&str>, status: &str) -> Result<()> {
        sqlx::query(
            "UPDATE organizations SET status = $1, plan_id = COALESCE($2, plan_id) WHERE id = $3",
        )
        .bind(status)
        .bind(plan_id)
        .bind(org.to_string())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn create_payment(&self, p: &PaymentRecord) -> Result<()> {
        let mut tx = self.write.begin().await?;
        insert_payment(&mut tx, p).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn payment_by_reference(&self, reference: &str) -> Result<Option<PaymentRecord>> {
        sqlx::query(&format!(
            "SELECT {PAY_COLS} FROM payments WHERE reference = $1"
        ))
        .bind(reference)
        .fetch_optional(&self.read)
        .await?
        .as_ref()
        .map(pay_row)
        .transpose()
    }

    async fn payments_of(&self, org: OrgId) -> Result<Vec<PaymentRecord>> {
        let mut tx = self.tenant_tx(org).await?;
        let rows = sqlx::query(&format!(
            "SELECT {PAY_COLS} FROM payments WHERE org_id = $1 ORDER BY created_at, id"
        ))
        .bind(org.to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(pay_row).collect()
    }

    async fn apply_settlement(
        &self,
        event: Option<&PaymentEventRecord>,
        s: &Settlement,
    ) -> Result<Applied> {
        let mut tx = self.write.begin().await?;
        if let Some(ev) = event {
            let done = sqlx::query(
                "INSERT INTO payment_events (id, provider, identity, event, reference, payload, outcome, detail, received_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (provider, identity) DO NOTHING",
            )
            .bind(&ev.id)
            .bind(&ev.provider)
            .bind(&ev.identity)
            .bind(&ev.event)
            .bind(ev.reference.clone())
            .bind(&ev.payload)
            .bind(&ev.outcome)
            .bind(ev.detail.clone())
            .bind(ev.received_at)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(Applied::DuplicateEvent);
            }
        }
        let exists: Option<String> =
            sqlx::query_scalar("SELECT status FROM payments WHERE reference = $1")
                .bind(&s.reference)
                .fetch_optional(&mut *tx)
                .await?;
        let outcome = if exists.is_none() {
            Applied::UnknownReference
        } else {
            let done = sqlx::query(
                "UPDATE payments SET status = $1, provider_txn_id = $2, paid_amount_kobo = $3, detail = $4, settled_at = $5 \
                 WHERE reference = $6 AND status = 'pending'",
            )
            .bind(&s.status)
            .bind(s.provider_txn_id.clone())
            .bind(s.paid_amount_kobo)
            .bind(s.detail.clone())
            .bind(s.now_ms)
            .bind(&s.reference)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                Applied::AlreadySettled
            } else {
                if let (Some(a), "success") = (&s.activation, s.status.as_str()) {
                    activate(&mut tx, a, s.now_ms).await?;
                }
                if s.status == "success" {
                    // An invoice payment of the exact amount due marks the invoice paid.
                    crate::invoices::settle_invoice_payment(
                        &mut tx,
                        &s.reference,
                        s.paid_amount_kobo,
                        s.now_ms,
                    )
                    .await?;
                }
                Applied::Settled
            }
        };
        if let Some(ev) = event {
            let (label, detail) = match (&outcome, s.status.as_str()) {
                (Applied::Settled, "flagged") => ("flagged", s.detail.clone()),
                (Applied::Settled, _) => ("applied", ev.detail.clone()),
                (Applied::AlreadySettled, _) => (
                    "ignored",
                    Some("the payment was already settled".to_string()),
                ),
                (Applied::UnknownReference, _) => {
                    ("ignored", Some("no payment has this reference".to_string()))
                }
                (Applied::DuplicateEvent, _) => ("ignored", None),
            };
            sqlx::query("UPDATE payment_events SET outcome = $1, detail = $2 WHERE provider = $3 AND identity = $4")
                .bind(label)
                .bind(detail)
                .bind(&ev.provider)
                .bind(&ev.identity)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    async fn record_event(&self, ev: &PaymentEventRecord) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO payment_events (id, provider, identity, event, reference, payload, outcome, detail, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (provider, identity) DO NOTHING",
        )
        .bind(&ev.id)
        .bind(&ev.provider)
        .bind(&ev.identity)
        .bind(&ev.event)
        .bind(ev.reference.clone())
        .bind(&ev.payload)
        .bind(&ev.outcome)
        .bind(ev.detail.clone())
        .bind(ev.received_at)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn mark_refunded(&self, ev: &PaymentEventRecord, reference: &str) -> Result<Applied> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "INSERT INTO payment_events (id, provider, identity, event, reference, payload, outcome, detail, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'applied', $7, $8) ON CONFLICT (provider, identity) DO NOTHING",
        )
        .bind(&ev.id)
        .bind(&ev.provider)
        .bind(&ev.identity)
        .bind(&ev.event)
        .bind(Some(reference.to_string()))
        .bind(&ev.payload)
        .bind(ev.detail.clone())
        .bind(ev.received_at)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(Applied::DuplicateEvent);
        }
        let done = sqlx::query("UPDATE payments SET status = 'refunded' WHERE reference = $1 AND status IN ('success', 'flagged')")
            .bind(reference)
            .execute(&mut *tx)
            .await?;
        let outcome = if done.rows_affected() == 1 {
            Applied::Settled
        } else {
            Applied::AlreadySettled
        };
        if outcome != Applied::Settled {
            sqlx::query("UPDATE payment_events SET outcome = 'ignored' WHERE provider = $1 AND identity = $2")
                .bind(&ev.provider)
                .bind(&ev.identity)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    async fn payment_events(
        &self,
        before: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<PaymentEventRecord>> {
        let (at, after) = before.unwrap_or((i64::MAX, "\u{10FFFF}".to_string()));
        let rows = sqlx::query(
            "SELECT id, provider, identity, event, reference, payload, outcome, detail, received_at FROM payment_events \
             WHERE received_at < $1 OR (received_at = $1 AND id < $2) ORDER BY received_at DESC, id DESC LIMIT $3",
        )
        .bind(at)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(event_row).collect()
    }
}
