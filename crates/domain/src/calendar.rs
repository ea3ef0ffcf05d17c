//! The billing calendar, in Africa/Lagos time.
//!
//! Stored instants are UTC; billing periods, quota resets and due dates are Lagos
//! calendar dates. Africa/Lagos is UTC+01:00 all year with no daylight saving time
//! (tz database: `1:00 - WAT` since 1919, no rules), so a fixed offset is exact and we
//! need no time-zone database. A Lagos day starts at 23:00 UTC the day before.
//!
//! **Periods** are half-open `[start, end)`, both at Lagos midnight. A period starts on
//! the billing *anchor day* (1–31) of a month, clamped to the month's last day (anchor
//! 31 → 30 April, 28 or 29 February), and every boundary is computed from the anchor
//! day itself, never from the previous boundary, so a clamped month does not make the
//! next one drift: 31 Jan → 28 Feb → 31 Mar → 30 Apr → 31 May. A free organization's
//! calendar month is anchor day 1, [`BillingCycle::Monthly`].

use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, NaiveTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::holidays::HolidayCalendar;

/// Africa/Lagos (West Africa Time): UTC+01:00, no DST since 1919, so a constant offset.
pub const LAGOS: FixedOffset = match FixedOffset::east_opt(3600) {
    Some(offset) => offset,
    None => panic!("UTC+01:00 is a valid offset"),
};

/// The Lagos calendar date of a UTC instant (31 Dec 23:30 UTC is already 1 Jan).
pub fn lagos_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&LAGOS).date_naive()
}

/// The UTC instant at which Lagos `date` begins (23:00 UTC the day before).
/// Saturates at the earliest instant chrono can represent.
pub fn lagos_midnight_utc(date: NaiveDate) -> DateTime<Utc> {
    let local_midnight_as_utc = date.and_time(NaiveTime::MIN).and_utc();
    local_midnight_as_utc
        .checked_sub_signed(TimeDelta::seconds(i64::from(LAGOS.local_minus_utc())))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// How often a subscription is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BillingCycle {
    /// Every month.
    Monthly,
    /// Every three months.
    Quarterly,
    /// Every twelve months.
    Annually,
}

impl BillingCycle {
    /// Length of the cycle in months: 1, 3 or 12.
    pub const fn months(self) -> u32 {
        match self {
            BillingCycle::Monthly => 1,
            BillingCycle::Quarterly => 3,
            BillingCycle::Annually => 12,
        }
    }

    /// The serde name: `"monthly"`, `"quarterly"`, `"annually"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            BillingCycle::Monthly => "monthly",
            BillingCycle::Quarterly => "quarterly",
            BillingCycle::Annually => "annually",
        }
    }
}

/// A billing period: `[start, end)`, both at Lagos midnight, stored as UTC instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Period {
    /// First instant of the period (Lagos midnight of the first day).
    pub start: DateTime<Utc>,
    /// First instant after the period (Lagos midnight of the next period's first day).
    pub end: DateTime<Utc>,
}

impl Period {
    /// The period from Lagos date `first_day` up to (not including) Lagos date `end_day`.
    pub fn from_lagos_dates(first_day: NaiveDate, end_day: NaiveDate) -> Period {
        Period {
            start: lagos_midnight_utc(first_day),
            end: lagos_midnight_utc(end_day),
        }
    }

    /// The Lagos date of the first day.
    pub fn start_date(&self) -> NaiveDate {
        lagos_date(self.start)
    }

    /// The Lagos date just after the period (exclusive end).
    pub fn end_date(&self) -> NaiveDate {
        lagos_date(self.end)
    }

    /// The Lagos date of the last day in the period.
    pub fn last_day(&self) -> NaiveDate {
        self.end_date().pred_opt().unwrap_or(NaiveDate::MIN)
    }

    /// True if `at` falls inside `[start, end)`.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }

    /// Number of Lagos calendar days in the whole period (30 for 1–30 Nov).
    pub fn days_in_lagos(&self) -> i64 {
        (self.end_date() - self.start_date()).num_days()
    }

