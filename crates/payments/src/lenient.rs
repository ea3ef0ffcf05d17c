//! Liberal readers for the loosely typed parts of provider answers.
//!
//! Providers send ids as numbers or strings, kobo amounts as numbers or numeric
//! strings, `metadata` as an object, a JSON-encoded string or `""`. These helpers accept
//! all of them, and refuse what would lose money: a fractional or out-of-range kobo
//! amount is an error, never rounded.

use kobo_domain::money::Kobo;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// An unsigned 64-bit id from a number or a string of digits.
pub(crate) fn value_u64(value: &Value) -> Result<u64, String> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| format!("id {n} is not an unsigned 64-bit integer")),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
            .parse::<u64>()
            .map_err(|_| format!("id {s:?} does not fit in 64 bits")),
        other => Err(format!(
            "id {other} is neither a number nor a string of digits"
        )),
    }
}

/// Whole kobo from an integer or a string of digits with an optional leading `-`.
pub(crate) fn value_kobo(value: &Value) -> Result<Kobo, String> {
    match value {
        Value::Number(n) => n.as_i64().map(Kobo).ok_or_else(|| {
            format!("amount {n} is not a whole number of kobo that fits in 64 bits")
        }),
        Value::String(s) => {
            let digits = s.strip_prefix('-').unwrap_or(s);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("amount {s:?} is not a whole number of kobo"));
            }
            s.parse::<i64>()
                .map(Kobo)
                .map_err(|_| format!("amount {s:?} does not fit in 64 bits"))
        }
        other => Err(format!(
            "amount {other} is neither a number nor a numeric string"
        )),
    }
}

/// Like [`value_kobo`], with `null` (and a missing field) as `None`.
pub(crate) fn value_opt_kobo(value: &Value) -> Result<Option<Kobo>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        other => value_kobo(other).map(Some),
    }
}

/// `metadata` normalised: `""` and `null` become `null`; a string holding JSON becomes
/// that JSON; any other string stays a string; objects and arrays are kept.
pub(crate) fn normalize_metadata(value: Value) -> Value {
    match value {
        Value::String(s) if s.trim().is_empty() => Value::Null,
        Value::String(s) => match serde_json::from_str::<Value>(&s) {
            Ok(parsed @ (Value::Object(_) | Value::Array(_))) => parsed,
            _ => Value::String(s),
        },
        other => other,
    }
}

/// A text field that may arrive as a string, a number, a boolean or `null`.
pub(crate) fn value_opt_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A flag that may arrive as a boolean, `"true"`/`"false"`, or `1`/`0`.
pub(crate) fn value_bool(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true") || s == "1",
        Value::Number(n) => n.as_u64() == Some(1),
        _ => false,
    }
}

pub(crate) fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    value_u64(&Value::deserialize(d)?).map_err(D::Error::custom)
}

pub(crate) fn de_opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        other => value_u64(&other).map(Some).map_err(D::Error::custom),
    }
}

pub(crate) fn de_kobo<'de, D: Deserializer<'de>>(d: D) -> Result<Kobo, D::Error> {
    value_kobo(&Value::deserialize(d)?).map_err(D::Error::custom)
}

pub(crate) fn de_opt_kobo<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Kobo>, D::Error> {
    value_opt_kobo(&Value::deserialize(d)?).map_err(D::Error::custom)
}

pub(crate) fn de_metadata<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    Ok(normalize_metadata(Value::deserialize(d)?))
}

pub(crate) fn de_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(value_opt_string(&Value::deserialize(d)?))
}

pub(crate) fn de_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(value_opt_string(&Value::deserialize(d)?).unwrap_or_default())
}

pub(crate) fn de_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(value_bool(&Value::deserialize(d)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_accept_numbers_and_digit_strings_beyond_two_to_the_53() {
        // 2^53 + 1 cannot be represented by an f64; it must survive exactly.
        let big: u64 = 9_007_199_254_740_993;
        let parsed: Value = serde_json::from_str("9007199254740993").unwrap();
        assert_eq!(value_u64(&parsed), Ok(big));
        assert_eq!(value_u64(&json!("9007199254740993")), Ok(big));
        assert_eq!(value_u64(&json!(u64::MAX)), Ok(u64::MAX));
        assert!(value_u64(&json!(-1)).is_err());
        assert!(value_u64(&json!(1.5)).is_err());
        assert!(value_u64(&json!("12a")).is_err());
        assert!(value_u64(&json!("")).is_err());
        assert!(value_u64(&json!("18446744073709551616")).is_err());
        assert!(value_u64(&Value::Null).is_err());
    }

    #[test]
    fn kobo_amounts_accept_integers_and_numeric_strings_only() {
        assert_eq!(value_kobo(&json!(20000)), Ok(Kobo(20_000)));
        assert_eq!(value_kobo(&json!("20000")), Ok(Kobo(20_000)));
        assert_eq!(value_kobo(&json!("-150")), Ok(Kobo(-150)));
        assert!(value_kobo(&json!(200.5)).is_err(), "fractional kobo");
        assert!(value_kobo(&json!("200.5")).is_err(), "fractional kobo");
        assert!(value_kobo(&json!("1e3")).is_err());
        assert!(value_kobo(&json!(" 5")).is_err());
        assert!(value_kobo(&json!("-")).is_err());
        assert!(value_kobo(&json!(u64::MAX)).is_err(), "overflows i64");
        assert_eq!(value_opt_kobo(&Value::Null), Ok(None));
        assert_eq!(value_opt_kobo(&json!("")), Ok(None));
        assert_eq!(value_opt_kobo(&json!(30050)), Ok(Some(Kobo(30_050))));
    }

    #[test]
    fn metadata_is_normalised() {
        assert_eq!(normalize_metadata(json!("")), Value::Null);
        assert_eq!(normalize_metadata(Value::Null), Value::Null);
        assert_eq!(
            normalize_metadata(json!({"org_id": "o1"})),
            json!({"org_id": "o1"})
        );
        assert_eq!(
            normalize_metadata(json!("{\"org_id\":\"o1\",\"n\":2}")),
            json!({"org_id": "o1", "n": 2})
        );
        assert_eq!(normalize_metadata(json!("just text")), json!("just text"));
        assert_eq!(normalize_metadata(json!("42")), json!("42"));
    }

    #[test]
    fn flags_and_strings_are_liberal() {
        assert!(value_bool(&json!(true)));
        assert!(value_bool(&json!("true")));
        assert!(value_bool(&json!(1)));
        assert!(!value_bool(&json!(false)));
        assert!(!value_bool(&json!("no")));
        assert!(!value_bool(&Value::Null));
        assert_eq!(value_opt_string(&json!("4081")), Some("4081".into()));
        assert_eq!(value_opt_string(&json!(4081)), Some("4081".into()));
        assert_eq!(value_opt_string(&Value::Null), None);
    }
}
