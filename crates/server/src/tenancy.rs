//! An organization's plan and effective limits (plan defaults with operator overrides).

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use kobo_domain::ids::OrgId;
use kobo_domain::plan::Plan;
use kobo_store::OrgRecord;
use serde::{Deserialize, Serialize};

/// One operator override: a number, or `"unlimited"`. An absent field means the plan's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Override {
    Value(u64),
    Unlimited(UnlimitedMarker),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnlimitedMarker {
    Unlimited,
}

fn resolve(o: Option<Override>, default: Option<u64>) -> Option<u64> {
    match o {
        None => default,
        Some(Override::Value(n)) => Some(n),
        Some(Override::Unlimited(_)) => None,
    }
}

/// Operator overrides of plan limits, stored as JSON on the organization.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<Override>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_minute: Option<Override>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_tokens: Option<Override>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_api_calls: Option<Override>,
}

/// The limits in force for one organization (`None`: unlimited).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EffectiveLimits {
    pub requests_per_minute: Option<u64>,
    pub tokens_per_minute: Option<u64>,
    pub monthly_tokens: Option<u64>,
    pub monthly_api_calls: Option<u64>,
}

impl EffectiveLimits {
    pub fn of(plan: &Plan, o: &LimitOverrides) -> Self {
        Self {
            requests_per_minute: resolve(o.requests_per_minute, Some(plan.requests_per_minute)),
            tokens_per_minute: resolve(o.tokens_per_minute, Some(plan.tokens_per_minute)),
            monthly_tokens: resolve(o.monthly_tokens, plan.monthly_token_limit),
            monthly_api_calls: resolve(o.monthly_api_calls, plan.monthly_api_calls),
        }
    }
}

pub async fn org_and_plan(state: &AppState, org: OrgId) -> ApiResult<(OrgRecord, Plan)> {
    let rec = state
        .store
        .organization(org)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    let plan = state.store.plan(&rec.plan_id).await?.ok_or_else(|| {
        ApiError::internal(&kobo_store::StoreError::Corrupt(format!(
            "organization {org} has unknown plan {}",
            rec.plan_id
        )))
    })?;
    Ok((rec, plan))
}

pub fn overrides_of(org: &OrgRecord) -> LimitOverrides {
    serde_json::from_str(&org.limits).unwrap_or_default()
}
