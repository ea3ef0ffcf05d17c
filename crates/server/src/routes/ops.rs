//! `/health`, `/ready`, `/openapi.json`, `/docs`.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;
use utoipa::OpenApi;

pub async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when the database (and Redis, where configured) answer.
pub async fn ready(State(state): State<AppState>) -> Response {
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, "The readiness check found the database unreachable.");
        return ApiError::unavailable("database_unavailable", "the database does not answer", 5)
            .into_response();
    }
    if let Err(e) = state.limiter_ping().await {
        tracing::warn!(error = %e, "The readiness check found Redis unreachable.");
        return ApiError::unavailable(
            "rate_limiter_unavailable",
            "the rate limiter store does not answer",
            5,
        )
        .into_response();
    }
    Json(json!({"status": "ready", "database": "ok"})).into_response()
}

pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::ApiDoc::openapi())
}

/// A self-contained reference page that renders `/openapi.json` (no CDN: works offline).
pub async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
