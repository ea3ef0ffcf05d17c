//! Invoice arithmetic and numbering: pure rules, no I/O.
//!
//! **Figures.** An invoice is a list of lines in kobo (plan, prorated upgrade, usage
//! overage; a credit note's lines are negative). Then, in this order and each rounded
//! exactly once:
//! 1. *overage* = (tokens used − tokens included, never below zero) × the plan's
//!    overage price per 1,000 tokens. `price / 1000 kobo × tokens` is
//!    `price × tokens` millikobo, an exact integer; it is rounded half-up to the kobo
//!    once, on the line ([`overage`]);
//! 2. *subtotal* = the sum of the lines (exact: lines are whole kobo);
//! 3. *VAT* = subtotal × rate in basis points / 10 000, rounded half-up to the kobo
//!    once, on the subtotal — never per line ([`crate::tax::vat_on`]);
//! 4. *total* = subtotal + VAT; *amount due* = total − what was already paid for the
//!    period (the subscription's checkout or renewal payments), never below zero.
//!
//! **Numbers.** `PREFIX-YYYY-NNNN`: the organization's prefix (default `INV-` and four
//! characters of its id), the Lagos year of the invoice date, and a sequence that
//! starts at 1 each year and has no gaps (assigned by the store inside the
//! transaction that writes the invoice). Credit notes have their own series, `CN-…`.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::calendar::Period;
use crate::ids::OrgId;
use crate::money::{cost_millikobo, Kobo, MoneyError};
use crate::tax::{vat_on, TaxRate};

/// What an invoice line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// The plan's price for a period.
    Plan,
    /// A prorated mid-cycle upgrade.
    Upgrade,
    /// Tokens beyond the plan's allowance.
    Overage,
    /// A credit note's correction.
    Credit,
}

/// One invoice line. `amount` is whole kobo; `quantity` and `unit_price` are for
/// display (for overage: billable tokens and the price per 1,000 tokens).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    pub kind: LineKind,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price_kobo: Option<i64>,
    pub amount_kobo: Kobo,
}

/// The usage overage of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overage {
    pub tokens_used: u64,
    pub tokens_included: u64,
    /// Tokens beyond the allowance.
    pub billable_tokens: u64,
    /// The exact charge before rounding.
    pub exact: crate::money::Millikobo,
    /// The charge, rounded half-up to the kobo once.
    pub amount: Kobo,
}

/// Overage of `tokens_used` against `tokens_included` at `per_1k_kobo` kobo per
/// 1,000 tokens (see the module rule). Errors only on overflow.
pub fn overage(
    tokens_used: u64,
    tokens_included: u64,
    per_1k_kobo: i64,
) -> Result<Overage, MoneyError> {
    let billable = tokens_used.saturating_sub(tokens_included);
    let exact = cost_millikobo(billable, per_1k_kobo.max(0))?;
    Ok(Overage {
        tokens_used,
        tokens_included,
        billable_tokens: billable,
        exact,
        amount: exact.to_kobo_half_up(),
    })
}

/// The totals of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub subtotal: Kobo,
    pub tax_name: String,
    pub tax_basis_points: u32,
    pub tax: Kobo,
    pub total: Kobo,
    pub amount_paid: Kobo,
    pub amount_due: Kobo,
}

/// Subtotal, VAT at `rate` (none when `None`), total, and what is left to pay after
/// `amount_paid`.
pub fn totals(
    lines: &[InvoiceLine],
    rate: Option<&TaxRate>,
    amount_paid: Kobo,
) -> Result<Totals, MoneyError> {
    let subtotal =
        Kobo::checked_sum(lines.iter().map(|l| l.amount_kobo)).ok_or(MoneyError::Overflow)?;
    let (tax_name, bp) = match rate {
        Some(r) => (r.name.clone(), r.basis_points),
        None => ("VAT".to_string(), 0),
    };
    let tax = vat_on(subtotal, bp)?;
    let total = subtotal.checked_add(tax).ok_or(MoneyError::Overflow)?;
    let due = total.checked_sub(amount_paid).ok_or(MoneyError::Overflow)?;
    Ok(Totals {
        subtotal,
        tax_name,
        tax_basis_points: bp,
        tax,
        total,
        amount_paid,
        amount_due: if subtotal.is_negative() {
            due
        } else {
            due.max_zero()
        },
    })
}

/// The two numbering series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Series {
    Invoice,
    CreditNote,
}

impl Series {
    pub const fn as_str(self) -> &'static str {
        match self {
            Series::Invoice => "invoice",
            Series::CreditNote => "credit_note",
        }
    }
}

/// Four characters of an organization id for its default prefix: the last four hex
/// digits, upper case (the first ones of a UUIDv7 are a timestamp, shared by
/// organizations created close together).
pub fn org_tag(org: OrgId) -> String {
    let hex = org.0.simple().to_string().to_ascii_uppercase();
    hex[hex.len().saturating_sub(4)..].to_string()
}

