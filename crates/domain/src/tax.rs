//! VAT: dated rates and the one rounding rule.
//!
//! Rates are data, not constants: each [`TaxRate`] is in force from its
//! `effective_from` Lagos date until the next rate's. The embedded table
//! (`data/tax_rates.json`) holds Nigerian VAT: 5% (500 bp) from 1 Jan 1994 and
//! 7.5% (750 bp) from 1 Feb 2020, kept by the Nigeria Tax Act 2025.
//!
//! **Rounding rule.** VAT is computed once per invoice, on the net subtotal (the sum of
//! all lines, credits included, in kobo): `vat = subtotal × basis_points / 10 000`,
//! rounded half away from zero to the kobo ([`round_half_up_div`]). Lines never carry
//! their own rounded VAT, so line VAT can never drift from the invoice total. A credit
//! note's negative subtotal gives the symmetric negative VAT.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::money::{round_half_up_div, Kobo, MoneyError};

/// The embedded VAT table.
const EMBEDDED_TABLE: &str = include_str!("../data/tax_rates.json");

/// Basis points in 100%.
pub const BASIS_POINTS_PER_UNIT: u32 = 10_000;

/// Errors loading a tax table.
#[derive(Debug, thiserror::Error)]
pub enum TaxDataError {
    /// The table is not valid JSON of the expected shape.
    #[error("tax table is not valid: {0}")]
    Invalid(#[from] serde_json::Error),
    /// A rate above 100% (10 000 basis points).
    #[error("tax rate {name} from {effective_from} is {basis_points} basis points, above 100%")]
    RateTooHigh {
        /// Tax name.
        name: String,
        /// First day in force.
        effective_from: NaiveDate,
        /// The offending rate.
        basis_points: u32,
    },
}

/// A tax rate in basis points (750 = 7.5%), in force from a Lagos date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxRate {
    /// Name printed on invoices, e.g. "VAT".
    pub name: String,
    /// Rate in basis points: 750 = 7.5%.
    pub basis_points: u32,
    /// First Lagos date on which the rate applies.
    pub effective_from: NaiveDate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaxFile {
    #[serde(default)]
    #[allow(dead_code)]
    note: String,
    rates: Vec<TaxRate>,
}

/// Effective-dated tax rates, sorted by `effective_from`; at most one per date.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaxTable {
    rates: Vec<TaxRate>,
}

impl TaxTable {
    /// The embedded Nigerian VAT table.
    pub fn nigeria_vat() -> Result<Self, TaxDataError> {
        Self::from_json(EMBEDDED_TABLE)
    }

    /// A table in the format of `data/tax_rates.json`:
    /// `{"note": "…", "rates": [{"name": "VAT", "basis_points": 750, "effective_from": "2020-02-01"}]}`.
    pub fn from_json(json: &str) -> Result<Self, TaxDataError> {
        let file: TaxFile = serde_json::from_str(json)?;
        Self::default().with_extra(file.rates)
    }

    /// Adds rates (an operator's future change or correction). A rate with the same
    /// `effective_from` as an existing one replaces it. Rates above 100% are refused.
    pub fn with_extra<I: IntoIterator<Item = TaxRate>>(
        mut self,
        rates: I,
    ) -> Result<Self, TaxDataError> {
        for rate in rates {
            if rate.basis_points > BASIS_POINTS_PER_UNIT {
                return Err(TaxDataError::RateTooHigh {
                    name: rate.name,
                    effective_from: rate.effective_from,
                    basis_points: rate.basis_points,
                });
            }
            self.rates
                .retain(|r| r.effective_from != rate.effective_from);
            self.rates.push(rate);
        }
        self.rates.sort_by_key(|r| r.effective_from);
        Ok(self)
    }

    /// The rate in force on Lagos date `date`: the latest one whose `effective_from`
    /// is on or before it; `None` before the first.
    pub fn rate_on(&self, date: NaiveDate) -> Option<&TaxRate> {
        self.rates.iter().rev().find(|r| r.effective_from <= date)
    }

    /// All rates, oldest first.
    pub fn rates(&self) -> &[TaxRate] {
        &self.rates
    }
}

