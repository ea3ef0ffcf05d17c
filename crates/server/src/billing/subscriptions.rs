//! Starting, changing and cancelling subscriptions.

use super::periods::{cycle_of, cycle_price, first_period, parse_cycle};
use super::providers::{payment_error, Method};
use super::settle::{settle, Verified};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use kobo_domain::calendar::{lagos_date, Period};
use kobo_domain::clock::from_ms;
use kobo_domain::ids::OrgId;
use kobo_domain::money::Kobo;
use kobo_domain::plan::Plan;
use kobo_domain::proration::{prorate_change, Proration};
use kobo_payments::flutterwave::{PaymentMethod, PaymentRequest};
use kobo_payments::paystack::{ChargeAuthorization, InitializeRequest};
use kobo_store::{PaymentRecord, SubscriptionRecord};
use serde_json::json;

pub struct Started {
    pub sub: SubscriptionRecord,
    pub amount: Kobo,
    pub payment_url: String,
    pub reference: String,
    pub next_billing_date: String,
}

pub fn new_reference(kind: &str) -> String {
    format!("kobo-{kind}-{}", uuid::Uuid::now_v7().simple())
}

async fn paid_plan(state: &AppState, id: &str) -> ApiResult<Plan> {
    let plan = state.store.plan(id).await?.ok_or_else(|| {
        ApiError::unprocessable("unknown_plan", format!("there is no plan `{id}`"))
            .with_param("plan")
    })?;
    Ok(plan)
}

/// Persists a pending payment, then opens a checkout at the provider; returns its URL.
pub async fn open_checkout(
    state: &AppState,
    p: &PaymentRecord,
    method: Method,
    email: &str,
    insert: bool,
) -> ApiResult<String> {
    if insert {
        state.store.create_payment(p).await?;
    }
    let callback = format!("{}/api/v1/billing/callback", state.settings.public_url);
    let meta = json!({"organization_id": p.org_id.to_string(), "subscription_id": p.subscription_id, "purpose": p.purpose});
    match method.provider() {
        "paystack" => {
            let channels = match method {
                Method::PaystackTransfer => vec!["bank_transfer".to_string()],
                _ => vec!["card".to_string()],
            };
            let res = state
                .payments
                .paystack()?
                .initialize(InitializeRequest {
                    email: email.to_string(),
                    amount: Kobo(p.amount_kobo),
                    reference: p.reference.clone(),
                    callback_url: callback,
                    metadata: meta,
                    channels: Some(channels),
                })
                .await
                .map_err(payment_error)?;
            Ok(res.authorization_url)
        }
        _ => {
            let m = match method {
                Method::FlutterwaveTransfer => PaymentMethod::BankTransfer,
                Method::FlutterwaveUssd => PaymentMethod::Ussd,
                _ => PaymentMethod::Card,
            };
            let req = PaymentRequest {
                tx_ref: p.reference.clone(),
                amount: Kobo(p.amount_kobo),
                currency: "NGN".into(),
                redirect_url: callback,
                customer_email: email.to_string(),
                method: m,
                meta,
            };
            let link = state
                .payments
                .flutterwave()?
                .initiate(req)
                .await
                .map_err(payment_error)?;
            Ok(link.link)
        }
    }
}