/// The default invoice prefix: `INV-` and [`org_tag`].
pub fn default_prefix(org: OrgId) -> String {
    format!("INV-{}", org_tag(org))
}

/// Why a prefix is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error("an invoice prefix has 1 to 16 characters: letters, digits and '-'")]
    Invalid,
}

/// Checks an operator-chosen prefix: 1–16 ASCII letters, digits or `-`, not starting
/// or ending with `-`; returned upper-cased.
pub fn parse_prefix(raw: &str) -> Result<String, PrefixError> {
    let p = raw.trim();
    let ok = (1..=16).contains(&p.len())
        && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !p.starts_with('-')
        && !p.ends_with('-');
    if ok {
        Ok(p.to_ascii_uppercase())
    } else {
        Err(PrefixError::Invalid)
    }
}

/// `PREFIX-YYYY-NNNN` (four digits at least; the 10,000th invoice of a year is `-10000`).
pub fn number(prefix: &str, year: i32, sequence: u64) -> String {
    format!("{prefix}-{year}-{sequence:04}")
}

/// The credit-note prefix matching an invoice prefix: `INV-3F2A` → `CN-3F2A`,
/// anything else → `CN-` + the prefix.
pub fn credit_note_prefix(invoice_prefix: &str) -> String {
    match invoice_prefix.strip_prefix("INV-") {
        Some(rest) => format!("CN-{rest}"),
        None => format!("CN-{invoice_prefix}"),
    }
}

/// The Lagos year that names an invoice dated `invoice_date`.
pub fn number_year(invoice_date: NaiveDate) -> i32 {
    invoice_date.year()
}

/// Why a billing period is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("a billing period is written YYYY-MM, e.g. 2026-11")]
    Malformed,
}

/// A calendar month in Lagos time, `YYYY-MM`: `[1st 00:00 WAT, 1st of next month 00:00 WAT)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillingMonth {
    pub year: i32,
    pub month: u32,
}