/// VAT on an invoice's net `subtotal` at `basis_points`, rounded half away from zero
/// once (see the module documentation). Errors only on overflow, which cannot happen
/// for rates up to 100%.
pub fn vat_on(subtotal: Kobo, basis_points: u32) -> Result<Kobo, MoneyError> {
    let numerator = i128::from(subtotal.as_i64()) * i128::from(basis_points);
    round_half_up_div(numerator, i128::from(BASIS_POINTS_PER_UNIT)).map(Kobo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
    }

    fn table() -> TaxTable {
        match TaxTable::nigeria_vat() {
            Ok(t) => t,
            Err(e) => panic!("embedded tax table must load: {e}"),
        }
    }

    fn bp_on(t: &TaxTable, d: NaiveDate) -> Option<u32> {
        t.rate_on(d).map(|r| r.basis_points)
    }

    #[test]
    fn embedded_vat_rates_by_date() {
        let t = table();
        assert_eq!(bp_on(&t, date(1993, 12, 31)), None);
        assert_eq!(bp_on(&t, date(1994, 1, 1)), Some(500));
        assert_eq!(bp_on(&t, date(2007, 6, 1)), Some(500));
        assert_eq!(bp_on(&t, date(2020, 1, 31)), Some(500));
        assert_eq!(bp_on(&t, date(2020, 2, 1)), Some(750));
        assert_eq!(bp_on(&t, date(2026, 1, 1)), Some(750));
        assert_eq!(
            t.rate_on(date(2026, 6, 1)).map(|r| r.name.as_str()),
            Some("VAT")
        );
        assert_eq!(t.rates().len(), 2);
    }

    #[test]
    fn operator_adds_and_corrects_rates() {
        let t = table().with_extra([
            TaxRate {
                name: "VAT".into(),
                basis_points: 1_000,
                effective_from: date(2030, 1, 1),
            },
            TaxRate {
                name: "VAT".into(),
                basis_points: 1_250,
                effective_from: date(2030, 1, 1),
            },
        ]);
        let Ok(t) = t else {
            panic!("valid extra rates");
        };
        assert_eq!(bp_on(&t, date(2029, 12, 31)), Some(750));
        assert_eq!(
            bp_on(&t, date(2030, 1, 1)),
            Some(1_250),
            "the later entry wins"
        );
        assert_eq!(t.rates().len(), 3);
        let too_high = table().with_extra([TaxRate {
            name: "VAT".into(),
            basis_points: 10_001,
            effective_from: date(2030, 1, 1),
        }]);
        assert!(matches!(
            too_high,
            Err(TaxDataError::RateTooHigh {
                basis_points: 10_001,
                ..
            })
        ));
    }

    #[test]
    fn from_json_refuses_bad_tables() {
        assert!(TaxTable::from_json("{}").is_err());
        assert!(TaxTable::from_json(
            r#"{"rates": [{"name": "VAT", "basis_points": -1, "effective_from": "2020-02-01"}]}"#
        )
        .is_err());
        assert!(TaxTable::from_json(
            r#"{"rates": [{"name": "VAT", "basis_points": 750, "effective_from": "2020-02-30"}]}"#
        )
        .is_err());
        assert!(TaxTable::from_json(
            r#"{"rates": [{"name": "VAT", "bp": 750, "effective_from": "2020-02-01"}]}"#
        )
        .is_err());
        let Ok(t) = TaxTable::from_json(
            r#"{"rates": [{"name": "VAT", "basis_points": 750, "effective_from": "2020-02-01"}]}"#,
        ) else {
            panic!("a valid table");
        };
        assert_eq!(bp_on(&t, date(2020, 2, 1)), Some(750));
    }

    #[test]
    fn vat_at_7_5_percent() {
        // ₦45,000.00 → ₦3,375.00 exactly.
        assert_eq!(vat_on(Kobo(4_500_000), 750), Ok(Kobo(337_500)));
        // ₦15,000.00 → ₦1,125.00.
        assert_eq!(vat_on(Kobo(1_500_000), 750), Ok(Kobo(112_500)));
        // ₦1,392,857 kobo × 0.075 = 104,464.275 → 104,464.
        assert_eq!(vat_on(Kobo(1_392_857), 750), Ok(Kobo(104_464)));
        // 2 kobo × 0.075 = 0.15 → 0; 6 kobo → 0.45 → 0; 7 kobo → 0.525 → 1.
        assert_eq!(vat_on(Kobo(2), 750), Ok(Kobo(0)));
        assert_eq!(vat_on(Kobo(6), 750), Ok(Kobo(0)));
        assert_eq!(vat_on(Kobo(7), 750), Ok(Kobo(1)));
        assert_eq!(vat_on(Kobo(0), 750), Ok(Kobo(0)));
    }

    #[test]
    fn vat_rounds_an_exact_half_up() {
        // 20 kobo × 7.5% = 1.5 → 2; 60 kobo → 4.5 → 5; 100 kobo at 5% → 5 exactly.
        assert_eq!(vat_on(Kobo(20), 750), Ok(Kobo(2)));
        assert_eq!(vat_on(Kobo(60), 750), Ok(Kobo(5)));
        assert_eq!(vat_on(Kobo(100), 500), Ok(Kobo(5)));
        // Credit notes: symmetric.
        assert_eq!(vat_on(Kobo(-20), 750), Ok(Kobo(-2)));
        assert_eq!(vat_on(Kobo(-4_500_000), 750), Ok(Kobo(-337_500)));
    }

    #[test]
    fn vat_on_the_sum_not_per_line() {
        // Three lines of 7 kobo: per-line rounding would give 3 × 1 = 3 kobo; the rule
        // taxes the 21-kobo subtotal once: 1.575 → 2 kobo.
        let subtotal = Kobo::checked_sum([Kobo(7), Kobo(7), Kobo(7)]).unwrap_or(Kobo::ZERO);
        assert_eq!(vat_on(subtotal, 750), Ok(Kobo(2)));
    }

    #[test]
    fn vat_never_overflows_for_rates_up_to_100_percent() {
        assert_eq!(vat_on(Kobo(i64::MAX), 10_000), Ok(Kobo(i64::MAX)));
        assert_eq!(vat_on(Kobo(i64::MIN), 10_000), Ok(Kobo(i64::MIN)));
        assert_eq!(vat_on(Kobo(i64::MAX), 20_000), Err(MoneyError::Overflow));
    }
}
