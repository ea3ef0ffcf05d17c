//! The one type that turns failures into HTTP answers, in the API.md envelope:
//! `{"error": {"type", "code", "message", "param", …extra}}`. Codes are stable.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kobo_store::StoreError;
use serde_json::{json, Map, Value};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub param: Option<String>,
    pub extra: Map<String, Value>,
    pub retry_after_secs: Option<u64>,
    /// Extra response headers (e.g. the rate-limit headers on a 429).
    pub headers: Option<Box<axum::http::HeaderMap>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            param: None,
            extra: Map::new(),
            retry_after_secs: None,
            headers: None,
        }
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs.max(1));
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    pub fn unavailable(code: &'static str, message: impl Into<String>, retry_after: u64) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message).retry_after(retry_after)
    }

    /// A bug or an unexpected dependency failure: log the whole cause, send an opaque message.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        let mut chain = cause.to_string();
        let mut source = cause.source();
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        tracing::error!(error = %chain, "A request failed with an internal error.");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error; the request id identifies it in the logs",
        )
    }

    fn kind(&self) -> &'static str {
        match self.status.as_u16() {
            401 => "authentication_error",
            402 => "billing_error",
            403 => "permission_error",
            404 => "not_found_error",
            409 => "conflict_error",
            429 => "rate_limit_error",
            500 => "api_error",
            502..=504 => "upstream_error",
            _ => "invalid_request_error",
        }
    }

    pub fn body(&self) -> Value {
        let mut err = Map::new();
        err.insert("type".into(), self.kind().into());
        err.insert("code".into(), self.code.into());
        err.insert("message".into(), self.message.clone().into());
        err.insert(
            "param".into(),
            self.param.clone().map_or(Value::Null, Value::String),
        );
        for (k, v) in &self.extra {
            err.insert(k.clone(), v.clone());
        }
        json!({ "error": err })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, axum::Json(self.body())).into_response();
        if let Some(h) = self.headers {
            res.headers_mut().extend(*h);
        }
        if let Some(secs) = self.retry_after_secs {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => {
                ApiError::conflict("already_exists", format!("{what} already exists"))
            }
            StoreError::NotFound => ApiError::not_found("resource"),
            StoreError::LimitReached("API keys", max) => ApiError::forbidden(
                "api_key_limit_reached",
                format!("the organization's plan allows at most {max} API keys"),
            )
            .with("limit", max),
            StoreError::LimitReached(what, max) => ApiError::forbidden(
                "quota_exceeded",
                format!("the organization's plan allows at most {max} {what}"),
            )
            .with("limit", max),
            StoreError::Rule(msg) => ApiError::conflict("last_owner", msg),
            other => ApiError::internal(&other),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
