//! Invoices: the tenant's `/api/v1/billing/invoices*` (permission `billing:read`) and
//! the operator's `/api/v1/admin/…` routes (cancel, credit notes, billing run, tax
//! rates, holidays, invoice prefix). Another tenant's invoice is 404.

use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_id, Caller, JsonBody, QueryParams};
use crate::invoices::run::{render_pdf, run_period, RunReport};
use crate::routes::orgs::rfc3339;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use kobo_domain::ids::OrgId;
use kobo_domain::invoice::{
    number_year, parse_prefix, totals, BillingMonth, InvoiceLine, LineKind,
};
use kobo_domain::money::{format_naira, Kobo};
use kobo_domain::rbac::Permission;
use kobo_domain::tax::{TaxRate, BASIS_POINTS_PER_UNIT};
use kobo_store::{HolidayAmendment, InvoiceRecord, Issue};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Serialize)]
pub struct LineView {
    pub kind: LineKind,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_price_kobo: Option<i64>,
    pub amount_kobo: i64,
    pub amount_display: String,
}

#[derive(Serialize)]
pub struct TaxView {
    pub name: String,
    pub basis_points: u32,
    /// `"7.5%"`.
    pub rate_display: String,
    pub amount_kobo: i64,
    pub amount_display: String,
}

#[derive(Serialize)]
pub struct InvoiceView {
    pub id: String,
    pub number: String,
    pub kind: String,
    pub status: String,
    pub period: Option<String>,
    pub period_start: Option<String>,
    pub period_end: Option<String>,
    /// Lagos dates, `YYYY-MM-DD`.
    pub invoice_date: String,
    pub due_date: String,
    /// `"Monday 7 December 2026 (WAT)"`.
    pub due_date_display: String,
    pub currency: String,
    pub seller: Value,
    pub buyer: Value,
    pub lines: Vec<LineView>,
    pub subtotal_kobo: i64,
    pub subtotal_display: String,
    pub tax: TaxView,
    pub total_kobo: i64,
    pub total_display: String,
    pub amount_paid_kobo: i64,
    pub amount_paid_display: String,
    pub amount_due_kobo: i64,
    pub amount_due_display: String,
    pub payment_url: Option<String>,
    pub credit_for: Option<String>,
    pub reason: Option<String>,
    pub issued_at: String,
    pub paid_at: Option<String>,
    pub cancelled_at: Option<String>,
    pub cancel_reason: Option<String>,
    pub pdf_url: String,
}

fn rate_display(bp: u32) -> String {
    let whole = bp / 100;
    let frac = bp % 100;
    match frac {
        0 => format!("{whole}%"),
        f if f % 10 == 0 => format!("{whole}.{}%", f / 10),
        f => format!("{whole}.{f:02}%"),
    }
}

pub fn view(inv: InvoiceRecord) -> InvoiceView {
    let due_display = NaiveDate::parse_from_str(&inv.due_date, "%Y-%m-%d")
        .map(|d| format!("{} (WAT)", d.format("%A %-d %B %Y")))
        .unwrap_or_else(|_| inv.due_date.clone());
    InvoiceView {
        pdf_url: format!("/api/v1/billing/invoices/{}/pdf", inv.id),
        id: inv.id,
        number: inv.number,
        kind: inv.kind,
        status: inv.status,
        period: inv.period,
        period_start: inv.period_start.map(rfc3339),
        period_end: inv.period_end.map(rfc3339),
        invoice_date: inv.invoice_date,
        due_date: inv.due_date,
        due_date_display: due_display,
        currency: inv.currency,
        seller: serde_json::from_str(&inv.seller).unwrap_or(Value::Null),
        buyer: serde_json::from_str(&inv.buyer).unwrap_or(Value::Null),
        lines: inv
            .lines
            .into_iter()
            .map(|l| LineView {
                kind: l.kind,
                description: l.description,
                quantity: l.quantity,
                unit_price_kobo: l.unit_price_kobo,
                amount_kobo: l.amount_kobo.as_i64(),
                amount_display: format_naira(l.amount_kobo),
            })
            .collect(),
        subtotal_kobo: inv.subtotal_kobo,
        subtotal_display: format_naira(Kobo(inv.subtotal_kobo)),
        tax: TaxView {
            name: inv.tax_name,
            basis_points: inv.tax_basis_points,
            rate_display: rate_display(inv.tax_basis_points),
            amount_kobo: inv.tax_kobo,
            amount_display: format_naira(Kobo(inv.tax_kobo)),
        },
        total_kobo: inv.total_kobo,
        total_display: format_naira(Kobo(inv.total_kobo)),
        amount_paid_kobo: inv.amount_paid_kobo,
        amount_paid_display: format_naira(Kobo(inv.amount_paid_kobo)),
        amount_due_kobo: inv.amount_due_kobo,
        amount_due_display: format_naira(Kobo(inv.amount_due_kobo)),
        payment_url: inv.payment_url,
        credit_for: inv.credit_for,
        reason: inv.reason,
        issued_at: rfc3339(inv.issued_at),
        paid_at: inv.paid_at.map(rfc3339),
        cancelled_at: inv.cancelled_at.map(rfc3339),
        cancel_reason: inv.cancel_reason,
    }
}

