//! Token counting with OpenAI's tokenizers (tiktoken's `cl100k_base` and `o200k_base`).
//!
//! Each tokenizer is built once per process, on first use, and kept in a `OnceLock`; call
//! [`preload`] at start-up to pay that cost (a few hundred milliseconds) before the first
//! request. Should a tokenizer fail to build, counts fall back to [`estimate`]: one token per
//! four characters, rounded up (OpenAI's rule of thumb for English text). Nothing here
//! panics.
//!
//! Chat prompts are counted the way OpenAI documents for its chat models: every message
//! costs 3 tokens of framing plus its role and content (plus 1 and the name's tokens when it
//! has a `name`), and every reply is primed with 3 more tokens. Image parts count a flat
//! [`IMAGE_PART_TOKENS`] (the price of a low-detail image).

use std::sync::OnceLock;

use serde_json::{Map, Value};
use tiktoken_rs::CoreBPE;

/// Tokens counted for each image part of a chat message.
pub const IMAGE_PART_TOKENS: u64 = 85;

/// The tokenizer families this module knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Cl100kBase,
    O200kBase,
}

/// The tokenizer a model uses: `o200k_base` for the GPT-4o / 4.1 / 5 and o-series
/// families, `cl100k_base` for everything else (including non-OpenAI models, for which it
/// is a fair approximation).
pub fn encoding_for_model(model: &str) -> Encoding {
    // Accept "openai/gpt-4o" style names.
    let name = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    const O200K_PREFIXES: [&str; 9] = [
        "gpt-4o",
        "chatgpt-4o",
        "gpt-4.1",
        "gpt-4.5",
        "gpt-5",
        "gpt-oss",
        "o1",
        "o3",
        "o4",
    ];
    if O200K_PREFIXES.iter().any(|p| name.starts_with(p)) {
        Encoding::O200kBase
    } else {
        Encoding::Cl100kBase
    }
}

fn tokenizer(encoding: Encoding) -> Option<&'static CoreBPE> {
    static CL100K: OnceLock<Option<CoreBPE>> = OnceLock::new();
    static O200K: OnceLock<Option<CoreBPE>> = OnceLock::new();
    let (cell, build): (_, fn() -> anyhow_free::Result) = match encoding {
        Encoding::Cl100kBase => (&CL100K, anyhow_free::cl100k),
        Encoding::O200kBase => (&O200K, anyhow_free::o200k),
    };
    cell.get_or_init(|| match build() {
        Ok(bpe) => Some(bpe),
        Err(message) => {
            tracing::warn!(
                ?encoding,
                %message,
                "The tokenizer could not be loaded, so token counts fall back to an estimate of one token per four characters."
            );
            None
        }
    })
    .as_ref()
}

/// tiktoken-rs reports errors as `anyhow::Error`; keep that type out of our signatures.
mod anyhow_free {
    use tiktoken_rs::CoreBPE;

    pub type Result = std::result::Result<CoreBPE, String>;

    pub fn cl100k() -> Result {
        tiktoken_rs::cl100k_base().map_err(|e| e.to_string())
    }

    pub fn o200k() -> Result {
        tiktoken_rs::o200k_base().map_err(|e| e.to_string())
    }
}

/// Build both tokenizers now rather than on the first request.
pub fn preload() {
    let _cl100k = tokenizer(Encoding::Cl100kBase);
    let _o200k = tokenizer(Encoding::O200kBase);
}

/// The fallback estimate: one token per four characters, rounded up.
pub fn estimate(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// Tokens in a piece of plain text (special-token markers count as ordinary text).
pub fn count_text(model: &str, text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    match tokenizer(encoding_for_model(model)) {
        Some(bpe) => bpe.encode_ordinary(text).len() as u64,
        None => estimate(text),
    }
}

/// The longest prefix of `text` that is at most `max` tokens, and whether it was cut.
pub fn truncate_text(model: &str, text: &str, max: u64) -> (String, bool) {
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    match tokenizer(encoding_for_model(model)) {
        Some(bpe) => {
            let ids = bpe.encode_ordinary(text);
            if ids.len() <= max {
                return (text.to_string(), false);
            }
            // A cut may split a character's bytes: step back until the prefix decodes.
            let mut keep = max;
            loop {
                if let Ok(s) = bpe.decode(ids[..keep].to_vec()) {
                    return (s, true);
                }
                if keep == 0 {
                    return (String::new(), true);
                }
                keep -= 1;
            }
        }
        None => {
            let chars = max.saturating_mul(4);
            if text.chars().count() <= chars {
                (text.to_string(), false)
            } else {
                (text.chars().take(chars).collect(), true)
            }
        }
    }
}

/// Tokens in a chat prompt (`messages` of a chat completion request), OpenAI's way.
/// A value that is not an array counts as its JSON text.
pub fn count_chat_prompt(model: &str, messages: &Value) -> u64 {
    let Some(list) = messages.as_array() else {
        return count_text(model, &messages.to_string());
    };
    let mut total = 3; // every reply is primed with <|start|>assistant<|message|>
    for message in list {
        total += 3;
        let Some(message) = message.as_object() else {
            total += count_text(model, &message.to_string());
            continue;
        };
        if let Some(role) = message.get("role").and_then(Value::as_str) {
            total += count_text(model, role);
        }
        if let Some(content) = message.get("content") {
            total += count_content(model, content);
        }
        if let Some(name) = message.get("name").and_then(Value::as_str) {
            total += 1 + count_text(model, name);
        }
        if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
            for call in calls {
                if let Some(function) = call.get("function") {
                    for key in ["name", "arguments"] {
                        if let Some(text) = function.get(key).and_then(Value::as_str) {
                            total += count_text(model, text);
                        }
                    }
                }
            }
        }
    }
    total
}

