//! Anthropic's Messages API behind the OpenAI chat-completions shape.
//!
//! Request: `system`/`developer` messages become the `system` text; `user`/`assistant`
//! messages keep their text (and image parts, as `image` blocks); `max_tokens` (or
//! `max_completion_tokens`) defaults to [`DEFAULT_MAX_TOKENS`]; `stop` becomes
//! `stop_sequences`; `temperature`, `top_p` and `stream` pass through; `user` becomes
//! `metadata.user_id`. OpenAI-only fields Anthropic would reject (`n`, penalties,
//! `logprobs`, `seed`, `response_format`, ...) are dropped; any other field is passed
//! through unchanged, so Anthropic's own options (`top_k`, `thinking`, ...) work.
//! Tool calling is not translated: such requests are [`UpstreamError::Unsupported`].
//!
//! Answer: `chat.completion` with the text blocks joined, `stop_reason` mapped
//! (`end_turn`/`stop_sequence` → `stop`, `max_tokens` → `length`, `tool_use` →
//! `tool_calls`, `refusal` → `content_filter`), and usage with `prompt_tokens` =
//! `input_tokens` + cache creation + cache read tokens, `completion_tokens` = `output_tokens`.
//!
//! Stream: `message_start` → a first chunk with `role: assistant`; `content_block_delta`
//! `text_delta` → a content chunk; `message_delta` → a chunk with the `finish_reason`;
//! `message_stop` → the usage-only chunk (`choices: []`) then Done; `error` → an error item;
//! `ping` and unknown events are ignored.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::sse::SseEvent;
use crate::stream::Translate;
use crate::{Operation, ProxyRequest, StreamEvent, UpstreamError, Usage};

pub(crate) const API_VERSION: &str = "2023-06-01";
pub(crate) const DEFAULT_MAX_TOKENS: u64 = 1024;

/// OpenAI fields that have no Anthropic counterpart; sending them would be rejected.
const DROPPED_FIELDS: &[&str] = &[
    "n",
    "frequency_penalty",
    "presence_penalty",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "seed",
    "response_format",
    "stream_options",
    "parallel_tool_calls",
    "service_tier",
    "store",
    "modalities",
    "audio",
    "prediction",
    "reasoning_effort",
    "web_search_options",
];

