//! Subscription periods and prices, in Lagos time.
//!
//! A period starts at Lagos midnight of the day the first payment lands (the anchor day)
//! and ends on the same day `months` later (clamped to short months, returning to the
//! anchor day when the month allows it). Annual cycles cost twelve months less 20%,
//! rounded half-up to the kobo once.

use chrono::{DateTime, Datelike, Utc};
use kobo_domain::calendar::{add_months_clamped, lagos_date, lagos_midnight_utc, BillingCycle};
use kobo_domain::money::{round_half_up_div, Kobo};

pub fn parse_cycle(raw: Option<&str>) -> Option<BillingCycle> {
    match raw.unwrap_or("monthly") {
        "monthly" => Some(BillingCycle::Monthly),
        "quarterly" => Some(BillingCycle::Quarterly),
        "annually" | "annual" | "yearly" => Some(BillingCycle::Annually),
        _ => None,
    }
}

pub fn cycle_of(raw: &str) -> BillingCycle {
    parse_cycle(Some(raw)).unwrap_or(BillingCycle::Monthly)
}

/// The price of one cycle from the monthly price: annual cycles are 20% off.
pub fn cycle_price(monthly: Kobo, cycle: BillingCycle) -> Kobo {
    let months = i128::from(cycle.months());
    let gross = i128::from(monthly.0) * months;
    let net = if cycle == BillingCycle::Annually {
        round_half_up_div(gross * 80, 100).unwrap_or(i64::MAX)
    } else {
        i64::try_from(gross).unwrap_or(i64::MAX)
    };
    Kobo(net)
}

/// The first period of a subscription paid at `at`: (start, end, anchor day).
pub fn first_period(at: DateTime<Utc>, cycle: BillingCycle) -> (DateTime<Utc>, DateTime<Utc>, u32) {
    let day = lagos_date(at);
    let anchor = day.day();
    (
        lagos_midnight_utc(day),
        lagos_midnight_utc(add_months_clamped(day, cycle.months(), anchor)),
        anchor,
    )
}

/// The period after one ending at `end`.
pub fn next_period(
    end: DateTime<Utc>,
    cycle: BillingCycle,
    anchor: u32,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let start_day = lagos_date(end);
    (
        end,
        lagos_midnight_utc(add_months_clamped(start_day, cycle.months(), anchor)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annual_is_twenty_percent_off_and_periods_keep_their_anchor() {
        assert_eq!(
            cycle_price(Kobo(4_500_000), BillingCycle::Monthly),
            Kobo(4_500_000)
        );
        assert_eq!(
            cycle_price(Kobo(4_500_000), BillingCycle::Quarterly),
            Kobo(13_500_000)
        );
        assert_eq!(
            cycle_price(Kobo(4_500_000), BillingCycle::Annually),
            Kobo(43_200_000)
        );
        // 31 Jan 23:30 UTC is 1 Feb in Lagos: the anchor is the 1st.
        let at = DateTime::parse_from_rfc3339("2027-01-31T23:30:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        let (start, end, anchor) = first_period(at, BillingCycle::Monthly);
        assert_eq!(anchor, 1);
        assert_eq!(start.to_rfc3339(), "2027-01-31T23:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2027-02-28T23:00:00+00:00");
        // Anchor 31 through February and back.
        let at = DateTime::parse_from_rfc3339("2027-01-31T10:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        let (_, end, anchor) = first_period(at, BillingCycle::Monthly);
        assert_eq!(anchor, 31);
        assert_eq!(lagos_date(end).to_string(), "2027-02-28");
        let (_, end2) = next_period(end, BillingCycle::Monthly, anchor);
        assert_eq!(lagos_date(end2).to_string(), "2027-03-31");
    }
}