/// Values are read as text and parsed here, so each bad one gets its own error code.
#[derive(Deserialize)]
pub struct ListQuery {
    pub cursor: Option<String>,
    pub limit: Option<String>,
}

#[derive(Serialize)]
pub struct InvoicePage {
    pub data: Vec<InvoiceView>,
    pub next_cursor: Option<String>,
}

async fn tenant(state: &AppState, caller: &Caller) -> ApiResult<OrgId> {
    let org = caller.org()?;
    caller
        .authorize(state, org, Permission::BillingRead)
        .await?;
    Ok(org)
}

/// `GET /api/v1/billing/invoices?cursor=&limit=`: newest first.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<Json<InvoicePage>> {
    let org = tenant(&state, &caller).await?;
    let limit = match q.limit.as_deref().filter(|l| !l.is_empty()) {
        None => 20,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| {
                ApiError::unprocessable("invalid_limit", "limit is a number from 1 to 100")
                    .with_param("limit")
            })?,
    };
    let before = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            c.split_once('.')
                .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_string())))
                .ok_or_else(|| {
                    ApiError::unprocessable("invalid_cursor", "the cursor is not valid")
                        .with_param("cursor")
                })?,
        ),
    };
    let rows = state.store.invoices_of(org, before, limit).await?;
    let next_cursor = (rows.len() == limit as usize)
        .then(|| rows.last().map(|i| format!("{}.{}", i.issued_at, i.id)))
        .flatten();
    Ok(Json(InvoicePage {
        data: rows.into_iter().map(view).collect(),
        next_cursor,
    }))
}

async fn tenant_invoice(state: &AppState, caller: &Caller, id: &str) -> ApiResult<InvoiceRecord> {
    let org = tenant(state, caller).await?;
    state
        .store
        .invoice(org, id)
        .await?
        .ok_or_else(|| ApiError::not_found("invoice"))
}

/// `GET /api/v1/billing/invoices/{id}`.
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<InvoiceView>> {
    Ok(Json(view(tenant_invoice(&state, &caller, &id).await?)))
}

/// `GET /api/v1/billing/invoices/{id}/pdf`.
pub async fn pdf(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let inv = tenant_invoice(&state, &caller, &id).await?;
    let bytes = crate::invoices::pdf::load(&state.settings.data_dir, &inv).await?;
    let disposition = format!(
        "inline; filename=\"{}.pdf\"",
        inv.number.replace(['"', '\\'], "")
    );
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct CancelBody {
    pub reason: Option<String>,
}

fn reason_of(raw: Option<String>) -> ApiResult<String> {
    let r = raw.unwrap_or_default().trim().to_string();
    if r.is_empty() || r.chars().count() > 500 {
        return Err(ApiError::unprocessable(
            "invalid_reason",
            "a reason of 1 to 500 characters is required",
        )
        .with_param("reason"));
    }
    Ok(r)
}

/// `POST /api/v1/admin/invoices/{id}/cancel` `{reason}`: an unpaid invoice only; its
/// number stays used.
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CancelBody>,
) -> ApiResult<Json<InvoiceView>> {
    caller.require_operator()?;
    let reason = reason_of(body.reason)?;
    let inv = state
        .store
        .invoice_by_id(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("invoice"))?;
    if inv.kind != "invoice" {
        return Err(ApiError::conflict(
            "not_cancellable",
            "a credit note cannot be cancelled",
        ));
    }
    let cancelled = state
        .store
        .cancel_invoice(&id, &reason, state.clock.now_ms())
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                "not_cancellable",
                format!(
                    "an invoice that is {} cannot be cancelled; issue a credit note instead",
                    inv.status
                ),
            )
        })?;
    tracing::info!(org_id = %cancelled.org_id, invoice = %cancelled.number, "The operator cancelled an invoice.");
    render_pdf(&state, &cancelled.id).await;
    Ok(Json(view(cancelled)))
}

