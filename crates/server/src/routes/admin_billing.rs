//! `/api/v1/admin/plans`, `/api/v1/admin/payment-events`, refunds: the operator's
//! billing routes. Tenants get 403.

use crate::billing::providers::payment_error;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, JsonBody, QueryParams};
use crate::routes::admin::Cursor;
use crate::routes::orgs::rfc3339;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use kobo_domain::money::Kobo;
use kobo_domain::plan::Plan;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct AdminPlanList {
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Plan>,
}

fn check_plan(p: &Plan) -> ApiResult<()> {
    p.check().map_err(|e| {
        ApiError::unprocessable("invalid_plan", e.message.to_string()).with_param(e.field)
    })
}

#[utoipa::path(get, path = "/api/v1/admin/plans", tag = "operator", responses((status = 200, body = AdminPlanList)), security(("session" = [])))]
pub async fn list_plans(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<AdminPlanList>> {
    caller.require_operator()?;
    let mut data = state.store.plans().await?;
    data.sort_by_key(|p| (p.price_kobo, p.id.clone()));
    Ok(Json(AdminPlanList { data }))
}

#[utoipa::path(post, path = "/api/v1/admin/plans", tag = "operator", request_body(content = Object, description = "a whole plan"), responses((status = 201), (status = 409)), security(("session" = [])))]
pub async fn create_plan(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(plan): JsonBody<Plan>,
) -> ApiResult<(StatusCode, Json<Plan>)> {
    caller.require_operator()?;
    check_plan(&plan)?;
    if state.store.plan(&plan.id).await?.is_some() {
        return Err(ApiError::conflict(
            "already_exists",
            format!("the plan `{}` exists; use PUT to change it", plan.id),
        ));
    }
    state.store.upsert_plan(&plan, state.clock.now_ms()).await?;
    tracing::info!(plan = %plan.id, "The operator added a plan.");
    Ok((StatusCode::CREATED, Json(plan)))
}

/// Changes a plan for new checkouts, renewals and limits. Subscriptions keep the price
/// they were sold at until they renew; issued invoices never change.
#[utoipa::path(put, path = "/api/v1/admin/plans/{id}", tag = "operator", request_body(content = Object, description = "a whole plan"), responses((status = 200), (status = 404)), security(("session" = [])))]
pub async fn update_plan(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(mut body): JsonBody<serde_json::Map<String, Value>>,
) -> ApiResult<Json<Plan>> {
    caller.require_operator()?;
    if state.store.plan(&id).await?.is_none() {
        return Err(ApiError::not_found("plan"));
    }
    body.insert("id".into(), json!(id));
    let plan: Plan = serde_json::from_value(Value::Object(body)).map_err(|e| {
        ApiError::unprocessable("invalid_plan", format!("the plan has a wrong field: {e}"))
    })?;
    check_plan(&plan)?;
    state.store.upsert_plan(&plan, state.clock.now_ms()).await?;
    tracing::info!(plan = %plan.id, "The operator changed a plan.");
    Ok(Json(plan))
}

#[derive(Serialize, ToSchema)]
pub struct EventView {
    pub id: String,
    pub provider: String,
    pub event: String,
    pub identity: String,
    pub reference: Option<String>,
    /// `applied`, `ignored`, `flagged`, `unknown_event`, `invalid`, `failed_verification`.
    pub outcome: String,
    pub detail: Option<String>,
    pub received_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct EventPage {
    pub data: Vec<EventView>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/admin/payment-events", tag = "operator", params(Cursor), responses((status = 200, body = EventPage)), security(("session" = [])))]
pub async fn payment_events(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(q): QueryParams<Cursor>,
) -> ApiResult<Json<EventPage>> {
    caller.require_operator()?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let before = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => {
            let parsed = c
                .split_once('.')
                .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_string())));
            Some(parsed.ok_or_else(|| {
                ApiError::unprocessable("invalid_cursor", "the cursor is not valid")
                    .with_param("cursor")
            })?)
        }
        None => None,
    };
    let rows = state.store.payment_events(before, limit).await?;
    let next_cursor = (rows.len() == limit as usize)
        .then(|| rows.last().map(|e| format!("{}.{}", e.received_at, e.id)))
        .flatten();
    Ok(Json(EventPage {
        data: rows
            .into_iter()
            .map(|e| EventView {
                id: e.id,
                provider: e.provider,
                event: e.event,
                identity: e.identity,
                reference: e.reference,
                outcome: e.outcome,
                detail: e.detail,
                received_at: rfc3339(e.received_at),
            })
            .collect(),
        next_cursor,
    }))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct RefundBody {
    /// Kobo to refund; the whole payment when absent.
    pub amount_kobo: Option<i64>,
}

/// Asks Paystack to refund a payment; the `refund.processed` webhook marks it refunded.
#[utoipa::path(post, path = "/api/v1/admin/payments/{reference}/refund", tag = "operator", request_body = RefundBody, responses((status = 202), (status = 404), (status = 409)), security(("session" = [])))]
pub async fn refund(
    State(state): State<AppState>,
    caller: Caller,
    Path(reference): Path<String>,
    JsonBody(body): JsonBody<RefundBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require_operator()?;
    let p = state
        .store
        .payment_by_reference(&reference)
        .await?
        .ok_or_else(|| ApiError::not_found("payment"))?;
    if p.status != "success" && p.status != "flagged" {
        return Err(ApiError::conflict(
            "not_refundable",
            format!("a payment that is `{}` cannot be refunded", p.status),
        ));
    }
    if p.provider != "paystack" {
        return Err(ApiError::unprocessable("not_refundable", "refunds are supported for Paystack payments; refund Flutterwave payments from its dashboard"));
    }
    let paid = p.paid_amount_kobo.unwrap_or(p.amount_kobo);
    if body.amount_kobo.is_some_and(|a| a <= 0 || a > paid) {
        return Err(ApiError::unprocessable(
            "invalid_request",
            format!("amount_kobo must be 1 to {paid}"),
        )
        .with_param("amount_kobo"));
    }
    let refund = state
        .payments
        .paystack()?
        .refund(&reference, body.amount_kobo.map(Kobo))
        .await
        .map_err(payment_error)?;
    tracing::info!(org_id = %p.org_id, reference = %reference, "The operator asked for a refund.");
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({"reference": reference, "refund_status": refund.status.as_str(), "amount_kobo": refund.amount.0}),
        ),
    ))
}
