//! Sending a prepared list of SSE frames, paced according to the behaviour, and noticing
//! when the client goes away.

use std::collections::VecDeque;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::state::CancelGuard;

/// How the word frames are sent.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pacing {
    /// As fast as the connection takes them.
    Immediate,
    /// With this pause before every word frame but the first.
    Interval(Duration),
    /// Send this many word frames, then nothing, forever.
    StallAfter(usize),
    /// Send this many word frames, then break the connection.
    DieAfter(usize),
}

/// A stream's frames: the opening ones, one per word, and the closing ones.
#[derive(Default)]
pub(crate) struct Frames {
    pub head: Vec<Bytes>,
    pub words: Vec<Bytes>,
    pub tail: Vec<Bytes>,
}

/// `data: <json>\n\n`
pub(crate) fn data_frame(json: &serde_json::Value) -> Bytes {
    Bytes::from(format!("data: {json}\n\n"))
}

/// `event: <name>\ndata: <json>\n\n`
pub(crate) fn event_frame(name: &str, json: &serde_json::Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {json}\n\n"))
}

struct State {
    head: VecDeque<Bytes>,
    words: VecDeque<Bytes>,
    tail: VecDeque<Bytes>,
    pacing: Pacing,
    sent_words: usize,
    guard: CancelGuard,
    ended: bool,
}

/// A `text/event-stream` response. The guard counts the stream as cancelled if the body
/// is dropped (the client went away) before its last frame.
pub(crate) fn sse_response(frames: Frames, pacing: Pacing, guard: CancelGuard) -> Response {
    let state = State {
        head: frames.head.into(),
        words: frames.words.into(),
        tail: frames.tail.into(),
        pacing,
        sent_words: 0,
        guard,
        ended: false,
    };
    let body = futures::stream::unfold(state, |mut s| async move {
        if s.ended {
            return None;
        }
        if let Some(frame) = s.head.pop_front() {
            return Some((Ok(frame), s));
        }
        if !s.words.is_empty() {
            match s.pacing {
                Pacing::StallAfter(n) if s.sent_words >= n => {
                    futures::future::pending::<()>().await;
                }
                Pacing::DieAfter(n) if s.sent_words >= n => {
                    // Let the connection flush what was sent, then break it: an error from
                    // the body makes the server drop the connection without ending the
                    // chunked body.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    s.guard.complete();
                    s.ended = true;
                    let err = std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "mock: die-midstream",
                    );
                    return Some((Err(err), s));
                }
                Pacing::Interval(pause) if s.sent_words > 0 => tokio::time::sleep(pause).await,
                _ => {}
            }
            if let Some(frame) = s.words.pop_front() {
                s.sent_words += 1;
                return Some((Ok(frame), s));
            }
        }
        match s.tail.pop_front() {
            Some(frame) => {
                if s.tail.is_empty() {
                    s.guard.complete();
                }
                Some((Ok(frame), s))
            }
            None => {
                s.guard.complete();
                None
            }
        }
    });
    (
        [
            (CONTENT_TYPE, "text/event-stream"),
            (CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}