#[derive(Deserialize)]
pub struct CreditBody {
    /// Amount to credit before VAT, in kobo (default: the whole subtotal).
    pub amount_kobo: Option<i64>,
    pub reason: Option<String>,
}

/// `POST /api/v1/admin/invoices/{id}/credit-notes` `{amount_kobo?, reason}`: a credit
/// note in its own gapless series, at the invoice's VAT rate, never more than the invoice.
pub async fn credit_note(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CreditBody>,
) -> ApiResult<(StatusCode, Json<InvoiceView>)> {
    caller.require_operator()?;
    let reason = reason_of(body.reason)?;
    let inv = state
        .store
        .invoice_by_id(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("invoice"))?;
    if inv.kind != "invoice" || inv.status == "cancelled" {
        return Err(ApiError::conflict(
            "not_creditable",
            "only an issued, not cancelled invoice can be credited",
        ));
    }
    let amount = body.amount_kobo.unwrap_or(inv.subtotal_kobo);
    if amount <= 0 || amount > inv.subtotal_kobo {
        return Err(ApiError::unprocessable(
            "invalid_amount",
            format!(
                "amount_kobo must be between 1 and the invoice's subtotal ({})",
                inv.subtotal_kobo
            ),
        )
        .with_param("amount_kobo"));
    }
    let now = state.clock.now();
    let today = kobo_domain::calendar::lagos_date(now);
    let lines = vec![InvoiceLine {
        kind: LineKind::Credit,
        description: format!("Credit for invoice {}: {reason}", inv.number),
        quantity: None,
        unit_price_kobo: None,
        amount_kobo: Kobo(-amount),
    }];
    let rate = TaxRate {
        name: inv.tax_name.clone(),
        basis_points: inv.tax_basis_points,
        effective_from: today,
    };
    let t = totals(&lines, Some(&rate), Kobo::ZERO).map_err(|e| ApiError::internal(&e))?;
    let now_ms = now.timestamp_millis();
    let cn = InvoiceRecord {
        id: format!("cn_{}", uuid::Uuid::now_v7().simple()),
        org_id: inv.org_id,
        kind: "credit_note".into(),
        number: String::new(),
        year: number_year(today),
        sequence: 0,
        period: None,
        period_start: inv.period_start,
        period_end: inv.period_end,
        status: "issued".into(),
        invoice_date: today.to_string(),
        due_date: today.to_string(),
        currency: inv.currency.clone(),
        seller: inv.seller.clone(),
        buyer: inv.buyer.clone(),
        plan_id: inv.plan_id.clone(),
        lines,
        subtotal_kobo: t.subtotal.as_i64(),
        tax_name: t.tax_name,
        tax_basis_points: t.tax_basis_points,
        tax_kobo: t.tax.as_i64(),
        total_kobo: t.total.as_i64(),
        amount_paid_kobo: 0,
        amount_due_kobo: t.amount_due.as_i64(),
        credit_for: Some(inv.id.clone()),
        reason: Some(reason),
        payment_reference: None,
        payment_url: None,
        issued_at: now_ms,
        paid_at: None,
        cancelled_at: None,
        cancel_reason: None,
        created_at: now_ms,
        updated_at: now_ms,
    };
    match state.store.issue_invoice(&cn).await? {
        Issue::Issued(rec) => {
            tracing::info!(org_id = %rec.org_id, credit_note = %rec.number, invoice = %inv.number, "A credit note was issued.");
            render_pdf(&state, &rec.id).await;
            Ok((StatusCode::CREATED, Json(view(*rec))))
        }
        Issue::OverCredited { remaining_kobo } => Err(ApiError::conflict(
            "over_credited",
            format!(
                "the invoice has {} left to credit (VAT included)",
                format_naira(Kobo(remaining_kobo.max(0)))
            ),
        )
        .with("remaining_kobo", remaining_kobo.max(0))),
        Issue::AlreadyInvoiced => Err(ApiError::conflict(
            "already_exists",
            "this credit note already exists",
        )),
    }
}