    /// Whole Lagos days from the Lagos date of `at` (that day included) to the end of
    /// the period, clamped to `0..=days_in_lagos()`: for 1–30 Nov, 11 Nov gives 20,
    /// 1 Nov gives 30, 30 Nov gives 1; instants before the period give the whole
    /// period and instants at or after its end give 0.
    pub fn days_remaining(&self, at: DateTime<Utc>) -> i64 {
        let remaining = (self.end_date() - lagos_date(at)).num_days();
        remaining.clamp(0, self.days_in_lagos().max(0))
    }
}

/// `date` moved forward by `months` calendar months onto `anchor_day`, clamped to the
/// target month's length: (31 Jan, 1, 31) → 28 Feb; (28 Feb, 1, 31) → 31 Mar.
/// The day of `date` is ignored; only its month counts. `anchor_day` outside 1..=31
/// is clamped into it. Saturates at the last date chrono can represent.
pub fn add_months_clamped(date: NaiveDate, months: u32, anchor_day: u32) -> NaiveDate {
    date_in_month(month_index(date) + i64::from(months), anchor_day).unwrap_or(NaiveDate::MAX)
}

/// The period of `cycle` that contains `at`, periods starting on `anchor_day`
/// (clamped into 1..=31, then to each month's length).
///
/// Quarterly and annual periods are phased from January: quarters start in January,
/// April, July and October; years in January. A subscription that started in another
/// month uses [`period_containing_from`] with its first period's start date.
pub fn period_containing(anchor_day: u32, cycle: BillingCycle, at: DateTime<Utc>) -> Period {
    let january = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(NaiveDate::MIN);
    period_containing_from(january, anchor_day, cycle, at)
}

/// The period of `cycle` that contains `at`, for a subscription whose periods start in
/// the month of `first_period_start` (a Lagos date) and every `cycle.months()` months
/// after (and before) it, on `anchor_day`. Only the month of `first_period_start`
/// matters, so the anchor day may differ from its day.
pub fn period_containing_from(
    first_period_start: NaiveDate,
    anchor_day: u32,
    cycle: BillingCycle,
    at: DateTime<Utc>,
) -> Period {
    let today = lagos_date(at);
    let step = i64::from(cycle.months());
    let origin = month_index(first_period_start);
    let cycles = (month_index(today) - origin).div_euclid(step);
    let mut start_index = origin + cycles * step;
    let mut start = date_in_month(start_index, anchor_day).unwrap_or(NaiveDate::MIN);
    if today < start {
        start_index -= step;
        start = date_in_month(start_index, anchor_day).unwrap_or(NaiveDate::MIN);
    }
    let end = date_in_month(start_index + step, anchor_day).unwrap_or(NaiveDate::MAX);
    Period::from_lagos_dates(start, end)
}

/// The period that follows `period`: it starts where `period` ends and ends
/// `cycle.months()` later on `anchor_day` (clamped), so clamping never drifts.
pub fn next_period(period: &Period, anchor_day: u32, cycle: BillingCycle) -> Period {
    let start = period.end_date();
    let end = add_months_clamped(start, cycle.months(), anchor_day);
    Period::from_lagos_dates(start, end)
}

/// The due date of an invoice issued on Lagos date `invoice_date`: `terms_days` later,
/// then moved forward while it falls on a Saturday, Sunday or public holidays
/// (including weekend-substitute days).
pub fn due_date(invoice_date: NaiveDate, terms_days: u32, holidays: &HolidayCalendar) -> NaiveDate {
    let raw = invoice_date
        .checked_add_days(Days::new(u64::from(terms_days)))
        .unwrap_or(NaiveDate::MAX);
    holidays.next_working_day_on_or_after(raw)
}

/// Months since year 0: `year × 12 + (month − 1)`.
fn month_index(date: NaiveDate) -> i64 {
    i64::from(date.year()) * 12 + i64::from(date.month0())
}