/// Tokens in a message's `content`: a string, or an array of parts.
fn count_content(model: &str, content: &Value) -> u64 {
    match content {
        Value::String(text) => count_text(model, text),
        Value::Array(parts) => parts
            .iter()
            .map(|part| match part.get("type").and_then(Value::as_str) {
                Some("text") => part
                    .get("text")
                    .and_then(Value::as_str)
                    .map_or(0, |t| count_text(model, t)),
                Some("image_url") | Some("image") | Some("input_image") => IMAGE_PART_TOKENS,
                _ => match part {
                    Value::String(text) => count_text(model, text),
                    _ => 0,
                },
            })
            .sum(),
        Value::Null => 0,
        other => count_text(model, &other.to_string()),
    }
}

/// Tokens in any request body: chat `messages`, a completion `prompt` (a string, an array
/// of strings, an array of token ids or an array of such arrays), or embeddings `input`
/// (same shapes). Token-id arrays count one token per id.
pub fn count_prompt(model: &str, body: &Map<String, Value>) -> u64 {
    if let Some(messages) = body.get("messages") {
        return count_chat_prompt(model, messages);
    }
    body.get("prompt")
        .or_else(|| body.get("input"))
        .map_or(0, |value| count_text_or_tokens(model, value))
}

fn count_text_or_tokens(model: &str, value: &Value) -> u64 {
    match value {
        Value::String(text) => count_text(model, text),
        Value::Number(_) => 1,
        Value::Array(items) => items
            .iter()
            .map(|item| count_text_or_tokens(model, item))
            .sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn truncation_keeps_at_most_the_asked_tokens() {
        let text = "Lagos traffic on a Monday morning is a test of patience, ẹ ku ọjọ";
        let all = count_text("gpt-4o", text);
        let (same, cut) = truncate_text("gpt-4o", text, all);
        assert_eq!((same.as_str(), cut), (text, false));
        for max in [0, 1, 3, all - 1] {
            let (short, cut) = truncate_text("gpt-4o", text, max);
            assert!(cut);
            assert!(count_text("gpt-4o", &short) <= max, "{max}: {short:?}");
            assert!(text.starts_with(&short));
        }
    }

    #[test]
    fn known_counts() {
        // Reference values from OpenAI's tokenizer.
        assert_eq!(count_text("gpt-4", "hello world"), 2);
        assert_eq!(count_text("gpt-4o", "hello world"), 2);
        assert_eq!(count_text("mock-echo", ""), 0);
        assert_eq!(
            count_text("gpt-3.5-turbo", "tiktoken is great!"),
            6,
            "cl100k_base splits this into 6 tokens"
        );
    }

    #[test]
    fn model_families() {
        assert_eq!(encoding_for_model("gpt-4o-mini"), Encoding::O200kBase);
        assert_eq!(encoding_for_model("openai/o3-mini"), Encoding::O200kBase);
        assert_eq!(encoding_for_model("gpt-4-turbo"), Encoding::Cl100kBase);
        assert_eq!(encoding_for_model("qwen2.5-7b"), Encoding::Cl100kBase);
    }

    #[test]
    fn chat_prompt_follows_openai_formula() {
        let messages = json!([
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [{"type": "text", "text": "hello world"}], "name": "ada"}
        ]);
        let m = "gpt-4";
        let expected = 3
            + (3 + count_text(m, "system") + count_text(m, "You are terse."))
            + (3 + count_text(m, "user") + count_text(m, "hello world") + 1 + count_text(m, "ada"));
        assert_eq!(count_chat_prompt(m, &messages), expected);
    }

    #[test]
    fn prompt_shapes() {
        let m = "gpt-4";
        let body = json!({"prompt": ["hello world", "hi"]});
        assert_eq!(count_prompt(m, body.as_object().unwrap()), 3);
        let body = json!({"input": [[1, 2, 3], [4]]});
        assert_eq!(count_prompt(m, body.as_object().unwrap()), 4);
        let body = json!({"input": "hello world"});
        assert_eq!(count_prompt(m, body.as_object().unwrap()), 2);
        assert_eq!(count_prompt(m, json!({}).as_object().unwrap()), 0);
    }

    #[test]
    fn estimate_rounds_up() {
        assert_eq!(estimate(""), 0);
        assert_eq!(estimate("abcde"), 2);
        assert_eq!(estimate("ñññ"), 1);
    }
}
