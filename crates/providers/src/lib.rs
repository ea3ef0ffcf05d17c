//! kobo-providers: the adapters that talk to upstream model servers.
//!
//! The gateway hands an OpenAI-shaped request ([`ProxyRequest`]) to an [`Upstream`] and gets
//! an OpenAI-shaped answer back ([`UpstreamReply`]), whatever the upstream speaks:
//!
//! * [`UpstreamKind::OpenAi`]: any OpenAI-compatible server (OpenAI, vLLM, llama.cpp, ...);
//!   bodies are passed through untouched except for `stream` / `stream_options`.
//! * [`UpstreamKind::Anthropic`]: the Anthropic Messages API, translated both ways.
//! * [`UpstreamKind::Mock`]: a built-in echo model (`mock-echo`) with real token counts, no
//!   network; what a fresh install serves.
//!
//! Streams are parsed incrementally ([`sse`]) and each event is handed on as soon as it
//! arrives; dropping a [`ChunkStream`] drops the HTTP response, which closes the upstream
//! connection (client-disconnect cancellation).
//!
//! # Timeouts
//!
//! * `connect_timeout`: TCP (and TLS) connection set-up, per attempt.
//! * `first_byte_timeout`: per attempt, from sending the request until the response headers
//!   arrive. For streams it is also the longest allowed silence between two reads of the
//!   body once the stream has started (an upstream that stalls mid-stream yields
//!   [`UpstreamError::Timeout`] as the stream's last item).
//! * `total_timeout`: a deadline for the whole [`Upstream::call`], retries and back-off
//!   included. For a non-stream call it covers reading the whole body; for a stream it covers
//!   everything up to the moment `call` returns the stream (long generations that keep
//!   producing are not cut off; the idle limit above guards them).
//!
//! # Retries
//!
//! Up to `max_retries` extra attempts on [`UpstreamError::is_retryable`] errors only (failed
//! connections, 502, 503, 529), with exponential back-off (50 ms, 100 ms, 200 ms, ... capped at
//! 2 s, plus up to 25 ms of jitter), never past the `total_timeout` deadline. Once `call`
//! has returned a stream nothing is retried: bytes may already have reached the client.

mod anthropic;
mod error;
mod mock;
mod openai;
pub mod sse;
mod stream;
pub mod tokens;
mod types;
mod upstream;

pub use error::UpstreamError;
pub use types::{
    ChunkStream, Operation, ProxyRequest, StreamEvent, UpstreamKind, UpstreamReply,
    UpstreamSettings, Usage,
};
pub use upstream::Upstream;

/// The model name served by the built-in mock upstream.
pub const MOCK_MODEL: &str = "mock-echo";
