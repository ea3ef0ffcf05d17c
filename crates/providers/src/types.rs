//! The request and reply types shared by every adapter.

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use serde::{Deserialize, Serialize};

use crate::UpstreamError;

/// Which protocol an upstream speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UpstreamKind {
    /// OpenAI's HTTP API, or any server compatible with it.
    #[serde(rename = "openai")]
    OpenAi,
    /// Anthropic's Messages API.
    #[serde(rename = "anthropic")]
    Anthropic,
    /// The built-in echo model; no network.
    #[serde(rename = "mock")]
    Mock,
}

/// How to reach one upstream. See the crate documentation for what each timeout bounds.
#[derive(Clone)]
pub struct UpstreamSettings {
    /// The operator's name for this upstream (appears in logs and errors).
    pub name: String,
    pub kind: UpstreamKind,
    /// Base URL including the version path: `http://127.0.0.1:8000/v1`,
    /// `https://api.anthropic.com/v1`. Ignored for [`UpstreamKind::Mock`].
    pub base_url: String,
    pub api_key: Option<String>,
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub total_timeout: Duration,
    /// Extra attempts after the first one, on retryable errors only.
    pub max_retries: u32,
}

impl UpstreamSettings {
    /// Settings with the defaults: connect 5 s, first byte 60 s, total 300 s, 2 retries.
    pub fn new(name: impl Into<String>, kind: UpstreamKind, base_url: impl Into<String>) -> Self {
        UpstreamSettings {
            name: name.into(),
            kind,
            base_url: base_url.into(),
            api_key: None,
            connect_timeout: Duration::from_secs(5),
            first_byte_timeout: Duration::from_secs(60),
            total_timeout: Duration::from_secs(300),
            max_retries: 2,
        }
    }

    /// The built-in mock upstream.
    pub fn mock(name: impl Into<String>) -> Self {
        UpstreamSettings::new(name, UpstreamKind::Mock, "")
    }
}

impl fmt::Debug for UpstreamSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamSettings")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("connect_timeout", &self.connect_timeout)
            .field("first_byte_timeout", &self.first_byte_timeout)
            .field("total_timeout", &self.total_timeout)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

/// The OpenAI endpoint a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    ChatCompletions,
    Completions,
    Embeddings,
}

impl Operation {
    /// The path below the base URL on an OpenAI-compatible server.
    pub fn openai_path(self) -> &'static str {
        match self {
            Operation::ChatCompletions => "/chat/completions",
            Operation::Completions => "/completions",
            Operation::Embeddings => "/embeddings",
        }
    }
}

/// One request to forward.
#[derive(Debug, Clone)]
pub struct ProxyRequest {
    pub op: Operation,
    /// The client's OpenAI-shaped body with `model` already set to the upstream's model
    /// name. Fields this crate does not know are passed through to OpenAI-compatible
    /// upstreams.
    pub body: serde_json::Map<String, serde_json::Value>,
    /// Whether to stream. This decides, whatever the body's own `stream` field says.
    pub stream: bool,
}

impl ProxyRequest {
    pub fn new(
        op: Operation,
        body: serde_json::Map<String, serde_json::Value>,
        stream: bool,
    ) -> Self {
        ProxyRequest { op, body, stream }
    }

    /// The `model` field of the body, or "" when absent.
    pub fn model(&self) -> &str {
        self.body
            .get("model")
            .and_then(|m| m.as_str())
            .unwrap_or("")
    }
}

/// Token counts reported by (or, for the mock, computed for) one answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Usage {
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }

    /// OpenAI's `usage` object.
    pub fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens(),
        })
    }

    /// Read OpenAI's `usage` object; `None` when absent, null or without token counts.
    pub fn from_openai(value: Option<&serde_json::Value>) -> Option<Usage> {
        let usage = value?.as_object()?;
        let prompt = usage.get("prompt_tokens").and_then(|v| v.as_u64());
        let completion = usage.get("completion_tokens").and_then(|v| v.as_u64());
        if prompt.is_none() && completion.is_none() {
            return None;
        }
        Some(Usage {
            prompt_tokens: prompt.unwrap_or(0),
            completion_tokens: completion.unwrap_or(0),
        })
    }
}

/// What an upstream call produced.
pub enum UpstreamReply {
    /// A complete answer. `status` is the upstream's (2xx) status; `body` is OpenAI-shaped.
    Json {
        status: u16,
        body: serde_json::Value,
        usage: Option<Usage>,
    },
    /// A stream of OpenAI chunks. Ends with [`StreamEvent::Done`], or with an error item.
    Stream(ChunkStream),
}

impl fmt::Debug for UpstreamReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamReply::Json {
                status,
                body,
                usage,
            } => f
                .debug_struct("Json")
                .field("status", status)
                .field("body", body)
                .field("usage", usage)
                .finish(),
            UpstreamReply::Stream(_) => f.write_str("Stream(..)"),
        }
    }
}

/// A stream of OpenAI-shaped chunks. Dropping it closes the upstream connection.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, UpstreamError>> + Send>>;

/// One item of a [`ChunkStream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// One OpenAI `chat.completion.chunk` (or `text_completion` chunk) as JSON bytes, ready
    /// to send as `data: <json>\n\n`.
    Chunk {
        json: bytes::Bytes,
        /// The text this chunk adds to the answer (all choices concatenated).
        text_delta: String,
        /// The chunk's `usage`, when it carries one.
        usage: Option<Usage>,
        /// True for the final usage chunk (`choices: []`), which a client that did not ask
        /// for `stream_options.include_usage` must not see.
        usage_only: bool,
    },
    /// The end of the stream (`data: [DONE]`).
    Done,
}
