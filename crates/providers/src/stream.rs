//! Turning an upstream's SSE response into a [`ChunkStream`], one translated event at a
//! time, with an idle timeout between reads.

use std::collections::VecDeque;
use std::time::Duration;

use crate::sse::{SseEvent, SseParser};
use crate::{ChunkStream, StreamEvent, UpstreamError};

/// How long to keep reading after the final event, so the connection ends cleanly and can
/// go back to the pool. Upstreams close the body right after their last event.
const DRAIN_LIMIT: Duration = Duration::from_millis(100);

/// Translates upstream SSE events into OpenAI chunk events.
pub(crate) trait Translate: Send + 'static {
    /// Handle one upstream event; push zero or more items. Pushing `Done` or an error ends
    /// the stream.
    fn on_event(&mut self, event: SseEvent, out: &mut VecDeque<Result<StreamEvent, UpstreamError>>);

    /// The body ended without a final event: push what the stream should end with.
    fn on_eof(&mut self, out: &mut VecDeque<Result<StreamEvent, UpstreamError>>);
}

/// The body of an SSE response, read incrementally.
struct SseBody {
    response: reqwest::Response,
    parser: SseParser,
    events: VecDeque<SseEvent>,
    idle_timeout: Duration,
    eof: bool,
}

impl SseBody {
    async fn next_event(&mut self) -> Option<Result<SseEvent, UpstreamError>> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Some(Ok(event));
            }
            if self.eof {
                return None;
            }
            match tokio::time::timeout(self.idle_timeout, self.response.chunk()).await {
                Err(_) => return Some(Err(UpstreamError::Timeout)),
                Ok(Err(err)) => return Some(Err(UpstreamError::from_reqwest(&err))),
                Ok(Ok(Some(bytes))) => self.parser.push(&bytes, &mut self.events),
                Ok(Ok(None)) => {
                    self.eof = true;
                    self.parser.finish(&mut self.events);
                }
            }
        }
    }

    /// Read (and ignore) the rest of the body for a short while.
    async fn drain(&mut self) {
        if self.eof {
            return;
        }
        let rest = async { while let Ok(Some(_)) = self.response.chunk().await {} };
        // If the upstream keeps the body open, give up: dropping it closes the connection.
        let _still_open = tokio::time::timeout(DRAIN_LIMIT, rest).await;
    }
}

struct Driver<T> {
    body: SseBody,
    translator: T,
    pending: VecDeque<Result<StreamEvent, UpstreamError>>,
    finished: bool,
}

/// Wrap an upstream SSE response. The response lives inside the returned stream: dropping
/// the stream drops the response and closes the connection.
pub(crate) fn sse_stream<T: Translate>(
    response: reqwest::Response,
    idle_timeout: Duration,
    translator: T,
) -> ChunkStream {
    let driver = Driver {
        body: SseBody {
            response,
            parser: SseParser::new(),
            events: VecDeque::new(),
            idle_timeout,
            eof: false,
        },
        translator,
        pending: VecDeque::new(),
        finished: false,
    };
    Box::pin(futures::stream::unfold(driver, |mut d| async move {
        loop {
            if let Some(item) = d.pending.pop_front() {
                let last = !matches!(item, Ok(StreamEvent::Chunk { .. }));
                if last {
                    d.pending.clear();
                    d.finished = true;
                    if matches!(item, Ok(StreamEvent::Done)) {
                        d.body.drain().await;
                    }
                }
                return Some((item, d));
            }
            if d.finished {
                return None;
            }
            match d.body.next_event().await {
                Some(Ok(event)) => d.translator.on_event(event, &mut d.pending),
                Some(Err(err)) => d.pending.push_back(Err(err)),
                None => {
                    d.translator.on_eof(&mut d.pending);
                    if d.pending.is_empty() {
                        d.finished = true;
                    }
                }
            }
        }
    }))
}