pub async fn start(
    state: &AppState,
    org: OrgId,
    plan_id: &str,
    method_raw: &str,
    email: &str,
    cycle_raw: Option<&str>,
) -> ApiResult<Started> {
    let method = Method::parse(method_raw).ok_or_else(|| {
        ApiError::unprocessable("invalid_request", "payment_method must be paystack_card, paystack_transfer, flutterwave_card, flutterwave_transfer or flutterwave_ussd").with_param("payment_method")
    })?;
    let cycle = parse_cycle(cycle_raw).ok_or_else(|| {
        ApiError::unprocessable(
            "invalid_request",
            "billing_cycle must be monthly, quarterly or annually",
        )
        .with_param("billing_cycle")
    })?;
    let email = kobo_domain::email::Email::parse(email).map_err(|e| {
        ApiError::unprocessable("invalid_email", e.to_string()).with_param("billing_email")
    })?;
    let plan = paid_plan(state, plan_id).await?;
    if plan.price_kobo <= 0 {
        return Err(ApiError::unprocessable(
            "invalid_plan",
            format!("the plan `{}` is free: no subscription is needed", plan.id),
        )
        .with_param("plan"));
    }
    if let Some(cur) = state.store.current_subscription(org).await? {
        if cur.status != "pending_payment" {
            return Err(ApiError::conflict(
                "subscription_exists",
                "the organization already has a subscription; use change-plan",
            ));
        }
    }
    // Check provider limits (USSD) before anything is written.
    let amount = cycle_price(Kobo(plan.price_kobo), cycle);
    if method == Method::FlutterwaveUssd {
        let probe = PaymentRequest {
            tx_ref: "probe".into(),
            amount,
            currency: "NGN".into(),
            redirect_url: String::new(),
            customer_email: email.to_string(),
            method: PaymentMethod::Ussd,
            meta: json!(null),
        };
        kobo_payments::flutterwave::FlutterwaveClient::check(&probe).map_err(payment_error)?;
    }
    let now = state.clock.now();
    let now_ms = now.timestamp_millis();
    let (_, end, anchor) = first_period(now, cycle);
    let sub = SubscriptionRecord {
        id: format!("sub_{}", uuid::Uuid::now_v7().simple()),
        org_id: org,
        plan_id: plan.id.clone(),
        status: "pending_payment".into(),
        billing_cycle: cycle.as_str().into(),
        anchor_day: anchor,
        price_kobo: amount.0,
        provider: method.provider().into(),
        payment_method: method.as_str().into(),
        billing_email: email.to_string(),
        period_start: None,
        period_end: None,
        cancel_at_period_end: false,
        pending_plan_id: None,
        authorization_code: None,
        renewal_attempts: 0,
        next_attempt_at: None,
        past_due_since: None,
        created_at: now_ms,
        updated_at: now_ms,
        cancelled_at: None,
    };
    let payment = PaymentRecord {
        id: format!("pay_{}", uuid::Uuid::now_v7().simple()),
        org_id: org,
        subscription_id: Some(sub.id.clone()),
        provider: method.provider().into(),
        reference: new_reference("sub"),
        purpose: "subscription".into(),
        plan_id: Some(plan.id.clone()),
        amount_kobo: amount.0,
        currency: "NGN".into(),
        status: "pending".into(),
        provider_txn_id: None,
        paid_amount_kobo: None,
        detail: None,
        created_at: now_ms,
        settled_at: None,
    };
    state.store.start_subscription(&sub, &payment).await?;
    let payment_url = open_checkout(state, &payment, method, email.as_str(), false).await?;
    tracing::info!(org_id = %org, subscription_id = %sub.id, plan = %plan.id, amount_kobo = amount.0, "A subscription checkout was opened.");
    Ok(Started {
        next_billing_date: lagos_date(end).to_string(),
        sub,
        amount,
        payment_url,
        reference: payment.reference,
    })
}

/// What a plan change costs now, and how it is carried out.
pub struct Change {
    pub proration: Option<Proration>,
    pub kind: &'static str,
    pub effective_at: DateTime<Utc>,
    pub new_price: Kobo,
}

pub async fn plan_change(
    state: &AppState,
    sub: &SubscriptionRecord,
    plan_id: &str,
) -> ApiResult<(Plan, Change)> {
    if sub.status != "active" {
        return Err(ApiError::conflict(
            "subscription_not_active",
            "only an active subscription can change plan",
        ));
    }
    let plan = paid_plan(state, plan_id).await?;
    if plan.id == sub.plan_id {
        return Err(ApiError::unprocessable(
            "invalid_plan",
            "the subscription is already on this plan",
        )
        .with_param("plan"));
    }
    let cycle = cycle_of(&sub.billing_cycle);
    let new_price = cycle_price(Kobo(plan.price_kobo), cycle);
    let (start, end) = (
        from_ms(sub.period_start.unwrap_or_default()),
        from_ms(sub.period_end.unwrap_or_default()),
    );
    let now = state.clock.now();
    if new_price.0 > sub.price_kobo {
        let period = Period { start, end };
        let p = prorate_change(Kobo(sub.price_kobo), new_price, &period, now)
            .map_err(|e| ApiError::unprocessable("invalid_request", e.to_string()))?;
        Ok((
            plan,
            Change {
                proration: Some(p),
                kind: "upgrade",
                effective_at: now,
                new_price,
            },
        ))
    } else {
        Ok((
            plan,
            Change {
                proration: None,
                kind: "downgrade",
                effective_at: end,
                new_price,
            },
        ))
    }
}

