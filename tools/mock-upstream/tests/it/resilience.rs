use std::time::Duration;

use futures::StreamExt;
use kobo_providers::{StreamEvent, Upstream, UpstreamError, UpstreamKind};

use crate::helpers::*;

fn with(server: &MockServer, f: impl FnOnce(&mut kobo_providers::UpstreamSettings)) -> Upstream {
    let mut settings = server.settings(UpstreamKind::OpenAi);
    f(&mut settings);
    Upstream::new(settings).unwrap()
}

#[tokio::test]
async fn persistent_503_is_retried_then_reported() {
    let server = MockServer::start().await;
    let upstream = with(&server, |s| s.max_retries = 2);
    let err = upstream
        .call_with_headers(
            chat("fail-503", "x", false),
            headers(&[("x-test-id", "t503")]),
        )
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    assert!(
        matches!(&err, UpstreamError::Status { status: 503, message, .. } if message == "mock: service unavailable"),
        "{err:?}"
    );
    assert_eq!(err.suggested_status(), 502);
    assert_eq!(server.stats(Some("t503")).await["requests_total"], 3);
}

#[tokio::test]
async fn errors_500_are_not_retried() {
    let server = MockServer::start().await;
    let upstream = with(&server, |s| s.max_retries = 3);
    let err = upstream
        .call(chat("fail-500", "x", false))
        .await
        .unwrap_err();
    assert!(matches!(err, UpstreamError::Status { status: 500, .. }));
    assert_eq!(server.stats(None).await["requests_total"], 1);
}

#[tokio::test]
async fn flaky_503_succeeds_after_a_retry() {
    let server = MockServer::start().await;
    let upstream = with(&server, |s| s.max_retries = 1);
    let reply = upstream
        .call_with_headers(
            chat("flaky-503", "ok now", true),
            headers(&[("x-test-id", "flaky")]),
        )
        .await
        .unwrap();
    let events: Vec<StreamEvent> = collect(expect_stream(reply))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(text_of(&events), "ok now");
    assert_eq!(server.stats(Some("flaky")).await["requests_total"], 2);

    // Without retries, the first failure is the answer.
    let no_retry = with(&server, |s| s.max_retries = 0);
    let err = no_retry
        .call_with_headers(
            chat("flaky-503", "x", false),
            headers(&[("x-test-id", "other")]),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, UpstreamError::Status { status: 503, .. }));
}

#[tokio::test]
async fn slow_headers_time_out() {
    let server = MockServer::start().await;
    let upstream = with(&server, |s| {
        s.first_byte_timeout = Duration::from_millis(200);
        s.max_retries = 2;
    });
    let err = upstream
        .call_with_headers(
            chat("slow", "x", false),
            headers(&[("x-mock-delay-ms", "10000"), ("x-test-id", "slow")]),
        )
        .await
        .unwrap_err();
    assert_eq!(err, UpstreamError::Timeout);
    assert_eq!(err.suggested_status(), 504);
    // Timeouts are not retried.
    assert_eq!(server.stats(Some("slow")).await["requests_total"], 1);
}

#[tokio::test]
async fn total_timeout_bounds_the_call() {
    let server = MockServer::start().await;
    let upstream = with(&server, |s| {
        s.first_byte_timeout = Duration::from_secs(20);
        s.total_timeout = Duration::from_millis(200);
    });
    let err = upstream
        .call(chat("slow-10000", "x", false))
        .await
        .unwrap_err();
    assert_eq!(err, UpstreamError::Timeout);
}

#[tokio::test]
async fn a_stalled_stream_times_out_between_chunks() {
    let server = MockServer::start().await;
    let upstream = with(&server, |s| {
        s.first_byte_timeout = Duration::from_millis(300)
    });
    let items = collect(expect_stream(
        upstream
            .call(chat("stall-stream", "a b c", true))
            .await
            .unwrap(),
    ))
    .await;
    let (last, chunks) = items.split_last().unwrap();
    assert_eq!(last, &Err(UpstreamError::Timeout));
    let chunks: Vec<StreamEvent> = chunks.iter().cloned().map(Result::unwrap).collect();
    assert_eq!(text_of(&chunks), "a");
}

#[tokio::test]
async fn a_stream_dying_midway_ends_with_an_error() {
    let server = MockServer::start().await;
    let upstream = server.upstream(UpstreamKind::OpenAi);
    let items = collect(expect_stream(
        upstream
            .call(chat("die-midstream", "one two three four five", true))
            .await
            .unwrap(),
    ))
    .await;
    let (last, chunks) = items.split_last().unwrap();
    assert!(
        matches!(last, Err(UpstreamError::Interrupted(_))),
        "{last:?}"
    );
    let chunks: Vec<StreamEvent> = chunks.iter().cloned().map(Result::unwrap).collect();
    // The opening chunk and three words.
    assert_eq!(chunks.len(), 4);
    assert_eq!(text_of(&chunks), "one two three");
}

#[tokio::test]
async fn dropping_the_stream_closes_the_upstream_connection() {
    let server = MockServer::start().await;
    let upstream = server.upstream(UpstreamKind::OpenAi);
    let mut stream = expect_stream(
        upstream
            .call_with_headers(
                chat("long-stream", "x", true),
                headers(&[("x-test-id", "drop")]),
            )
            .await
            .unwrap(),
    );
    for _ in 0..3 {
        assert!(matches!(
            stream.next().await,
            Some(Ok(StreamEvent::Chunk { .. }))
        ));
    }
    drop(stream);
    // The server notices on its next write (chunks are 20 ms apart); poll until it does.
    let mut cancelled = serde_json::Value::Null;
    for _ in 0..250 {
        cancelled = server.stats(Some("drop")).await["streams_cancelled"].clone();
        if cancelled == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(cancelled, 1);
    assert_eq!(server.stats(Some("drop")).await["requests_total"], 1);
}

#[tokio::test]
async fn refused_connections_are_retried_then_reported() {
    // A port that was free a moment ago: nothing listens there.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut settings = kobo_providers::UpstreamSettings::new(
        "closed",
        UpstreamKind::OpenAi,
        format!("http://127.0.0.1:{port}/v1"),
    );
    settings.max_retries = 1;
    let upstream = Upstream::new(settings).unwrap();
    let err = upstream.call(chat("echo", "x", false)).await.unwrap_err();
    assert!(matches!(err, UpstreamError::Connect(_)), "{err:?}");
    assert!(err.is_retryable());
}
