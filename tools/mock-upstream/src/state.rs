//! Shared state: counters, the `flaky-503` memory, credentials, and the steps every
//! request goes through before it is answered.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::behaviour::{Behaviour, DEFAULT_SLOW_DELAY};
use crate::MockConfig;

/// Request counters, for the process or for one test id.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests_total: AtomicU64,
    streams_cancelled: AtomicU64,
}

impl Counters {
    fn to_json(&self) -> Value {
        json!({
            "requests_total": self.requests_total.load(Ordering::Relaxed),
            "streams_cancelled": self.streams_cancelled.load(Ordering::Relaxed),
        })
    }
}

#[derive(Clone)]
pub(crate) struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    require_key: Option<String>,
    total: Arc<Counters>,
    per_test: Mutex<HashMap<String, Arc<Counters>>>,
    flaky_failed: Mutex<HashSet<String>>,
    next_id: AtomicU64,
}

/// Which API's conventions a route follows (credentials and error envelope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    OpenAi,
    Anthropic,
}

/// What a request carries along: the counters a stream reports its cancellation to.
pub(crate) struct RequestCtx {
    pub counters: Vec<Arc<Counters>>,
    pub test_id: Option<String>,
}

/// Marks a stream cancelled when dropped before [`CancelGuard::complete`].
pub(crate) struct CancelGuard {
    counters: Vec<Arc<Counters>>,
    completed: bool,
}

impl CancelGuard {
    pub fn new(ctx: &RequestCtx) -> Self {
        CancelGuard {
            counters: ctx.counters.clone(),
            completed: false,
        }
    }

    pub fn complete(&mut self) {
        self.completed = true;
    }
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.completed {
            for counters in &self.counters {
                counters.streams_cancelled.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl AppState {
    pub fn new(config: MockConfig) -> Self {
        AppState {
            inner: Arc::new(Shared {
                require_key: config.require_key,
                total: Arc::default(),
                per_test: Mutex::default(),
                flaky_failed: Mutex::default(),
                next_id: AtomicU64::new(1),
            }),
        }
    }

    pub fn next_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Count the request.
    pub fn begin(&self, headers: &HeaderMap) -> RequestCtx {
        let test_id = headers
            .get("x-test-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut counters = vec![self.inner.total.clone()];
        if let Some(id) = &test_id {
            let per_test = self
                .inner
                .per_test
                .lock()
                .entry(id.clone())
                .or_default()
                .clone();
            counters.push(per_test);
        }
        for c in &counters {
            c.requests_total.fetch_add(1, Ordering::Relaxed);
        }
        RequestCtx { counters, test_id }
    }

    /// Apply the behaviours that answer before (or instead of) the real answer: failures,
    /// `flaky-503`, `slow`.
    pub async fn gate(
        &self,
        dialect: Dialect,
        headers: &HeaderMap,
        ctx: &RequestCtx,
        behaviour: Behaviour,
    ) -> Result<(), Rejection> {
        match behaviour {
            Behaviour::Fail503 => Err(Rejection::new(
                dialect,
                StatusCode::SERVICE_UNAVAILABLE,
                "mock: service unavailable",
            )),
            Behaviour::Fail500 => Err(Rejection::new(
                dialect,
                StatusCode::INTERNAL_SERVER_ERROR,
                "mock: internal error",
            )),
            Behaviour::BadRequest => Err(Rejection::new(
                dialect,
                StatusCode::BAD_REQUEST,
                "mock: bad request",
            )),
            Behaviour::Flaky503 => {
                let key = ctx.test_id.clone().unwrap_or_default();
                if self.inner.flaky_failed.lock().insert(key) {
                    Err(Rejection::new(
                        dialect,
                        StatusCode::SERVICE_UNAVAILABLE,
                        "mock: service unavailable (flaky)",
                    ))
                } else {
                    Ok(())
                }
            }
            Behaviour::Slow(ms) => {
                let delay = ms
                    .or_else(|| {
                        headers
                            .get("x-mock-delay-ms")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse().ok())
                    })
                    .map_or(DEFAULT_SLOW_DELAY, Duration::from_millis);
                tokio::time::sleep(delay).await;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    pub fn authorize(&self, dialect: Dialect, headers: &HeaderMap) -> Result<(), Rejection> {
        let Some(key) = &self.inner.require_key else {
            return Ok(());
        };
        let presented = match dialect {
            Dialect::OpenAi => headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer ")),
            Dialect::Anthropic => headers.get("x-api-key").and_then(|v| v.to_str().ok()),
        };
        if presented == Some(key.as_str()) {
            Ok(())
        } else {
            Err(Rejection::new(
                dialect,
                StatusCode::UNAUTHORIZED,
                "mock: invalid API key",
            ))
        }
    }
}

/// A refusal, answered in the dialect's error envelope.
#[derive(Debug)]
pub(crate) struct Rejection {
    dialect: Dialect,
    status: StatusCode,
    message: String,
}

impl Rejection {
    pub fn new(dialect: Dialect, status: StatusCode, message: impl Into<String>) -> Self {
        Rejection {
            dialect,
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        error(self.dialect, self.status, &self.message)
    }
}

/// An error answer in the dialect's envelope.
fn error(dialect: Dialect, status: StatusCode, message: &str) -> Response {
    let body = match dialect {
        Dialect::OpenAi => {
            let (kind, code) = match status.as_u16() {
                400 => ("invalid_request_error", "bad_request"),
                401 => ("invalid_request_error", "invalid_api_key"),
                503 => ("server_error", "service_unavailable"),
                _ => ("server_error", "internal_error"),
            };
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
        }
        Dialect::Anthropic => {
            let kind = match status.as_u16() {
                400 => "invalid_request_error",
                401 => "authentication_error",
                503 | 529 => "overloaded_error",
                _ => "api_error",
            };
            json!({"type": "error", "error": {"type": kind, "message": message}})
        }
    };
    (status, Json(body)).into_response()
}

/// Parse a JSON object body, or answer 400.
pub(crate) fn parse_body(
    dialect: Dialect,
    body: &[u8],
) -> Result<serde_json::Map<String, Value>, Rejection> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Rejection::new(
            dialect,
            StatusCode::BAD_REQUEST,
            "mock: the body must be a JSON object",
        )),
        Err(e) => Err(Rejection::new(
            dialect,
            StatusCode::BAD_REQUEST,
            format!("mock: the body is not JSON: {e}"),
        )),
    }
}

#[derive(Deserialize)]
pub(crate) struct StatsQuery {
    test_id: Option<String>,
}

/// `GET /stats[?test_id=ID]`.
pub(crate) async fn stats(
    State(state): State<AppState>,
    Query(query): Query<StatsQuery>,
) -> Json<Value> {
    match query.test_id {
        None => Json(state.inner.total.to_json()),
        Some(id) => {
            let counters = state.inner.per_test.lock().get(&id).cloned();
            Json(counters.unwrap_or_default().to_json())
        }
    }
}
