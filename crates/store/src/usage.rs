//! Usage records, daily rollups, idempotency keys, quota archives, notifications.

use crate::sql::{i64_of, id, opt_id};
use crate::{
    IdemClaim, NotificationRecord, QuotaPeriodRecord, Result, SqlStore, Usage, UsageGroup,
    UsageGroupBy, UsageRecord,
};
use async_trait::async_trait;
use kobo_domain::ids::{ApiKeyId, OrgId};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::HashMap;

/// How long a `running` idempotency claim holds before it is treated as abandoned:
/// longer than any request may run (upstream timeouts are minutes at most).
pub const IDEMPOTENCY_RUNNING_LEASE_MS: i64 = 15 * 60 * 1000;

const RECORD_COLS: &str = "id, org_id, workspace_id, api_key_id, user_id, endpoint, model, upstream, prompt_tokens, \
    completion_tokens, cost_millikobo, upstream_cost_micro_usd, latency_ms, status, error_code, streamed, lagos_day, created_at";

fn n(r: &AnyRow, col: &str) -> Result<u64> {
    let v: i64 = r.try_get(col)?;
    Ok(u64::try_from(v).unwrap_or(0))
}

fn record_row(r: &AnyRow) -> Result<UsageRecord> {
    Ok(UsageRecord {
        id: r.try_get("id")?,
        org_id: id(r, "org_id")?,
        workspace_id: id(r, "workspace_id")?,
        api_key_id: opt_id(r, "api_key_id")?,
        user_id: opt_id(r, "user_id")?,
        endpoint: r.try_get("endpoint")?,
        model: r.try_get("model")?,
        upstream: r.try_get("upstream")?,
        prompt_tokens: n(r, "prompt_tokens")?,
        completion_tokens: n(r, "completion_tokens")?,
        cost_millikobo: r.try_get("cost_millikobo")?,
        upstream_cost_micro_usd: r.try_get("upstream_cost_micro_usd")?,
        latency_ms: n(r, "latency_ms")?,
        status: u16::try_from(r.try_get::<i64, _>("status")?).unwrap_or(0),
        error_code: r.try_get("error_code")?,
        streamed: r.try_get::<i64, _>("streamed")? != 0,
        lagos_day: r.try_get("lagos_day")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Rollup key: (org, day, workspace, key, model).
type RollupKey = (String, String, String, String, String);

#[derive(Default)]
struct Rollup {
    requests: i64,
    errors: i64,
    prompt: i64,
    completion: i64,
    cost: i64,
    upstream_cost: i64,
    latency: i64,
}

#[async_trait]
impl Usage for SqlStore {
    async fn insert_usage(&self, records: &[UsageRecord]) -> Result<usize> {
        if records.is_empty() {
            return Ok(0);
        }
        let mut tx = self.write.begin().await?;
        let mut rollups: HashMap<RollupKey, Rollup> = HashMap::new();
        let mut inserted = 0;
        for r in records {
            // ON CONFLICT DO NOTHING makes a replayed record a no-op; only rows that
            // really went in are added to the rollups, so both stay exactly-once.
            let done = sqlx::query(&format!(
                "INSERT INTO usage_records ({RECORD_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
                 ON CONFLICT (id) DO NOTHING"
            ))
            .bind(&r.id)
            .bind(r.org_id.to_string())
            .bind(r.workspace_id.to_string())
            .bind(r.api_key_id.map(|k| k.to_string()))
            .bind(r.user_id.map(|u| u.to_string()))
            .bind(&r.endpoint)
            .bind(&r.model)
            .bind(&r.upstream)
            .bind(i64_of(r.prompt_tokens))
            .bind(i64_of(r.completion_tokens))
            .bind(r.cost_millikobo)
            .bind(r.upstream_cost_micro_usd)
            .bind(i64_of(r.latency_ms))
            .bind(i64::from(r.status))
            .bind(r.error_code.clone())
            .bind(i64::from(r.streamed))
            .bind(&r.lagos_day)
            .bind(r.created_at)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                continue;
            }
            inserted += 1;
            let key = (
                r.org_id.to_string(),
                r.lagos_day.clone(),
                r.workspace_id.to_string(),
                r.api_key_id.map(|k| k.to_string()).unwrap_or_default(),
                r.model.clone(),
            );
            let agg = rollups.entry(key).or_default();
            agg.requests += 1;
            agg.errors += i64::from(!r.billed());
            agg.prompt += i64_of(r.prompt_tokens);
            agg.completion += i64_of(r.completion_tokens);
            agg.cost += r.cost_millikobo;
            agg.upstream_cost += r.upstream_cost_micro_usd;
            agg.latency += i64_of(r.latency_ms);
        }
        for ((org, day, ws, key, model), a) in rollups {
            sqlx::query(
                "INSERT INTO usage_daily (org_id, lagos_day, workspace_id, api_key_id, model, requests, errors, prompt_tokens, \
                 completion_tokens, cost_millikobo, upstream_cost_micro_usd, latency_ms_sum) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (org_id, lagos_day, workspace_id, api_key_id, model) DO UPDATE SET \
                 requests = usage_daily.requests + excluded.requests, errors = usage_daily.errors + excluded.errors, \
                 prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens, \
                 completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens, \
                 cost_millikobo = usage_daily.cost_millikobo + excluded.cost_millikobo, \
                 upstream_cost_micro_usd = usage_daily.upstream_cost_micro_usd + excluded.upstream_cost_micro_usd, \
                 latency_ms_sum = usage_daily.latency_ms_sum + excluded.latency_ms_sum",
            )
            .bind(org)
            .bind(day)
            .bind(ws)
            .bind(key)
            .bind(model)
            .bind(a.requests)
            .bind(a.errors)
            .bind(a.prompt)
            .bind(a.completion)
            .bind(a.cost)
            .bind(a.upstream_cost)
            .bind(a.latency)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    async fn usage_summary(
        &self,
        org: OrgId,
        from_day: &str,
        to_day: &str,
        group_by: UsageGroupBy,
    ) -> Result<Vec<UsageGroup>> {
        let col = match group_by {
            UsageGroupBy::Model => "model",
            UsageGroupBy::Day => "lagos_day",
            UsageGroupBy::ApiKey => "api_key_id",
            UsageGroupBy::Workspace => "workspace_id",
        };
        let mut tx = self.tenant_tx(org).await?;
        let rows = sqlx::query(&format!(
            "SELECT {col} AS grp, CAST(SUM(requests) AS BIGINT) AS requests, CAST(SUM(errors) AS BIGINT) AS errors, \
             CAST(SUM(prompt_tokens) AS BIGINT) AS prompt_tokens, CAST(SUM(completion_tokens) AS BIGINT) AS completion_tokens, \
             CAST(SUM(cost_millikobo) AS BIGINT) AS cost_millikobo, CAST(SUM(upstream_cost_micro_usd) AS BIGINT) AS upstream_cost, \
             CAST(SUM(latency_ms_sum) AS BIGINT) AS latency \
             FROM usage_daily WHERE org_id = $1 AND lagos_day >= $2 AND lagos_day <= $3 GROUP BY {col} ORDER BY {col}"
        ))
        .bind(org.to_string())
        .bind(from_day)
        .bind(to_day)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok(UsageGroup {
                    key: r.try_get("grp")?,
                    requests: n(r, "requests")?,
                    errors: n(r, "errors")?,
                    prompt_tokens: n(r, "prompt_tokens")?,
                    completion_tokens: n(r, "completion_tokens")?,
                    cost_millikobo: r.try_get("cost_millikobo")?,
                    upstream_cost_micro_usd: r.try_get("upstream_cost")?,
                    latency_ms_sum: n(r, "latency")?,
                })
            })
            .collect()
    }

    async fn usage_records(
        &self,
        org: OrgId,
        from_ms: i64,
        to_ms: i64,
        before: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<UsageRecord>> {
        let (at, after_id) = before.unwrap_or((i64::MAX, String::new()));
        let mut tx = self.tenant_tx(org).await?;
        let rows = sqlx::query(&format!(
            "SELECT {RECORD_COLS} FROM usage_records WHERE org_id = $1 AND created_at >= $2 AND created_at < $3 \
             AND (created_at < $4 OR (created_at = $4 AND id < $5)) ORDER BY created_at DESC, id DESC LIMIT $6"
        ))
        .bind(org.to_string())
        .bind(from_ms)
        .bind(to_ms)
        .bind(at)
        .bind(if at == i64::MAX { "\u{10FFFF}".to_string() } else { after_id })
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(record_row).collect()
    }

    async fn billed_totals(&self, org: OrgId, from_day: &str, to_day: &str) -> Result<(u64, u64)> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS BIGINT) AS tokens, \
             CAST(COALESCE(SUM(requests - errors), 0) AS BIGINT) AS calls \
             FROM usage_daily WHERE org_id = $1 AND lagos_day >= $2 AND lagos_day <= $3",
        )
        .bind(org.to_string())
        .bind(from_day)
        .bind(to_day)
        .fetch_one(&self.read)
        .await?;
        Ok((n(&row, "tokens")?, n(&row, "calls")?))
    }

    async fn key_billed_requests(&self, key: ApiKeyId, day: &str) -> Result<u64> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(requests - errors), 0) AS BIGINT) AS calls FROM usage_daily WHERE api_key_id = $1 AND lagos_day = $2",
        )
        .bind(key.to_string())
        .bind(day)
        .fetch_one(&self.read)
        .await?;
        n(&row, "calls")
    }

    async fn usage_count(&self) -> Result<u64> {
        let c: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM usage_records")
            .fetch_one(&self.read)
            .await?;
        Ok(u64::try_from(c).unwrap_or(0))
    }

    async fn idem_claim(
        &self,
        org: OrgId,
        key: &str,
        request_hash: &str,
        now_ms: i64,
        expires_at: i64,
    ) -> Result<IdemClaim> {
        let mut tx = self.write.begin().await?;
        // An expired key is forgotten; so is a claim still `running` long after any
        // request could have finished (its process died), so the client can retry.
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE org_id = $1 AND idem_key = $2 \
             AND (expires_at <= $3 OR (state = 'running' AND created_at <= $4))",
        )
        .bind(org.to_string())
        .bind(key)
        .bind(now_ms)
        .bind(now_ms - IDEMPOTENCY_RUNNING_LEASE_MS)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(
            "INSERT INTO idempotency_keys (org_id, idem_key, request_hash, state, created_at, expires_at) \
             VALUES ($1, $2, $3, 'running', $4, $5) ON CONFLICT (org_id, idem_key) DO NOTHING",
        )
        .bind(org.to_string())
        .bind(key)
        .bind(request_hash)
        .bind(now_ms)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        let claim = if done.rows_affected() == 1 {
            IdemClaim::Claimed
        } else {
            let r = sqlx::query(
                "SELECT request_hash, state, response_status, response_type, response_body FROM idempotency_keys \
                 WHERE org_id = $1 AND idem_key = $2",
            )
            .bind(org.to_string())
            .bind(key)
            .fetch_one(&mut *tx)
            .await?;
            let request_hash: String = r.try_get("request_hash")?;
            let state: String = r.try_get("state")?;
            if state == "done" {
                IdemClaim::Done {
                    request_hash,
                    status: u16::try_from(
                        r.try_get::<Option<i64>, _>("response_status")?
                            .unwrap_or(200),
                    )
                    .unwrap_or(200),
                    content_type: r
                        .try_get::<Option<String>, _>("response_type")?
                        .unwrap_or_default(),
                    body: r
                        .try_get::<Option<String>, _>("response_body")?
                        .unwrap_or_default(),
                }
            } else {
                IdemClaim::Running { request_hash }
            }
        };
        tx.commit().await?;
        Ok(claim)
    }

    async fn idem_complete(
        &self,
        org: OrgId,
        key: &str,
        status: u16,
        content_type: &str,
        body: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE idempotency_keys SET state = 'done', response_status = $1, response_type = $2, response_body = $3 \
             WHERE org_id = $4 AND idem_key = $5",
        )
        .bind(i64::from(status))
        .bind(content_type)
        .bind(body)
        .bind(org.to_string())
        .bind(key)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn idem_release(&self, org: OrgId, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE org_id = $1 AND idem_key = $2 AND state = 'running'")
            .bind(org.to_string())
            .bind(key)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn purge_idempotency(&self, now_ms: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= $1")
            .bind(now_ms)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }

    async fn archive_period(&self, org: OrgId, p: &QuotaPeriodRecord) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO quota_periods (org_id, period_start, period_end, tokens, api_calls, archived_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (org_id, period_start) DO NOTHING",
        )
        .bind(org.to_string())
        .bind(&p.period_start)
        .bind(&p.period_end)
        .bind(i64_of(p.tokens))
        .bind(i64_of(p.api_calls))
        .bind(p.archived_at)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn archived_periods(&self, org: OrgId) -> Result<Vec<QuotaPeriodRecord>> {
        let rows = sqlx::query(
            "SELECT period_start, period_end, tokens, api_calls, archived_at FROM quota_periods WHERE org_id = $1 ORDER BY period_start DESC",
        )
        .bind(org.to_string())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(QuotaPeriodRecord {
                    period_start: r.try_get("period_start")?,
                    period_end: r.try_get("period_end")?,
                    tokens: n(r, "tokens")?,
                    api_calls: n(r, "api_calls")?,
                    archived_at: r.try_get("archived_at")?,
                })
            })
            .collect()
    }

    async fn notify(&self, n_: &NotificationRecord) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO notifications (id, org_id, kind, dedupe_key, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(&n_.id)
        .bind(n_.org_id.to_string())
        .bind(&n_.kind)
        .bind(&n_.dedupe_key)
        .bind(&n_.payload)
        .bind(n_.created_at)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn notifications(
        &self,
        org: OrgId,
        kind_prefix: &str,
    ) -> Result<Vec<NotificationRecord>> {
        let mut tx = self.tenant_tx(org).await?;
        let rows = sqlx::query(
            "SELECT id, org_id, kind, dedupe_key, payload, created_at FROM notifications WHERE org_id = $1 AND kind LIKE $2 ORDER BY created_at, id",
        )
        .bind(org.to_string())
        .bind(format!("{kind_prefix}%"))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok(NotificationRecord {
                    id: r.try_get("id")?,
                    org_id: id(r, "org_id")?,
                    kind: r.try_get("kind")?,
                    dedupe_key: r.try_get("dedupe_key")?,
                    payload: r.try_get("payload")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}
