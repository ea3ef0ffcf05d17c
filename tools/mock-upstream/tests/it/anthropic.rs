use kobo_providers::{Operation, StreamEvent, Upstream, UpstreamError, UpstreamKind, Usage};
use serde_json::json;

use crate::helpers::*;

fn upstream(server: &MockServer) -> Upstream {
    let mut settings = server.settings(UpstreamKind::Anthropic);
    settings.api_key = Some("ant-key".into());
    Upstream::new(settings).unwrap()
}

fn conversation(stream: bool, extra: serde_json::Value) -> kobo_providers::ProxyRequest {
    let mut body = json!({
        "model": "echo",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "hi there"},
            {"role": "user", "content": "tell me a story"}
        ],
        "temperature": 0.2,
        "n": 1,
        "stream_options": {"include_usage": true}
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    request(Operation::ChatCompletions, body, stream)
}

#[tokio::test]
async fn non_stream_is_translated_both_ways() {
    // The mock requires the key in x-api-key and rejects requests without max_tokens, so
    // success shows the header and the default max_tokens were sent.
    let server = MockServer::start_with(&["--require-key", "ant-key"]).await;
    let reply = upstream(&server)
        .call(conversation(false, json!({})))
        .await
        .unwrap();
    let (status, body, usage) = expect_json(reply);
    assert_eq!(status, 200);
    assert_eq!(body["object"], "chat.completion");
    assert!(body["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(body["model"], "echo");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(body["choices"][0]["message"]["content"], "tell me a story");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    // input: "be brief" (system) + hello + "hi there" + "tell me a story" = 2+1+2+4 words
    let expected = Usage {
        prompt_tokens: 9,
        completion_tokens: 4,
    };
    assert_eq!(usage, Some(expected));
    assert_eq!(body["usage"]["total_tokens"], 13);
}

#[tokio::test]
async fn max_tokens_maps_to_length() {
    let server = MockServer::start().await;
    let reply = upstream(&server)
        .call(conversation(false, json!({"max_tokens": 2, "stop": "END"})))
        .await
        .unwrap();
    let (_, body, usage) = expect_json(reply);
    assert_eq!(body["choices"][0]["message"]["content"], "tell me");
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert_eq!(usage.unwrap().completion_tokens, 2);
}

#[tokio::test]
async fn stream_is_translated_to_chat_chunks() {
    let server = MockServer::start_with(&["--require-key", "ant-key"]).await;
    let reply = upstream(&server)
        .call(conversation(true, json!({})))
        .await
        .unwrap();
    let events: Vec<StreamEvent> = collect(expect_stream(reply))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(text_of(&events), "tell me a story");
    assert_eq!(events.last(), Some(&StreamEvent::Done));
    let first = chunk_json(&events[0]);
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    assert!(first["id"].as_str().unwrap().starts_with("msg_"));
    let finish = chunk_json(&events[events.len() - 3]);
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let StreamEvent::Chunk {
        usage, usage_only, ..
    } = &events[events.len() - 2]
    else {
        panic!("expected the usage chunk")
    };
    assert!(*usage_only);
    assert_eq!(
        *usage,
        Some(Usage {
            prompt_tokens: 9,
            completion_tokens: 4
        })
    );
    assert_eq!(chunk_json(&events[events.len() - 2])["choices"], json!([]));
}

#[tokio::test]
async fn errors_and_unsupported_operations() {
    let server = MockServer::start_with(&["--require-key", "ant-key"]).await;
    let err = upstream(&server)
        .call(request(
            Operation::Embeddings,
            json!({"model": "echo", "input": "x"}),
            false,
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, UpstreamError::Unsupported(_)));
    // Nothing was sent.
    assert_eq!(server.stats(None).await["requests_total"], 0);

    let err = upstream(&server)
        .call(chat("bad-request", "x", false))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        UpstreamError::Status {
            status: 400,
            message: "mock: bad request".into(),
            code: Some("invalid_request_error".into())
        }
    );

    let anonymous = server.upstream(UpstreamKind::Anthropic);
    let err = anonymous.call(chat("echo", "x", false)).await.unwrap_err();
    assert!(matches!(err, UpstreamError::Status { status: 401, .. }));
}
