//! `/api/v1/usage`, `/api/v1/usage/records` and `/api/v1/quotas`.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, QueryParams};
use crate::gateway::admission::quota_period;
use crate::routes::orgs::rfc3339;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use kobo_domain::calendar::{lagos_date, lagos_midnight_utc};
use kobo_domain::money::{format_naira, Millikobo};
use kobo_domain::rbac::Permission;
use kobo_store::{UsageGroupBy, UsageRecord};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
pub struct SummaryQuery {
    /// First Lagos day (`YYYY-MM-DD`), default the start of the current quota period.
    pub from: Option<String>,
    /// Last Lagos day, inclusive, default today (Lagos).
    pub to: Option<String>,
    /// `model` (default), `day`, `api_key` or `workspace`.
    pub group_by: Option<String>,
}

fn day(raw: &str, param: &str) -> ApiResult<NaiveDate> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
        ApiError::unprocessable(
            "invalid_request",
            format!("`{param}` must be a date YYYY-MM-DD"),
        )
        .with_param(param)
    })
}

fn money(millikobo: i64) -> Value {
    let kobo = Millikobo(millikobo).to_kobo_half_up();
    json!({"cost_millikobo": millikobo, "cost_kobo": kobo.0, "cost_display": format_naira(kobo)})
}

#[utoipa::path(get, path = "/api/v1/usage", tag = "usage", params(SummaryQuery), responses((status = 200, description = "totals per group")), security(("session" = [])))]
pub async fn summary(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(q): QueryParams<SummaryQuery>,
) -> ApiResult<Json<Value>> {
    let org = caller.org()?;
    caller.authorize(&state, org, Permission::UsageRead).await?;
    let tenant = state
        .tenants
        .get(org)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    let now = state.clock.now();
    let from = match &q.from {
        Some(f) => day(f, "from")?,
        None => quota_period(&tenant, now).start_date(),
    };
    let to = match &q.to {
        Some(t) => day(t, "to")?,
        None => lagos_date(now),
    };
    if to < from {
        return Err(
            ApiError::unprocessable("invalid_request", "`to` is before `from`").with_param("to"),
        );
    }
    let (group_by, name) = match q.group_by.as_deref().unwrap_or("model") {
        "model" => (UsageGroupBy::Model, "model"),
        "day" => (UsageGroupBy::Day, "day"),
        "api_key" => (UsageGroupBy::ApiKey, "api_key"),
        "workspace" => (UsageGroupBy::Workspace, "workspace"),
        _ => {
            return Err(ApiError::unprocessable(
                "invalid_request",
                "group_by must be model, day, api_key or workspace",
            )
            .with_param("group_by"))
        }
    };
    let groups = state
        .store
        .usage_summary(org, &from.to_string(), &to.to_string(), group_by)
        .await?;
    let mut totals = (0u64, 0u64, 0u64, 0u64, 0i64);
    let data: Vec<Value> = groups
        .iter()
        .map(|g| {
            totals.0 += g.requests;
            totals.1 += g.errors;
            totals.2 += g.prompt_tokens;
            totals.3 += g.completion_tokens;
            totals.4 += g.cost_millikobo;
            let mut row = json!({
                name: if g.key.is_empty() { Value::Null } else { Value::String(g.key.clone()) },
                "requests": g.requests,
                "errors": g.errors,
                "prompt_tokens": g.prompt_tokens,
                "completion_tokens": g.completion_tokens,
                "total_tokens": g.prompt_tokens + g.completion_tokens,
                "avg_latency_ms": g.latency_ms_sum.checked_div(g.requests).unwrap_or(0),
            });
            if let (Some(o), Value::Object(m)) = (row.as_object_mut(), money(g.cost_millikobo)) {
                o.extend(m);
            }
            row
        })
        .collect();
    let mut total = json!({"requests": totals.0, "errors": totals.1, "prompt_tokens": totals.2, "completion_tokens": totals.3, "total_tokens": totals.2 + totals.3});
    if let (Some(o), Value::Object(m)) = (total.as_object_mut(), money(totals.4)) {
        o.extend(m);
    }
    Ok(Json(
        json!({"from": from.to_string(), "to": to.to_string(), "timezone": "Africa/Lagos", "group_by": name, "data": data, "totals": total}),
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct RecordsQuery {
    /// A Lagos day `YYYY-MM-DD` (its start) or an RFC 3339 instant; default 30 days ago.
    pub from: Option<String>,
    /// Exclusive end, same forms; a day means the end of that day. Default now.
    pub to: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 1000, default 100.
    pub limit: Option<u32>,
}

fn instant(raw: &str, param: &str, end_of_day: bool) -> ApiResult<DateTime<Utc>> {
    if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let d = if end_of_day {
            d.succ_opt().unwrap_or(d)
        } else {
            d
        };
        return Ok(lagos_midnight_utc(d));
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::unprocessable(
                "invalid_request",
                format!("`{param}` must be YYYY-MM-DD or an RFC 3339 instant"),
            )
            .with_param(param)
        })
}

fn record_json(r: &UsageRecord) -> Value {
    let mut v = json!({
        "id": r.id, "created_at": rfc3339(r.created_at), "workspace_id": r.workspace_id.to_string(),
        "api_key_id": r.api_key_id.map(|k| k.to_string()), "endpoint": r.endpoint, "model": r.model, "upstream": r.upstream,
        "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
        "upstream_cost_micro_usd": r.upstream_cost_micro_usd, "latency_ms": r.latency_ms, "status": r.status,
        "error_code": r.error_code, "streamed": r.streamed, "lagos_day": r.lagos_day,
    });
    if let (Some(o), Value::Object(m)) = (v.as_object_mut(), money(r.cost_millikobo)) {
        o.extend(m);
    }
    v
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[derive(Serialize)]
struct Page {
    data: Vec<Value>,
    next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/usage/records", tag = "usage", params(RecordsQuery),
    responses((status = 200, description = "records newest first; `Accept: text/csv` for CSV")), security(("session" = [])))]
pub async fn records(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    QueryParams(q): QueryParams<RecordsQuery>,
) -> ApiResult<Response> {
    let org = caller.org()?;
    caller.authorize(&state, org, Permission::UsageRead).await?;
    let now = state.clock.now();
    let from = match &q.from {
        Some(f) => instant(f, "from", false)?,
        None => now - chrono::Duration::days(30),
    };
    let to = match &q.to {
        Some(t) => instant(t, "to", true)?,
        None => now + chrono::Duration::seconds(1),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(
            ApiError::unprocessable("invalid_request", "limit must be 1 to 1000")
                .with_param("limit"),
        );
    }
    let before = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => {
            let bad = || {
                ApiError::unprocessable("invalid_cursor", "the cursor is not valid")
                    .with_param("cursor")
            };
            let (at, id) = c.split_once('_').ok_or_else(bad)?;
            Some((at.parse::<i64>().map_err(|_| bad())?, id.to_string()))
        }
    };
    let rows = state
        .store
        .usage_records(
            org,
            from.timestamp_millis(),
            to.timestamp_millis(),
            before,
            limit,
        )
        .await?;
    let next_cursor = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| format!("{}_{}", r.created_at, r.id)))
        .flatten();
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/csv"));
    if wants_csv {
        let mut out = String::from("id,created_at,workspace_id,api_key_id,endpoint,model,upstream,prompt_tokens,completion_tokens,cost_millikobo,cost_kobo,upstream_cost_micro_usd,latency_ms,status,error_code\n");
        for r in &rows {
            let cols = [
                r.id.clone(),
                rfc3339(r.created_at),
                r.workspace_id.to_string(),
                r.api_key_id.map(|k| k.to_string()).unwrap_or_default(),
                r.endpoint.clone(),
                r.model.clone(),
                r.upstream.clone(),
                r.prompt_tokens.to_string(),
                r.completion_tokens.to_string(),
                r.cost_millikobo.to_string(),
                Millikobo(r.cost_millikobo).to_kobo_half_up().0.to_string(),
                r.upstream_cost_micro_usd.to_string(),
                r.latency_ms.to_string(),
                r.status.to_string(),
                r.error_code.clone().unwrap_or_default(),
            ];
            out.push_str(
                &cols
                    .iter()
                    .map(|c| csv_field(c))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push('\n');
        }
        let mut res = out.into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        if let Some(c) = next_cursor.and_then(|c| HeaderValue::from_str(&c).ok()) {
            res.headers_mut().insert("x-next-cursor", c);
        }
        return Ok(res);
    }
    Ok(Json(Page {
        data: rows.iter().map(record_json).collect(),
        next_cursor,
    })
    .into_response())
}

