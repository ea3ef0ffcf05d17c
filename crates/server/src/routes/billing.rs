//! `/api/v1/billing/*`: plan cards, subscriptions, plan changes, the payer's return.

use crate::billing::periods::cycle_price;
use crate::billing::settle::{settle, Verified};
use crate::billing::subscriptions::{self, Applied, Change};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, JsonBody, QueryParams};
use crate::routes::orgs::rfc3339;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use kobo_domain::calendar::{lagos_date, BillingCycle};
use kobo_domain::clock::from_ms;
use kobo_domain::money::{format_naira_whole, format_token_count, Kobo};
use kobo_domain::plan::Plan;
use kobo_domain::rbac::Permission;
use kobo_payments::paystack::TransactionStatus;
use kobo_store::SubscriptionRecord;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct PlanCard {
    pub id: String,
    pub name: String,
    pub price_kobo: i64,
    /// `"₦45,000"`, or `"Free"`.
    pub price_display: String,
    pub period: &'static str,
    /// Annual price (12 months less 20%), in kobo.
    pub annual_price_kobo: i64,
    pub annual_price_display: String,
    pub included_tokens: u64,
    /// `"10M"`.
    pub included_tokens_display: String,
    pub monthly_api_calls: Option<u64>,
    pub overage_per_1k_kobo: Option<i64>,
    pub requests_per_minute: u64,
    pub api_keys: Option<u64>,
    pub members: Option<u64>,
    pub workspaces: Option<u64>,
    pub models: Vec<String>,
    pub features: Vec<String>,
}

fn price_display(kobo: Kobo) -> String {
    if kobo.0 == 0 {
        "Free".into()
    } else {
        format_naira_whole(kobo)
    }
}

pub fn card(p: &Plan) -> PlanCard {
    let annual = cycle_price(Kobo(p.price_kobo), BillingCycle::Annually);
    PlanCard {
        id: p.id.clone(),
        name: p.name.clone(),
        price_kobo: p.price_kobo,
        price_display: price_display(Kobo(p.price_kobo)),
        period: "month",
        annual_price_kobo: annual.0,
        annual_price_display: price_display(annual),
        included_tokens: p.included_tokens,
        included_tokens_display: format_token_count(p.included_tokens),
        monthly_api_calls: p.monthly_api_calls,
        overage_per_1k_kobo: p.overage_per_1k_kobo,
        requests_per_minute: p.requests_per_minute,
        api_keys: p.api_keys,
        members: p.members,
        workspaces: p.workspaces,
        models: p.models.clone(),
        features: p.features.clone(),
    }
}

#[derive(Serialize, ToSchema)]
pub struct PlanList {
    pub data: Vec<PlanCard>,
}

