//! Money: whole kobo for invoices and payments, millikobo for per-request cost.
//!
//! Rules that hold everywhere in Kobo:
//! - money is an integer, never a float; `₦1 = 100 kobo`, `1 kobo = 1000 millikobo`;
//! - arithmetic that can overflow is checked (`checked_*` return `None`, the
//!   higher-level helpers return [`MoneyError::Overflow`]); there is deliberately no
//!   `impl Add for Kobo`, whose overflow would panic in debug and wrap in release;
//! - rounding happens once, at a documented place, with one rule: **half away from
//!   zero** ("half-up" for positive amounts: `0.5 → 1`, `1.5 → 2`; symmetric for
//!   negative amounts: `-0.5 → -1`, so a credit rounds to the same magnitude as the
//!   matching charge). [`round_half_up_div`] is the one exact rational rounding used by
//!   proration, VAT and overage.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Kobo per naira.
pub const KOBO_PER_NAIRA: i64 = 100;
/// Millikobo per kobo.
pub const MILLIKOBO_PER_KOBO: i64 = 1000;

/// Errors of money arithmetic and parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The input string was empty.
    #[error("amount is empty")]
    Empty,
    /// The input is not a plain decimal number of naira.
    #[error("amount {0:?} is not a decimal number of naira (digits, an optional leading '-', an optional '.' and up to two decimals)")]
    Malformed(String),
    /// More than two digits after the decimal point: not a whole number of kobo.
    #[error("amount {0:?} has more than two decimals, so it is not a whole number of kobo")]
    TooManyDecimals(String),
    /// The result does not fit in 64 bits.
    #[error("amount overflows")]
    Overflow,
    /// A division by zero was asked for.
    #[error("division by zero")]
    DivisionByZero,
}

/// An amount of money in kobo (1/100 naira). Serialized as a bare integer.
///
/// Any `i64` is a valid amount: negative values are credits and refunds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Kobo(pub i64);

/// An amount of money in millikobo (1/1000 kobo), used for the exact cost of one
/// request before it is summed and rounded onto an invoice. Serialized as a bare integer.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Millikobo(pub i64);

impl Kobo {
    /// No money.
    pub const ZERO: Kobo = Kobo(0);

    /// The raw number of kobo.
    pub const fn as_i64(self) -> i64 {
        self.0
    }

    /// `naira` whole naira, or `None` on overflow.
    pub fn from_naira(naira: i64) -> Option<Kobo> {
        naira.checked_mul(KOBO_PER_NAIRA).map(Kobo)
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Kobo) -> Option<Kobo> {
        self.0.checked_add(other.0).map(Kobo)
    }

    /// `self - other`, or `None` on overflow.
    pub fn checked_sub(self, other: Kobo) -> Option<Kobo> {
        self.0.checked_sub(other.0).map(Kobo)
    }

    /// `self × factor` (a quantity), or `None` on overflow.
    pub fn checked_mul(self, factor: i64) -> Option<Kobo> {
        self.0.checked_mul(factor).map(Kobo)
    }

    /// `-self`, or `None` for `i64::MIN`.
    pub fn checked_neg(self) -> Option<Kobo> {
        self.0.checked_neg().map(Kobo)
    }

    /// Sum of amounts, or `None` on overflow.
    pub fn checked_sum<I: IntoIterator<Item = Kobo>>(amounts: I) -> Option<Kobo> {
        amounts
            .into_iter()
            .try_fold(Kobo::ZERO, |acc, k| acc.checked_add(k))
    }

    /// The same amount in millikobo, or `None` on overflow.
    pub fn to_millikobo(self) -> Option<Millikobo> {
        self.0.checked_mul(MILLIKOBO_PER_KOBO).map(Millikobo)
    }

    /// The larger of `self` and zero.
    pub fn max_zero(self) -> Kobo {
        Kobo(self.0.max(0))
    }

    /// True below zero (a credit or refund).
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Decimal naira with exactly two decimals and no grouping, as Flutterwave's
    /// `amount` expects: `Kobo(4_500_000)` → `"45000.00"`, `Kobo(-5)` → `"-0.05"`.
    pub fn to_naira_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }

    /// The amount in whole naira when it has no kobo part (for integer `amount_ngn`
    /// fields); `None` when a kobo part would be lost.
    pub fn whole_naira(self) -> Option<i64> {
        if self.0 % KOBO_PER_NAIRA == 0 {
            Some(self.0 / KOBO_PER_NAIRA)
        } else {
            None
        }
    }
}