fn quota(current: u64, limit: Option<u64>, start: &str, end: &str) -> Value {
    json!({
        "current_usage": current,
        "hard_limit": limit.map_or(json!("unlimited"), |l| json!(l)),
        "soft_limit": limit.map(|l| l * 8 / 10),
        "remaining": limit.map(|l| l.saturating_sub(current)),
        "period_start": start,
        "period_end": end,
    })
}

#[utoipa::path(get, path = "/api/v1/quotas", tag = "usage", responses((status = 200, description = "each quota with current usage and limits")), security(("session" = [])))]
pub async fn quotas(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let org = caller.org()?;
    caller.authorize(&state, org, Permission::UsageRead).await?;
    let tenant = state
        .tenants
        .get(org)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    let now = state.clock.now();
    let period = quota_period(&tenant, now);
    let (start, last) = (
        period.start_date().to_string(),
        period.last_day().to_string(),
    );
    let (live_tokens, live_calls) = state.admission.counters(&tenant, now).await;
    let (db_tokens, db_calls) = state.store.billed_totals(org, &start, &last).await?;
    let tokens = live_tokens.unwrap_or(db_tokens);
    let calls = live_calls.unwrap_or(db_calls);
    let keys = {
        let mut n = 0u64;
        for w in state.store.workspaces(org).await? {
            n += state
                .store
                .keys_of_workspace(org, w.id)
                .await?
                .iter()
                .filter(|k| {
                    k.revoked_at.is_none()
                        && k.expires_at.is_none_or(|e| e > now.timestamp_millis())
                })
                .count() as u64;
        }
        n
    };
    let members = state.store.members(org).await?.len() as u64
        + state.store.invitations(org).await?.len() as u64;
    let workspaces = state.store.workspaces(org).await?.len() as u64;
    let plan = &tenant.plan;
    let warnings: Vec<Value> = state
        .store
        .notifications(org, "quota.warning")
        .await?
        .into_iter()
        .filter_map(|n| {
            serde_json::from_str::<Value>(&n.payload).ok().map(|mut p| {
                p["created_at"] = json!(rfc3339(n.created_at));
                p
            })
        })
        .filter(|p| p["period_start"] == start.as_str())
        .collect();
    let archived: Vec<Value> = state
        .store
        .archived_periods(org)
        .await?
        .into_iter()
        .map(|p| json!(p))
        .collect();
    Ok(Json(json!({
        "plan": plan.id,
        "period_start": start,
        "period_end": period.end_date().to_string(),
        "timezone": "Africa/Lagos",
        "quotas": {
            "monthly_tokens": quota(tokens, tenant.limits.monthly_tokens, &start, &last),
            "monthly_api_calls": quota(calls, tenant.limits.monthly_api_calls, &start, &last),
            "api_keys": quota(keys, plan.api_keys, &start, &last),
            "members": quota(members, plan.members, &start, &last),
            "workspaces": quota(workspaces, plan.workspaces, &start, &last),
        },
        "warnings": warnings,
        "archived_periods": archived,
    })))
}
