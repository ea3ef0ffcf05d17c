//! API keys.

use crate::sql::{conflict, i64_of, id, opt_id, opt_json, opt_u64_col, to_json};
use crate::{ApiKeyRecord, Keys, Result, SqlStore, StoreError};
use async_trait::async_trait;
use kobo_domain::ids::{ApiKeyId, OrgId, WorkspaceId};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

const KEY_COLS: &str = "id, org_id, workspace_id, name, prefix, secret_hash, allowed_models, allowed_ips, \
    max_requests_per_day, expires_at, created_by, created_at, revoked_at, replaced_by, last_used_at, \
    requests_per_minute, tokens_per_minute";

fn key_row(r: &AnyRow) -> Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: id(r, "id")?,
        org_id: id(r, "org_id")?,
        workspace_id: id(r, "workspace_id")?,
        name: r.try_get("name")?,
        prefix: r.try_get("prefix")?,
        secret_hash: r.try_get("secret_hash")?,
        allowed_models: opt_json(r, "allowed_models")?,
        allowed_ips: opt_json(r, "allowed_ips")?,
        max_requests_per_day: opt_u64_col(r, "max_requests_per_day")?,
        expires_at: r.try_get("expires_at")?,
        created_by: id(r, "created_by")?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
        replaced_by: opt_id(r, "replaced_by")?,
        last_used_at: r.try_get("last_used_at")?,
        requests_per_minute: opt_u64_col(r, "requests_per_minute")?,
        tokens_per_minute: opt_u64_col(r, "tokens_per_minute")?,
    })
}

async fn insert_key(tx: &mut Transaction<'static, Any>, k: &ApiKeyRecord) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO api_keys ({KEY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    ))
    .bind(k.id.to_string())
    .bind(k.org_id.to_string())
    .bind(k.workspace_id.to_string())
    .bind(&k.name)
    .bind(&k.prefix)
    .bind(&k.secret_hash)
    .bind(k.allowed_models.as_ref().map(to_json).transpose()?)
    .bind(k.allowed_ips.as_ref().map(to_json).transpose()?)
    .bind(k.max_requests_per_day.map(i64_of))
    .bind(k.expires_at)
    .bind(k.created_by.to_string())
    .bind(k.created_at)
    .bind(k.revoked_at)
    .bind(k.replaced_by.map(|r| r.to_string()))
    .bind(k.last_used_at)
    .bind(k.requests_per_minute.map(i64_of))
    .bind(k.tokens_per_minute.map(i64_of))
    .execute(&mut **tx)
    .await
    .map_err(|e| conflict(e, "an API key with this prefix"))?;
    Ok(())
}

/// Live keys: not revoked and not expired at `now_ms`.
async fn live_keys(tx: &mut Transaction<'static, Any>, org: OrgId, now_ms: i64) -> Result<u64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM api_keys WHERE org_id = $1 AND revoked_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(org.to_string())
    .bind(now_ms)
    .fetch_one(&mut **tx)
    .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

#[async_trait]
impl Keys for SqlStore {
    async fn create_key(&self, k: &ApiKeyRecord, max: Option<u64>, now_ms: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        if let Some(max) = max {
            if live_keys(&mut tx, k.org_id, now_ms).await? >= max {
                return Err(StoreError::LimitReached("API keys", max));
            }
        }
        insert_key(&mut tx, k).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn keys_of_workspace(&self, org: OrgId, ws: WorkspaceId) -> Result<Vec<ApiKeyRecord>> {
        let mut tx = self.tenant_tx(org).await?;
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLS} FROM api_keys WHERE org_id = $1 AND workspace_id = $2 ORDER BY created_at, id"
        ))
        .bind(org.to_string())
        .bind(ws.to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(key_row).collect()
    }

    async fn key(&self, org: OrgId, key: ApiKeyId) -> Result<Option<ApiKeyRecord>> {
        let mut tx = self.tenant_tx(org).await?;
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLS} FROM api_keys WHERE org_id = $1 AND id = $2"
        ))
        .bind(org.to_string())
        .bind(key.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.as_ref().map(key_row).transpose()
    }

    async fn key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>> {
        sqlx::query(&format!(
            "SELECT {KEY_COLS} FROM api_keys WHERE prefix = $1"
        ))
        .bind(prefix)
        .fetch_optional(&self.read)
        .await?
        .as_ref()
        .map(key_row)
        .transpose()
    }

    async fn revoke_key(&self, org: OrgId, key: ApiKeyId, now_ms: i64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE org_id = $2 AND id = $3",
        )
        .bind(now_ms)
        .bind(org.to_string())
        .bind(key.to_string())
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn rotate_key(
        &self,
        org: OrgId,
        old: ApiKeyId,
        new: &ApiKeyRecord,
        old_expires_at: i64,
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        // Only a live key may be rotated; its expiry only ever moves earlier.
        let done = sqlx::query(
            "UPDATE api_keys SET replaced_by = $1, \
             expires_at = CASE WHEN expires_at IS NULL OR expires_at > $2 THEN $2 ELSE expires_at END \
             WHERE org_id = $3 AND id = $4 AND revoked_at IS NULL AND replaced_by IS NULL",
        )
        .bind(new.id.to_string())
        .bind(old_expires_at)
        .bind(org.to_string())
        .bind(old.to_string())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        insert_key(&mut tx, new).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_key_rate_limits(
        &self,
        org: OrgId,
        id: ApiKeyId,
        requests_per_minute: Option<u64>,
        tokens_per_minute: Option<u64>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET requests_per_minute = $1, tokens_per_minute = $2 WHERE org_id = $3 AND id = $4",
        )
        .bind(requests_per_minute.map(i64_of))
        .bind(tokens_per_minute.map(i64_of))
        .bind(org.to_string())
        .bind(id.to_string())
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn touch_keys(&self, used: &[(ApiKeyId, i64)]) -> Result<()> {
        if used.is_empty() {
            return Ok(());
        }
        let mut tx = self.write.begin().await?;
        for (key, at) in used {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
            )
            .bind(*at)
            .bind(key.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
