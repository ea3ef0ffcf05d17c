//! The plan and model catalogs.

use crate::sql::{json, to_json};
use crate::{Catalog, ModelRecord, Result, SqlStore};
use async_trait::async_trait;
use kobo_domain::plan::Plan;
use sqlx::any::AnyRow;
use sqlx::Row;

fn model_row(r: &AnyRow) -> Result<ModelRecord> {
    Ok(ModelRecord {
        name: r.try_get("name")?,
        upstream: r.try_get("upstream")?,
        upstream_model: r.try_get("upstream_model")?,
        input_price_per_1k_kobo: r.try_get("input_price_per_1k_kobo")?,
        output_price_per_1k_kobo: r.try_get("output_price_per_1k_kobo")?,
        input_cost_per_1k_micro_usd: r.try_get("input_cost_per_1k_micro_usd")?,
        output_cost_per_1k_micro_usd: r.try_get("output_cost_per_1k_micro_usd")?,
        fallbacks: json(r, "fallbacks")?,
        updated_at: r.try_get("updated_at")?,
    })
}

#[async_trait]
impl Catalog for SqlStore {
    async fn seed_plans(&self, plans: &[Plan], now_ms: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        for (pos, p) in plans.iter().enumerate() {
            sqlx::query(
                "INSERT INTO plans (id, definition, position, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&p.id)
            .bind(to_json(p)?)
            .bind(i64::try_from(pos).unwrap_or(0))
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn plans(&self) -> Result<Vec<Plan>> {
        let rows = sqlx::query("SELECT definition FROM plans ORDER BY position, id")
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(|r| json(r, "definition")).collect()
    }

    async fn plan(&self, plan_id: &str) -> Result<Option<Plan>> {
        sqlx::query("SELECT definition FROM plans WHERE id = $1")
            .bind(plan_id)
            .fetch_optional(&self.read)
            .await?
            .as_ref()
            .map(|r| json(r, "definition"))
            .transpose()
    }

    async fn upsert_plan(&self, plan: &Plan, now_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO plans (id, definition, position, created_at, updated_at) \
             VALUES ($1, $2, (SELECT COALESCE(MAX(position), 0) + 1 FROM plans), $3, $3) \
             ON CONFLICT (id) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at",
        )
        .bind(&plan.id)
        .bind(to_json(plan)?)
        .bind(now_ms)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn models(&self) -> Result<Vec<ModelRecord>> {
        let rows = sqlx::query(
            "SELECT name, upstream, upstream_model, input_price_per_1k_kobo, output_price_per_1k_kobo, \
             input_cost_per_1k_micro_usd, output_cost_per_1k_micro_usd, fallbacks, updated_at FROM models ORDER BY name",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(model_row).collect()
    }

    async fn upsert_model(&self, m: &ModelRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO models (name, upstream, upstream_model, input_price_per_1k_kobo, output_price_per_1k_kobo, \
             input_cost_per_1k_micro_usd, output_cost_per_1k_micro_usd, fallbacks, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (name) DO UPDATE SET upstream = excluded.upstream, upstream_model = excluded.upstream_model, \
             input_price_per_1k_kobo = excluded.input_price_per_1k_kobo, \
             output_price_per_1k_kobo = excluded.output_price_per_1k_kobo, \
             input_cost_per_1k_micro_usd = excluded.input_cost_per_1k_micro_usd, \
             output_cost_per_1k_micro_usd = excluded.output_cost_per_1k_micro_usd, \
             fallbacks = excluded.fallbacks, updated_at = excluded.updated_at",
        )
        .bind(&m.name)
        .bind(&m.upstream)
        .bind(&m.upstream_model)
        .bind(m.input_price_per_1k_kobo)
        .bind(m.output_price_per_1k_kobo)
        .bind(m.input_cost_per_1k_micro_usd)
        .bind(m.output_cost_per_1k_micro_usd)
        .bind(to_json(&m.fallbacks)?)
        .bind(m.updated_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn delete_model(&self, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM models WHERE name = $1")
            .bind(name)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
