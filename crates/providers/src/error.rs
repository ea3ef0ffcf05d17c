//! The one error type of this crate.

/// Why an upstream call failed.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum UpstreamError {
    /// The upstream settings cannot work (for example a base URL that does not parse).
    #[error("invalid upstream settings: {0}")]
    Config(String),
    /// No connection could be made (refused, DNS, TLS, connect timeout...). Retryable.
    #[error("could not connect to the upstream: {0}")]
    Connect(String),
    /// A timeout expired: no headers within `first_byte_timeout`, the whole call over
    /// `total_timeout`, or a stream silent for longer than `first_byte_timeout`.
    #[error("the upstream did not answer in time")]
    Timeout,
    /// The upstream answered with an error status; `message` is its own error message.
    #[error("upstream answered {status}: {message}")]
    Status {
        status: u16,
        message: String,
        code: Option<String>,
    },
    /// The upstream answered something that is not the documented shape.
    #[error("unexpected answer from the upstream: {0}")]
    Protocol(String),
    /// The connection broke in the middle of an answer (for a stream: after some chunks).
    #[error("the upstream connection broke mid-answer: {0}")]
    Interrupted(String),
    /// The request cannot be served by this kind of upstream (for example embeddings on
    /// Anthropic). The caller's fault rather than the upstream's: a 400-ish error.
    #[error("not supported by this upstream: {0}")]
    Unsupported(String),
}

impl UpstreamError {
    /// Whether another attempt may succeed and cannot have been half-served: connection
    /// failures, 502, 503 and Anthropic's 529 "overloaded".
    pub fn is_retryable(&self) -> bool {
        match self {
            UpstreamError::Connect(_) => true,
            UpstreamError::Status { status, .. } => matches!(status, 502 | 503 | 529),
            _ => false,
        }
    }

    /// A suggested HTTP status for the gateway's own answer: 504 for timeouts, 400 for
    /// unsupported requests, the upstream's status for its 4xx complaints about the request
    /// (except 401/403/404, which are the operator's configuration problem: 502), 502 for
    /// anything else the upstream did wrong.
    pub fn suggested_status(&self) -> u16 {
        match self {
            UpstreamError::Timeout => 504,
            UpstreamError::Unsupported(_) => 400,
            UpstreamError::Config(_) => 500,
            UpstreamError::Status { status, .. }
                if (400..500).contains(status) && !matches!(status, 401 | 403 | 404) =>
            {
                *status
            }
            _ => 502,
        }
    }

    pub(crate) fn from_reqwest(err: &reqwest::Error) -> Self {
        if err.is_timeout() {
            UpstreamError::Timeout
        } else if err.is_connect() {
            UpstreamError::Connect(error_chain(err))
        } else {
            UpstreamError::Interrupted(error_chain(err))
        }
    }
}

/// The error and its sources on one line: reqwest's top-level message alone is vague.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Turn an upstream error body into [`UpstreamError::Status`], understanding the OpenAI
/// envelope `{"error":{"message","code","type"}}`, Anthropic's
/// `{"type":"error","error":{"type","message"}}`, a bare `{"message"}`, or plain text.
pub(crate) fn status_error(status: u16, body: &[u8]) -> UpstreamError {
    let mut message = None;
    let mut code = None;
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        let inner = json.get("error").unwrap_or(&json);
        match inner {
            serde_json::Value::String(text) => message = Some(text.clone()),
            serde_json::Value::Object(map) => {
                message = map
                    .get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned);
                code = match map.get("code") {
                    Some(serde_json::Value::String(c)) => Some(c.clone()),
                    Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                    _ => map.get("type").and_then(|t| t.as_str()).map(str::to_owned),
                };
            }
            _ => {}
        }
    }
    let message = message.unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() {
            format!("HTTP {status} with an empty body")
        } else {
            truncate(text, 1000)
        }
    });
    UpstreamError::Status {
        status,
        message,
        code,
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_envelope_is_understood() {
        let err = status_error(
            400,
            br#"{"error":{"message":"bad thing","type":"invalid_request_error","code":"oops"}}"#,
        );
        assert_eq!(
            err,
            UpstreamError::Status {
                status: 400,
                message: "bad thing".into(),
                code: Some("oops".into())
            }
        );
    }

    #[test]
    fn anthropic_envelope_uses_type_as_code() {
        let err = status_error(
            529,
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        assert!(err.is_retryable());
        assert_eq!(
            err,
            UpstreamError::Status {
                status: 529,
                message: "Overloaded".into(),
                code: Some("overloaded_error".into())
            }
        );
    }

    #[test]
    fn raw_text_is_kept() {
        let err = status_error(502, b"  Bad Gateway\n");
        assert!(err.is_retryable());
        assert_eq!(err.to_string(), "upstream answered 502: Bad Gateway");
        let err = status_error(500, b"");
        assert!(!err.is_retryable());
        assert_eq!(err.suggested_status(), 502);
    }
}