#[derive(Deserialize)]
pub struct RunBody {
    pub period: Option<String>,
}

/// `POST /api/v1/admin/billing/run` `{period: "YYYY-MM"}`: the billing run, now.
pub async fn run(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<RunBody>,
) -> ApiResult<Json<RunReport>> {
    caller.require_operator()?;
    let month = BillingMonth::parse(body.period.as_deref().unwrap_or_default()).map_err(|e| {
        ApiError::unprocessable("invalid_period", e.to_string()).with_param("period")
    })?;
    Ok(Json(
        run_period(&state, month, state.clock.now(), &|_, _| {}).await?,
    ))
}

#[derive(Serialize)]
pub struct TaxRateView {
    pub name: String,
    pub basis_points: u32,
    pub rate_display: String,
    pub effective_from: String,
}

#[derive(Serialize)]
pub struct TaxRateList {
    pub data: Vec<TaxRateView>,
}

/// `GET /api/v1/admin/tax-rates`: the table in force (shipped rates and the operator's).
pub async fn tax_rates(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<TaxRateList>> {
    caller.require_operator()?;
    let table = crate::invoices::tax_table(&state).await?;
    Ok(Json(TaxRateList {
        data: table
            .rates()
            .iter()
            .map(|r| TaxRateView {
                name: r.name.clone(),
                basis_points: r.basis_points,
                rate_display: rate_display(r.basis_points),
                effective_from: r.effective_from.to_string(),
            })
            .collect(),
    }))
}

#[derive(Deserialize)]
pub struct NewTaxRate {
    pub name: Option<String>,
    pub basis_points: Option<i64>,
    pub effective_from: Option<String>,
}

fn lagos_date_param(raw: Option<&str>, param: &'static str) -> ApiResult<NaiveDate> {
    raw.and_then(|d| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok())
        .ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_date",
                format!("{param} is a date written YYYY-MM-DD"),
            )
            .with_param(param)
        })
}

/// `POST /api/v1/admin/tax-rates` `{name?, basis_points, effective_from}`: a future
/// change (or a correction); a rate on the same date replaces it.
pub async fn add_tax_rate(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewTaxRate>,
) -> ApiResult<(StatusCode, Json<TaxRateList>)> {
    caller.require_operator()?;
    let bp = body
        .basis_points
        .and_then(|b| u32::try_from(b).ok())
        .filter(|b| *b <= BASIS_POINTS_PER_UNIT)
        .ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_rate",
                "basis_points is a whole number from 0 to 10000 (750 = 7.5%)",
            )
            .with_param("basis_points")
        })?;
    let from = lagos_date_param(body.effective_from.as_deref(), "effective_from")?;
    let name = body.name.unwrap_or_else(|| "VAT".into()).trim().to_string();
    if name.is_empty() || name.chars().count() > 40 {
        return Err(
            ApiError::unprocessable("invalid_request", "name has 1 to 40 characters")
                .with_param("name"),
        );
    }
    state
        .store
        .upsert_tax_rate(
            &TaxRate {
                name,
                basis_points: bp,
                effective_from: from,
            },
            state.clock.now_ms(),
        )
        .await?;
    tracing::info!(basis_points = bp, effective_from = %from, "The operator set a tax rate.");
    let Json(list) = tax_rates(State(state), caller).await?;
    Ok((StatusCode::CREATED, Json(list)))
}

#[derive(Deserialize)]
pub struct HolidayQuery {
    pub year: Option<String>,
}