/// Public: no credentials needed.
#[utoipa::path(get, path = "/api/v1/billing/plans", tag = "billing", responses((status = 200, body = PlanList)))]
pub async fn plans(State(state): State<AppState>) -> ApiResult<Json<PlanList>> {
    let mut plans = state.store.plans().await?;
    plans.sort_by_key(|p| (p.price_kobo, p.id.clone()));
    Ok(Json(PlanList {
        data: plans.iter().map(card).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct Subscribe {
    pub plan: String,
    /// `paystack_card`, `paystack_transfer`, `flutterwave_card`, `flutterwave_transfer`, `flutterwave_ussd`.
    pub payment_method: String,
    pub billing_email: String,
    /// `monthly` (default), `quarterly` or `annually` (20% off).
    pub billing_cycle: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SubscribeAnswer {
    pub subscription_id: String,
    pub plan: String,
    pub status: String,
    pub billing_cycle: String,
    /// The Lagos date the next charge falls due once paid.
    pub next_billing_date: String,
    pub amount_kobo: i64,
    /// Whole naira when the amount has no kobo, else a decimal string.
    #[schema(value_type = Object)]
    pub amount_ngn: Value,
    pub amount_display: String,
    pub payment_url: String,
    pub reference: String,
}

/// Naira as a JSON number when whole (`45000`), else an exact decimal string.
fn naira_value(k: Kobo) -> Value {
    match k.whole_naira() {
        Some(n) => json!(n),
        None => json!(k.to_naira_string()),
    }
}

async fn billing_org(
    state: &AppState,
    caller: &Caller,
    perm: Permission,
) -> ApiResult<kobo_domain::ids::OrgId> {
    let org = caller.org()?;
    caller.authorize(state, org, perm).await?;
    Ok(org)
}

#[utoipa::path(post, path = "/api/v1/billing/subscriptions", tag = "billing", request_body = Subscribe, responses((status = 201, body = SubscribeAnswer)), security(("session" = [])))]
pub async fn subscribe(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<Subscribe>,
) -> ApiResult<(StatusCode, Json<SubscribeAnswer>)> {
    let org = billing_org(&state, &caller, Permission::BillingManage).await?;
    let started = subscriptions::start(
        &state,
        org,
        req.plan.trim(),
        req.payment_method.trim(),
        req.billing_email.trim(),
        req.billing_cycle.as_deref(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(SubscribeAnswer {
            subscription_id: started.sub.id.clone(),
            plan: started.sub.plan_id.clone(),
            status: started.sub.status.clone(),
            billing_cycle: started.sub.billing_cycle.clone(),
            next_billing_date: started.next_billing_date,
            amount_kobo: started.amount.0,
            amount_ngn: naira_value(started.amount),
            amount_display: kobo_domain::money::format_naira(started.amount),
            payment_url: started.payment_url,
            reference: started.reference,
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionView {
    pub id: String,
    pub plan: String,
    pub status: String,
    pub billing_cycle: String,
    pub anchor_day: u32,
    pub price_kobo: i64,
    pub price_display: String,
    pub payment_method: String,
    pub billing_email: String,
    pub current_period_start: Option<String>,
    pub current_period_end: Option<String>,
    /// The Lagos date of the next charge.
    pub next_billing_date: Option<String>,
    pub cancel_at_period_end: bool,
    /// A downgrade that takes effect at the period end.
    pub pending_plan: Option<String>,
    pub has_saved_card: bool,
    pub renewal_attempts: u32,
    pub past_due_since: Option<String>,
    pub created_at: String,
    pub cancelled_at: Option<String>,
}

pub fn sub_view(s: &SubscriptionRecord) -> SubscriptionView {
    SubscriptionView {
        id: s.id.clone(),
        plan: s.plan_id.clone(),
        status: s.status.clone(),
        billing_cycle: s.billing_cycle.clone(),
        anchor_day: s.anchor_day,
        price_kobo: s.price_kobo,
        price_display: kobo_domain::money::format_naira(Kobo(s.price_kobo)),
        payment_method: s.payment_method.clone(),
        billing_email: s.billing_email.clone(),
        current_period_start: s.period_start.map(rfc3339),
        current_period_end: s.period_end.map(rfc3339),
        next_billing_date: s
            .period_end
            .filter(|_| !s.cancel_at_period_end && s.status != "cancelled")
            .map(|e| lagos_date(from_ms(e)).to_string()),
        cancel_at_period_end: s.cancel_at_period_end,
        pending_plan: s.pending_plan_id.clone(),
        has_saved_card: s.authorization_code.is_some(),
        renewal_attempts: s.renewal_attempts,
        past_due_since: s.past_due_since.map(rfc3339),
        created_at: rfc3339(s.created_at),
        cancelled_at: s.cancelled_at.map(rfc3339),
    }
}

#[utoipa::path(get, path = "/api/v1/billing/subscriptions/current", tag = "billing", responses((status = 200, body = SubscriptionView)), security(("session" = [])))]
pub async fn current(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<SubscriptionView>> {
    let org = billing_org(&state, &caller, Permission::BillingRead).await?;
    let sub = state
        .store
        .current_subscription(org)
        .await?
        .ok_or_else(|| ApiError::not_found("subscription"))?;
    Ok(Json(sub_view(&sub)))
}

async fn own_subscription(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<SubscriptionRecord> {
    let org = billing_org(state, caller, Permission::BillingManage).await?;
    state
        .store
        .subscription(org, id)
        .await?
        .ok_or_else(|| ApiError::not_found("subscription"))
}

#[derive(Deserialize, ToSchema)]
pub struct ChangePlan {
    pub plan: String,
    /// Only show the lines and the amount; change nothing.
    #[serde(default)]
    pub preview: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ChangeLine {
    pub description: String,
    pub amount_kobo: i64,
    pub amount_display: String,
}

#[derive(Serialize, ToSchema)]
pub struct ChangeAnswer {
    pub subscription_id: String,
    pub from_plan: String,
    pub to_plan: String,
    /// `upgrade` (now, prorated) or `downgrade` (at the period end).
    pub kind: &'static str,
    pub preview: bool,
    pub effective_at: String,
    pub lines: Vec<ChangeLine>,
    /// Lagos days in the period, and from the change (included) to its end.
    pub days_in_period: Option<i64>,
    pub days_remaining: Option<i64>,
    pub amount_due_kobo: i64,
    pub amount_due_display: String,
    /// The price of each later cycle.
    pub new_cycle_price_kobo: i64,
    /// `preview`, `changed`, `payment_required` or `scheduled`.
    pub status: &'static str,
    pub payment_url: Option<String>,
    pub reference: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/billing/subscriptions/{id}/change-plan", tag = "billing", request_body = ChangePlan, responses((status = 200, body = ChangeAnswer)), security(("session" = [])))]
pub async fn change_plan(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ChangePlan>,
) -> ApiResult<Json<ChangeAnswer>> {
    let sub = own_subscription(&state, &caller, &id).await?;
    let (plan, change) = subscriptions::plan_change(&state, &sub, req.plan.trim()).await?;
    let mut answer = change_answer(&sub, &plan, &change, req.preview);
    if !req.preview {
        match subscriptions::apply_change(&state, &sub, &plan, &change).await? {
            Applied::Upgraded { .. } => answer.status = "changed",
            Applied::PaymentRequired { url, reference, .. } => {
                answer.status = "payment_required";
                answer.payment_url = Some(url);
                answer.reference = Some(reference);
            }
            Applied::Scheduled => answer.status = "scheduled",
        }
    }
    Ok(Json(answer))
}

fn change_answer(
    sub: &SubscriptionRecord,
    plan: &Plan,
    change: &Change,
    preview: bool,
) -> ChangeAnswer {
    let (lines, due) = match &change.proration {
        Some(p) => (
            p.lines
                .iter()
                .map(|l| ChangeLine {
                    description: l.description.clone(),
                    amount_kobo: l.amount.0,
                    amount_display: kobo_domain::money::format_naira(l.amount),
                })
                .collect(),
            p.amount_due,
        ),
        None => (Vec::new(), Kobo(0)),
    };
    ChangeAnswer {
        subscription_id: sub.id.clone(),
        from_plan: sub.plan_id.clone(),
        to_plan: plan.id.clone(),
        kind: change.kind,
        preview,
        effective_at: rfc3339(change.effective_at.timestamp_millis()),
        lines,
        days_in_period: change.proration.as_ref().map(|p| p.days_in_period),
        days_remaining: change.proration.as_ref().map(|p| p.days_remaining),
        amount_due_kobo: due.0,
        amount_due_display: kobo_domain::money::format_naira(due),
        new_cycle_price_kobo: change.new_price.0,
        status: "preview",
        payment_url: None,
        reference: None,
    }
}

#[derive(Deserialize, ToSchema, Default)]
pub struct Cancel {
    /// Cancel now (back to the free plan at once) instead of at the period end.
    #[serde(default)]
    pub immediately: bool,
}

#[utoipa::path(post, path = "/api/v1/billing/subscriptions/{id}/cancel", tag = "billing", request_body = Cancel, responses((status = 200, body = SubscriptionView)), security(("session" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<SubscriptionView>> {
    // The body is optional: `{}` or nothing means "at period end".
    let req: Cancel = if body.iter().all(u8::is_ascii_whitespace) {
        Cancel::default()
    } else {
        crate::extract::parse_json(&body)?
    };
    let sub = own_subscription(&state, &caller, &id).await?;
    let s = subscriptions::cancel(&state, &sub, req.immediately).await?;
    Ok(Json(sub_view(&s)))
}

#[derive(Deserialize, IntoParams)]
pub struct CallbackQuery {
    /// Paystack: `reference` (and `trxref`, the same).
    pub reference: Option<String>,
    pub trxref: Option<String>,
    /// Flutterwave: `tx_ref` and `transaction_id`.
    pub tx_ref: Option<String>,
    pub transaction_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CallbackAnswer {
    pub reference: String,
    /// `success`, `pending`, `failed`, `flagged`, `refunded`.
    pub payment_status: String,
    pub subscription_status: Option<String>,
    pub plan: Option<String>,
}

/// Where the provider sends the payer back. Verifies server-side; the webhook may have
/// settled the payment already (then this is a no-op), or this settles it first.
#[utoipa::path(get, path = "/api/v1/billing/callback", tag = "billing", params(CallbackQuery), responses((status = 200, body = CallbackAnswer)))]
pub async fn callback(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<CallbackQuery>,
) -> ApiResult<Json<CallbackAnswer>> {
    let reference = q
        .reference
        .or(q.trxref)
        .or(q.tx_ref)
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty() && r.len() <= 200)
        .ok_or_else(|| {
            ApiError::unprocessable("invalid_request", "the reference is missing")
                .with_param("reference")
        })?;
    let payment = state
        .store
        .payment_by_reference(&reference)
        .await?
        .ok_or_else(|| ApiError::not_found("payment"))?;
    if payment.status == "pending" {
        let verified = match payment.provider.as_str() {
            "paystack" => {
                let tx = state
                    .payments
                    .paystack()?
                    .verify(&reference)
                    .await
                    .map_err(crate::billing::providers::payment_error)?;
                (tx.status != TransactionStatus::Pending)
                    .then_some(Verified::Paystack(Box::new(tx)))
            }
            _ => {
                let id = q
                    .transaction_id
                    .as_deref()
                    .and_then(|t| t.trim().parse::<u64>().ok())
                    .ok_or_else(|| {
                        ApiError::unprocessable("invalid_request", "transaction_id is missing")
                            .with_param("transaction_id")
                    })?;
                let tx = state
                    .payments
                    .flutterwave()?
                    .verify(id)
                    .await
                    .map_err(crate::billing::providers::payment_error)?;
                if tx.tx_ref != reference {
                    return Err(ApiError::unprocessable(
                        "reference_mismatch",
                        "the transaction does not belong to this reference",
                    ));
                }
                Some(Verified::Flutterwave(tx))
            }
        };
        if let Some(v) = verified {
            settle(&state, None, &reference, v).await?;
        }
    }
    let payment = state
        .store
        .payment_by_reference(&reference)
        .await?
        .ok_or_else(|| ApiError::not_found("payment"))?;
    let sub = match &payment.subscription_id {
        Some(id) => state.store.subscription(payment.org_id, id).await?,
        None => None,
    };
    Ok(Json(CallbackAnswer {
        reference,
        payment_status: payment.status,
        subscription_status: sub.as_ref().map(|s| s.status.clone()),
        plan: sub.map(|s| s.plan_id),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct PaymentView {
    pub id: String,
    pub reference: String,
    pub provider: String,
    pub purpose: String,
    pub plan: Option<String>,
    pub amount_kobo: i64,
    pub amount_display: String,
    pub paid_amount_kobo: Option<i64>,
    pub status: String,
    pub created_at: String,
    pub settled_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PaymentList {
    pub data: Vec<PaymentView>,
}

#[utoipa::path(get, path = "/api/v1/billing/payments", tag = "billing", responses((status = 200, body = PaymentList)), security(("session" = [])))]
pub async fn payments(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<PaymentList>> {
    let org = billing_org(&state, &caller, Permission::BillingRead).await?;
    let mut list = state.store.payments_of(org).await?;
    list.reverse();
    Ok(Json(PaymentList {
        data: list
            .into_iter()
            .map(|p| PaymentView {
                amount_display: kobo_domain::money::format_naira(Kobo(p.amount_kobo)),
                id: p.id,
                reference: p.reference,
                provider: p.provider,
                purpose: p.purpose,
                plan: p.plan_id,
                amount_kobo: p.amount_kobo,
                paid_amount_kobo: p.paid_amount_kobo,
                status: p.status,
                created_at: rfc3339(p.created_at),
                settled_at: p.settled_at.map(rfc3339),
            })
            .collect(),
    }))
}
