//! [`Upstream`]: one configured upstream with its connection pool, and the retry and
//! timeout policy described in the crate documentation.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use rand::Rng;
use tokio::time::Instant;

use crate::error::status_error;
use crate::stream::sse_stream;
use crate::{
    anthropic, mock, openai, ProxyRequest, UpstreamError, UpstreamKind, UpstreamReply,
    UpstreamSettings,
};

/// The most of an error body kept for the error message.
const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// Back-off before retry `n` (0-based) is `BACKOFF_BASE * 2^n`, capped, plus jitter.
const BACKOFF_BASE: Duration = Duration::from_millis(50);
const BACKOFF_CAP: Duration = Duration::from_secs(2);
const BACKOFF_JITTER_MS: u64 = 25;

/// One upstream. Cheap to clone: clones share the settings and one HTTP connection pool.
#[derive(Clone)]
pub struct Upstream {
    inner: Arc<Inner>,
}

struct Inner {
    settings: UpstreamSettings,
    /// `None` for the mock, which makes no requests.
    client: Option<reqwest::Client>,
    /// Headers sent with every request: content type, credentials, API version.
    headers: HeaderMap,
    /// `base_url` without a trailing slash.
    base: String,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// Check the settings and build the connection pool.
    pub fn new(settings: UpstreamSettings) -> Result<Self, UpstreamError> {
        let base = settings.base_url.trim_end_matches('/').to_owned();
        let mut headers = HeaderMap::new();
        let client = match settings.kind {
            UpstreamKind::Mock => None,
            kind => {
                let url = reqwest::Url::parse(&base).map_err(|e| {
                    UpstreamError::Config(format!("base_url {base:?} is not a URL: {e}"))
                })?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(UpstreamError::Config(format!(
                        "base_url {base:?} must start with http:// or https://"
                    )));
                }
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                if let Some(key) = &settings.api_key {
                    match kind {
                        UpstreamKind::Anthropic => {
                            headers.insert("x-api-key", secret_header(key)?);
                        }
                        _ => {
                            headers.insert(AUTHORIZATION, secret_header(&format!("Bearer {key}"))?);
                        }
                    }
                }
                if kind == UpstreamKind::Anthropic {
                    headers.insert(
                        "anthropic-version",
                        HeaderValue::from_static(anthropic::API_VERSION),
                    );
                }
                let client = reqwest::Client::builder()
                    .connect_timeout(settings.connect_timeout)
                    .tcp_nodelay(true)
                    .pool_idle_timeout(Duration::from_secs(90))
                    .user_agent(concat!("kobo-gateway/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| {
                        UpstreamError::Config(format!("cannot build the HTTP client: {e}"))
                    })?;
                Some(client)
            }
        };
        Ok(Upstream {
            inner: Arc::new(Inner {
                settings,
                client,
                headers,
                base,
            }),
        })
    }

    pub fn name(&self) -> &str {
        &self.inner.settings.name
    }

    pub fn kind(&self) -> UpstreamKind {
        self.inner.settings.kind
    }

    pub fn settings(&self) -> &UpstreamSettings {
        &self.inner.settings
    }

    /// Send one request, with the timeouts and retries of the settings.
    pub async fn call(&self, req: ProxyRequest) -> Result<UpstreamReply, UpstreamError> {
        self.call_with_headers(req, HeaderMap::new()).await
    }

    /// Like [`Upstream::call`], adding `extra` headers to the upstream request (a request
    /// id to correlate logs, test markers...). They cannot replace the content type or the
    /// credentials.
    pub async fn call_with_headers(
        &self,
        req: ProxyRequest,
        extra: HeaderMap,
    ) -> Result<UpstreamReply, UpstreamError> {
        let inner = &self.inner;
        let (client, dialect) = match (&inner.client, inner.settings.kind) {
            (Some(client), UpstreamKind::OpenAi) => (client, Dialect::OpenAi),
            (Some(client), UpstreamKind::Anthropic) => (client, Dialect::Anthropic),
            _ => return mock::call(&req),
        };
        let (url, body) = match dialect {
            Dialect::OpenAi => (
                format!("{}{}", inner.base, req.op.openai_path()),
                openai::request_body(&req)?,
            ),
            Dialect::Anthropic => (
                format!("{}/messages", inner.base),
                anthropic::request_body(&req)?,
            ),
        };
        let stream = req.stream && req.op != crate::Operation::Embeddings;
        let mut headers = inner.headers.clone();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static(if stream {
                "text/event-stream"
            } else {
                "application/json"
            }),
        );
        let mut last_name: Option<HeaderName> = None;
        for (name, value) in extra {
            // `HeaderMap::into_iter` names only the first of repeated values.
            if let Some(name) = name {
                last_name = Some(name);
            }
            if let Some(name) = &last_name {
                if !inner.headers.contains_key(name) {
                    headers.append(name.clone(), value);
                }
            }
        }
        let attempt = Attempt {
            client,
            url: &url,
            headers: &headers,
            body: &body,
            stream,
            dialect,
            first_byte_timeout: inner.settings.first_byte_timeout,
        };

        let deadline = Instant::now() + inner.settings.total_timeout;
        let mut retry = 0;
        loop {
            let outcome = match tokio::time::timeout_at(deadline, attempt.run()).await {
                Ok(outcome) => outcome,
                Err(_) => Err(UpstreamError::Timeout),
            };
            match outcome {
                Err(err) if err.is_retryable() && retry < inner.settings.max_retries => {
                    let delay = backoff(retry);
                    if Instant::now() + delay >= deadline {
                        return Err(err);
                    }
                    tracing::warn!(
                        upstream = %inner.settings.name,
                        error = %err,
                        retry = retry + 1,
                        delay_ms = delay.as_millis() as u64,
                        "The upstream failed with a retryable error, so the request is sent again after a pause."
                    );
                    tokio::time::sleep(delay).await;
                    retry += 1;
                }
                other => return other,
            }
        }
    }
}