#[derive(Serialize)]
pub struct HolidayView {
    pub date: String,
    pub name: String,
}

#[derive(Serialize)]
pub struct HolidayList {
    pub year: i32,
    pub data: Vec<HolidayView>,
    pub amendments: Vec<HolidayAmendment>,
}

/// `GET /api/v1/admin/holidays?year=`: the holidays observed in a year, amendments applied.
pub async fn holidays(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(q): QueryParams<HolidayQuery>,
) -> ApiResult<Json<HolidayList>> {
    caller.require_operator()?;
    let year = match q.year.as_deref().filter(|y| !y.is_empty()) {
        None => chrono::Datelike::year(&kobo_domain::calendar::lagos_date(state.clock.now())),
        Some(y) => y
            .parse::<i32>()
            .ok()
            .filter(|y| (2000..=2100).contains(y))
            .ok_or_else(|| {
                ApiError::unprocessable("invalid_year", "year is from 2000 to 2100")
                    .with_param("year")
            })?,
    };
    let cal = crate::invoices::holidays(&state).await?;
    Ok(Json(HolidayList {
        year,
        data: cal
            .holidays_in_year(year)
            .into_iter()
            .map(|(d, n)| HolidayView {
                date: d.to_string(),
                name: n,
            })
            .collect(),
        amendments: state.store.holiday_amendments().await?,
    }))
}

#[derive(Deserialize)]
pub struct NewHoliday {
    pub date: Option<String>,
    pub name: Option<String>,
    /// `add` (default: a declared day off) or `remove` (not a holiday after all).
    pub action: Option<String>,
}

/// `POST /api/v1/admin/holidays` `{date, name, action?}`.
pub async fn add_holiday(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewHoliday>,
) -> ApiResult<(StatusCode, Json<HolidayList>)> {
    caller.require_operator()?;
    let date = lagos_date_param(body.date.as_deref(), "date")?;
    let action = body.action.unwrap_or_else(|| "add".into());
    if action != "add" && action != "remove" {
        return Err(
            ApiError::unprocessable("invalid_request", "action is add or remove")
                .with_param("action"),
        );
    }
    let name = body.name.unwrap_or_default().trim().to_string();
    if (action == "add" && name.is_empty()) || name.chars().count() > 80 {
        return Err(
            ApiError::unprocessable("invalid_request", "name has 1 to 80 characters")
                .with_param("name"),
        );
    }
    state
        .store
        .upsert_holiday_amendment(
            &HolidayAmendment { date, action, name },
            state.clock.now_ms(),
        )
        .await?;
    let year = chrono::Datelike::year(&date);
    let Json(list) = holidays(
        State(state),
        caller,
        QueryParams(HolidayQuery {
            year: Some(year.to_string()),
        }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(list)))
}

#[derive(Deserialize)]
pub struct PrefixBody {
    /// `null` restores the default (`INV-` + 4 characters of the organization id).
    pub prefix: Option<String>,
}

/// `PUT /api/v1/admin/organizations/{org_id}/invoice-prefix` `{prefix}`: applies to
/// numbers assigned from now on.
pub async fn set_prefix(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<PrefixBody>,
) -> ApiResult<Json<Value>> {
    caller.require_operator()?;
    let org: OrgId = parse_id(&org, "organization")?;
    let prefix = match body.prefix.as_deref() {
        None => None,
        Some(p) => Some(parse_prefix(p).map_err(|e| {
            ApiError::unprocessable("invalid_prefix", e.to_string()).with_param("prefix")
        })?),
    };
    state
        .store
        .set_invoice_prefix(org, prefix.as_deref())
        .await
        .map_err(|e| match e {
            kobo_store::StoreError::NotFound => ApiError::not_found("organization"),
            other => other.into(),
        })?;
    let shown = prefix.unwrap_or_else(|| kobo_domain::invoice::default_prefix(org));
    Ok(Json(
        serde_json::json!({"organization_id": org.to_string(), "prefix": shown}),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates_display_like_people_write_them() {
        assert_eq!(super::rate_display(750), "7.5%");
        assert_eq!(super::rate_display(500), "5%");
        assert_eq!(super::rate_display(1_025), "10.25%");
    }
}
