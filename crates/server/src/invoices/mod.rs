//! Invoices (capability 10): the monthly billing run, payment of invoices, PDFs, the
//! overdue / due-soon sweep and the in-process schedule. The rules are in
//! `docs/BILLING.md`; the arithmetic is `kobo_domain::invoice`.

pub mod figures;
pub mod payment;
pub mod pdf;
pub mod run;
pub mod schedule;
pub mod sweep;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use kobo_domain::holidays::HolidayCalendar;
use kobo_domain::tax::TaxTable;

/// The shipped VAT table with the operator's rates over it.
pub async fn tax_table(state: &AppState) -> ApiResult<TaxTable> {
    let shipped = TaxTable::nigeria_vat().map_err(|e| ApiError::internal(&e))?;
    let extra = state.store.tax_rates().await?;
    shipped
        .with_extra(extra)
        .map_err(|e| ApiError::internal(&e))
}

/// The shipped holiday calendar with the operator's amendments.
pub async fn holidays(state: &AppState) -> ApiResult<HolidayCalendar> {
    let shipped = HolidayCalendar::nigeria().map_err(|e| ApiError::internal(&e))?;
    let amendments = state.store.holiday_amendments().await?;
    let added: Vec<_> = amendments
        .iter()
        .filter(|a| a.action == "add")
        .map(|a| (a.date, a.name.clone()))
        .collect();
    let removed: Vec<_> = amendments
        .iter()
        .filter(|a| a.action == "remove")
        .map(|a| a.date)
        .collect();
    Ok(shipped.with_extra(added).with_removed(removed))
}
