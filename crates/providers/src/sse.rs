//! An incremental parser for `text/event-stream` bodies (the WHATWG "server-sent events"
//! format), fed with whatever byte chunks the network delivers.
//!
//! Lines may end with `\n`, `\r\n` or `\r`, and a line ending, a line, a field or a
//! multi-byte character may be split across chunks. A blank line ends an event; `data:`
//! lines are joined with `\n`; `event:` names the event; lines starting with `:` are
//! comments; `id:` and `retry:` are ignored. An unfinished event at the end of the body is
//! dropped, as the format requires.

use std::collections::VecDeque;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, when the event had one.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// The parser state carried between chunks.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of a line whose end has not arrived yet.
    partial: Vec<u8>,
    /// The previous chunk ended with `\r`: a `\n` starting the next one belongs to it.
    skip_lf: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseParser {
    pub fn new() -> Self {
        SseParser::default()
    }

    /// Feed the next chunk of the body; complete events are appended to `out`.
    pub fn push(&mut self, mut chunk: &[u8], out: &mut VecDeque<SseEvent>) {
        if self.skip_lf {
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
            if !chunk.is_empty() {
                self.skip_lf = false;
            }
        }
        while let Some(end) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            let terminator = chunk[end];
            let line_tail = &chunk[..end];
            if self.partial.is_empty() {
                self.line(line_tail, out);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(line_tail);
                self.line(&line, out);
                // Keep the allocation for the next partial line.
                line.clear();
                self.partial = line;
            }
            chunk = &chunk[end + 1..];
            if terminator == b'\r' {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
        }
        self.partial.extend_from_slice(chunk);
    }

    /// The body has ended. A final line without its line ending is processed, but an event
    /// without its closing blank line is dropped.
    pub fn finish(&mut self, out: &mut VecDeque<SseEvent>) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line, out);
        }
        self.event = None;
        self.data.clear();
        self.has_data = false;
    }

    fn line(&mut self, line: &[u8], out: &mut VecDeque<SseEvent>) {
        if line.is_empty() {
            let event = self.event.take();
            if self.has_data {
                self.has_data = false;
                out.push_back(SseEvent {
                    event,
                    data: std::mem::take(&mut self.data),
                });
            }
            return;
        }
        if line[0] == b':' {
            return; // comment (often a keep-alive)
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.has_data = true;
                self.data.push_str(&String::from_utf8_lossy(value));
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {} // id, retry and unknown fields
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn parse_in_pieces(body: &[u8], cuts: &[usize]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut out = VecDeque::new();
        let mut start = 0;
        for &cut in cuts {
            parser.push(&body[start..cut], &mut out);
            start = cut;
        }
        parser.push(&body[start..], &mut out);
        parser.finish(&mut out);
        out.into_iter().collect()
    }

    const BODY: &str = "event: message_start\r\ndata: {\"a\":\"é€😀\"}\r\n\r\n\
: keep-alive\n\n\
data: first\ndata:second\n\n\
id: 7\nretry: 10\ndata: {\"x\": 1}\r\r\
event: empty\n\n\
data: [DONE]\n\n\
data: unterminated";

    fn expected() -> Vec<SseEvent> {
        vec![
            SseEvent {
                event: Some("message_start".into()),
                data: "{\"a\":\"é€😀\"}".into(),
            },
            SseEvent {
                event: None,
                data: "first\nsecond".into(),
            },
            SseEvent {
                event: None,
                data: "{\"x\": 1}".into(),
            },
            SseEvent {
                event: None,
                data: "[DONE]".into(),
            },
        ]
    }

    #[test]
    fn whole_body_at_once() {
        assert_eq!(parse_in_pieces(BODY.as_bytes(), &[]), expected());
    }

    #[test]
    fn every_single_split_point() {
        let body = BODY.as_bytes();
        for cut in 0..=body.len() {
            assert_eq!(parse_in_pieces(body, &[cut]), expected(), "split at {cut}");
        }
    }

    #[test]
    fn every_pair_of_split_points() {
        let body = BODY.as_bytes();
        for a in 0..=body.len() {
            for b in a..=body.len() {
                assert_eq!(
                    parse_in_pieces(body, &[a, b]),
                    expected(),
                    "split at {a},{b}"
                );
            }
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let body = BODY.as_bytes();
        let cuts: Vec<usize> = (1..body.len()).collect();
        assert_eq!(parse_in_pieces(body, &cuts), expected());
    }

    #[test]
    fn pseudo_random_splits() {
        let body = BODY.as_bytes();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..500 {
            let mut cuts = Vec::new();
            let mut at = 0;
            loop {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                at += (state % 9) as usize;
                if at >= body.len() {
                    break;
                }
                cuts.push(at);
            }
            assert_eq!(parse_in_pieces(body, &cuts), expected(), "cuts {cuts:?}");
        }
    }

    #[test]
    fn events_are_emitted_as_soon_as_complete() {
        let mut parser = SseParser::new();
        let mut out = VecDeque::new();
        parser.push(b"data: one\n", &mut out);
        assert!(out.is_empty());
        parser.push(b"\ndata: tw", &mut out);
        assert_eq!(out.pop_front().unwrap().data, "one");
        assert!(out.is_empty());
    }
}