impl fmt::Display for Kobo {
    /// `₦1,500.00` (see [`format_naira`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_naira(*self))
    }
}

impl Millikobo {
    /// No money.
    pub const ZERO: Millikobo = Millikobo(0);

    /// The raw number of millikobo.
    pub const fn as_i64(self) -> i64 {
        self.0
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Millikobo) -> Option<Millikobo> {
        self.0.checked_add(other.0).map(Millikobo)
    }

    /// `self - other`, or `None` on overflow.
    pub fn checked_sub(self, other: Millikobo) -> Option<Millikobo> {
        self.0.checked_sub(other.0).map(Millikobo)
    }

    /// `self × factor`, or `None` on overflow.
    pub fn checked_mul(self, factor: i64) -> Option<Millikobo> {
        self.0.checked_mul(factor).map(Millikobo)
    }

    /// Sum of amounts, or `None` on overflow.
    pub fn checked_sum<I: IntoIterator<Item = Millikobo>>(amounts: I) -> Option<Millikobo> {
        amounts
            .into_iter()
            .try_fold(Millikobo::ZERO, |acc, m| acc.checked_add(m))
    }

    /// Whole kobo, rounded half away from zero: `1500 → 2`, `1499 → 1`,
    /// `-1500 → -2` (symmetric, so a negative amount rounds to the same magnitude
    /// as its positive counterpart). Cannot overflow.
    pub fn to_kobo_half_up(self) -> Kobo {
        let q = self.0 / MILLIKOBO_PER_KOBO;
        let r = self.0 % MILLIKOBO_PER_KOBO;
        if r.unsigned_abs() >= (MILLIKOBO_PER_KOBO / 2).unsigned_abs() {
            Kobo(q + r.signum())
        } else {
            Kobo(q)
        }
    }
}

/// `numerator / denominator` rounded to the nearest integer, halves away from zero
/// (`5/2 → 3`, `-5/2 → -3`, `7/3 → 2`). Exact: no intermediate rounding.
///
/// Errors: [`MoneyError::DivisionByZero`]; [`MoneyError::Overflow`] when the result
/// does not fit in an `i64`.
pub fn round_half_up_div(numerator: i128, denominator: i128) -> Result<i64, MoneyError> {
    if denominator == 0 {
        return Err(MoneyError::DivisionByZero);
    }
    let (n, d) = if denominator < 0 {
        (
            numerator.checked_neg().ok_or(MoneyError::Overflow)?,
            denominator.checked_neg().ok_or(MoneyError::Overflow)?,
        )
    } else {
        (numerator, denominator)
    };
    let q = n / d;
    let r_abs = (n % d).unsigned_abs();
    let d_abs = d.unsigned_abs();
    // |r| / d >= 1/2  ⇔  |r| >= d - |r|  (written without 2·|r|, which could overflow).
    let q = if r_abs >= d_abs - r_abs {
        q + n.signum()
    } else {
        q
    };
    i64::try_from(q).map_err(|_| MoneyError::Overflow)
}

/// The exact cost of `tokens` at `price_per_1k_kobo` kobo per 1,000 tokens.
///
/// `price / 1000 kobo per token × tokens = price × tokens millikobo`, so no rounding
/// happens here. Errors with [`MoneyError::Overflow`] past `i64::MAX` millikobo.
pub fn cost_millikobo(tokens: u64, price_per_1k_kobo: i64) -> Result<Millikobo, MoneyError> {
    let exact = i128::from(tokens) * i128::from(price_per_1k_kobo);
    i64::try_from(exact)
        .map(Millikobo)
        .map_err(|_| MoneyError::Overflow)
}

/// `₦1,500.00`: naira sign, thousands separated by commas, always two decimals.
/// Negative amounts put the minus before the sign: `-₦1,500.00`.
pub fn format_naira(amount: Kobo) -> String {
    let sign = if amount.0 < 0 { "-" } else { "" };
    let abs = amount.0.unsigned_abs();
    format!("{sign}₦{}.{:02}", group_thousands(abs / 100), abs % 100)
}

