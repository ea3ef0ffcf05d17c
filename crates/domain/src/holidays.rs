//! Nigerian federal public holidays, for due dates and dunning ("working days").
//!
//! Three sources, merged per year:
//! 1. **Rules in code**: fixed dates — New Year's Day (1 Jan), Workers' Day (1 May),
//!    Democracy Day (12 Jun), Independence Day (1 Oct), Christmas Day (25 Dec), Boxing
//!    Day (26 Dec) — and Good Friday / Easter Monday from the Western (Gregorian)
//!    Easter, computed by [`easter_sunday`].
//! 2. **A dated table** (`data/holidays.json`, embedded) of the holidays that follow
//!    the Islamic calendar — Eid-el-Fitr (two days), Eid-el-Kabir (two days),
//!    Eid-el-Maulud — for 2024–2030. The government declares these case by case after
//!    the moon is sighted, so the table holds declared dates where known and expected
//!    dates otherwise; the operator may load an amended table ([`HolidayCalendar::from_json`])
//!    or correct it with [`HolidayCalendar::with_extra`] / [`HolidayCalendar::with_removed`].
//!    Outside the table's years no Islamic holiday is known
//!    ([`HolidayCalendar::lunar_table_covers`] tells).
//! 3. **Operator-declared days off** ([`HolidayCalendar::with_extra`]), taken as
//!    declared.
//!
//! **Weekend rule.** A holiday from (1) or (2) that falls on a Saturday or Sunday makes
//! the next weekday that is not already a holiday a holiday too ("… (observed)").
//! Weekend holidays are handled in date order, so two weekend holidays in a row get
//! two substitute days: Christmas on Saturday 25 Dec 2027 → Monday 27 Dec, Boxing Day
//! on Sunday 26 Dec 2027 → Tuesday 28 Dec; Christmas on Sunday → Boxing Day is Monday
//! already → the substitute is Tuesday 27. Operator-declared days (3) are the actual
//! days off and get no substitute. Removing a date removes the holiday on that date
//! (and, for a weekend holiday, its substitute) but never an operator-declared day.

use std::collections::BTreeSet;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::Deserialize;

/// The embedded table of Islamic-calendar holidays.
const EMBEDDED_TABLE: &str = include_str!("../data/holidays.json");

/// Errors loading a holiday table.
#[derive(Debug, thiserror::Error)]
pub enum HolidayDataError {
    /// The table is not valid JSON of the expected shape.
    #[error("holiday table is not valid: {0}")]
    Invalid(#[from] serde_json::Error),
}

/// One holiday: a Lagos calendar date and its name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holiday {
    /// The day (a calendar date in Africa/Lagos).
    pub date: NaiveDate,
    /// What is celebrated, e.g. "Independence Day" or "Christmas Day (observed)".
    pub name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayTable {
    #[serde(default)]
    #[allow(dead_code)]
    note: String,
    holidays: Vec<Holiday>,
}

/// The Nigerian holiday calendar: rules, a dated table and operator amendments.
#[derive(Debug, Clone, Default)]
pub struct HolidayCalendar {
    /// Dated holidays subject to the weekend rule (the Islamic-calendar table).
    table: Vec<Holiday>,
    /// Operator-declared days off, taken as they are.
    declared: Vec<Holiday>,
    /// Dates the operator says are not holidays.
    removed: BTreeSet<NaiveDate>,
}

impl HolidayCalendar {
    /// Rules plus the embedded 2024–2030 table of Islamic-calendar holidays.
    pub fn nigeria() -> Result<Self, HolidayDataError> {
        Self::from_json(EMBEDDED_TABLE)
    }

    /// Only the rule-based holidays (fixed dates, Good Friday, Easter Monday).
    pub fn rules_only() -> Self {
        Self::default()
    }

    /// Rules plus a table in the format of `data/holidays.json`:
    /// `{"note": "…", "holidays": [{"date": "2026-03-19", "name": "Eid-el-Fitr"}, …]}`.
    pub fn from_json(json: &str) -> Result<Self, HolidayDataError> {
        let table: HolidayTable = serde_json::from_str(json)?;
        Ok(Self {
            table: table.holidays,
            ..Self::default()
        })
    }

