//! `/api/v1/admin/*`: the platform operator's routes. Tenants get 403.

use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_id, Caller, JsonBody, QueryParams};
use crate::routes::orgs::rfc3339;
use crate::state::AppState;
use crate::tenancy::{overrides_of, LimitOverrides, Override, UnlimitedMarker};
use axum::extract::{Path, State};
use axum::Json;
use kobo_domain::ids::OrgId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
pub struct Cursor {
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct OrgView {
    pub id: String,
    pub name: String,
    pub plan: String,
    pub status: String,
    pub created_at: String,
    #[schema(value_type = Object)]
    pub limits: Value,
}

#[derive(Serialize, ToSchema)]
pub struct OrgPage {
    pub data: Vec<OrgView>,
    pub next_cursor: Option<String>,
}

fn org_view(o: kobo_store::OrgRecord) -> OrgView {
    let limits = serde_json::to_value(overrides_of(&o)).unwrap_or(Value::Null);
    OrgView {
        id: o.id.to_string(),
        name: o.name,
        plan: o.plan_id,
        status: o.status,
        created_at: rfc3339(o.created_at),
        limits,
    }
}

#[utoipa::path(get, path = "/api/v1/admin/organizations", tag = "operator", params(Cursor), responses((status = 200, body = OrgPage)), security(("session" = [])))]
pub async fn organizations(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(q): QueryParams<Cursor>,
) -> ApiResult<Json<OrgPage>> {
    caller.require_operator()?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let after = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => Some(c.parse::<OrgId>().map_err(|_| {
            ApiError::unprocessable("invalid_cursor", "the cursor is not valid")
                .with_param("cursor")
        })?),
        None => None,
    };
    let rows = state.store.list_organizations(after, limit).await?;
    let next_cursor = (rows.len() == limit as usize)
        .then(|| rows.last().map(|o| o.id.to_string()))
        .flatten();
    Ok(Json(OrgPage {
        data: rows.into_iter().map(org_view).collect(),
        next_cursor,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct SetPlan {
    pub plan: String,
}

#[utoipa::path(put, path = "/api/v1/admin/organizations/{org_id}/plan", tag = "operator", request_body = SetPlan, responses((status = 200, body = OrgView)), security(("session" = [])))]
pub async fn set_plan(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    JsonBody(req): JsonBody<SetPlan>,
) -> ApiResult<Json<OrgView>> {
    caller.require_operator()?;
    let org: OrgId = parse_id(&org, "organization")?;
    if state.store.plan(&req.plan).await?.is_none() {
        return Err(ApiError::unprocessable(
            "unknown_plan",
            format!("there is no plan `{}`", req.plan),
        )
        .with_param("plan"));
    }
    state.store.set_org_plan(org, &req.plan).await?;
    let rec = state
        .store
        .organization(org)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    tracing::info!(org_id = %org, plan = %req.plan, "The operator granted a plan.");
    Ok(Json(org_view(rec)))
}

/// One limit field: a number, `"unlimited"`, or null for the plan's default.
fn limit_field(
    body: &serde_json::Map<String, Value>,
    name: &'static str,
) -> ApiResult<Option<Override>> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s == "unlimited" => {
            Ok(Some(Override::Unlimited(UnlimitedMarker::Unlimited)))
        }
        Some(v) => v.as_u64().map(|n| Some(Override::Value(n))).ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_request",
                format!("{name} must be a non-negative number, \"unlimited\" or null"),
            )
            .with_param(name)
        }),
    }
}

#[utoipa::path(put, path = "/api/v1/admin/organizations/{org_id}/limits", tag = "operator",
    request_body(content = Object, description = "{requests_per_minute?, tokens_per_minute?, monthly_tokens?, monthly_api_calls?}: a number, \"unlimited\", or null for the plan default"),
    responses((status = 200, body = OrgView)), security(("session" = [])))]
pub async fn set_limits(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<serde_json::Map<String, Value>>,
) -> ApiResult<Json<OrgView>> {
    caller.require_operator()?;
    let org: OrgId = parse_id(&org, "organization")?;
    let o = LimitOverrides {
        requests_per_minute: limit_field(&body, "requests_per_minute")?,
        tokens_per_minute: limit_field(&body, "tokens_per_minute")?,
        monthly_tokens: limit_field(&body, "monthly_tokens")?,
        monthly_api_calls: limit_field(&body, "monthly_api_calls")?,
    };
    let json = serde_json::to_string(&o).map_err(|e| ApiError::internal(&e))?;
    state.store.set_org_limits(org, &json).await?;
    let rec = state
        .store
        .organization(org)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    tracing::info!(org_id = %org, limits = %json, "The operator changed an organization's limits.");
    Ok(Json(org_view(rec)))
}

/// One per-key rate limit: a positive number, or null for the organization's figure.
fn key_limit_field(
    body: &serde_json::Map<String, Value>,
    name: &'static str,
) -> ApiResult<Option<u64>> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().filter(|n| *n > 0).map(Some).ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_request",
                format!("{name} must be a positive number, or null for the organization's figure"),
            )
            .with_param(name)
        }),
    }
}

#[utoipa::path(put, path = "/api/v1/admin/organizations/{org_id}/api-keys/{key_id}/limits", tag = "operator",
    request_body(content = Object, description = "{requests_per_minute?, tokens_per_minute?}: a positive number, or null for the organization's figure"),
    responses((status = 200, body = crate::routes::keys::KeyView), (status = 404)), security(("session" = [])))]