impl BillingMonth {
    pub fn parse(raw: &str) -> Result<Self, PeriodError> {
        let (y, m) = raw.trim().split_once('-').ok_or(PeriodError::Malformed)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(PeriodError::Malformed);
        }
        let year: i32 = y.parse().map_err(|_| PeriodError::Malformed)?;
        let month: u32 = m.parse().map_err(|_| PeriodError::Malformed)?;
        if !(1..=12).contains(&month) || !(2000..=9998).contains(&year) {
            return Err(PeriodError::Malformed);
        }
        Ok(Self { year, month })
    }

    /// The month containing Lagos date `date`.
    pub fn of(date: NaiveDate) -> Self {
        Self {
            year: date.year(),
            month: date.month(),
        }
    }

    /// The month before.
    pub fn previous(self) -> Self {
        if self.month == 1 {
            Self {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Self {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// The first day of the next month (exclusive end).
    pub fn end_day(self) -> NaiveDate {
        let (y, m) = if self.month == 12 {
            (self.year + 1, 1)
        } else {
            (self.year, self.month + 1)
        };
        NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(NaiveDate::MAX)
    }

    pub fn period(self) -> Period {
        Period::from_lagos_dates(self.first_day(), self.end_day())
    }
}

impl std::fmt::Display for BillingMonth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{due_date, lagos_date};
    use crate::holidays::{is_weekend, HolidayCalendar};
    use chrono::{DateTime, Utc, Weekday};

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
    }

    fn vat() -> TaxRate {
        TaxRate {
            name: "VAT".into(),
            basis_points: 750,
            effective_from: date(2020, 2, 1),
        }
    }

    fn line(kind: LineKind, amount: i64) -> InvoiceLine {
        InvoiceLine {
            kind,
            description: String::new(),
            quantity: None,
            unit_price_kobo: None,
            amount_kobo: Kobo(amount),
        }
    }

    fn nigeria() -> HolidayCalendar {
        HolidayCalendar::nigeria().unwrap_or_default()
    }

    #[test]
    fn overage_is_exact_then_rounded_once() {
        // Professional: 10M included, ₦0.20 per 1K. 12,345,678 tokens → 2,345,678 over
        // → 2,345,678 × 20 millikobo = 46,913,560 millikobo → 46,913.56 → 46,914 kobo.
        let o = overage(12_345_678, 10_000_000, 20).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.billable_tokens, 2_345_678);
        assert_eq!(o.exact.as_i64(), 46_913_560);
        assert_eq!(o.amount, Kobo(46_914));
        // Under the allowance: nothing.
        assert_eq!(
            overage(999_999, 1_000_000, 30).map(|o| o.amount),
            Ok(Kobo(0))
        );
        // An exact half rounds up: 25 tokens × 20 = 500 millikobo = 0.5 kobo → 1.
        assert_eq!(overage(25, 0, 20).map(|o| o.amount), Ok(Kobo(1)));
        assert_eq!(overage(24, 0, 20).map(|o| o.amount), Ok(Kobo(0)));
    }

    #[test]
    fn totals_tax_the_subtotal_once() {
        let lines = [
            line(LineKind::Plan, 4_500_000),
            line(LineKind::Overage, 46_914),
        ];
        let t = totals(&lines, Some(&vat()), Kobo(4_500_000)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.subtotal, Kobo(4_546_914));
        // 4,546,914 × 0.075 = 341,018.55 → 341,019.
        assert_eq!(t.tax, Kobo(341_019));
        assert_eq!(t.total, Kobo(4_887_933));
        assert_eq!(t.amount_due, Kobo(387_933));
        // Paid more than the total (cannot happen by construction): nothing due, never negative.
        let t = totals(&lines[..1], None, Kobo(5_000_000)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((t.tax, t.amount_due), (Kobo(0), Kobo(0)));
        // A credit note: negative and symmetric.
        let t = totals(&[line(LineKind::Credit, -1_500_000)], Some(&vat()), Kobo(0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (t.tax, t.total, t.amount_due),
            (Kobo(-112_500), Kobo(-1_612_500), Kobo(-1_612_500))
        );
    }

    #[test]
    fn numbers_and_prefixes() {
        assert_eq!(number("INV-3F2A", 2026, 1), "INV-3F2A-2026-0001");
        assert_eq!(number("INV-3F2A", 2026, 10_000), "INV-3F2A-2026-10000");
        assert_eq!(credit_note_prefix("INV-3F2A"), "CN-3F2A");
        assert_eq!(credit_note_prefix("ACME"), "CN-ACME");
        let org: OrgId = "0193a0b2-0000-7000-8000-00000000beef"
            .parse()
            .unwrap_or_default();
        assert_eq!(default_prefix(org), "INV-BEEF");
        assert_eq!(parse_prefix(" acme-ng "), Ok("ACME-NG".into()));
        assert!(
            parse_prefix("").is_err()
                && parse_prefix("-A").is_err()
                && parse_prefix("A/B").is_err()
        );
        assert!(parse_prefix("ABCDEFGHIJKLMNOPQ").is_err());
    }

    #[test]
    fn billing_months_are_lagos_months() {
        let m = BillingMonth::parse("2026-12").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.to_string(), "2026-12");
        let p = m.period();
        assert_eq!(p.start.to_rfc3339(), "2026-11-30T23:00:00+00:00");
        assert_eq!(p.end.to_rfc3339(), "2026-12-31T23:00:00+00:00");
        assert_eq!(m.previous().to_string(), "2026-11");
        assert_eq!(
            BillingMonth::parse("2027-01").map(|m| m.previous().to_string()),
            Ok("2026-12".into())
        );
        for bad in [
            "2026-13", "2026-00", "26-01", "2026/01", "2026-1", "abcd-ef", "",
        ] {
            assert!(BillingMonth::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_number_year_is_the_lagos_year() {
        // 31 Dec 2026 23:30 UTC is 1 Jan 2027 00:30 in Lagos.
        let at = DateTime::parse_from_rfc3339("2026-12-31T23:30:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(number_year(lagos_date(at)), 2027);
        let before = DateTime::parse_from_rfc3339("2026-12-31T22:59:59Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(number_year(lagos_date(before)), 2026);
    }

    #[test]
    fn due_date_cases() {
        let cal = nigeria();
        // Saturday: invoice 2 Nov 2026 + 33 days = Sat 5 Dec 2026 → Mon 7 Dec.
        assert_eq!(date(2026, 12, 5).weekday(), Weekday::Sat);
        assert_eq!(due_date(date(2026, 11, 2), 33, &cal), date(2026, 12, 7));
        // 1 October (Thursday in 2026) → Friday 2 October.
        assert_eq!(due_date(date(2026, 9, 1), 30, &cal), date(2026, 10, 2));
        // Easter Monday 2027 is 29 March: invoice 27 Feb + 30 days → Tuesday 30 March.
        assert_eq!(due_date(date(2027, 2, 27), 30, &cal), date(2027, 3, 30));
        // A holiday on a Sunday: 1 Oct 2028 is a Sunday, so Monday 2 Oct is a holiday
        // too; a due date on the Sunday moves past both to Tuesday 3 Oct.
        assert_eq!(date(2028, 10, 1).weekday(), Weekday::Sun);
        assert!(cal.is_holiday(date(2028, 10, 2)));
        assert_eq!(due_date(date(2028, 9, 1), 30, &cal), date(2028, 10, 3));
        // The year boundary: an invoice dated 1 Jan 2027 (Lagos), 30 days → Sun 31 Jan → Mon 1 Feb.
        assert_eq!(due_date(date(2027, 1, 1), 30, &cal), date(2027, 2, 1));
        // Enterprise terms (45 days) from 1 Dec 2026 → Fri 15 Jan 2027.
        let d = due_date(date(2026, 12, 1), 45, &cal);
        assert_eq!(d, date(2027, 1, 15));
        assert!(!is_weekend(d));
    }
}
