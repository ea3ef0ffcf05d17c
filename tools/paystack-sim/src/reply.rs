//! Answers in each provider's envelope, and small shared helpers.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::Serialize;
use serde_json::{json, Value};

/// Paystack's success envelope.
pub(crate) fn ps_ok(message: &str, data: Value) -> Response {
    Json(json!({"status": true, "message": message, "data": data})).into_response()
}

/// Paystack's error envelope.
pub(crate) fn ps_err(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"status": false, "message": message}))).into_response()
}

/// Flutterwave's success envelope.
pub(crate) fn flw_ok(message: &str, data: impl Serialize) -> Response {
    #[derive(Serialize)]
    struct Envelope<'a, T> {
        status: &'static str,
        message: &'a str,
        data: T,
    }
    Json(Envelope {
        status: "success",
        message,
        data,
    })
    .into_response()
}

/// Flutterwave's error envelope.
pub(crate) fn flw_err(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"status": "error", "message": message, "data": null})),
    )
        .into_response()
}

/// True when the request carries `Authorization: Bearer <secret>`.
pub(crate) fn bearer_ok(headers: &HeaderMap, secret: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|key| !secret.is_empty() && key.trim() == secret)
}

/// A JSON object from a request body; an empty body is `{}`.
pub(crate) fn parse_body(body: &[u8]) -> Option<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(json!({}));
    }
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
}

/// Whole kobo from a JSON integer or a string of digits.
pub(crate) fn kobo_amount(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

/// `len` random lower-case letters and digits.
pub(crate) fn random_code(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(|b| char::from(b).to_ascii_lowercase())
        .collect()
}

/// Now, as Paystack and Flutterwave print it: `2024-08-22T09:15:02.000Z`.
pub(crate) fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Percent-encode a query-string component.
pub(crate) fn encode_component(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `url` with `params` appended to its query string.
pub(crate) fn with_query(url: &str, params: &[(&str, &str)]) -> String {
    let mut out = url.to_owned();
    let mut separator = if url.contains('?') { '&' } else { '?' };
    for (key, value) in params {
        out.push(separator);
        out.push_str(&encode_component(key));
        out.push('=');
        out.push_str(&encode_component(value));
        separator = '&';
    }
    out
}

/// Escape text for HTML.
pub(crate) fn escape_html(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(kobo_amount(Some(&json!(100))), Some(100));
        assert_eq!(kobo_amount(Some(&json!("20000"))), Some(20_000));
        assert_eq!(kobo_amount(Some(&json!(100.5))), None);
        assert_eq!(kobo_amount(Some(&json!("1e3"))), None);
        assert_eq!(kobo_amount(None), None);
        assert_eq!(
            with_query("http://x/cb?a=1", &[("reference", "r 1&")]),
            "http://x/cb?a=1&reference=r%201%26"
        );
        assert_eq!(
            escape_html("<a href=\"x\">&</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(parse_body(b""), Some(json!({})));
        assert_eq!(parse_body(b"[1]"), None);
        assert_eq!(random_code(12).len(), 12);
    }
}
