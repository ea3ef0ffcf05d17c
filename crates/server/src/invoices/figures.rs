//! What an organization owes for a Lagos month: the lines of its invoice.
//!
//! - Plan payments (`subscription`, `renewal`, `upgrade`) that succeeded inside the
//!   month are lines at the amount paid, and their sum is `amount_paid`.
//! - An organization on a paid plan with no live subscription (a plan the operator
//!   granted: a contract) is billed the plan's monthly price, in arrears.
//! - Overage: billed tokens of the month beyond the included tokens of the plan in
//!   force at the end of the month (the plan of the month's last plan payment, else
//!   the organization's plan) × its overage price; plans "by contract" (no overage
//!   price) have no overage line.

use kobo_domain::calendar::Period;
use kobo_domain::invoice::{overage, InvoiceLine, LineKind};
use kobo_domain::money::{format_naira, format_token_count, Kobo, MoneyError};
use kobo_domain::plan::Plan;
use kobo_store::{OrgRecord, PaymentRecord, SubscriptionRecord};

/// The lines of one organization's month, before tax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    pub lines: Vec<InvoiceLine>,
    pub amount_paid: Kobo,
    /// The plan whose allowance and terms apply.
    pub plan_id: String,
    pub terms_days: u32,
}

pub struct Inputs<'a> {
    pub org: &'a OrgRecord,
    pub plans: &'a [Plan],
    pub payments: &'a [PaymentRecord],
    pub subscription: Option<&'a SubscriptionRecord>,
    pub tokens_used: u64,
    pub period: Period,
}

fn plan_name(plans: &[Plan], id: &str) -> String {
    plans
        .iter()
        .find(|p| p.id == id)
        .map_or_else(|| id.to_string(), |p| p.name.clone())
}

fn lagos_day(ms: i64) -> String {
    kobo_domain::calendar::lagos_date(kobo_domain::clock::from_ms(ms))
        .format("%-d %b %Y")
        .to_string()
}

pub fn compose(i: &Inputs<'_>) -> Result<Figures, MoneyError> {
    let (start, end) = (
        i.period.start.timestamp_millis(),
        i.period.end.timestamp_millis(),
    );
    let mut paid: Vec<&PaymentRecord> = i
        .payments
        .iter()
        .filter(|p| {
            p.status == "success"
                && matches!(p.purpose.as_str(), "subscription" | "renewal" | "upgrade")
                && p.settled_at.is_some_and(|at| start <= at && at < end)
        })
        .collect();
    paid.sort_by_key(|p| (p.settled_at, p.id.clone()));

    let mut lines = Vec::new();
    let mut amount_paid = Kobo::ZERO;
    for p in &paid {
        let plan = p.plan_id.clone().unwrap_or_default();
        let name = plan_name(i.plans, &plan);
        let day = lagos_day(p.settled_at.unwrap_or(start));
        let (kind, description) = match p.purpose.as_str() {
            "upgrade" => (
                LineKind::Upgrade,
                format!("Upgrade to {name}, prorated for the rest of the cycle (paid {day})"),
            ),
            "renewal" => (LineKind::Plan, format!("{name} plan, renewal (paid {day})")),
            _ => (LineKind::Plan, format!("{name} plan (paid {day})")),
        };
        lines.push(InvoiceLine {
            kind,
            description,
            quantity: None,
            unit_price_kobo: None,
            amount_kobo: Kobo(p.amount_kobo),
        });
        amount_paid = amount_paid
            .checked_add(Kobo(p.amount_kobo))
            .ok_or(MoneyError::Overflow)?;
    }

    let plan_id = paid
        .iter()
        .rev()
        .find_map(|p| p.plan_id.clone())
        .or_else(|| {
            i.subscription
                .filter(|s| live(s))
                .map(|s| s.plan_id.clone())
        })
        .unwrap_or_else(|| i.org.plan_id.clone());
    let plan = i.plans.iter().find(|p| p.id == plan_id);

    let subscribed = i.subscription.is_some_and(live);
    if let (true, false, Some(plan)) = (paid.is_empty(), subscribed, plan) {
        if plan.price_kobo > 0 {
            let month = kobo_domain::calendar::lagos_date(i.period.start).format("%B %Y");
            lines.push(InvoiceLine {
                kind: LineKind::Plan,
                description: format!("{} plan, {month}", plan.name),
                quantity: None,
                unit_price_kobo: None,
                amount_kobo: Kobo(plan.price_kobo),
            });
        }
    }

    if let Some(plan) = plan {
        if let Some(rate) = plan.overage_per_1k_kobo {
            let o = overage(i.tokens_used, plan.included_tokens, rate)?;
            if o.amount.as_i64() > 0 {
                lines.push(InvoiceLine {
                    kind: LineKind::Overage,
                    description: format!(
                        "Usage beyond the {} tokens included: {} tokens at {} per 1,000",
                        format_token_count(plan.included_tokens),
                        kobo_domain::money::group_thousands(o.billable_tokens),
                        format_naira(Kobo(rate)),
                    ),
                    quantity: Some(o.billable_tokens),
                    unit_price_kobo: Some(rate),
                    amount_kobo: o.amount,
                });
            }
        }
    }
    Ok(Figures {
        lines,
        amount_paid,
        terms_days: plan.map_or(30, |p| p.invoice_terms_days),
        plan_id,
    })
}

/// A subscription that bills through its own payments.
fn live(s: &SubscriptionRecord) -> bool {
    matches!(s.status.as_str(), "active" | "past_due" | "suspended")
}
