//! Request ids and the request span: every log line of a request carries its
//! `request_id`, the matched route (never the raw path) and, once known, `tenant_id`.

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const REQUEST_ID: &str = "x-request-id";

/// The request id of the current request, set by `request_span`.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

pub async fn request_span(mut req: Request, next: Next) -> Response {
    let id = uuid::Uuid::now_v7().simple().to_string();
    let id = format!("req_{id}");
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), route = %route, tenant_id = tracing::field::Empty);
    req.extensions_mut().insert(RequestId(id.clone()));
    let started = std::time::Instant::now();
    let mut res = next.run(req).instrument(span.clone()).await;
    let _enter = span.enter();
    tracing::info!(
        status = res.status().as_u16(),
        latency_ms = started.elapsed().as_millis() as u64,
        "The request finished."
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    res
}

/// JSON logs (default) or human-readable ones, filtered by `RUST_LOG` (default `info`).
///
/// Lines are formatted where they happen but written to stderr by a background thread
/// through a buffer, so a request never waits on a `write` to stderr (at thousands of
/// requests a second the access log alone cost a quarter of the gateway's throughput).
/// Keep the returned guard alive: dropping it flushes what is buffered.
pub fn init(format: &str) -> tracing_appender::non_blocking::WorkerGuard {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // Not lossy: under a flood the logging thread slows callers down rather than drop
    // lines (billing-relevant warnings must never vanish).
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = if format == "pretty" {
        builder.try_init()
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    };
    guard
}
