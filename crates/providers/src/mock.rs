//! The built-in mock upstream: an echo model answered in-process, with token counts from
//! the real tokenizers ([`crate::tokens`]).
//!
//! * Chat: answers with the text of the last `user` message (empty when there is none),
//!   `finish_reason: "stop"`.
//! * Completions: echoes the prompt; an array of prompts gives one choice per prompt.
//! * Embeddings: one deterministic unit vector of [`EMBEDDING_DIMENSIONS`] numbers per
//!   input, derived from a hash of the input.
//! * Streaming (chat and completions): a first chunk with the role (chat only), one chunk
//!   per word (the deltas concatenate to the answer, spaces included), a chunk with the
//!   `finish_reason`, the usage-only chunk, then Done.
//!
//! Any model name is accepted and echoed back in the answer.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::anthropic::unix_now;
use crate::{
    tokens, ChunkStream, Operation, ProxyRequest, StreamEvent, UpstreamError, UpstreamReply, Usage,
};

/// Length of the mock's embedding vectors.
pub const EMBEDDING_DIMENSIONS: usize = 8;

fn next_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    format!("{prefix}-mock-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

pub(crate) fn call(req: &ProxyRequest) -> Result<UpstreamReply, UpstreamError> {
    let model = req.model().to_owned();
    match req.op {
        Operation::ChatCompletions => {
            let (answer, cut) = limit(&model, &req.body, last_user_text(req.body.get("messages")));
            let usage = Usage {
                prompt_tokens: tokens::count_prompt(&model, &req.body),
                completion_tokens: tokens::count_text(&model, &answer),
            };
            if req.stream {
                Ok(UpstreamReply::Stream(stream(
                    &model,
                    true,
                    vec![answer],
                    usage,
                )))
            } else {
                let body = json!({
                    "id": next_id("chatcmpl"),
                    "object": "chat.completion",
                    "created": unix_now(),
                    "model": model,
                    "choices": [{
                        "index": 0,
                        "message": {"role": "assistant", "content": answer, "refusal": null},
                        "logprobs": null,
                        "finish_reason": if cut { "length" } else { "stop" },
                    }],
                    "usage": usage.to_json(),
                });
                Ok(json_reply(body, usage))
            }
        }
        Operation::Completions => {
            let prompts: Vec<String> = prompt_texts(req.body.get("prompt"))
                .into_iter()
                .map(|p| limit(&model, &req.body, p).0)
                .collect();
            let usage = Usage {
                prompt_tokens: tokens::count_prompt(&model, &req.body),
                completion_tokens: prompts.iter().map(|p| tokens::count_text(&model, p)).sum(),
            };
            if req.stream {
                Ok(UpstreamReply::Stream(stream(&model, false, prompts, usage)))
            } else {
                let choices: Vec<Value> = prompts
                    .iter()
                    .enumerate()
                    .map(|(index, text)| {
                        json!({"index": index, "text": text, "logprobs": null, "finish_reason": "stop"})
                    })
                    .collect();
                let body = json!({
                    "id": next_id("cmpl"),
                    "object": "text_completion",
                    "created": unix_now(),
                    "model": model,
                    "choices": choices,
                    "usage": usage.to_json(),
                });
                Ok(json_reply(body, usage))
            }
        }
        Operation::Embeddings => {
            let inputs = embedding_inputs(req.body.get("input"));
            let data: Vec<Value> = inputs
                .iter()
                .enumerate()
                .map(|(index, input)| {
                    json!({"object": "embedding", "index": index, "embedding": embed(input)})
                })
                .collect();
            let usage = Usage {
                prompt_tokens: tokens::count_prompt(&model, &req.body),
                completion_tokens: 0,
            };
            let body = json!({
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.prompt_tokens},
            });
            Ok(json_reply(body, usage))
        }
    }
}

/// Like a real model, the mock stops at `max_completion_tokens` / `max_tokens`.
fn limit(model: &str, body: &serde_json::Map<String, Value>, answer: String) -> (String, bool) {
    let max = body
        .get("max_completion_tokens")
        .or_else(|| body.get("max_tokens"))
        .and_then(Value::as_u64);
    match max {
        Some(max) => tokens::truncate_text(model, &answer, max),
        None => (answer, false),
    }
}

fn json_reply(body: Value, usage: Usage) -> UpstreamReply {
    UpstreamReply::Json {
        status: 200,
        body,
        usage: Some(usage),
    }
}

