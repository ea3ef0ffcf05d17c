//! Mid-cycle plan changes: exact proration.
//!
//! **Rule.** A change at instant `at` inside the billing period `[start, end)` is
//! counted in whole Lagos calendar days:
//! - `days_in_period` = Lagos days of the **full** period (e.g. 28 for 15 Feb–15 Mar
//!   2027), never a period clamped to the change date;
//! - `days_remaining` = Lagos days from the Lagos date of `at` (that day included,
//!   the new plan applies from it) to the end of the period;
//! - `credit` = −old_price × days_remaining / days_in_period (unused part of the old
//!   plan, a negative line);
//! - `charge` = new_price × days_remaining / days_in_period (rest of the period on the
//!   new plan);
//! - each line is computed exactly (i128) and rounded **once**, half away from zero, to
//!   the kobo ([`round_half_up_div`]); the credit rounds to the same magnitude a charge
//!   would;
//! - `amount_due` = max(0, charge + credit); on a downgrade the rest of the credit is
//!   reported as `unused_credit` (a positive amount) for the caller to carry forward
//!   or refund. `credit + charge = amount_due − unused_credit` always.
//!
//! Lines with a zero amount (e.g. no credit when leaving the free plan) are left out.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::Period;
use crate::money::{round_half_up_div, Kobo, MoneyError};

/// Why a proration cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProrationError {
    /// The change instant is not inside the period.
    #[error("the change at {at} is outside the billing period {start} – {end}")]
    OutsidePeriod {
        /// The change instant.
        at: DateTime<Utc>,
        /// Period start.
        start: DateTime<Utc>,
        /// Period end (exclusive).
        end: DateTime<Utc>,
    },
    /// The period has no whole Lagos day.
    #[error("the billing period has no days")]
    EmptyPeriod,
    /// A plan price below zero.
    #[error("plan prices cannot be negative")]
    NegativePrice,
    /// Arithmetic overflow.
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// One invoice line of a proration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProrationLine {
    /// What the line is for, e.g. "Unused time on the previous plan (20 of 30 days)".
    pub description: String,
    /// Signed amount: negative for the credit.
    pub amount: Kobo,
}

/// The result of a mid-cycle plan change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proration {
    /// Lagos days in the full period.
    pub days_in_period: i64,
    /// Lagos days from the change date (included) to the period end.
    pub days_remaining: i64,
    /// Credit for the unused part of the old plan (zero or negative).
    pub credit: Kobo,
    /// Charge for the remaining part on the new plan (zero or positive).
    pub charge: Kobo,
    /// What the customer owes now: max(0, charge + credit).
    pub amount_due: Kobo,
    /// Credit left over on a downgrade (zero or positive): −(charge + credit) when
    /// that is positive.
    pub unused_credit: Kobo,
    /// Non-zero lines, credit first.
    pub lines: Vec<ProrationLine>,
}

