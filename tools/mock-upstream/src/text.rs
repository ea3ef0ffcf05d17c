//! Reading texts out of requests, counting words, and the mock's answers.

use serde_json::{Map, Value};

/// Whitespace-separated words: the mock's token count.
pub(crate) fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// The text of a content value: a string, or the text parts of an array of blocks.
pub(crate) fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// Words in every message's content.
pub(crate) fn message_words(messages: Option<&Value>) -> u64 {
    messages.and_then(Value::as_array).map_or(0, |list| {
        list.iter()
            .map(|m| words(&content_text(m.get("content"))))
            .sum()
    })
}

/// The text of the last user message.
pub(crate) fn last_user_text(messages: Option<&Value>) -> String {
    messages
        .and_then(Value::as_array)
        .and_then(|list| {
            list.iter()
                .rev()
                .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        })
        .map(|m| content_text(m.get("content")))
        .unwrap_or_default()
}

/// Texts of a completion `prompt` or embeddings `input`: a string or an array of strings
/// (token-id arrays are rendered as their numbers).
pub(crate) fn input_texts(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) if items.iter().all(Value::is_number) => vec![items
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(" ")],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => s.clone(),
                Value::Array(ids) => ids
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            })
            .collect(),
        _ => vec![String::new()],
    }
}

/// `max_tokens` (or `max_completion_tokens`) of the request.
pub(crate) fn max_tokens(body: &Map<String, Value>) -> Option<u64> {
    body.get("max_tokens")
        .or_else(|| body.get("max_completion_tokens"))
        .and_then(Value::as_u64)
}

/// Split into pieces that concatenate back to the text, one word each (with the
/// whitespace before it).
pub(crate) fn word_pieces(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut in_word = false;
    for (at, ch) in text.char_indices() {
        let space = ch.is_whitespace();
        if space && in_word {
            pieces.push(text[start..at].to_owned());
            start = at;
        }
        in_word = !space;
    }
    if start < text.len() {
        pieces.push(text[start..].to_owned());
    }
    pieces
}

/// An answer cut to at most `max_tokens` words: its pieces, and whether it was cut.
pub(crate) struct Answer {
    pub pieces: Vec<String>,
    pub truncated: bool,
}

impl Answer {
    pub fn new(text: &str, max_tokens: Option<u64>) -> Answer {
        let mut pieces = word_pieces(text);
        let limit = max_tokens.map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX));
        // Pieces hold one word each, except a whitespace-only text's single piece.
        let truncated = words(text) > limit as u64;
        if truncated {
            pieces.truncate(limit);
        }
        Answer { pieces, truncated }
    }

    /// `long-stream`'s answer: `w1 w2 ... wN`.
    pub fn numbered(count: usize) -> Answer {
        let pieces = (1..=count)
            .map(|i| {
                if i == 1 {
                    format!("w{i}")
                } else {
                    format!(" w{i}")
                }
            })
            .collect();
        Answer {
            pieces,
            truncated: false,
        }
    }

    pub fn text(&self) -> String {
        self.pieces.concat()
    }

    pub fn words(&self) -> u64 {
        self.pieces.iter().map(|p| words(p)).sum()
    }
}

/// A deterministic unit vector of 8 numbers for a text (FNV-1a, then xorshift).
pub(crate) fn embedding(text: &str) -> Vec<f32> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut v: Vec<f64> = (0..8)
        .map(|_| {
            h ^= h << 13;
            h ^= h >> 7;
            h ^= h << 17;
            (h % 20_001) as f64 / 10_000.0 - 1.0
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v.into_iter().map(|x| x as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        let a = Answer::new("one two  three", Some(2));
        assert!(a.truncated);
        assert_eq!(a.text(), "one two");
        assert_eq!(a.words(), 2);
        let a = Answer::new("one two", None);
        assert!(!a.truncated);
        assert_eq!(a.text(), "one two");
        assert_eq!(Answer::numbered(3).text(), "w1 w2 w3");
        assert_eq!(Answer::new("", Some(0)).words(), 0);
    }

    #[test]
    fn embeddings_are_stable() {
        assert_eq!(embedding("a"), embedding("a"));
        assert_ne!(embedding("a"), embedding("b"));
    }
}