/// The text of the last user message.
fn last_user_text(messages: Option<&Value>) -> String {
    let Some(list) = messages.and_then(Value::as_array) else {
        return String::new();
    };
    let Some(message) = list
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
    else {
        return String::new();
    };
    match message.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// Completion prompts as texts; token-id prompts are echoed as their ids separated by
/// spaces.
fn prompt_texts(prompt: Option<&Value>) -> Vec<String> {
    match prompt {
        None | Some(Value::Null) => vec![String::new()],
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Array(items)) if items.iter().all(Value::is_number) => {
            vec![token_ids_text(items)]
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => text.clone(),
                Value::Array(ids) => token_ids_text(ids),
                other => other.to_string(),
            })
            .collect(),
        Some(other) => vec![other.to_string()],
    }
}

fn token_ids_text(ids: &[Value]) -> String {
    ids.iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

fn embedding_inputs(input: Option<&Value>) -> Vec<String> {
    // The same shapes as completion prompts.
    prompt_texts(input)
}

/// A deterministic unit vector: FNV-1a of the text seeds a SplitMix64 sequence.
pub(crate) fn embed(text: &str) -> Vec<f32> {
    let mut seed: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        seed ^= u64::from(byte);
        seed = seed.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut values: Vec<f64> = (0..EMBEDDING_DIMENSIONS)
        .map(|_| {
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect();
    let norm = values.iter().map(|v| v * v).sum::<f64>().sqrt();
    if norm > 0.0 {
        values.iter_mut().for_each(|v| *v /= norm);
    }
    values.into_iter().map(|v| v as f32).collect()
}

/// Split into word pieces that concatenate back to `text`: each piece is a run of
/// whitespace followed by a run of non-whitespace.
fn word_pieces(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut in_word = false;
    for (at, ch) in text.char_indices() {
        let space = ch.is_whitespace();
        if space && in_word {
            pieces.push(&text[start..at]);
            start = at;
        }
        in_word = !space;
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

fn stream(model: &str, chat: bool, answers: Vec<String>, usage: Usage) -> ChunkStream {
    let id = next_id(if chat { "chatcmpl" } else { "cmpl" });
    let created = unix_now();
    let object = if chat {
        "chat.completion.chunk"
    } else {
        "text_completion"
    };
    let make = |index: usize, text: Option<&str>, role: bool, finish: Value| -> Value {
        let choice = if chat {
            let mut delta = Map::new();
            if role {
                delta.insert("role".into(), json!("assistant"));
            }
            if let Some(text) = text {
                delta.insert("content".into(), json!(text));
            }
            json!({"index": index, "delta": delta, "logprobs": null, "finish_reason": finish})
        } else {
            json!({"index": index, "text": text.unwrap_or(""), "logprobs": null, "finish_reason": finish})
        };
        json!({"id": id, "object": object, "created": created, "model": model, "choices": [choice]})
    };
    let chunk = |value: Value, text: &str| {
        Ok(StreamEvent::Chunk {
            json: Bytes::from(value.to_string()),
            text_delta: text.to_owned(),
            usage: None,
            usage_only: false,
        })
    };
    let mut events = Vec::new();
    for (index, answer) in answers.iter().enumerate() {
        if chat {
            events.push(chunk(make(index, Some(""), true, Value::Null), ""));
        }
        for piece in word_pieces(answer) {
            events.push(chunk(make(index, Some(piece), false, Value::Null), piece));
        }
        events.push(chunk(make(index, None, false, json!("stop")), ""));
    }
    let usage_chunk = json!({
        "id": id, "object": object, "created": created, "model": model,
        "choices": [], "usage": usage.to_json(),
    });
    events.push(Ok(StreamEvent::Chunk {
        json: Bytes::from(usage_chunk.to_string()),
        text_delta: String::new(),
        usage: Some(usage),
        usage_only: true,
    }));
    events.push(Ok(StreamEvent::Done));
    Box::pin(futures::stream::iter(events))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn pieces_concatenate_back() {
        for text in ["", "one", "  two words ", "a\nb  c", "héllo wörld"] {
            assert_eq!(word_pieces(text).concat(), text);
        }
        assert_eq!(
            word_pieces("hello big world"),
            vec!["hello", " big", " world"]
        );
    }

    #[test]
    fn embeddings_are_deterministic_unit_vectors() {
        let a = embed("hello");
        assert_eq!(a, embed("hello"));
        assert_ne!(a, embed("hellp"));
        assert_eq!(a.len(), EMBEDDING_DIMENSIONS);
        let norm: f32 = a.iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-4);
    }

    #[test]
    fn last_user_message_is_echoed() {
        let messages = json!([
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "x"},
            {"role": "user", "content": [{"type": "text", "text": "second"}]},
            {"role": "assistant", "content": "y"}
        ]);
        assert_eq!(last_user_text(Some(&messages)), "second");
        assert_eq!(last_user_text(None), "");
    }
}