    /// Adds operator-declared days off (e.g. a declared Eid date, a one-off holiday).
    /// They are taken as declared: no weekend substitution.
    pub fn with_extra<I, S>(mut self, dates: I) -> Self
    where
        I: IntoIterator<Item = (NaiveDate, S)>,
        S: Into<String>,
    {
        self.declared
            .extend(dates.into_iter().map(|(date, name)| Holiday {
                date,
                name: name.into(),
            }));
        self
    }

    /// Cancels the holidays on these dates (e.g. an expected Eid date the government
    /// declared differently, or a substitute day that was not declared).
    /// Operator-declared days ([`Self::with_extra`]) are never cancelled.
    pub fn with_removed<I: IntoIterator<Item = NaiveDate>>(mut self, dates: I) -> Self {
        self.removed.extend(dates);
        self
    }

    /// True if the dated table lists at least one holiday in `year`; when false the
    /// calendar knows no Islamic-calendar holiday for that year.
    pub fn lunar_table_covers(&self, year: i32) -> bool {
        self.table.iter().any(|h| h.date.year() == year)
    }

    /// All holidays observed in `year`, substitutes included, sorted by date.
    /// A date may appear twice when two holidays coincide.
    pub fn holidays_in_year(&self, year: i32) -> Vec<(NaiveDate, String)> {
        self.observed(year)
            .into_iter()
            .map(|h| (h.date, h.name))
            .collect()
    }

    /// True if `date` is a public holiday (including a weekend-substitute day).
    /// Saturdays and Sundays are not holidays by themselves: see [`Self::is_working_day`].
    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.observed(date.year()).iter().any(|h| h.date == date)
    }

    /// True if `date` is a weekday (Monday–Friday) and not a holiday.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !is_weekend(date) && !self.is_holiday(date)
    }

    /// `date` itself if it is a working day, otherwise the next working day.
    /// (Saturates at the last date chrono can represent.)
    pub fn next_working_day_on_or_after(&self, date: NaiveDate) -> NaiveDate {
        let mut day = date;
        while !self.is_working_day(day) {
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        day
    }

    /// Holidays whose own date is in `year`, before the weekend rule.
    fn base(&self, year: i32) -> Vec<Holiday> {
        let fixed: [(u32, u32, &str); 6] = [
            (1, 1, "New Year's Day"),
            (5, 1, "Workers' Day"),
            (6, 12, "Democracy Day"),
            (10, 1, "Independence Day"),
            (12, 25, "Christmas Day"),
            (12, 26, "Boxing Day"),
        ];
        let mut out: Vec<Holiday> = fixed
            .iter()
            .filter_map(|&(m, d, name)| {
                NaiveDate::from_ymd_opt(year, m, d).map(|date| Holiday {
                    date,
                    name: name.to_owned(),
                })
            })
            .collect();
        if let Some(easter) = easter_sunday(year) {
            if let Some(date) = easter.checked_sub_days(Days::new(2)) {
                out.push(Holiday {
                    date,
                    name: "Good Friday".to_owned(),
                });
            }
            if let Some(date) = easter.checked_add_days(Days::new(1)) {
                out.push(Holiday {
                    date,
                    name: "Easter Monday".to_owned(),
                });
            }
        }
        out.extend(self.table.iter().filter(|h| h.date.year() == year).cloned());
        out.retain(|h| !self.removed.contains(&h.date));
        out
    }

    /// Holidays observed in `year`: base holidays of `year`, weekend substitutes (a
    /// late-December weekend holiday of `year - 1` could spill into January), and
    /// operator-declared days, sorted by date.
    fn observed(&self, year: i32) -> Vec<Holiday> {
        let mut base = match year.checked_sub(1) {
            Some(previous) => self.base(previous),
            None => Vec::new(),
        };
        base.extend(self.base(year));
        base.sort_by_key(|h| h.date);

        let mut taken: BTreeSet<NaiveDate> = base.iter().map(|h| h.date).collect();
        let mut substitutes = Vec::new();
        for holiday in base.iter().filter(|h| is_weekend(h.date)) {
            let mut day = holiday.date;
            while let Some(next) = day.succ_opt() {
                day = next;
                if !is_weekend(day) && !taken.contains(&day) {
                    taken.insert(day);
                    substitutes.push(Holiday {
                        date: day,
                        name: format!("{} (observed)", holiday.name),
                    });
                    break;
                }
            }
        }
        base.extend(
            substitutes
                .into_iter()
                .filter(|h| !self.removed.contains(&h.date)),
        );
        base.extend(self.declared.iter().cloned());
        base.retain(|h| h.date.year() == year);
        base.sort_by_key(|h| h.date);
        base
    }
}

