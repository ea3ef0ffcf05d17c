//! `/api/v1/workspaces/{workspace_id}/api-keys` and `/api/v1/api-keys/{key_id}`.

use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_id, parse_json, read_body, Caller, JsonBody};
use crate::routes::orgs::{rfc3339, List};
use crate::state::AppState;
use crate::tenancy::org_and_plan;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use kobo_domain::api_key;
use kobo_domain::ids::{ApiKeyId, WorkspaceId};
use kobo_domain::rbac::Permission;
use kobo_store::ApiKeyRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const DAY_MS: i64 = 86_400_000;
/// Longest grace period a rotated key may keep working.
const MAX_GRACE_SECONDS: u64 = 7 * 86_400;
const DEFAULT_GRACE_SECONDS: u64 = 3_600;

#[derive(Deserialize, ToSchema)]
pub struct CreateKey {
    pub name: String,
    pub allowed_models: Option<Vec<String>>,
    /// IP addresses or CIDR ranges (`203.0.113.0/24`, `2001:db8::/32`).
    pub allowed_ips: Option<Vec<String>>,
    pub expires_in_days: Option<u32>,
    pub max_requests_per_day: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct KeyView {
    pub id: String,
    /// The full key: present only in the answer that creates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub prefix: String,
    pub name: String,
    pub workspace_id: String,
    pub allowed_models: Option<Vec<String>>,
    pub allowed_ips: Option<Vec<String>>,
    pub max_requests_per_day: Option<u64>,
    /// Operator overrides of this key's rate limits (null: the organization's figure).
    pub requests_per_minute: Option<u64>,
    pub tokens_per_minute: Option<u64>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
    pub replaced_by: Option<String>,
    /// `active`, `expired` or `revoked`.
    pub status: &'static str,
}

pub fn view(k: &ApiKeyRecord, full: Option<String>, now_ms: i64) -> KeyView {
    let status = if k.revoked_at.is_some() {
        "revoked"
    } else if k.expires_at.is_some_and(|e| e <= now_ms) {
        "expired"
    } else {
        "active"
    };
    KeyView {
        id: k.id.to_string(),
        key: full,
        prefix: format!("{}{}", api_key::KEY_MARKER, k.prefix),
        name: k.name.clone(),
        workspace_id: k.workspace_id.to_string(),
        allowed_models: k.allowed_models.clone(),
        allowed_ips: k.allowed_ips.clone(),
        max_requests_per_day: k.max_requests_per_day,
        requests_per_minute: k.requests_per_minute,
        tokens_per_minute: k.tokens_per_minute,
        created_at: rfc3339(k.created_at),
        expires_at: k.expires_at.map(rfc3339),
        revoked_at: k.revoked_at.map(rfc3339),
        last_used_at: k.last_used_at.map(rfc3339),
        replaced_by: k.replaced_by.map(|r| r.to_string()),
        status,
    }
}

fn validate(req: &CreateKey) -> ApiResult<()> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(
            ApiError::unprocessable("invalid_request", "name must be 1 to 100 characters")
                .with_param("name"),
        );
    }
    if let Some(models) = &req.allowed_models {
        if models.iter().any(|m| m.trim().is_empty() || m.len() > 200) || models.len() > 100 {
            return Err(ApiError::unprocessable(
                "invalid_request",
                "allowed_models must be model names",
            )
            .with_param("allowed_models"));
        }
    }
    if let Some(ips) = &req.allowed_ips {
        for ip in ips {
            if crate::gateway::ip_scope::parse_net(ip).is_none() {
                return Err(ApiError::unprocessable(
                    "invalid_request",
                    format!("`{ip}` is not an IP address or CIDR range"),
                )
                .with_param("allowed_ips"));
            }
        }
    }
    if req.expires_in_days.is_some_and(|d| d == 0 || d > 3650) {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "expires_in_days must be 1 to 3650",
        )
        .with_param("expires_in_days"));
    }
    if req.max_requests_per_day == Some(0) {
        return Err(ApiError::unprocessable(
            "invalid_request",
            "max_requests_per_day must be positive",
        )
        .with_param("max_requests_per_day"));
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/api-keys", tag = "api keys", request_body = CreateKey,
    responses((status = 201, body = KeyView, description = "the only answer that shows `key`"), (status = 403, description = "api_key_limit_reached or permission_denied")),
    security(("session" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<String>,
    JsonBody(req): JsonBody<CreateKey>,
) -> ApiResult<(StatusCode, Json<KeyView>)> {
    let org = caller.org()?;
    let ws: WorkspaceId = parse_id(&ws, "workspace")?;
    caller.role_in(&state, org).await?;
    state
        .store
        .workspace(org, ws)
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    caller
        .authorize(&state, org, Permission::ApiKeysCreate)
        .await?;
    validate(&req)?;
    let (_, plan) = org_and_plan(&state, org).await?;
    let now = state.clock.now_ms();
    let minted = api_key::mint();
    let rec = ApiKeyRecord {
        id: ApiKeyId::new(),
        org_id: org,
        workspace_id: ws,
        name: req.name.trim().to_string(),
        prefix: minted.prefix.clone(),
        secret_hash: hex::encode(minted.secret_hash),
        allowed_models: req.allowed_models,
        allowed_ips: req.allowed_ips,
        max_requests_per_day: req.max_requests_per_day,
        expires_at: req.expires_in_days.map(|d| now + i64::from(d) * DAY_MS),
        created_by: caller.user_id,
        created_at: now,
        revoked_at: None,
        replaced_by: None,
        last_used_at: None,
        requests_per_minute: None,
        tokens_per_minute: None,
    };
    state.store.create_key(&rec, plan.api_keys, now).await?;
    tracing::info!(key_id = %rec.id, "An API key was created.");
    Ok((
        StatusCode::CREATED,
        Json(view(&rec, Some(minted.full), now)),
    ))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/api-keys", tag = "api keys", responses((status = 200, body = List<KeyView>)), security(("session" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(ws): Path<String>,
) -> ApiResult<Json<List<KeyView>>> {
    let org = caller.org()?;
    let ws: WorkspaceId = parse_id(&ws, "workspace")?;
    caller.role_in(&state, org).await?;
    state
        .store
        .workspace(org, ws)
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    caller
        .authorize(&state, org, Permission::ApiKeysRead)
        .await?;
    let now = state.clock.now_ms();
    let data = state
        .store
        .keys_of_workspace(org, ws)
        .await?
        .iter()
        .map(|k| view(k, None, now))
        .collect();
    Ok(Json(List { data }))
}

async fn owned_key(state: &AppState, caller: &Caller, raw: &str) -> ApiResult<ApiKeyRecord> {
    let org = caller.org()?;
    let id: ApiKeyId = parse_id(raw, "API key")?;
    caller.role_in(state, org).await?;
    state
        .store
        .key(org, id)
        .await?
        .ok_or_else(|| ApiError::not_found("API key"))
}

#[utoipa::path(delete, path = "/api/v1/api-keys/{key_id}", tag = "api keys", responses((status = 204)), security(("session" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let key = owned_key(&state, &caller, &id).await?;
    caller
        .authorize(&state, key.org_id, Permission::ApiKeysDelete)
        .await?;
    state
        .store
        .revoke_key(key.org_id, key.id, state.clock.now_ms())
        .await?;
    state.keys.invalidate(&key.prefix).await;
    tracing::info!(key_id = %key.id, "An API key was revoked.");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema, Default)]