fn secret_header(value: &str) -> Result<HeaderValue, UpstreamError> {
    let mut header = HeaderValue::from_str(value).map_err(|_| {
        UpstreamError::Config("the API key contains characters not allowed in a header".into())
    })?;
    header.set_sensitive(true);
    Ok(header)
}

/// The back-off before retry number `retry` (0-based).
fn backoff(retry: u32) -> Duration {
    let exponential = BACKOFF_BASE
        .saturating_mul(2u32.saturating_pow(retry))
        .min(BACKOFF_CAP);
    let jitter = rand::thread_rng().gen_range(0..=BACKOFF_JITTER_MS);
    exponential + Duration::from_millis(jitter)
}

#[derive(Clone, Copy)]
enum Dialect {
    OpenAi,
    Anthropic,
}

/// Everything one attempt needs; the body is encoded once and shared by all attempts.
struct Attempt<'a> {
    client: &'a reqwest::Client,
    url: &'a str,
    headers: &'a HeaderMap,
    body: &'a Bytes,
    stream: bool,
    dialect: Dialect,
    first_byte_timeout: Duration,
}

impl Attempt<'_> {
    async fn run(&self) -> Result<UpstreamReply, UpstreamError> {
        let send = self
            .client
            .post(self.url)
            .headers(self.headers.clone())
            .body(self.body.clone())
            .send();
        let mut response = match tokio::time::timeout(self.first_byte_timeout, send).await {
            Err(_) => return Err(UpstreamError::Timeout),
            Ok(Err(err)) => return Err(UpstreamError::from_reqwest(&err)),
            Ok(Ok(response)) => response,
        };
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let mut body = Vec::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                body.extend_from_slice(&chunk);
                if body.len() >= ERROR_BODY_LIMIT {
                    break;
                }
            }
            return Err(status_error(status, &body));
        }
        if self.stream {
            let is_sse = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/event-stream"));
            if !is_sse {
                return Err(UpstreamError::Protocol(
                    "a stream was asked for but the answer is not text/event-stream".into(),
                ));
            }
            let idle = self.first_byte_timeout;
            return Ok(UpstreamReply::Stream(match self.dialect {
                Dialect::OpenAi => sse_stream(response, idle, openai::OpenAiStream::default()),
                Dialect::Anthropic => {
                    sse_stream(response, idle, anthropic::AnthropicStream::default())
                }
            }));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| UpstreamError::from_reqwest(&e))?;
        let (body, usage) = match self.dialect {
            Dialect::OpenAi => openai::parse_answer(&bytes)?,
            Dialect::Anthropic => anthropic::parse_answer(&bytes)?,
        };
        Ok(UpstreamReply::Json {
            status,
            body,
            usage,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let first = backoff(0);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(75));
        let third = backoff(2);
        assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(225));
        assert!(backoff(40) <= BACKOFF_CAP + Duration::from_millis(BACKOFF_JITTER_MS));
    }

    #[test]
    fn bad_base_url_is_a_config_error() {
        let settings = UpstreamSettings::new("x", UpstreamKind::OpenAi, "not a url");
        assert!(matches!(
            Upstream::new(settings),
            Err(UpstreamError::Config(_))
        ));
        let settings = UpstreamSettings::new("x", UpstreamKind::OpenAi, "ftp://host/v1");
        assert!(matches!(
            Upstream::new(settings),
            Err(UpstreamError::Config(_))
        ));
    }

    #[test]
    fn settings_debug_redacts_the_key() {
        let mut settings = UpstreamSettings::new("x", UpstreamKind::OpenAi, "http://h/v1");
        settings.api_key = Some("sk-secret".into());
        let text = format!("{settings:?}");
        assert!(!text.contains("sk-secret"));
        assert!(text.contains("[redacted]"));
    }
}
