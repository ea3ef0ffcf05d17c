//! The HTTP plumbing the two clients share: one `reqwest::Client` with timeouts, URL
//! building with escaped path segments, and transport errors mapped to
//! [`PaymentError::Unavailable`].

use std::time::Duration;

use reqwest::Url;

use crate::error::{PaymentError, Provider};

/// Time allowed to open a connection.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for a whole request, answer included.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A `reqwest::Client` with Kobo's timeouts.
pub(crate) fn build_client(provider: Provider) -> Result<reqwest::Client, PaymentError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("kobo-payments/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| PaymentError::Unavailable {
            provider,
            http_status: None,
            message: format!("cannot build an HTTP client: {e}"),
        })
}

/// The provider's base URL, e.g. `https://api.paystack.co`.
#[derive(Debug, Clone)]
pub(crate) struct BaseUrl(Url);

impl BaseUrl {
    pub(crate) fn parse(provider: Provider, raw: &str) -> Result<Self, PaymentError> {
        let url = Url::parse(raw.trim()).map_err(|e| {
            PaymentError::InvalidRequest(format!("{provider} base URL {raw:?} is invalid: {e}"))
        })?;
        if url.cannot_be_a_base() || !matches!(url.scheme(), "http" | "https") {
            return Err(PaymentError::InvalidRequest(format!(
                "{provider} base URL {raw:?} must be an http(s) URL"
            )));
        }
        Ok(BaseUrl(url))
    }

    /// The base URL with `segments` appended, each escaped as one path segment.
    pub(crate) fn join(&self, segments: &[&str]) -> Url {
        let mut url = self.0.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            for segment in segments {
                path.push(segment);
            }
        }
        url
    }
}

/// An answer whose body was read completely.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

/// Send the request and read the whole answer. Transport errors and timeouts are
/// [`PaymentError::Unavailable`].
pub(crate) async fn send(
    provider: Provider,
    request: reqwest::RequestBuilder,
) -> Result<Answer, PaymentError> {
    let unavailable = |e: reqwest::Error| PaymentError::Unavailable {
        provider,
        http_status: e.status().map(|s| s.as_u16()),
        message: describe(&e),
    };
    let response = request.send().await.map_err(unavailable)?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(unavailable)?;
    Ok(Answer {
        status,
        body: body.to_vec(),
    })
}

/// True for answers that mean "try again later".
pub(crate) fn is_transient_status(status: u16) -> bool {
    status == 429 || status >= 500
}

/// The error and its causes on one line, without the URL's query string.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut message = format!("{kind}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// A short, printable excerpt of a body for error messages.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        out.push('…');
    }
    out
}