/// `₦45,000` for plan cards: the kobo part only when it is not zero (`₦0.50`,
/// `₦1,500.50`). Zero is `₦0`; printing "Free" is the caller's choice.
pub fn format_naira_whole(amount: Kobo) -> String {
    if amount.0 % KOBO_PER_NAIRA == 0 {
        let sign = if amount.0 < 0 { "-" } else { "" };
        let naira = amount.0.unsigned_abs() / 100;
        format!("{sign}₦{}", group_thousands(naira))
    } else {
        format_naira(amount)
    }
}

/// Token allowances for plan cards: `999`, `1.5K`, `100K`, `1M`, `1.25M`, `50M`, `2B`.
///
/// Up to two decimals, trailing zeros dropped. Decimals are truncated, never rounded
/// up, so an allowance is never overstated (`999,999` → `999.99K`, not `1000K`).
pub fn format_token_count(tokens: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")];
    for (unit, suffix) in UNITS {
        if tokens >= unit {
            let whole = tokens / unit;
            let hundredths = (tokens % unit) / (unit / 100);
            return match hundredths {
                0 => format!("{whole}{suffix}"),
                h if h % 10 == 0 => format!("{whole}.{}{suffix}", h / 10),
                h => format!("{whole}.{h:02}{suffix}"),
            };
        }
    }
    tokens.to_string()
}

/// Parse a decimal naira amount (Flutterwave's `amount`, `app_fee`, …) into kobo,
/// exactly and never through a float.
///
/// Accepted: ASCII digits, an optional leading `-`, and optionally a `.` followed by
/// one or two digits: `"45000"`, `"45000.5"` (₦45,000.50), `"45000.50"`, `"0.01"`,
/// `"-12.30"`. Refused: empty input, whitespace, `+`, exponents (`"1e3"`), a bare or
/// trailing point (`".5"`, `"5."`), more than two decimals (even `"1.500"`: we do not
/// guess that trailing zeros are harmless), anything else, and overflow.
pub fn parse_naira_decimal(input: &str) -> Result<Kobo, MoneyError> {
    if input.is_empty() {
        return Err(MoneyError::Empty);
    }
    let malformed = || MoneyError::Malformed(input.to_owned());
    let (negative, unsigned) = match input.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, input),
    };
    let (int_part, frac_part) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int_part) {
        return Err(malformed());
    }
    let frac_kobo: i64 = match frac_part {
        None => 0,
        Some(f) if !all_digits(f) => return Err(malformed()),
        Some(f) if f.len() > 2 => return Err(MoneyError::TooManyDecimals(input.to_owned())),
        Some(f) => {
            let digits = f.parse::<i64>().map_err(|_| malformed())?;
            if f.len() == 1 {
                digits * 10
            } else {
                digits
            }
        }
    };
    let mut naira: i64 = 0;
    for b in int_part.bytes() {
        naira = naira
            .checked_mul(10)
            .and_then(|n| n.checked_add(i64::from(b - b'0')))
            .ok_or(MoneyError::Overflow)?;
    }
    let kobo = naira
        .checked_mul(KOBO_PER_NAIRA)
        .and_then(|k| k.checked_add(frac_kobo))
        .ok_or(MoneyError::Overflow)?;
    Ok(Kobo(if negative { -kobo } else { kobo }))
}

