//! OpenAI-compatible upstreams: the body goes through untouched apart from `stream` and
//! `stream_options`, and the answer comes back as it is.

use std::collections::VecDeque;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::sse::SseEvent;
use crate::stream::Translate;
use crate::{Operation, ProxyRequest, StreamEvent, UpstreamError, Usage};

/// The upstream body for `req`. When streaming, `stream_options.include_usage` is always
/// turned on (other stream options are kept), so usage can be settled; the gateway hides
/// the usage chunk from clients that did not ask for it. When not streaming,
/// `stream_options` is removed (OpenAI rejects it without `stream`).
pub(crate) fn request_body(req: &ProxyRequest) -> Result<Bytes, UpstreamError> {
    let mut body = req.body.clone();
    if req.op == Operation::Embeddings {
        body.remove("stream");
        body.remove("stream_options");
    } else if req.stream {
        body.insert("stream".into(), Value::Bool(true));
        let options = body
            .entry("stream_options")
            .or_insert_with(|| Value::Object(Map::new()));
        if !options.is_object() {
            *options = Value::Object(Map::new());
        }
        if let Value::Object(options) = options {
            options.insert("include_usage".into(), Value::Bool(true));
        }
    } else {
        body.insert("stream".into(), Value::Bool(false));
        body.remove("stream_options");
    }
    serde_json::to_vec(&body)
        .map(Bytes::from)
        .map_err(|e| UpstreamError::Protocol(format!("cannot encode the request: {e}")))
}

/// Read a complete (non-stream) answer.
pub(crate) fn parse_answer(body: &[u8]) -> Result<(Value, Option<Usage>), UpstreamError> {
    let json: Value = serde_json::from_slice(body)
        .map_err(|e| UpstreamError::Protocol(format!("the answer is not JSON: {e}")))?;
    if !json.is_object() {
        return Err(UpstreamError::Protocol(
            "the answer is not a JSON object".into(),
        ));
    }
    let usage = Usage::from_openai(json.get("usage"));
    Ok((json, usage))
}

/// Describe one chunk already in OpenAI's shape: its text, usage and whether it is the
/// usage-only chunk.
pub(crate) fn chunk_event(json: Bytes, chunk: &Value) -> StreamEvent {
    let usage = Usage::from_openai(chunk.get("usage"));
    let mut text_delta = String::new();
    let mut no_choices = true;
    if let Some(choices) = chunk.get("choices").and_then(Value::as_array) {
        no_choices = choices.is_empty();
        for choice in choices {
            let text = choice
                .get("delta")
                .and_then(|d| d.get("content"))
                .or_else(|| choice.get("text"))
                .and_then(Value::as_str);
            if let Some(text) = text {
                text_delta.push_str(text);
            }
        }
    }
    StreamEvent::Chunk {
        json,
        text_delta,
        usage_only: no_choices && usage.is_some(),
        usage,
    }
}

/// Passes OpenAI chunks through.
#[derive(Default)]
pub(crate) struct OpenAiStream {
    /// A chunk with a `finish_reason` was seen: a body ending without `[DONE]` after it is
    /// accepted as complete.
    finished: bool,
}

impl Translate for OpenAiStream {
    fn on_event(
        &mut self,
        event: SseEvent,
        out: &mut VecDeque<Result<StreamEvent, UpstreamError>>,
    ) {
        let data = event.data.trim();
        if data == "[DONE]" {
            out.push_back(Ok(StreamEvent::Done));
            return;
        }
        if data.is_empty() {
            return;
        }
        let chunk: Value = match serde_json::from_str(data) {
            Ok(chunk) => chunk,
            Err(e) => {
                out.push_back(Err(UpstreamError::Protocol(format!(
                    "a stream event is not JSON: {e}"
                ))));
                return;
            }
        };
        if let Some(error) = chunk.get("error") {
            // Errors raised mid-stream (vLLM, OpenAI) arrive as {"error": {...}} events.
            let status = error
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .filter(|c| (400..600).contains(c))
                .unwrap_or(502);
            out.push_back(Err(crate::error::status_error(status, data.as_bytes())));
            return;
        }
        if chunk
            .get("choices")
            .and_then(Value::as_array)
            .is_some_and(|c| c.iter().any(|c| !c["finish_reason"].is_null()))
        {
            self.finished = true;
        }
        let json = Bytes::from(event.data);
        out.push_back(Ok(chunk_event(json, &chunk)));
    }

    fn on_eof(&mut self, out: &mut VecDeque<Result<StreamEvent, UpstreamError>>) {
        if self.finished {
            out.push_back(Ok(StreamEvent::Done));
        } else {
            out.push_back(Err(UpstreamError::Interrupted(
                "the stream ended before [DONE]".into(),
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    fn req(body: Value, stream: bool, op: Operation) -> ProxyRequest {
        ProxyRequest::new(op, body.as_object().unwrap().clone(), stream)
    }

    #[test]
    fn stream_forces_include_usage_and_keeps_unknown_fields() {
        let r = req(
            json!({"model": "m", "messages": [], "stream_options": {"foo": 1}, "x_custom": [1]}),
            true,
            Operation::ChatCompletions,
        );
        let body: Value = serde_json::from_slice(&request_body(&r).unwrap()).unwrap();
        assert_eq!(body["stream"], json!(true));
        assert_eq!(
            body["stream_options"],
            json!({"foo": 1, "include_usage": true})
        );
        assert_eq!(body["x_custom"], json!([1]));
    }

    #[test]
    fn non_stream_drops_stream_options() {
        let r = req(
            json!({"model": "m", "prompt": "x", "stream": true, "stream_options": {"include_usage": true}}),
            false,
            Operation::Completions,
        );
        let body: Value = serde_json::from_slice(&request_body(&r).unwrap()).unwrap();
        assert_eq!(body["stream"], json!(false));
        assert!(body.get("stream_options").is_none());
    }

    #[test]
    fn usage_chunk_is_marked() {
        let chunk = json!({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}});
        let event = chunk_event(Bytes::from(chunk.to_string()), &chunk);
        let StreamEvent::Chunk {
            usage,
            usage_only,
            text_delta,
            ..
        } = event
        else {
            panic!("not a chunk")
        };
        assert!(usage_only);
        assert_eq!(text_delta, "");
        assert_eq!(
            usage,
            Some(Usage {
                prompt_tokens: 3,
                completion_tokens: 4
            })
        );

        let chunk = json!({"choices": [{"index": 0, "delta": {"content": "hi"}}], "usage": null});
        let StreamEvent::Chunk {
            usage,
            usage_only,
            text_delta,
            ..
        } = chunk_event(Bytes::from(chunk.to_string()), &chunk)
        else {
            panic!("not a chunk")
        };
        assert!(!usage_only);
        assert_eq!(usage, None);
        assert_eq!(text_delta, "hi");
    }
}