/// Build the Messages API body for an OpenAI chat request.
pub(crate) fn request_body(req: &ProxyRequest) -> Result<Bytes, UpstreamError> {
    if req.op != Operation::ChatCompletions {
        return Err(UpstreamError::Unsupported(format!(
            "{:?} is not available on Anthropic upstreams; only chat completions are",
            req.op
        )));
    }
    let mut out = Map::new();
    let mut system = Vec::new();
    let mut messages = Vec::new();
    for (key, value) in &req.body {
        match key.as_str() {
            "messages" => {
                let list = value.as_array().ok_or_else(|| {
                    UpstreamError::Unsupported("`messages` must be an array".into())
                })?;
                for message in list {
                    translate_message(message, &mut system, &mut messages)?;
                }
            }
            "max_tokens" | "max_completion_tokens" => {
                if !value.is_null() {
                    out.insert("max_tokens".into(), value.clone());
                }
            }
            "stop" => match value {
                Value::String(s) => {
                    out.insert("stop_sequences".into(), json!([s]));
                }
                Value::Array(list) if !list.is_empty() => {
                    out.insert("stop_sequences".into(), Value::Array(list.clone()));
                }
                _ => {}
            },
            "user" => {
                if let Some(user) = value.as_str() {
                    out.insert("metadata".into(), json!({ "user_id": user }));
                }
            }
            "stream" => {}
            "tools" | "tool_choice" | "functions" | "function_call" => {
                if !value.is_null() {
                    return Err(UpstreamError::Unsupported(
                        "tool calling is not translated for Anthropic upstreams".into(),
                    ));
                }
            }
            key if DROPPED_FIELDS.contains(&key) => {}
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    out.entry("max_tokens")
        .or_insert_with(|| json!(DEFAULT_MAX_TOKENS));
    if !system.is_empty() {
        out.insert("system".into(), Value::String(system.join("\n\n")));
    }
    out.insert("messages".into(), Value::Array(messages));
    out.insert("stream".into(), Value::Bool(req.stream));
    serde_json::to_vec(&out)
        .map(Bytes::from)
        .map_err(|e| UpstreamError::Protocol(format!("cannot encode the request: {e}")))
}

fn translate_message(
    message: &Value,
    system: &mut Vec<String>,
    messages: &mut Vec<Value>,
) -> Result<(), UpstreamError> {
    let role = message.get("role").and_then(Value::as_str).unwrap_or("");
    let content = message.get("content").unwrap_or(&Value::Null);
    match role {
        "system" | "developer" => {
            system.push(plain_text(content));
            Ok(())
        }
        "user" | "assistant" => {
            if message.get("tool_calls").is_some_and(|c| !c.is_null()) {
                return Err(UpstreamError::Unsupported(
                    "tool calling is not translated for Anthropic upstreams".into(),
                ));
            }
            messages.push(json!({ "role": role, "content": content_blocks(content) }));
            Ok(())
        }
        other => Err(UpstreamError::Unsupported(format!(
            "messages with role `{other}` are not translated for Anthropic upstreams"
        ))),
    }
}

/// The text of a content value (string, or the text parts of an array).
fn plain_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Message content in Anthropic's form: a string stays a string; parts become blocks.
fn content_blocks(content: &Value) -> Value {
    let Value::Array(parts) = content else {
        return Value::String(plain_text(content));
    };
    let blocks = parts
        .iter()
        .filter_map(|part| match part.get("type").and_then(Value::as_str) {
            Some("text") => Some(
                json!({"type": "text", "text": part.get("text").cloned().unwrap_or(json!(""))}),
            ),
            Some("image_url") => {
                let url = part
                    .get("image_url")
                    .and_then(|i| i.get("url").or(Some(i)))
                    .and_then(Value::as_str)?;
                Some(image_block(url))
            }
            _ => None,
        })
        .collect();
    Value::Array(blocks)
}

fn image_block(url: &str) -> Value {
    // data:image/png;base64,AAAA
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((media, data)) = rest.split_once(";base64,") {
            return json!({"type": "image", "source": {"type": "base64", "media_type": media, "data": data}});
        }
    }
    json!({"type": "image", "source": {"type": "url", "url": url}})
}

fn finish_reason(stop_reason: Option<&str>) -> Value {
    match stop_reason {
        None => Value::Null,
        Some("max_tokens") | Some("model_context_window_exceeded") => json!("length"),
        Some("tool_use") => json!("tool_calls"),
        Some("refusal") => json!("content_filter"),
        Some(_) => json!("stop"),
    }
}

fn usage_of(usage: Option<&Value>) -> (Option<u64>, Option<u64>) {
    let Some(usage) = usage else {
        return (None, None);
    };
    let field = |name: &str| usage.get(name).and_then(Value::as_u64);
    let input = field("input_tokens").map(|input| {
        input
            + field("cache_creation_input_tokens").unwrap_or(0)
            + field("cache_read_input_tokens").unwrap_or(0)
    });
    (input, field("output_tokens"))
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Translate a complete Messages API answer into a `chat.completion`.
pub(crate) fn parse_answer(body: &[u8]) -> Result<(Value, Option<Usage>), UpstreamError> {
    let answer: Value = serde_json::from_slice(body)
        .map_err(|e| UpstreamError::Protocol(format!("the answer is not JSON: {e}")))?;
    if answer.get("type").and_then(Value::as_str) == Some("error") {
        return Err(crate::error::status_error(502, body));
    }
    let content = answer
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| UpstreamError::Protocol("the answer has no `content` array".into()))?;
    let text: String = content
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect();
    let (input, output) = usage_of(answer.get("usage"));
    let usage = match (input, output) {
        (None, None) => None,
        (i, o) => Some(Usage {
            prompt_tokens: i.unwrap_or(0),
            completion_tokens: o.unwrap_or(0),
        }),
    };
    let mut completion = json!({
        "id": answer.get("id").cloned().unwrap_or(json!("")),
        "object": "chat.completion",
        "created": unix_now(),
        "model": answer.get("model").cloned().unwrap_or(json!("")),
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": null},
            "logprobs": null,
            "finish_reason": finish_reason(answer.get("stop_reason").and_then(Value::as_str)),
        }],
    });
    if let (Some(usage), Some(map)) = (usage, completion.as_object_mut()) {
        map.insert("usage".into(), usage.to_json());
    }
    Ok((completion, usage))
}

/// Translates the Messages API event stream into `chat.completion.chunk`s.
#[derive(Default)]
pub(crate) struct AnthropicStream {
    id: String,
    model: String,
    created: u64,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    finish: Option<Value>,
}