/// `1234567` → `"1,234,567"`.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_half_up_div_rounds_halves_away_from_zero() {
        assert_eq!(round_half_up_div(5, 2), Ok(3));
        assert_eq!(round_half_up_div(3, 2), Ok(2));
        assert_eq!(round_half_up_div(1, 2), Ok(1));
        assert_eq!(round_half_up_div(-5, 2), Ok(-3));
        assert_eq!(round_half_up_div(-1, 2), Ok(-1));
        assert_eq!(round_half_up_div(5, -2), Ok(-3));
        assert_eq!(round_half_up_div(-5, -2), Ok(3));
    }

    #[test]
    fn round_half_up_div_rounds_to_nearest_otherwise() {
        assert_eq!(round_half_up_div(7, 3), Ok(2)); // 2.33
        assert_eq!(round_half_up_div(8, 3), Ok(3)); // 2.67
        assert_eq!(round_half_up_div(-7, 3), Ok(-2));
        assert_eq!(round_half_up_div(-8, 3), Ok(-3));
        assert_eq!(round_half_up_div(0, 7), Ok(0));
        assert_eq!(round_half_up_div(10, 5), Ok(2));
        assert_eq!(round_half_up_div(1, 3), Ok(0));
        // 19,500,000 / 28 = 696,428.571… → 696,429
        assert_eq!(round_half_up_div(19_500_000, 28), Ok(696_429));
    }

    #[test]
    fn round_half_up_div_refuses_zero_denominator_and_overflow() {
        assert_eq!(round_half_up_div(1, 0), Err(MoneyError::DivisionByZero));
        assert_eq!(
            round_half_up_div(i128::from(i64::MAX) + 1, 1),
            Err(MoneyError::Overflow)
        );
        assert_eq!(round_half_up_div(i128::MIN, -1), Err(MoneyError::Overflow));
        assert_eq!(round_half_up_div(i128::MAX, i128::MAX), Ok(1));
        assert_eq!(round_half_up_div(i128::MAX / 2 + 1, i128::MAX), Ok(1));
        assert_eq!(round_half_up_div(i128::MAX / 2, i128::MAX), Ok(0));
        assert_eq!(
            round_half_up_div(i128::from(i64::MIN), 1),
            Ok(i64::MIN),
            "the most negative i64 still fits"
        );
    }

    #[test]
    fn millikobo_rounds_to_kobo_half_up_and_symmetric() {
        assert_eq!(Millikobo(0).to_kobo_half_up(), Kobo(0));
        assert_eq!(Millikobo(499).to_kobo_half_up(), Kobo(0));
        assert_eq!(Millikobo(500).to_kobo_half_up(), Kobo(1));
        assert_eq!(Millikobo(1_499).to_kobo_half_up(), Kobo(1));
        assert_eq!(Millikobo(1_500).to_kobo_half_up(), Kobo(2));
        assert_eq!(Millikobo(2_000).to_kobo_half_up(), Kobo(2));
        assert_eq!(Millikobo(-499).to_kobo_half_up(), Kobo(0));
        assert_eq!(Millikobo(-500).to_kobo_half_up(), Kobo(-1));
        assert_eq!(Millikobo(-1_500).to_kobo_half_up(), Kobo(-2));
        assert_eq!(
            Millikobo(i64::MAX).to_kobo_half_up(),
            Kobo(9_223_372_036_854_776)
        );
        assert_eq!(
            Millikobo(i64::MIN).to_kobo_half_up(),
            Kobo(-9_223_372_036_854_776)
        );
    }

    #[test]
    fn checked_arithmetic_reports_overflow() {
        assert_eq!(Kobo(2).checked_add(Kobo(3)), Some(Kobo(5)));
        assert_eq!(Kobo(i64::MAX).checked_add(Kobo(1)), None);
        assert_eq!(Kobo(2).checked_sub(Kobo(3)), Some(Kobo(-1)));
        assert_eq!(Kobo(i64::MIN).checked_sub(Kobo(1)), None);
        assert_eq!(Kobo(1_500).checked_mul(3), Some(Kobo(4_500)));
        assert_eq!(Kobo(i64::MAX).checked_mul(2), None);
        assert_eq!(Kobo(5).checked_neg(), Some(Kobo(-5)));
        assert_eq!(Kobo(i64::MIN).checked_neg(), None);
        assert_eq!(
            Kobo::checked_sum([Kobo(1), Kobo(2), Kobo(-4)]),
            Some(Kobo(-1))
        );
        assert_eq!(Kobo::checked_sum([Kobo(i64::MAX), Kobo(1)]), None);
        assert_eq!(Kobo::from_naira(45_000), Some(Kobo(4_500_000)));
        assert_eq!(Kobo::from_naira(i64::MAX), None);
        assert_eq!(Kobo(3).to_millikobo(), Some(Millikobo(3_000)));
        assert_eq!(Kobo(i64::MAX).to_millikobo(), None);
        assert_eq!(Kobo(-3).max_zero(), Kobo::ZERO);
        assert_eq!(Kobo(3).max_zero(), Kobo(3));

        assert_eq!(Millikobo(1).checked_add(Millikobo(2)), Some(Millikobo(3)));
        assert_eq!(Millikobo(i64::MAX).checked_add(Millikobo(1)), None);
        assert_eq!(Millikobo(1).checked_sub(Millikobo(2)), Some(Millikobo(-1)));
        assert_eq!(Millikobo(7).checked_mul(3), Some(Millikobo(21)));
        assert_eq!(Millikobo(i64::MIN).checked_mul(-1), None);
        assert_eq!(
            Millikobo::checked_sum([Millikobo(250), Millikobo(250)]),
            Some(Millikobo(500))
        );
    }

    #[test]
    fn cost_millikobo_is_exact() {
        // gpt-4o input at ₦3.50 per 1K tokens = 350 kobo per 1K.
        assert_eq!(cost_millikobo(1_000, 350), Ok(Millikobo(350_000)));
        assert_eq!(cost_millikobo(1, 350), Ok(Millikobo(350)));
        // gpt-3.5-turbo input at ₦0.11 per 1K: 7 tokens cost 77 millikobo, exactly.
        assert_eq!(cost_millikobo(7, 11), Ok(Millikobo(77)));
        assert_eq!(cost_millikobo(0, 350), Ok(Millikobo(0)));
        assert_eq!(cost_millikobo(123, 0), Ok(Millikobo(0)));
        assert_eq!(cost_millikobo(u64::MAX, 2), Err(MoneyError::Overflow));
        assert_eq!(
            cost_millikobo(u64::MAX / 2, 1),
            Ok(Millikobo(i64::MAX)),
            "u64::MAX / 2 == i64::MAX"
        );
    }

    #[test]
    fn format_naira_groups_thousands_and_shows_kobo() {
        assert_eq!(format_naira(Kobo(150_000)), "₦1,500.00");
        assert_eq!(format_naira(Kobo(-150_000)), "-₦1,500.00");
        assert_eq!(format_naira(Kobo(0)), "₦0.00");
        assert_eq!(format_naira(Kobo(5)), "₦0.05");
        assert_eq!(format_naira(Kobo(-5)), "-₦0.05");
        assert_eq!(format_naira(Kobo(50)), "₦0.50");
        assert_eq!(format_naira(Kobo(99_999)), "₦999.99");
        assert_eq!(format_naira(Kobo(100_000)), "₦1,000.00");
        assert_eq!(format_naira(Kobo(4_500_000)), "₦45,000.00");
        assert_eq!(format_naira(Kobo(15_000_000)), "₦150,000.00");
        assert_eq!(format_naira(Kobo(12_345_678_901)), "₦123,456,789.01");
        assert_eq!(format_naira(Kobo(i64::MIN)), "-₦92,233,720,368,547,758.08");
        assert_eq!(Kobo(150_000).to_string(), "₦1,500.00");
    }

    #[test]
    fn format_naira_whole_hides_a_zero_kobo_part() {
        assert_eq!(format_naira_whole(Kobo(4_500_000)), "₦45,000");
        assert_eq!(format_naira_whole(Kobo(15_000_000)), "₦150,000");
        assert_eq!(format_naira_whole(Kobo(0)), "₦0");
        assert_eq!(format_naira_whole(Kobo(50)), "₦0.50");
        assert_eq!(format_naira_whole(Kobo(150_050)), "₦1,500.50");
        assert_eq!(format_naira_whole(Kobo(-100)), "-₦1");
        assert_eq!(format_naira_whole(Kobo(-150)), "-₦1.50");
    }

    #[test]
    fn format_token_count_is_compact() {
        assert_eq!(format_token_count(0), "0");
        assert_eq!(format_token_count(999), "999");
        assert_eq!(format_token_count(1_000), "1K");
        assert_eq!(format_token_count(1_500), "1.5K");
        assert_eq!(format_token_count(100_000), "100K");
        assert_eq!(format_token_count(999_999), "999.99K");
        assert_eq!(format_token_count(1_000_000), "1M");
        assert_eq!(format_token_count(1_500_000), "1.5M");
        assert_eq!(format_token_count(1_250_000), "1.25M");
        assert_eq!(format_token_count(1_050_000), "1.05M");
        assert_eq!(format_token_count(1_234_567), "1.23M");
        assert_eq!(format_token_count(10_000_000), "10M");
        assert_eq!(format_token_count(50_000_000), "50M");
        assert_eq!(format_token_count(2_000_000_000), "2B");
        assert_eq!(format_token_count(u64::MAX), "18446744073.7B");
    }

    #[test]
    fn parse_naira_decimal_accepts_exact_amounts() {
        assert_eq!(parse_naira_decimal("45000"), Ok(Kobo(4_500_000)));
        assert_eq!(parse_naira_decimal("45000.5"), Ok(Kobo(4_500_050)));
        assert_eq!(parse_naira_decimal("45000.50"), Ok(Kobo(4_500_050)));
        assert_eq!(parse_naira_decimal("45000.05"), Ok(Kobo(4_500_005)));
        assert_eq!(parse_naira_decimal("0.01"), Ok(Kobo(1)));
        assert_eq!(parse_naira_decimal("1.4"), Ok(Kobo(140)));
        assert_eq!(parse_naira_decimal("0"), Ok(Kobo(0)));
        assert_eq!(parse_naira_decimal("-0"), Ok(Kobo(0)));
        assert_eq!(parse_naira_decimal("-12.30"), Ok(Kobo(-1_230)));
        assert_eq!(parse_naira_decimal("007"), Ok(Kobo(700)));
        // The largest amount that fits: i64::MAX kobo.
        assert_eq!(
            parse_naira_decimal("92233720368547758.07"),
            Ok(Kobo(i64::MAX))
        );
    }

    #[test]
    fn parse_naira_decimal_refuses_everything_else() {
        assert_eq!(parse_naira_decimal(""), Err(MoneyError::Empty));
        for bad in [
            "-", "+5", "5-", "--5", ".5", "5.", "-.5", "1e3", "1E3", "1.5e2", " 5", "5 ", "1,000",
            "₦5", "abc", "5.a", "5..0", "5.0.0", "0x10", "NaN", "inf", "٣",
        ] {
            assert!(
                matches!(parse_naira_decimal(bad), Err(MoneyError::Malformed(_))),
                "{bad:?} should be malformed"
            );
        }
        for bad in ["1.500", "0.001", "45000.505"] {
            assert!(
                matches!(
                    parse_naira_decimal(bad),
                    Err(MoneyError::TooManyDecimals(_))
                ),
                "{bad:?} has too many decimals"
            );
        }
        assert_eq!(
            parse_naira_decimal("92233720368547758.08"),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            parse_naira_decimal("99999999999999999999999"),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn naira_strings_for_flutterwave() {
        assert_eq!(Kobo(4_500_000).to_naira_string(), "45000.00");
        assert_eq!(Kobo(4_500_050).to_naira_string(), "45000.50");
        assert_eq!(Kobo(1).to_naira_string(), "0.01");
        assert_eq!(Kobo(-5).to_naira_string(), "-0.05");
        assert_eq!(Kobo(0).to_naira_string(), "0.00");
        assert_eq!(Kobo(4_500_000).whole_naira(), Some(45_000));
        assert_eq!(Kobo(-100).whole_naira(), Some(-1));
        assert_eq!(Kobo(4_500_050).whole_naira(), None);
        // Round trip through the parser.
        for k in [0, 1, 99, 100, 4_500_050, -1_230, i64::MAX, i64::MIN + 1] {
            assert_eq!(parse_naira_decimal(&Kobo(k).to_naira_string()), Ok(Kobo(k)));
        }
    }

    #[test]
    fn kobo_serializes_as_a_bare_integer() {
        assert_eq!(
            serde_json::to_string(&Kobo(150_000)).ok().as_deref(),
            Some("150000")
        );
        assert_eq!(serde_json::from_str::<Kobo>("-5").ok(), Some(Kobo(-5)));
        assert_eq!(
            serde_json::to_string(&Millikobo(77)).ok().as_deref(),
            Some("77")
        );
        assert!(serde_json::from_str::<Kobo>("1.5").is_err());
        assert!(serde_json::from_str::<Kobo>("\"150000\"").is_err());
    }
}
