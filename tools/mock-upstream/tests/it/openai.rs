use futures::StreamExt;
use kobo_providers::{Operation, StreamEvent, UpstreamError, UpstreamKind, Usage};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn chat_completion_non_stream() {
    let server = MockServer::start().await;
    let upstream = server.upstream(UpstreamKind::OpenAi);
    let reply = upstream
        .call(chat("echo", "hello big world", false))
        .await
        .unwrap();
    let (status, body, usage) = expect_json(reply);
    assert_eq!(status, 200);
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], "hello big world");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        usage,
        Some(Usage {
            prompt_tokens: 3,
            completion_tokens: 3
        })
    );
}

#[tokio::test]
async fn completions_and_embeddings_non_stream() {
    let server = MockServer::start().await;
    let upstream = server.upstream(UpstreamKind::OpenAi);
    let reply = upstream
        .call(request(
            Operation::Completions,
            json!({"model": "echo", "prompt": "say this back", "max_tokens": 2}),
            false,
        ))
        .await
        .unwrap();
    let (_, body, usage) = expect_json(reply);
    assert_eq!(body["choices"][0]["text"], "say this");
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert_eq!(
        usage,
        Some(Usage {
            prompt_tokens: 3,
            completion_tokens: 2
        })
    );

    let reply = upstream
        .call(request(
            Operation::Embeddings,
            json!({"model": "echo", "input": ["one two", "three"]}),
            false,
        ))
        .await
        .unwrap();
    let (_, body, usage) = expect_json(reply);
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert_eq!(usage.unwrap().prompt_tokens, 3);
}

#[tokio::test]
async fn chat_stream_passes_chunks_and_marks_the_usage_chunk() {
    let server = MockServer::start().await;
    let upstream = server.upstream(UpstreamKind::OpenAi);
    // The client did not ask for usage: the adapter asks anyway, and marks the chunk.
    let reply = upstream
        .call(chat("echo", "one two three four", true))
        .await
        .unwrap();
    let events: Vec<StreamEvent> = collect(expect_stream(reply))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(text_of(&events), "one two three four");
    assert_eq!(events.last(), Some(&StreamEvent::Done));
    // role chunk + 4 words + finish chunk + usage chunk + Done
    assert_eq!(events.len(), 8);
    let usage_chunk = &events[events.len() - 2];
    let StreamEvent::Chunk {
        usage, usage_only, ..
    } = usage_chunk
    else {
        panic!("expected the usage chunk")
    };
    assert!(*usage_only);
    assert_eq!(
        *usage,
        Some(Usage {
            prompt_tokens: 4,
            completion_tokens: 4
        })
    );
    assert_eq!(chunk_json(usage_chunk)["choices"], json!([]));
    for event in &events[..events.len() - 2] {
        let StreamEvent::Chunk {
            usage, usage_only, ..
        } = event
        else {
            panic!("expected a chunk")
        };
        assert!(!usage_only);
        assert!(usage.is_none());
        assert_eq!(chunk_json(event)["object"], "chat.completion.chunk");
    }
    assert_eq!(
        chunk_json(&events[events.len() - 3])["choices"][0]["finish_reason"],
        "stop"
    );
}

#[tokio::test]
async fn completions_stream() {
    let server = MockServer::start().await;
    let upstream = server.upstream(UpstreamKind::OpenAi);
    let reply = upstream
        .call(request(
            Operation::Completions,
            json!({"model": "echo", "prompt": "a b c"}),
            true,
        ))
        .await
        .unwrap();
    let events: Vec<StreamEvent> = collect(expect_stream(reply))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(text_of(&events), "a b c");
    assert_eq!(chunk_json(&events[0])["object"], "text_completion");
    let StreamEvent::Chunk {
        usage, usage_only, ..
    } = &events[events.len() - 2]
    else {
        panic!()
    };
    assert!(*usage_only);
    assert_eq!(usage.unwrap().completion_tokens, 3);
}

#[tokio::test]
async fn chunks_are_handed_on_as_they_arrive() {
    // `stall-stream` sends its first word and then nothing: if the adapter waited for the
    // whole answer, this would never see the word.
    let server = MockServer::start().await;
    let upstream = server.upstream(UpstreamKind::OpenAi);
    let mut stream = expect_stream(
        upstream
            .call(chat("stall-stream", "first second third", true))
            .await
            .unwrap(),
    );
    let mut seen = String::new();
    while seen.is_empty() {
        match stream.next().await {
            Some(Ok(StreamEvent::Chunk { text_delta, .. })) => seen.push_str(&text_delta),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, "first");
}

#[tokio::test]
async fn upstream_error_message_is_passed_through() {
    let server = MockServer::start().await;
    let upstream = server.upstream(UpstreamKind::OpenAi);
    let err = upstream
        .call(chat("bad-request", "x", false))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        UpstreamError::Status {
            status: 400,
            message: "mock: bad request".into(),
            code: Some("bad_request".into())
        }
    );
    assert_eq!(err.suggested_status(), 400);
    // Not retryable: one request only.
    assert_eq!(server.stats(None).await["requests_total"], 1);
}

#[tokio::test]
async fn api_key_is_sent_as_bearer() {
    let server = MockServer::start_with(&["--require-key", "sk-test"]).await;
    let anonymous = server.upstream(UpstreamKind::OpenAi);
    let err = anonymous.call(chat("echo", "hi", false)).await.unwrap_err();
    assert!(
        matches!(err, UpstreamError::Status { status: 401, .. }),
        "{err:?}"
    );

    let mut settings = server.settings(UpstreamKind::OpenAi);
    settings.api_key = Some("sk-test".into());
    let upstream = kobo_providers::Upstream::new(settings).unwrap();
    let (_, body, _) = expect_json(upstream.call(chat("echo", "hi", false)).await.unwrap());
    assert_eq!(body["choices"][0]["message"]["content"], "hi");
}

#[tokio::test]
async fn no_usage_upstream_gives_no_usage() {
    let server = MockServer::start().await;
    let upstream = server.upstream(UpstreamKind::OpenAi);
    let (_, _, usage) = expect_json(upstream.call(chat("no-usage", "a b", false)).await.unwrap());
    assert_eq!(usage, None);
    let events: Vec<StreamEvent> = collect(expect_stream(
        upstream.call(chat("no-usage", "a b", true)).await.unwrap(),
    ))
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    assert_eq!(text_of(&events), "a b");
    assert!(events
        .iter()
        .all(|e| !matches!(e, StreamEvent::Chunk { usage: Some(_), .. })));
    assert_eq!(events.last(), Some(&StreamEvent::Done));
}
