//! A stand-alone HTTP server that behaves like an OpenAI-compatible model server and like
//! Anthropic's Messages API, for integration tests and as the baseline in benchmarks.
//!
//! # Routes
//!
//! * `GET /v1/models`, `POST /v1/chat/completions`, `POST /v1/completions`,
//!   `POST /v1/embeddings`: OpenAI's shapes. Streams send `chat.completion.chunk`s (or
//!   `text_completion` chunks) and `data: [DONE]`; the usage chunk (`choices: []`) is sent
//!   only when the request has `stream_options.include_usage: true`, and then every other
//!   chunk carries `"usage": null`, as OpenAI does.
//! * `POST /v1/messages`: Anthropic's shape. A stream is `message_start`,
//!   `content_block_start`, `ping`, one `content_block_delta` per word,
//!   `content_block_stop`, `message_delta` (with `stop_reason` and `usage.output_tokens`),
//!   `message_stop`.
//! * `GET /stats[?test_id=ID]`: `{"requests_total", "streams_cancelled"}` for the whole
//!   process, or for the requests that carried `x-test-id: ID`. `requests_total` counts
//!   every request to a `/v1/...` route; `streams_cancelled` counts streams whose client
//!   went away before the end.
//!
//! # Token counts (deterministic, so tests can predict them)
//!
//! * `prompt_tokens` / `input_tokens`: the number of whitespace-separated words in all
//!   message contents (text parts of arrays included; Anthropic's `system` too), in the
//!   completion `prompt`, or in the embeddings `input`.
//! * `completion_tokens` / `output_tokens`: the number of words in the answer.
//!
//! The answer (model `echo` and every name without a special meaning) is the text of the
//! last user message (completions: the prompt). With `max_tokens` (or
//! `max_completion_tokens`) below the word count, the answer is cut to that many words and
//! ends with `finish_reason: "length"` (`stop_reason: "max_tokens"`). Streams send one word
//! per chunk; the deltas concatenate to the answer.
//!
//! # Behaviours chosen by the model name: see [`Behaviour`].
//!
//! # Credentials
//!
//! With [`MockConfig::require_key`] set, OpenAI routes need `Authorization: Bearer <key>`
//! and `/v1/messages` needs `x-api-key: <key>`; otherwise the answer is 401.

mod anthropic;
mod behaviour;
mod openai;
mod state;
mod stream;
mod text;

use std::future::Future;

use axum::routing::{get, post};
use axum::Router;

pub use behaviour::Behaviour;
use state::AppState;

/// Start-up options.
#[derive(Debug, Clone, Default)]
pub struct MockConfig {
    /// When set, requests must present this key (see the crate documentation).
    pub require_key: Option<String>,
}

/// The application, ready to serve.
pub fn router(config: MockConfig) -> Router {
    Router::new()
        .route("/v1/models", get(openai::models))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/completions", post(openai::completions))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/v1/messages", post(anthropic::messages))
        .route("/stats", get(state::stats))
        .with_state(AppState::new(config))
}

/// Serve on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: MockConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(config))
        .with_graceful_shutdown(shutdown)
        .await
}