pub struct RotateKey {
    pub grace_seconds: Option<u64>,
}

#[utoipa::path(post, path = "/api/v1/api-keys/{key_id}/rotate", tag = "api keys", request_body = RotateKey,
    responses((status = 201, body = KeyView)), security(("session" = [])))]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    req: axum::extract::Request,
) -> ApiResult<(StatusCode, Json<KeyView>)> {
    let bytes = read_body(req, &state).await?;
    let body: RotateKey = if bytes.iter().all(u8::is_ascii_whitespace) {
        RotateKey::default()
    } else {
        parse_json(&bytes)?
    };
    let old = owned_key(&state, &caller, &id).await?;
    caller
        .authorize(&state, old.org_id, Permission::ApiKeysCreate)
        .await?;
    caller
        .authorize(&state, old.org_id, Permission::ApiKeysDelete)
        .await?;
    let grace = body.grace_seconds.unwrap_or(DEFAULT_GRACE_SECONDS);
    if grace > MAX_GRACE_SECONDS {
        return Err(ApiError::unprocessable(
            "invalid_request",
            format!("grace_seconds must be at most {MAX_GRACE_SECONDS}"),
        )
        .with_param("grace_seconds"));
    }
    let now = state.clock.now_ms();
    if old.revoked_at.is_some()
        || old.expires_at.is_some_and(|e| e <= now)
        || old.replaced_by.is_some()
    {
        return Err(ApiError::conflict(
            "api_key_not_active",
            "only an active key that was not rotated yet can be rotated",
        ));
    }
    let minted = api_key::mint();
    let new = ApiKeyRecord {
        id: ApiKeyId::new(),
        prefix: minted.prefix.clone(),
        secret_hash: hex::encode(minted.secret_hash),
        created_by: caller.user_id,
        created_at: now,
        revoked_at: None,
        replaced_by: None,
        last_used_at: None,
        ..old.clone()
    };
    let grace_ms = i64::try_from(grace * 1000).unwrap_or(i64::MAX);
    state
        .store
        .rotate_key(old.org_id, old.id, &new, now + grace_ms)
        .await?;
    state.keys.invalidate(&old.prefix).await;
    tracing::info!(old_key_id = %old.id, new_key_id = %new.id, grace_seconds = grace, "An API key was rotated.");
    Ok((
        StatusCode::CREATED,
        Json(view(&new, Some(minted.full), now)),
    ))
}