/// Prorates a change from a plan priced `old_price` per period to one priced
/// `new_price` per period, at instant `at` inside `period` (see the module rule).
pub fn prorate_change(
    old_price: Kobo,
    new_price: Kobo,
    period: &Period,
    at: DateTime<Utc>,
) -> Result<Proration, ProrationError> {
    if old_price.is_negative() || new_price.is_negative() {
        return Err(ProrationError::NegativePrice);
    }
    if !period.contains(at) {
        return Err(ProrationError::OutsidePeriod {
            at,
            start: period.start,
            end: period.end,
        });
    }
    let days_in_period = period.days_in_lagos();
    if days_in_period <= 0 {
        return Err(ProrationError::EmptyPeriod);
    }
    let days_remaining = period.days_remaining(at);

    let share = |price: Kobo| -> Result<i64, MoneyError> {
        round_half_up_div(
            i128::from(price.as_i64()) * i128::from(days_remaining),
            i128::from(days_in_period),
        )
    };
    // Negate after rounding: the credit has the same magnitude as the equivalent charge.
    let credit = Kobo(-share(old_price)?);
    let charge = Kobo(share(new_price)?);
    let net = charge.checked_add(credit).ok_or(MoneyError::Overflow)?;
    let amount_due = net.max_zero();
    let unused_credit = Kobo(-net.as_i64()).max_zero();

    let days = format!("{days_remaining} of {days_in_period} days");
    let lines = [
        (format!("Unused time on the previous plan ({days})"), credit),
        (format!("Remaining time on the new plan ({days})"), charge),
    ]
    .into_iter()
    .filter(|(_, amount)| *amount != Kobo::ZERO)
    .map(|(description, amount)| ProrationLine {
        description,
        amount,
    })
    .collect();

    Ok(Proration {
        days_in_period,
        days_remaining,
        credit,
        charge,
        amount_due,
        unused_credit,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{next_period, period_containing, BillingCycle};
    use chrono::{NaiveDate, TimeZone};

    const STARTER: Kobo = Kobo(1_500_000); // ₦15,000.00
    const PROFESSIONAL: Kobo = Kobo(4_500_000); // ₦45,000.00

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
    }

    /// Noon in Lagos (11:00 UTC).
    fn lagos_noon(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 11, 0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    fn prorate(old: Kobo, new: Kobo, p: &Period, at: DateTime<Utc>) -> Proration {
        match prorate_change(old, new, p, at) {
            Ok(r) => r,
            Err(e) => panic!("proration failed: {e}"),
        }
    }

    fn november_2026() -> Period {
        Period::from_lagos_dates(date(2026, 11, 1), date(2026, 12, 1))
    }

    #[test]
    fn starter_to_professional_on_day_11_of_30() {
        let r = prorate(
            STARTER,
            PROFESSIONAL,
            &november_2026(),
            lagos_noon(2026, 11, 11),
        );
        assert_eq!(r.days_in_period, 30);
        assert_eq!(r.days_remaining, 20);
        assert_eq!(r.credit, Kobo(-1_000_000)); // -₦10,000.00
        assert_eq!(r.charge, Kobo(3_000_000)); // ₦30,000.00
        assert_eq!(r.amount_due, Kobo(2_000_000)); // ₦20,000.00
        assert_eq!(r.unused_credit, Kobo::ZERO);
        assert_eq!(
            r.lines,
            vec![
                ProrationLine {
                    description: "Unused time on the previous plan (20 of 30 days)".into(),
                    amount: Kobo(-1_000_000),
                },
                ProrationLine {
                    description: "Remaining time on the new plan (20 of 30 days)".into(),
                    amount: Kobo(3_000_000),
                },
            ]
        );
        assert_eq!(r.credit.to_string(), "-₦10,000.00");
        assert_eq!(r.amount_due.to_string(), "₦20,000.00");
    }

    #[test]
    fn the_lagos_date_decides_the_day() {
        // 10 Nov 23:30 UTC is already 11 Nov in Lagos: same figures as above.
        let at = Utc
            .with_ymd_and_hms(2026, 11, 10, 23, 30, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let r = prorate(STARTER, PROFESSIONAL, &november_2026(), at);
        assert_eq!(r.days_remaining, 20);
        assert_eq!(r.amount_due, Kobo(2_000_000));
    }

    #[test]
    fn change_across_february_uses_the_full_28_day_period() {
        // 15 Feb – 15 Mar 2027 has 28 Lagos days.
        let p = Period::from_lagos_dates(date(2027, 2, 15), date(2027, 3, 15));
        // 1 Mar: 14 of 28 days remain.
        let r = prorate(STARTER, PROFESSIONAL, &p, lagos_noon(2027, 3, 1));
        assert_eq!((r.days_in_period, r.days_remaining), (28, 14));
        assert_eq!(r.credit, Kobo(-750_000)); // -₦7,500.00
        assert_eq!(r.charge, Kobo(2_250_000)); // ₦22,500.00
        assert_eq!(r.amount_due, Kobo(1_500_000)); // ₦15,000.00
                                                   // 2 Mar: 13 of 28 days.
                                                   // credit: 1,500,000 × 13 / 28 = 19,500,000 / 28 = 696,428.571… → 696,429
                                                   // charge: 4,500,000 × 13 / 28 = 58,500,000 / 28 = 2,089,285.714… → 2,089,286
        let r = prorate(STARTER, PROFESSIONAL, &p, lagos_noon(2027, 3, 2));
        assert_eq!((r.days_in_period, r.days_remaining), (28, 13));
        assert_eq!(r.credit, Kobo(-696_429)); // -₦6,964.29
        assert_eq!(r.charge, Kobo(2_089_286)); // ₦20,892.86
        assert_eq!(r.amount_due, Kobo(1_392_857)); // ₦13,928.57
        assert_eq!(r.amount_due.to_string(), "₦13,928.57");
    }

    #[test]
    fn change_on_the_first_day_swaps_the_whole_period() {
        let p = november_2026();
        let r = prorate(STARTER, PROFESSIONAL, &p, p.start);
        assert_eq!((r.days_in_period, r.days_remaining), (30, 30));
        assert_eq!(r.credit, Kobo(-1_500_000));
        assert_eq!(r.charge, Kobo(4_500_000));
        assert_eq!(r.amount_due, Kobo(3_000_000));
    }

    #[test]
    fn change_on_the_last_day_prorates_one_day() {
        // 30 Nov: 1 of 30 days. 1,500,000 / 30 = 50,000; 4,500,000 / 30 = 150,000.
        let r = prorate(
            STARTER,
            PROFESSIONAL,
            &november_2026(),
            lagos_noon(2026, 11, 30),
        );
        assert_eq!((r.days_in_period, r.days_remaining), (30, 1));
        assert_eq!(r.credit, Kobo(-50_000));
        assert_eq!(r.charge, Kobo(150_000));
        assert_eq!(r.amount_due, Kobo(100_000));
        // The last instant of the period is still its last day.
        let p = november_2026();
        let last_second = p.end - chrono::TimeDelta::seconds(1);
        assert_eq!(
            prorate(STARTER, PROFESSIONAL, &p, last_second).days_remaining,
            1
        );
        // 31 Dec 2026 in a 31-day December:
        // 1,500,000 / 31 = 48,387.096… → 48,387; 4,500,000 / 31 = 145,161.290… → 145,161.
        let dec = Period::from_lagos_dates(date(2026, 12, 1), date(2027, 1, 1));
        let r = prorate(STARTER, PROFESSIONAL, &dec, lagos_noon(2026, 12, 31));
        assert_eq!((r.days_in_period, r.days_remaining), (31, 1));
        assert_eq!(r.credit, Kobo(-48_387));
        assert_eq!(r.charge, Kobo(145_161));
        assert_eq!(r.amount_due, Kobo(96_774));
    }

    #[test]
    fn downgrade_owes_nothing_and_reports_the_unused_credit() {
        let r = prorate(
            PROFESSIONAL,
            STARTER,
            &november_2026(),
            lagos_noon(2026, 11, 11),
        );
        assert_eq!(r.credit, Kobo(-3_000_000));
        assert_eq!(r.charge, Kobo(1_000_000));
        assert_eq!(r.amount_due, Kobo::ZERO);
        assert_eq!(r.unused_credit, Kobo(2_000_000));
    }

    #[test]
    fn leaving_the_free_plan_has_no_credit_line() {
        let r = prorate(
            Kobo::ZERO,
            STARTER,
            &november_2026(),
            lagos_noon(2026, 11, 11),
        );
        assert_eq!(r.credit, Kobo::ZERO);
        assert_eq!(r.charge, Kobo(1_000_000));
        assert_eq!(r.amount_due, Kobo(1_000_000));
        assert_eq!(r.lines.len(), 1);
        assert_eq!(r.lines[0].amount, Kobo(1_000_000));
    }

    #[test]
    fn each_line_rounds_half_up_once() {
        // 15 kobo × 1/30 = 0.5 → 1; 45 kobo × 1/30 = 1.5 → 2. The credit is the same
        // magnitude a charge would be: -1, not 0.
        let r = prorate(
            Kobo(15),
            Kobo(45),
            &november_2026(),
            lagos_noon(2026, 11, 30),
        );
        assert_eq!(r.credit, Kobo(-1));
        assert_eq!(r.charge, Kobo(2));
        assert_eq!(r.amount_due, Kobo(1));
        // 14 kobo × 1/30 = 0.466… → 0.
        let r = prorate(
            Kobo(14),
            Kobo(0),
            &november_2026(),
            lagos_noon(2026, 11, 30),
        );
        assert_eq!(r.credit, Kobo::ZERO);
        assert!(r.lines.is_empty());
    }

    #[test]
    fn quarterly_and_annual_periods_use_their_full_length() {
        // Quarter 15 Apr – 15 Jul 2026 = 91 days; change on 1 Jun: 44 days remain.
        // Quarterly prices (3 months, no discount): ₦45,000 → ₦135,000.
        let q = period_containing(15, BillingCycle::Quarterly, lagos_noon(2026, 6, 1));
        let r = prorate(
            Kobo(4_500_000),
            Kobo(13_500_000),
            &q,
            lagos_noon(2026, 6, 1),
        );
        assert_eq!((r.days_in_period, r.days_remaining), (91, 44));
        // 4,500,000 × 44 / 91 = 198,000,000 / 91 = 2,175,824.17… → 2,175,824
        // 13,500,000 × 44 / 91 = 594,000,000 / 91 = 6,527,472.52… → 6,527,473
        assert_eq!(r.credit, Kobo(-2_175_824));
        assert_eq!(r.charge, Kobo(6_527_473));
        assert_eq!(r.amount_due, Kobo(4_351_649));
        // Leap year 2028: 366 days; change on 1 Jul 2028 leaves 184 days.
        let y = period_containing(1, BillingCycle::Annually, lagos_noon(2028, 7, 1));
        let r = prorate(
            Kobo(14_400_000),
            Kobo(43_200_000),
            &y,
            lagos_noon(2028, 7, 1),
        );
        assert_eq!((r.days_in_period, r.days_remaining), (366, 184));
        // 14,400,000 × 184 / 366 = 7,239,344.26… → 7,239,344
        // 43,200,000 × 184 / 366 = 21,718,032.78… → 21,718,033
        assert_eq!(r.credit, Kobo(-7_239_344));
        assert_eq!(r.charge, Kobo(21_718_033));
        assert_eq!(r.amount_due, Kobo(14_478_689));
    }

    #[test]
    fn a_clamped_anchor_period_still_counts_its_own_days() {
        // Anchor 31: 28 Feb – 31 Mar 2027 is 31 days; change on 21 Mar leaves 10.
        let jan = period_containing(31, BillingCycle::Monthly, lagos_noon(2027, 2, 1));
        let feb = next_period(&jan, 31, BillingCycle::Monthly);
        let r = prorate(Kobo(3_100), Kobo(6_200), &feb, lagos_noon(2027, 3, 21));
        assert_eq!((r.days_in_period, r.days_remaining), (31, 10));
        assert_eq!((r.credit, r.charge), (Kobo(-1_000), Kobo(2_000)));
    }

    #[test]
    fn refuses_changes_outside_the_period_and_negative_prices() {
        let p = november_2026();
        assert!(matches!(
            prorate_change(STARTER, PROFESSIONAL, &p, p.end),
            Err(ProrationError::OutsidePeriod { .. })
        ));
        assert!(matches!(
            prorate_change(STARTER, PROFESSIONAL, &p, lagos_noon(2026, 10, 31)),
            Err(ProrationError::OutsidePeriod { .. })
        ));
        assert_eq!(
            prorate_change(Kobo(-1), PROFESSIONAL, &p, p.start),
            Err(ProrationError::NegativePrice)
        );
        let empty = Period {
            start: p.start,
            end: p.start + chrono::TimeDelta::hours(1),
        };
        assert_eq!(
            prorate_change(STARTER, PROFESSIONAL, &empty, empty.start),
            Err(ProrationError::EmptyPeriod)
        );
    }

    #[test]
    fn lines_always_add_up() {
        let p = november_2026();
        for day in 1..=30 {
            for (old, new) in [
                (STARTER, PROFESSIONAL),
                (PROFESSIONAL, STARTER),
                (Kobo(1), Kobo(99_999)),
            ] {
                let r = prorate(old, new, &p, lagos_noon(2026, 11, day));
                let sum = Kobo::checked_sum(r.lines.iter().map(|l| l.amount));
                assert_eq!(sum, r.credit.checked_add(r.charge));
                assert_eq!(
                    r.credit.checked_add(r.charge),
                    r.amount_due.checked_sub(r.unused_credit)
                );
                assert_eq!(r.days_remaining, 31 - i64::from(day));
            }
        }
    }
}