/// The date on `anchor_day` (clamped to 1..=31 and to the month's length) in the month
/// with index `index`; `None` outside chrono's range.
fn date_in_month(index: i64, anchor_day: u32) -> Option<NaiveDate> {
    let year = i32::try_from(index.div_euclid(12)).ok()?;
    let month = u32::try_from(index.rem_euclid(12)).ok()? + 1;
    let day = anchor_day.clamp(1, 31).min(days_in_month(year, month)?);
    NaiveDate::from_ymd_opt(year, month, day)
}

/// Number of days in `month` of `year`.
fn days_in_month(year: i32, month: u32) -> Option<u32> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next_first = if month == 12 {
        NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    match next_first {
        Some(next) => u32::try_from((next - first).num_days()).ok(),
        // December of chrono's last year has 31 days.
        None => Some(31),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Noon in Lagos on that date.
    fn lagos_noon(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        utc(y, m, d, 11, 0)
    }

    fn period(a: NaiveDate, b: NaiveDate) -> Period {
        Period::from_lagos_dates(a, b)
    }

    fn nigeria() -> HolidayCalendar {
        match HolidayCalendar::nigeria() {
            Ok(c) => c,
            Err(e) => panic!("embedded holiday table must load: {e}"),
        }
    }

    #[test]
    fn lagos_is_utc_plus_one() {
        assert_eq!(LAGOS.local_minus_utc(), 3600);
    }

    #[test]
    fn lagos_dates_cross_the_year_and_month_boundaries_an_hour_early() {
        assert_eq!(lagos_date(utc(2025, 12, 31, 23, 30)), date(2026, 1, 1));
        assert_eq!(lagos_date(utc(2025, 12, 31, 22, 59)), date(2025, 12, 31));
        assert_eq!(lagos_date(utc(2025, 12, 31, 23, 0)), date(2026, 1, 1));
        assert_eq!(lagos_date(utc(2026, 11, 30, 23, 30)), date(2026, 12, 1));
        assert_eq!(lagos_date(utc(2026, 11, 30, 22, 30)), date(2026, 11, 30));
        assert_eq!(lagos_date(utc(2026, 6, 1, 0, 0)), date(2026, 6, 1));
    }

    #[test]
    fn lagos_midnight_is_2300_utc_the_day_before() {
        assert_eq!(
            lagos_midnight_utc(date(2026, 1, 1)),
            utc(2025, 12, 31, 23, 0)
        );
        assert_eq!(
            lagos_midnight_utc(date(2026, 12, 1)),
            utc(2026, 11, 30, 23, 0)
        );
        assert_eq!(
            lagos_date(lagos_midnight_utc(date(2028, 2, 29))),
            date(2028, 2, 29)
        );
        assert_eq!(lagos_midnight_utc(NaiveDate::MIN), DateTime::<Utc>::MIN_UTC);
    }

    #[test]
    fn billing_cycle_serde_and_months() {
        assert_eq!(
            serde_json::to_string(&BillingCycle::Quarterly)
                .ok()
                .as_deref(),
            Some("\"quarterly\"")
        );
        assert_eq!(
            serde_json::from_str::<BillingCycle>("\"annually\"").ok(),
            Some(BillingCycle::Annually)
        );
        assert_eq!(
            serde_json::from_str::<BillingCycle>("\"monthly\"").ok(),
            Some(BillingCycle::Monthly)
        );
        assert!(serde_json::from_str::<BillingCycle>("\"Monthly\"").is_err());
        assert!(serde_json::from_str::<BillingCycle>("\"yearly\"").is_err());
        assert_eq!(BillingCycle::Monthly.months(), 1);
        assert_eq!(BillingCycle::Quarterly.months(), 3);
        assert_eq!(BillingCycle::Annually.months(), 12);
        assert_eq!(BillingCycle::Annually.as_str(), "annually");
    }

    #[test]
    fn calendar_month_for_free_orgs_starts_at_lagos_midnight() {
        // 30 Nov 23:30 UTC is 1 Dec in Lagos: December's period.
        let p = period_containing(1, BillingCycle::Monthly, utc(2026, 11, 30, 23, 30));
        assert_eq!(p.start, utc(2026, 11, 30, 23, 0));
        assert_eq!(p.end, utc(2026, 12, 31, 23, 0));
        assert_eq!(p.days_in_lagos(), 31);
        // 22:30 UTC the same evening is still November.
        let p = period_containing(1, BillingCycle::Monthly, utc(2026, 11, 30, 22, 30));
        assert_eq!(p, period(date(2026, 11, 1), date(2026, 12, 1)));
        assert_eq!(p.days_in_lagos(), 30);
        // Year boundary.
        let p = period_containing(1, BillingCycle::Monthly, utc(2025, 12, 31, 23, 30));
        assert_eq!(p, period(date(2026, 1, 1), date(2026, 2, 1)));
        assert!(p.contains(utc(2025, 12, 31, 23, 30)));
        assert!(!p.contains(utc(2025, 12, 31, 22, 59)));
    }

    #[test]
    fn anchor_31_clamps_in_short_months_and_returns_to_31() {
        // Non-leap 2027.
        let jan = period_containing(31, BillingCycle::Monthly, lagos_noon(2027, 2, 15));
        assert_eq!(jan, period(date(2027, 1, 31), date(2027, 2, 28)));
        let feb = next_period(&jan, 31, BillingCycle::Monthly);
        assert_eq!(feb, period(date(2027, 2, 28), date(2027, 3, 31)));
        let mar = next_period(&feb, 31, BillingCycle::Monthly);
        assert_eq!(mar, period(date(2027, 3, 31), date(2027, 4, 30)));
        let apr = next_period(&mar, 31, BillingCycle::Monthly);
        assert_eq!(apr, period(date(2027, 4, 30), date(2027, 5, 31)));
        assert_eq!(
            [jan, feb, mar, apr].map(|p| p.days_in_lagos()),
            [28, 31, 30, 31]
        );
        // Leap 2028.
        let jan = period_containing(31, BillingCycle::Monthly, lagos_noon(2028, 2, 28));
        assert_eq!(jan, period(date(2028, 1, 31), date(2028, 2, 29)));
        let feb = next_period(&jan, 31, BillingCycle::Monthly);
        assert_eq!(feb, period(date(2028, 2, 29), date(2028, 3, 31)));
        // period_containing agrees with the chain on either side of the boundary.
        assert_eq!(
            period_containing(31, BillingCycle::Monthly, lagos_noon(2028, 2, 29)),
            feb
        );
        assert_eq!(
            period_containing(31, BillingCycle::Monthly, lagos_noon(2028, 3, 30)),
            feb
        );
        assert_eq!(
            period_containing(31, BillingCycle::Monthly, lagos_noon(2028, 3, 31)),
            period(date(2028, 3, 31), date(2028, 4, 30))
        );
    }

    #[test]
    fn anchor_30_and_29_across_february() {
        let p = period_containing(30, BillingCycle::Monthly, lagos_noon(2027, 3, 1));
        assert_eq!(p, period(date(2027, 2, 28), date(2027, 3, 30)));
        let p = period_containing(29, BillingCycle::Monthly, lagos_noon(2027, 2, 28));
        assert_eq!(p, period(date(2027, 2, 28), date(2027, 3, 29)));
        let p = period_containing(29, BillingCycle::Monthly, lagos_noon(2028, 2, 28));
        assert_eq!(p, period(date(2028, 1, 29), date(2028, 2, 29)));
    }

    #[test]
    fn a_long_monthly_chain_never_drifts() {
        let mut p = period_containing(31, BillingCycle::Monthly, lagos_noon(2026, 1, 31));
        for _ in 0..60 {
            let next = next_period(&p, 31, BillingCycle::Monthly);
            assert_eq!(next.start, p.end);
            let start = next.start_date();
            let days = days_in_month(start.year(), start.month()).unwrap_or(0);
            assert_eq!(
                start.day(),
                days,
                "anchor 31 is always the month's last day"
            );
            assert_eq!(
                period_containing(31, BillingCycle::Monthly, next.start),
                next
            );
            p = next;
        }
    }

    #[test]
    fn quarterly_periods() {
        // Phased from January: quarters start 15 Jan, 15 Apr, 15 Jul, 15 Oct.
        let p = period_containing(15, BillingCycle::Quarterly, lagos_noon(2026, 5, 1));
        assert_eq!(p, period(date(2026, 4, 15), date(2026, 7, 15)));
        assert_eq!(p.days_in_lagos(), 91);
        let p = period_containing(15, BillingCycle::Quarterly, lagos_noon(2026, 1, 10));
        assert_eq!(p, period(date(2025, 10, 15), date(2026, 1, 15)));
        // A subscription that started on 15 Mar 2026.
        let p = period_containing_from(
            date(2026, 3, 15),
            15,
            BillingCycle::Quarterly,
            lagos_noon(2026, 5, 1),
        );
        assert_eq!(p, period(date(2026, 3, 15), date(2026, 6, 15)));
        assert_eq!(
            next_period(&p, 15, BillingCycle::Quarterly),
            period(date(2026, 6, 15), date(2026, 9, 15))
        );
        // Anchor 31 quarterly from 30 Nov: 30 Nov → 28 Feb → 31 May → 31 Aug.
        let p = period_containing_from(
            date(2026, 11, 30),
            31,
            BillingCycle::Quarterly,
            lagos_noon(2026, 12, 25),
        );
        assert_eq!(p, period(date(2026, 11, 30), date(2027, 2, 28)));
        let p = next_period(&p, 31, BillingCycle::Quarterly);
        assert_eq!(p, period(date(2027, 2, 28), date(2027, 5, 31)));
        assert_eq!(
            next_period(&p, 31, BillingCycle::Quarterly),
            period(date(2027, 5, 31), date(2027, 8, 31))
        );
    }

    #[test]
    fn annual_periods() {
        let p = period_containing(1, BillingCycle::Annually, lagos_noon(2026, 7, 4));
        assert_eq!(p, period(date(2026, 1, 1), date(2027, 1, 1)));
        assert_eq!(p.days_in_lagos(), 365);
        // Subscribed on 29 Feb 2024: 28 Feb in common years, back to 29 Feb in 2028.
        let origin = date(2024, 2, 29);
        let p = period_containing_from(origin, 29, BillingCycle::Annually, lagos_noon(2025, 3, 1));
        assert_eq!(p, period(date(2025, 2, 28), date(2026, 2, 28)));
        let p = period_containing_from(origin, 29, BillingCycle::Annually, lagos_noon(2027, 6, 1));
        assert_eq!(p, period(date(2027, 2, 28), date(2028, 2, 29)));
        assert_eq!(p.days_in_lagos(), 366);
        let p = period_containing_from(origin, 29, BillingCycle::Annually, lagos_noon(2024, 2, 28));
        assert_eq!(p, period(date(2023, 2, 28), date(2024, 2, 29)));
    }

    #[test]
    fn out_of_range_anchor_days_are_clamped() {
        assert_eq!(
            period_containing(0, BillingCycle::Monthly, lagos_noon(2026, 5, 10)),
            period(date(2026, 5, 1), date(2026, 6, 1))
        );
        assert_eq!(
            period_containing(99, BillingCycle::Monthly, lagos_noon(2026, 5, 10)),
            period(date(2026, 4, 30), date(2026, 5, 31))
        );
    }

    #[test]
    fn add_months_clamped_uses_the_anchor_not_the_date() {
        assert_eq!(
            add_months_clamped(date(2027, 1, 31), 1, 31),
            date(2027, 2, 28)
        );
        assert_eq!(
            add_months_clamped(date(2027, 2, 28), 1, 31),
            date(2027, 3, 31)
        );
        assert_eq!(
            add_months_clamped(date(2028, 1, 31), 1, 31),
            date(2028, 2, 29)
        );
        assert_eq!(
            add_months_clamped(date(2026, 11, 30), 3, 31),
            date(2027, 2, 28)
        );
        assert_eq!(
            add_months_clamped(date(2026, 12, 15), 1, 15),
            date(2027, 1, 15)
        );
        assert_eq!(
            add_months_clamped(date(2026, 12, 15), 12, 15),
            date(2027, 12, 15)
        );
        assert_eq!(
            add_months_clamped(date(2026, 5, 15), 0, 31),
            date(2026, 5, 31)
        );
        assert_eq!(add_months_clamped(NaiveDate::MAX, 1, 1), NaiveDate::MAX);
    }

    #[test]
    fn days_remaining_counts_whole_lagos_days_including_today() {
        let nov = period(date(2026, 11, 1), date(2026, 12, 1));
        assert_eq!(nov.days_in_lagos(), 30);
        assert_eq!(nov.days_remaining(lagos_noon(2026, 11, 11)), 20);
        assert_eq!(nov.days_remaining(lagos_noon(2026, 11, 1)), 30);
        assert_eq!(nov.days_remaining(nov.start), 30);
        assert_eq!(nov.days_remaining(lagos_noon(2026, 11, 30)), 1);
        // 10 Nov 23:30 UTC is 11 Nov in Lagos.
        assert_eq!(nov.days_remaining(utc(2026, 11, 10, 23, 30)), 20);
        assert_eq!(nov.days_remaining(nov.end), 0);
        assert_eq!(nov.days_remaining(lagos_noon(2026, 10, 20)), 30);
        assert_eq!(nov.days_remaining(lagos_noon(2027, 1, 1)), 0);
        assert_eq!(nov.last_day(), date(2026, 11, 30));
        assert_eq!(nov.start_date(), date(2026, 11, 1));
        assert_eq!(nov.end_date(), date(2026, 12, 1));
    }

    #[test]
    fn due_date_on_a_saturday_moves_to_monday() {
        let cal = nigeria();
        // 4 Dec 2025 + 30 days = Saturday 3 Jan 2026 → Monday 5 Jan.
        assert_eq!(due_date(date(2025, 12, 4), 30, &cal), date(2026, 1, 5));
        // Sunday → Monday.
        assert_eq!(due_date(date(2026, 1, 4), 0, &cal), date(2026, 1, 5));
        // A working day stays.
        assert_eq!(due_date(date(2026, 1, 6), 1, &cal), date(2026, 1, 7));
    }

    #[test]
    fn due_date_on_independence_day_moves_to_the_next_working_day() {
        let cal = nigeria();
        // 1 Sep 2026 + 30 = Thursday 1 Oct 2026 → Friday 2 Oct.
        assert_eq!(due_date(date(2026, 9, 1), 30, &cal), date(2026, 10, 2));
        // 1 Oct 2028 is a Sunday: Monday 2 Oct is its substitute, so Tuesday 3 Oct.
        assert_eq!(due_date(date(2028, 9, 1), 30, &cal), date(2028, 10, 3));
    }

    #[test]
    fn due_date_on_easter_monday_moves_to_tuesday() {
        let cal = nigeria();
        // 7 Mar 2026 + 30 = Easter Monday 6 Apr 2026 → Tuesday 7 Apr.
        assert_eq!(due_date(date(2026, 3, 7), 30, &cal), date(2026, 4, 7));
        // Good Friday 3 Apr 2026 → skip the weekend and Easter Monday → Tuesday 7 Apr.
        assert_eq!(due_date(date(2026, 3, 4), 30, &cal), date(2026, 4, 7));
    }

    #[test]
    fn due_date_skips_chains_of_holidays() {
        let cal = nigeria();
        // Eid-el-Fitr Thu 19 and Fri 20 Mar 2026, then the weekend → Monday 23 Mar.
        assert_eq!(due_date(date(2026, 2, 17), 30, &cal), date(2026, 3, 23));
        // Christmas 2027 (Sat), Boxing Day (Sun), substitutes Mon 27 and Tue 28 → Wed 29.
        assert_eq!(due_date(date(2027, 11, 25), 30, &cal), date(2027, 12, 29));
        // Enterprise terms: 45 days. 16 Nov 2026 + 45 = Thu 31 Dec 2026 (working day).
        assert_eq!(due_date(date(2026, 11, 16), 45, &cal), date(2026, 12, 31));
        // 17 Nov 2026 + 45 = New Year's Day 2027 (Fri) → Monday 4 Jan 2027.
        assert_eq!(due_date(date(2026, 11, 17), 45, &cal), date(2027, 1, 4));
    }
}
