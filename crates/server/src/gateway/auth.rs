//! Who is calling the gateway: an API key (the usual case) or, on the native route, a
//! session. Key checks run against the in-process cache; no database in steady state.

use crate::error::ApiError;
use crate::gateway::ip_scope;
use crate::gateway::tenants::Tenant;
use crate::state::AppState;
use axum::http::{HeaderMap, StatusCode};
use kobo_domain::api_key;
use kobo_domain::ids::{ApiKeyId, UserId, WorkspaceId};
use kobo_store::ApiKeyRecord;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

pub struct GatewayCaller {
    pub key: Option<Arc<ApiKeyRecord>>,
    pub user: Option<UserId>,
    pub tenant: Arc<Tenant>,
    pub workspace_id: WorkspaceId,
}

fn credential(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = v.trim().split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn invalid_key() -> ApiError {
    ApiError::unauthorized(
        "invalid_api_key",
        "the API key is invalid or has been revoked",
    )
}

pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    client_ip: IpAddr,
    allow_session: bool,
) -> Result<GatewayCaller, ApiError> {
    let raw = credential(headers).ok_or_else(|| {
        ApiError::unauthorized(
            "missing_api_key",
            "send an API key as `Authorization: Bearer kobo_sk_…`",
        )
    })?;
    let caller = if allow_session && raw.starts_with("kobo_st_") {
        let session = crate::accounts::authenticate_session(state, raw).await?;
        let org = session.org()?;
        let role = session.role_in(state, org).await?;
        if !role.grants(kobo_domain::rbac::Permission::ModelsRead) {
            return Err(ApiError::forbidden(
                "permission_denied",
                "your role may not call models",
            ));
        }
        let tenant = state
            .tenants
            .get(org)
            .await?
            .ok_or_else(|| ApiError::not_found("organization"))?;
        let workspace_id = state
            .store
            .workspaces(org)
            .await?
            .first()
            .map(|w| w.id)
            .ok_or_else(|| ApiError::not_found("workspace"))?;
        GatewayCaller {
            key: None,
            user: Some(session.user_id),
            tenant,
            workspace_id,
        }
    } else {
        let presented = api_key::parse(raw).ok_or_else(invalid_key)?;
        let key = state
            .keys
            .get(presented.prefix)
            .await?
            .ok_or_else(invalid_key)?;
        let stored = hex::decode(&key.secret_hash).unwrap_or_default();
        if !api_key::secret_matches(presented.secret, &stored) || key.revoked_at.is_some() {
            return Err(invalid_key());
        }
        if key.expires_at.is_some_and(|e| e <= state.clock.now_ms()) {
            return Err(ApiError::unauthorized(
                "api_key_expired",
                "the API key has expired",
            ));
        }
        if let Some(ips) = &key.allowed_ips {
            let nets: Vec<_> = ips.iter().filter_map(|s| ip_scope::parse_net(s)).collect();
            if !ip_scope::allowed(&nets, client_ip) {
                return Err(ApiError::forbidden(
                    "ip_not_allowed",
                    format!("requests from {client_ip} are not allowed for this API key"),
                ));
            }
        }
        let tenant = state
            .tenants
            .get(key.org_id)
            .await?
            .ok_or_else(invalid_key)?;
        state.last_used.touch(key.id, state.clock.now_ms());
        GatewayCaller {
            workspace_id: key.workspace_id,
            key: Some(key),
            user: None,
            tenant,
        }
    };
    tracing::Span::current().record("tenant_id", tracing::field::display(caller.tenant.org.id));
    if caller.tenant.org.status == "suspended" {
        return Err(ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "payment_required",
            "the organization is suspended for non-payment; pay the open invoice to restore access",
        ));
    }
    Ok(caller)
}

impl GatewayCaller {
    /// The key's model scope, then the plan's.
    pub fn may_use(&self, model: &str) -> bool {
        let key_ok = self
            .key
            .as_ref()
            .and_then(|k| k.allowed_models.as_ref())
            .is_none_or(|list| list.iter().any(|m| m == model));
        key_ok && self.tenant.plan.allows_model(model)
    }

    pub fn check_model(&self, model: &str) -> Result<(), ApiError> {
        if self.may_use(model) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "model_not_allowed",
                format!("this API key or plan may not use the model `{model}`"),
            )
            .with_param("model"))
        }
    }
}

/// Last-used instants of keys, coalesced in memory and written every few seconds.
#[derive(Default)]
pub struct LastUsed {
    pending: Mutex<HashMap<ApiKeyId, i64>>,
}

impl LastUsed {
    pub fn touch(&self, key: ApiKeyId, now_ms: i64) {
        let mut p = self.pending.lock();
        let e = p.entry(key).or_insert(now_ms);
        *e = (*e).max(now_ms);
    }

    pub fn take(&self) -> Vec<(ApiKeyId, i64)> {
        self.pending.lock().drain().collect()
    }
}