pub async fn set_key_limits(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, key)): Path<(String, String)>,
    JsonBody(body): JsonBody<serde_json::Map<String, Value>>,
) -> ApiResult<Json<crate::routes::keys::KeyView>> {
    caller.require_operator()?;
    let org: OrgId = parse_id(&org, "organization")?;
    let key: kobo_domain::ids::ApiKeyId = parse_id(&key, "api_key")?;
    let rpm = key_limit_field(&body, "requests_per_minute")?;
    let tpm = key_limit_field(&body, "tokens_per_minute")?;
    if !state.store.set_key_rate_limits(org, key, rpm, tpm).await? {
        return Err(ApiError::not_found("api_key"));
    }
    let rec = state
        .store
        .key(org, key)
        .await?
        .ok_or_else(|| ApiError::not_found("api_key"))?;
    state.keys.invalidate(&rec.prefix).await;
    tracing::info!(org_id = %org, key_id = %key, requests_per_minute = ?rpm, tokens_per_minute = ?tpm, "The operator changed an API key's rate limits.");
    Ok(Json(crate::routes::keys::view(
        &rec,
        None,
        state.clock.now_ms(),
    )))
}

#[derive(Deserialize, ToSchema)]
pub struct ModelBody {
    pub name: Option<String>,
    pub upstream: String,
    pub upstream_model: Option<String>,
    pub input_price_per_1k_kobo: i64,
    pub output_price_per_1k_kobo: i64,
    #[serde(default)]
    pub input_cost_per_1k_micro_usd: i64,
    #[serde(default)]
    pub output_cost_per_1k_micro_usd: i64,
    #[serde(default)]
    pub fallbacks: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ModelList {
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<kobo_store::ModelRecord>,
}

fn model_record(state: &AppState, name: &str, b: ModelBody) -> ApiResult<kobo_store::ModelRecord> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(
            ApiError::unprocessable("invalid_request", "name must be 1 to 200 characters")
                .with_param("name"),
        );
    }
    if !state.catalog.has_upstream(&b.upstream) {
        return Err(ApiError::unprocessable(
            "unknown_upstream",
            format!("there is no upstream `{}` in the configuration", b.upstream),
        )
        .with_param("upstream"));
    }
    let prices = [
        b.input_price_per_1k_kobo,
        b.output_price_per_1k_kobo,
        b.input_cost_per_1k_micro_usd,
        b.output_cost_per_1k_micro_usd,
    ];
    if prices.iter().any(|p| *p < 0) {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "prices and costs must not be negative",
        ));
    }
    if b.fallbacks.iter().any(|f| f == name) {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "a model cannot fall back to itself",
        )
        .with_param("fallbacks"));
    }
    Ok(kobo_store::ModelRecord {
        name: name.to_string(),
        upstream: b.upstream,
        upstream_model: b
            .upstream_model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| name.to_string()),
        input_price_per_1k_kobo: b.input_price_per_1k_kobo,
        output_price_per_1k_kobo: b.output_price_per_1k_kobo,
        input_cost_per_1k_micro_usd: b.input_cost_per_1k_micro_usd,
        output_cost_per_1k_micro_usd: b.output_cost_per_1k_micro_usd,
        fallbacks: b.fallbacks,
        updated_at: state.clock.now_ms(),
    })
}

#[utoipa::path(get, path = "/api/v1/admin/models", tag = "operator", responses((status = 200, body = ModelList)), security(("session" = [])))]
pub async fn list_models(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ModelList>> {
    caller.require_operator()?;
    let mut data: Vec<_> = state.catalog.all().values().cloned().collect();
    data.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(ModelList { data }))
}

#[utoipa::path(post, path = "/api/v1/admin/models", tag = "operator", request_body = ModelBody, responses((status = 201), (status = 409, description = "exists")), security(("session" = [])))]
pub async fn create_model(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<ModelBody>,
) -> ApiResult<(axum::http::StatusCode, Json<kobo_store::ModelRecord>)> {
    caller.require_operator()?;
    let name = b.name.clone().unwrap_or_default();
    if state
        .store
        .models()
        .await?
        .iter()
        .any(|m| m.name == name.trim())
    {
        return Err(ApiError::conflict(
            "already_exists",
            format!("the model `{name}` exists; use PUT to change it"),
        ));
    }
    let rec = model_record(&state, &name, b)?;
    state.store.upsert_model(&rec).await?;
    state.catalog.reload().await?;
    tracing::info!(model = %rec.name, "The operator added a model.");
    Ok((axum::http::StatusCode::CREATED, Json(rec)))
}

#[utoipa::path(put, path = "/api/v1/admin/models/{name}", tag = "operator", request_body = ModelBody, responses((status = 200)), security(("session" = [])))]
pub async fn update_model(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(b): JsonBody<ModelBody>,
) -> ApiResult<Json<kobo_store::ModelRecord>> {
    caller.require_operator()?;
    let rec = model_record(&state, &name, b)?;
    state.store.upsert_model(&rec).await?;
    state.catalog.reload().await?;
    tracing::info!(model = %rec.name, "The operator changed a model.");
    Ok(Json(rec))
}

#[utoipa::path(delete, path = "/api/v1/admin/models/{name}", tag = "operator", responses((status = 204), (status = 404)), security(("session" = [])))]
pub async fn delete_model(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::http::StatusCode> {
    caller.require_operator()?;
    if !state.store.delete_model(&name).await? {
        return Err(ApiError::not_found("model"));
    }
    state.catalog.reload().await?;
    tracing::info!(model = %name, "The operator removed a model.");
    Ok(axum::http::StatusCode::NO_CONTENT)
}