impl AnthropicStream {
    fn chunk(&self, delta: Value, finish_reason: Value) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        })
    }

    fn emit(chunk: &Value, text: String, out: &mut VecDeque<Result<StreamEvent, UpstreamError>>) {
        out.push_back(Ok(StreamEvent::Chunk {
            json: Bytes::from(chunk.to_string()),
            text_delta: text,
            usage: None,
            usage_only: false,
        }));
    }

    fn finish(&mut self, out: &mut VecDeque<Result<StreamEvent, UpstreamError>>) {
        let usage = Usage {
            prompt_tokens: self.input_tokens.unwrap_or(0),
            completion_tokens: self.output_tokens.unwrap_or(0),
        };
        let chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage.to_json(),
        });
        out.push_back(Ok(StreamEvent::Chunk {
            json: Bytes::from(chunk.to_string()),
            text_delta: String::new(),
            usage: Some(usage),
            usage_only: true,
        }));
        out.push_back(Ok(StreamEvent::Done));
    }
}

impl Translate for AnthropicStream {
    fn on_event(
        &mut self,
        event: SseEvent,
        out: &mut VecDeque<Result<StreamEvent, UpstreamError>>,
    ) {
        let data: Value = match serde_json::from_str(&event.data) {
            Ok(data) => data,
            Err(e) => {
                out.push_back(Err(UpstreamError::Protocol(format!(
                    "a stream event is not JSON: {e}"
                ))));
                return;
            }
        };
        // The `type` inside the data is authoritative; `event:` is the same name.
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or(event.event)
            .unwrap_or_default();
        match kind.as_str() {
            "message_start" => {
                let message = data.get("message").unwrap_or(&Value::Null);
                self.id = message
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                self.model = message
                    .get("model")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                self.created = unix_now();
                let (input, output) = usage_of(message.get("usage"));
                self.input_tokens = input;
                self.output_tokens = output;
                let chunk = self.chunk(json!({"role": "assistant", "content": ""}), Value::Null);
                Self::emit(&chunk, String::new(), out);
            }
            "content_block_start" => {
                let text = data
                    .get("content_block")
                    .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
                    .and_then(|b| b.get("text"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !text.is_empty() {
                    let chunk = self.chunk(json!({ "content": text }), Value::Null);
                    Self::emit(&chunk, text.to_owned(), out);
                }
            }
            "content_block_delta" => {
                let delta = data.get("delta").unwrap_or(&Value::Null);
                if delta.get("type").and_then(Value::as_str) == Some("text_delta") {
                    let text = delta.get("text").and_then(Value::as_str).unwrap_or("");
                    let chunk = self.chunk(json!({ "content": text }), Value::Null);
                    Self::emit(&chunk, text.to_owned(), out);
                }
            }
            "message_delta" => {
                let (input, output) = usage_of(data.get("usage"));
                if input.is_some() {
                    self.input_tokens = input;
                }
                if output.is_some() {
                    self.output_tokens = output;
                }
                let stop = data
                    .get("delta")
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(Value::as_str);
                let reason = finish_reason(stop.or(Some("end_turn")));
                self.finish = Some(reason.clone());
                let chunk = self.chunk(json!({}), reason);
                Self::emit(&chunk, String::new(), out);
            }
            "message_stop" => self.finish(out),
            "error" => {
                let code = data
                    .get("error")
                    .and_then(|e| e.get("type"))
                    .and_then(Value::as_str);
                // Anthropic's documented error types and their HTTP statuses.
                let status = match code {
                    Some("invalid_request_error") => 400,
                    Some("authentication_error") => 401,
                    Some("permission_error") => 403,
                    Some("not_found_error") => 404,
                    Some("request_too_large") => 413,
                    Some("rate_limit_error") => 429,
                    Some("overloaded_error") => 529,
                    _ => 500,
                };
                out.push_back(Err(crate::error::status_error(
                    status,
                    event.data.as_bytes(),
                )));
            }
            _ => {} // ping, content_block_stop, and events added later
        }
    }

    fn on_eof(&mut self, out: &mut VecDeque<Result<StreamEvent, UpstreamError>>) {
        if self.finish.is_some() {
            self.finish(out);
        } else {
            out.push_back(Err(UpstreamError::Interrupted(
                "the stream ended before message_stop".into(),
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn chat(body: Value, stream: bool) -> Value {
        let req = ProxyRequest::new(
            Operation::ChatCompletions,
            body.as_object().unwrap().clone(),
            stream,
        );
        serde_json::from_slice(&request_body(&req).unwrap()).unwrap()
    }

    #[test]
    fn request_translation() {
        let body = chat(
            json!({
                "model": "claude-x",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "hello"},
                    {"role": "assistant", "content": "hi"},
                    {"role": "user", "content": [{"type": "text", "text": "look"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}}]}
                ],
                "stop": "END",
                "temperature": 0.5,
                "top_p": 0.9,
                "top_k": 3,
                "n": 1,
                "presence_penalty": 0.1,
                "stream_options": {"include_usage": true},
                "user": "u1"
            }),
            true,
        );
        assert_eq!(
            body,
            json!({
                "model": "claude-x",
                "system": "Be brief.",
                "messages": [
                    {"role": "user", "content": "hello"},
                    {"role": "assistant", "content": "hi"},
                    {"role": "user", "content": [{"type": "text", "text": "look"},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAA"}}]}
                ],
                "max_tokens": 1024,
                "stop_sequences": ["END"],
                "temperature": 0.5,
                "top_p": 0.9,
                "top_k": 3,
                "metadata": {"user_id": "u1"},
                "stream": true
            })
        );
    }

    #[test]
    fn max_tokens_kept_and_embeddings_unsupported() {
        let body = chat(
            json!({"model": "c", "messages": [], "max_completion_tokens": 7}),
            false,
        );
        assert_eq!(body["max_tokens"], json!(7));
        assert_eq!(body["stream"], json!(false));
        let req = ProxyRequest::new(
            Operation::Embeddings,
            json!({"input": "x"}).as_object().unwrap().clone(),
            false,
        );
        let err = request_body(&req).unwrap_err();
        assert!(matches!(err, UpstreamError::Unsupported(_)));
        assert_eq!(err.suggested_status(), 400);
    }

    #[test]
    fn answer_translation() {
        let answer = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": " there"}],
            "stop_reason": "max_tokens", "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 2, "cache_read_input_tokens": 5}
        });
        let (body, usage) = parse_answer(answer.to_string().as_bytes()).unwrap();
        assert_eq!(
            usage,
            Some(Usage {
                prompt_tokens: 15,
                completion_tokens: 2
            })
        );
        assert_eq!(body["object"], "chat.completion");
        assert_eq!(body["id"], "msg_1");
        assert_eq!(body["choices"][0]["message"]["content"], "Hello there");
        assert_eq!(body["choices"][0]["finish_reason"], "length");
        assert_eq!(body["usage"]["total_tokens"], 17);
    }

    #[test]
    fn stream_translation() {
        let events = [
            r#"{"type":"message_start","message":{"id":"msg_1","model":"claude-x","usage":{"input_tokens":9,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" you"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2}}"#,
            r#"{"type":"message_stop"}"#,
        ];
        let mut tr = AnthropicStream::default();
        let mut out = VecDeque::new();
        for data in events {
            tr.on_event(
                SseEvent {
                    event: None,
                    data: data.into(),
                },
                &mut out,
            );
        }
        let items: Vec<StreamEvent> = out.into_iter().map(Result::unwrap).collect();
        assert_eq!(items.len(), 6);
        let texts: String = items
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Chunk { text_delta, .. } => Some(text_delta.as_str()),
                StreamEvent::Done => None,
            })
            .collect();
        assert_eq!(texts, "Hi you");
        let StreamEvent::Chunk { json, .. } = &items[3] else {
            panic!()
        };
        let v: Value = serde_json::from_slice(json).unwrap();
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert_eq!(v["object"], "chat.completion.chunk");
        let StreamEvent::Chunk {
            usage,
            usage_only,
            json,
            ..
        } = &items[4]
        else {
            panic!()
        };
        assert!(usage_only);
        assert_eq!(
            *usage,
            Some(Usage {
                prompt_tokens: 9,
                completion_tokens: 2
            })
        );
        let v: Value = serde_json::from_slice(json).unwrap();
        assert_eq!(v["choices"], json!([]));
        assert_eq!(items[5], StreamEvent::Done);
    }

    #[test]
    fn stream_error_event() {
        let mut tr = AnthropicStream::default();
        let mut out = VecDeque::new();
        tr.on_event(
            SseEvent {
                event: Some("error".into()),
                data:
                    r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
                        .into(),
            },
            &mut out,
        );
        let err = out.pop_front().unwrap().unwrap_err();
        assert_eq!(
            err,
            UpstreamError::Status {
                status: 529,
                message: "Overloaded".into(),
                code: Some("overloaded_error".into())
            }
        );
    }
}