pub enum Applied {
    Upgraded {
        charged: Kobo,
    },
    PaymentRequired {
        url: String,
        reference: String,
        amount: Kobo,
    },
    Scheduled,
}

/// Carries out a change: an upgrade is charged at once (saved card, else a payment
/// link, and the new plan starts when it is paid); a downgrade waits for the period end.
pub async fn apply_change(
    state: &AppState,
    sub: &SubscriptionRecord,
    plan: &Plan,
    change: &Change,
) -> ApiResult<Applied> {
    let now_ms = state.clock.now_ms();
    let Some(p) = &change.proration else {
        let mut s = sub.clone();
        s.pending_plan_id = Some(plan.id.clone());
        s.updated_at = now_ms;
        state.store.save_subscription(&s).await?;
        return Ok(Applied::Scheduled);
    };
    let payment = PaymentRecord {
        id: format!("pay_{}", uuid::Uuid::now_v7().simple()),
        org_id: sub.org_id,
        subscription_id: Some(sub.id.clone()),
        provider: sub.provider.clone(),
        reference: new_reference("upg"),
        purpose: "upgrade".into(),
        plan_id: Some(plan.id.clone()),
        amount_kobo: p.amount_due.0,
        currency: "NGN".into(),
        status: "pending".into(),
        provider_txn_id: None,
        paid_amount_kobo: None,
        detail: None,
        created_at: now_ms,
        settled_at: None,
    };
    if p.amount_due.0 == 0 {
        state.store.create_payment(&payment).await?;
        settle(state, None, &payment.reference, Verified::free(&payment)).await?;
        return Ok(Applied::Upgraded { charged: Kobo(0) });
    }
    match (&sub.authorization_code, sub.provider.as_str()) {
        (Some(code), "paystack") => {
            state.store.create_payment(&payment).await?;
            let tx = state
                .payments
                .paystack()?
                .charge_authorization(ChargeAuthorization {
                    email: sub.billing_email.clone(),
                    amount: Kobo(payment.amount_kobo),
                    authorization_code: code.clone(),
                    reference: payment.reference.clone(),
                    metadata: json!({"organization_id": sub.org_id.to_string(), "subscription_id": sub.id, "purpose": "upgrade"}),
                })
                .await
                .map_err(payment_error)?;
            let outcome = settle(
                state,
                None,
                &payment.reference,
                Verified::Paystack(Box::new(tx)),
            )
            .await?;
            if outcome.paid {
                Ok(Applied::Upgraded {
                    charged: Kobo(payment.amount_kobo),
                })
            } else {
                Err(ApiError::new(
                    axum::http::StatusCode::PAYMENT_REQUIRED,
                    "payment_failed",
                    "the saved card was declined; the plan was not changed",
                ))
            }
        }
        _ => {
            let method = Method::parse(&sub.payment_method).unwrap_or(Method::PaystackCard);
            let url = open_checkout(state, &payment, method, &sub.billing_email, true).await?;
            Ok(Applied::PaymentRequired {
                url,
                reference: payment.reference,
                amount: Kobo(payment.amount_kobo),
            })
        }
    }
}

pub async fn cancel(
    state: &AppState,
    sub: &SubscriptionRecord,
    immediately: bool,
) -> ApiResult<SubscriptionRecord> {
    if sub.status == "cancelled" {
        return Err(ApiError::conflict(
            "subscription_cancelled",
            "the subscription is already cancelled",
        ));
    }
    let now_ms = state.clock.now_ms();
    let mut s = sub.clone();
    s.updated_at = now_ms;
    if immediately || sub.status == "pending_payment" {
        s.status = "cancelled".into();
        s.cancelled_at = Some(now_ms);
        s.next_attempt_at = None;
        state.store.save_subscription(&s).await?;
        state
            .store
            .set_org_status(sub.org_id, Some("free"), "active")
            .await?;
    } else {
        s.cancel_at_period_end = true;
        state.store.save_subscription(&s).await?;
    }
    state.tenants.forget(sub.org_id);
    tracing::info!(org_id = %sub.org_id, subscription_id = %sub.id, immediately, "A subscription was cancelled.");
    Ok(s)
}
