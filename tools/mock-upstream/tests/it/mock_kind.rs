use kobo_providers::tokens;
use kobo_providers::{
    Operation, StreamEvent, Upstream, UpstreamKind, UpstreamSettings, Usage, MOCK_MODEL,
};
use serde_json::json;

use crate::helpers::*;

fn mock() -> Upstream {
    let upstream = Upstream::new(UpstreamSettings::mock("builtin")).unwrap();
    assert_eq!(upstream.kind(), UpstreamKind::Mock);
    upstream
}

#[tokio::test]
async fn chat_usage_is_the_tokenizer_count() {
    let text = "The quick brown fox jumps over the lazy dog, twice!";
    let body = json!({
        "model": MOCK_MODEL,
        "messages": [
            {"role": "system", "content": "You echo."},
            {"role": "user", "content": text}
        ]
    });
    let req = request(Operation::ChatCompletions, body.clone(), false);
    let (_, answer, usage) = expect_json(mock().call(req).await.unwrap());
    assert_eq!(answer["choices"][0]["message"]["content"], text);
    assert_eq!(answer["model"], MOCK_MODEL);
    let expected = Usage {
        prompt_tokens: tokens::count_chat_prompt(MOCK_MODEL, &body["messages"]),
        completion_tokens: tokens::count_text(MOCK_MODEL, text),
    };
    // cl100k_base makes 12 tokens of the sentence; the fallback estimate would say 13, so
    // this shows the real tokenizer is used.
    assert_eq!(expected.completion_tokens, 12);
    assert_eq!(tokens::estimate(text), 13);
    assert_eq!(usage, Some(expected));
    assert_eq!(answer["usage"]["prompt_tokens"], expected.prompt_tokens);
}

#[tokio::test]
async fn chat_stream_is_one_chunk_per_word() {
    let req = chat(MOCK_MODEL, "alpha beta gamma", true);
    let events: Vec<StreamEvent> = collect(expect_stream(mock().call(req).await.unwrap()))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    // role chunk + 3 words + finish chunk + usage chunk + Done
    assert_eq!(events.len(), 7);
    assert_eq!(text_of(&events), "alpha beta gamma");
    let StreamEvent::Chunk {
        usage, usage_only, ..
    } = &events[5]
    else {
        panic!()
    };
    assert!(*usage_only);
    assert_eq!(
        usage.unwrap().completion_tokens,
        tokens::count_text(MOCK_MODEL, "alpha beta gamma")
    );
    assert_eq!(events[6], StreamEvent::Done);
}

#[tokio::test]
async fn completions_and_embeddings() {
    let req = request(
        Operation::Completions,
        json!({"model": MOCK_MODEL, "prompt": "echo me"}),
        false,
    );
    let (_, body, usage) = expect_json(mock().call(req).await.unwrap());
    assert_eq!(body["choices"][0]["text"], "echo me");
    let n = tokens::count_text(MOCK_MODEL, "echo me");
    assert_eq!(
        usage,
        Some(Usage {
            prompt_tokens: n,
            completion_tokens: n
        })
    );

    let req = request(
        Operation::Embeddings,
        json!({"model": MOCK_MODEL, "input": ["a", "b", "a"]}),
        false,
    );
    let (_, body, usage) = expect_json(mock().call(req).await.unwrap());
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data[0]["embedding"], data[2]["embedding"]);
    assert_ne!(data[0]["embedding"], data[1]["embedding"]);
    assert_eq!(usage.unwrap().prompt_tokens, 3);
}