/// True on Saturday and Sunday.
pub fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Western (Gregorian) Easter Sunday of `year`, by the anonymous Gregorian computus
/// (Meeus/Jones/Butcher). `None` for years chrono cannot represent or before 1583.
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    if year < 1583 {
        return None;
    }
    let y = year;
    let a = y % 19; // position in the 19-year Metonic cycle
    let b = y / 100; // century
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3; // lunar correction
    let h = (19 * a + b - d - g + 15) % 30; // epact-like: days to the Paschal full moon
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7; // days from the full moon to Sunday
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(y, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
    }

    fn nigeria() -> HolidayCalendar {
        match HolidayCalendar::nigeria() {
            Ok(c) => c,
            Err(e) => panic!("embedded holiday table must load: {e}"),
        }
    }

    #[test]
    fn easter_known_years() {
        assert_eq!(easter_sunday(2024), Some(date(2024, 3, 31)));
        assert_eq!(easter_sunday(2025), Some(date(2025, 4, 20)));
        assert_eq!(easter_sunday(2026), Some(date(2026, 4, 5)));
        assert_eq!(easter_sunday(2027), Some(date(2027, 3, 28)));
        assert_eq!(easter_sunday(2028), Some(date(2028, 4, 16)));
        assert_eq!(easter_sunday(2029), Some(date(2029, 4, 1)));
        assert_eq!(easter_sunday(2030), Some(date(2030, 4, 21)));
        // Extremes of the possible range (22 Mar – 25 Apr).
        assert_eq!(easter_sunday(1818), Some(date(1818, 3, 22)));
        assert_eq!(easter_sunday(2285), Some(date(2285, 3, 22)));
        assert_eq!(easter_sunday(1943), Some(date(1943, 4, 25)));
        assert_eq!(easter_sunday(2038), Some(date(2038, 4, 25)));
        assert_eq!(easter_sunday(2000), Some(date(2000, 4, 23)));
        assert_eq!(easter_sunday(1500), None);
        assert_eq!(easter_sunday(i32::MAX), None);
    }

    #[test]
    fn easter_is_always_a_sunday_between_22_march_and_25_april() {
        for year in 1583..=4000 {
            let Some(e) = easter_sunday(year) else {
                panic!("no Easter in {year}");
            };
            assert_eq!(e.weekday(), Weekday::Sun, "{year}");
            assert!(e >= date(year, 3, 22) && e <= date(year, 4, 25), "{year}");
        }
    }

    #[test]
    fn embedded_table_loads_and_covers_2024_to_2030() {
        let cal = nigeria();
        for year in 2024..=2030 {
            assert!(cal.lunar_table_covers(year), "{year}");
            let lunar = cal.table.iter().filter(|h| h.date.year() == year).count();
            assert_eq!(
                lunar, 5,
                "two Eid-el-Fitr, two Eid-el-Kabir, one Maulud in {year}"
            );
        }
        assert!(!cal.lunar_table_covers(2031));
    }

    #[test]
    fn holidays_of_2026() {
        let cal = nigeria();
        let got = cal.holidays_in_year(2026);
        let want = [
            (date(2026, 1, 1), "New Year's Day"),
            (date(2026, 3, 19), "Eid-el-Fitr"),
            (date(2026, 3, 20), "Eid-el-Fitr holiday"),
            (date(2026, 4, 3), "Good Friday"),
            (date(2026, 4, 6), "Easter Monday"),
            (date(2026, 5, 1), "Workers' Day"),
            (date(2026, 5, 27), "Eid-el-Kabir"),
            (date(2026, 5, 28), "Eid-el-Kabir holiday"),
            (date(2026, 6, 12), "Democracy Day"),
            (date(2026, 8, 25), "Eid-el-Maulud"),
            (date(2026, 10, 1), "Independence Day"),
            (date(2026, 12, 25), "Christmas Day"),
            (date(2026, 12, 26), "Boxing Day"),
            (date(2026, 12, 28), "Boxing Day (observed)"),
        ];
        let want: Vec<(NaiveDate, String)> =
            want.iter().map(|(d, n)| (*d, (*n).to_owned())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn christmas_and_boxing_day_on_a_weekend_get_two_substitutes() {
        // 2027: Christmas Saturday, Boxing Day Sunday → Monday 27 and Tuesday 28.
        let cal = HolidayCalendar::rules_only();
        let dec: Vec<(NaiveDate, String)> = cal
            .holidays_in_year(2027)
            .into_iter()
            .filter(|(d, _)| d.month() == 12)
            .collect();
        assert_eq!(
            dec,
            vec![
                (date(2027, 12, 25), "Christmas Day".to_owned()),
                (date(2027, 12, 26), "Boxing Day".to_owned()),
                (date(2027, 12, 27), "Christmas Day (observed)".to_owned()),
                (date(2027, 12, 28), "Boxing Day (observed)".to_owned()),
            ]
        );
        // 2022: Christmas Sunday, Boxing Day Monday → substitute Tuesday 27.
        assert!(cal.is_holiday(date(2022, 12, 26)));
        assert!(cal.is_holiday(date(2022, 12, 27)));
        assert!(cal.is_working_day(date(2022, 12, 28)));
    }

    #[test]
    fn weekend_fixed_holidays_2024_to_2030_get_a_monday() {
        let cal = HolidayCalendar::rules_only();
        // Democracy Day Saturday 12 Jun 2027 → Monday 14 Jun.
        assert!(cal.is_holiday(date(2027, 6, 14)));
        // Workers' Day Saturday 1 May 2027 → Monday 3 May.
        assert!(cal.is_holiday(date(2027, 5, 3)));
        // New Year's Day Saturday 1 Jan 2028 → Monday 3 Jan.
        assert!(cal.is_holiday(date(2028, 1, 3)));
        // Independence Day Sunday 1 Oct 2028 → Monday 2 Oct.
        assert!(cal.is_holiday(date(2028, 10, 2)));
        assert!(!cal.is_holiday(date(2028, 10, 3)));
        // Boxing Day Saturday 26 Dec 2026 → Monday 28 Dec.
        assert!(cal.is_holiday(date(2026, 12, 28)));
    }

    #[test]
    fn weekend_lunar_holidays_get_substitutes_too() {
        let cal = nigeria();
        // Eid-el-Fitr expected Sat 26 and Sun 27 Feb 2028 → Mon 28 and Tue 29 Feb.
        assert!(cal.is_holiday(date(2028, 2, 28)));
        assert!(cal.is_holiday(date(2028, 2, 29)));
        assert!(cal.is_working_day(date(2028, 3, 1)));
        // Eid-el-Kabir expected Sun 16 and Mon 17 May 2027 → substitute Tue 18 May.
        assert!(cal.is_holiday(date(2027, 5, 18)));
        assert!(cal.is_working_day(date(2027, 5, 19)));
        // Maulud expected Sat 14 Aug 2027 → Mon 16 Aug.
        assert!(cal.is_holiday(date(2027, 8, 16)));
    }

    #[test]
    fn good_friday_and_easter_monday() {
        let cal = HolidayCalendar::rules_only();
        assert!(cal.is_holiday(date(2025, 4, 18)));
        assert!(cal.is_holiday(date(2025, 4, 21)));
        assert!(!cal.is_holiday(date(2025, 4, 22)));
        // Easter Sunday itself is a weekend day, not a listed holiday.
        assert!(!cal.is_holiday(date(2025, 4, 20)));
        assert!(!cal.is_working_day(date(2025, 4, 20)));
    }

    #[test]
    fn working_days() {
        let cal = nigeria();
        assert!(cal.is_working_day(date(2026, 3, 18))); // Wednesday
        assert!(!cal.is_working_day(date(2026, 3, 19))); // Eid-el-Fitr
        assert!(!cal.is_working_day(date(2026, 3, 21))); // Saturday
        assert_eq!(
            cal.next_working_day_on_or_after(date(2026, 3, 19)),
            date(2026, 3, 23)
        );
        assert_eq!(
            cal.next_working_day_on_or_after(date(2026, 3, 18)),
            date(2026, 3, 18)
        );
        assert_eq!(
            cal.next_working_day_on_or_after(NaiveDate::MAX),
            NaiveDate::MAX
        );
    }

    #[test]
    fn operator_can_add_and_remove_dates() {
        // The government declares Eid-el-Kabir 2026 on Tue 26 and Wed 27 May instead
        // of the expected 27–28 May.
        let cal = nigeria()
            .with_removed([date(2026, 5, 28)])
            .with_extra([(date(2026, 5, 26), "Eid-el-Kabir (declared)")]);
        assert!(cal.is_holiday(date(2026, 5, 26)));
        assert!(cal.is_holiday(date(2026, 5, 27)));
        assert!(!cal.is_holiday(date(2026, 5, 28)));
        // A declared day off is never cancelled, and gets no substitute on a weekend.
        let cal = HolidayCalendar::rules_only()
            .with_extra([(date(2031, 3, 29), String::from("Declared Saturday"))])
            .with_removed([date(2031, 3, 29)]);
        assert!(cal.is_holiday(date(2031, 3, 29)));
        assert!(!cal.is_holiday(date(2031, 3, 31)));
        // Removing a weekend holiday removes its substitute as well.
        let cal = HolidayCalendar::rules_only().with_removed([date(2028, 10, 1)]);
        assert!(!cal.is_holiday(date(2028, 10, 2)));
        // Removing only the substitute keeps the holiday itself.
        let cal = HolidayCalendar::rules_only().with_removed([date(2028, 10, 2)]);
        assert!(cal.is_holiday(date(2028, 10, 1)));
        assert!(!cal.is_holiday(date(2028, 10, 2)));
    }

    #[test]
    fn from_json_replaces_the_table_and_rejects_bad_data() {
        let cal = HolidayCalendar::from_json(
            r#"{"holidays": [{"date": "2031-01-24", "name": "Eid-el-Fitr"}]}"#,
        );
        assert!(matches!(&cal, Ok(c) if c.is_holiday(date(2031, 1, 24))));
        assert!(matches!(&cal, Ok(c) if !c.is_holiday(date(2026, 3, 19))));
        assert!(HolidayCalendar::from_json("{}").is_err());
        assert!(HolidayCalendar::from_json(
            r#"{"holidays": [{"date": "2031-02-30", "name": "x"}]}"#
        )
        .is_err());
        assert!(HolidayCalendar::from_json(
            r#"{"holidays": [{"date": "2031-01-24", "name": "x", "typo": 1}]}"#
        )
        .is_err());
    }

    #[test]
    fn substitutes_never_land_on_other_holidays() {
        let cal = nigeria();
        for year in 2024..=2030 {
            let all = cal.holidays_in_year(year);
            for (d, name) in &all {
                if name.ends_with("(observed)") {
                    assert!(!is_weekend(*d), "{d} {name}");
                    assert_eq!(all.iter().filter(|(o, _)| o == d).count(), 1, "{d}");
                }
            }
        }
    }
}
