//! The mock server's own contract, checked over raw HTTP.

use serde_json::{json, Value};

use crate::helpers::*;

async fn post(server: &MockServer, path: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}{path}", server.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn data_lines(body: &str) -> Vec<&str> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect()
}

#[tokio::test]
async fn usage_chunk_only_when_asked() {
    let server = MockServer::start().await;
    let body =
        json!({"model": "echo", "stream": true, "messages": [{"role": "user", "content": "a b"}]});
    let text = post(&server, "/chat/completions", body.clone())
        .await
        .text()
        .await
        .unwrap();
    let lines = data_lines(&text);
    assert_eq!(lines.last(), Some(&"[DONE]"));
    assert!(!text.contains("\"usage\""));

    let mut asked = body;
    asked["stream_options"] = json!({"include_usage": true});
    let text = post(&server, "/chat/completions", asked)
        .await
        .text()
        .await
        .unwrap();
    let lines = data_lines(&text);
    let usage: Value = serde_json::from_str(lines[lines.len() - 2]).unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4})
    );
    // Every other chunk carries "usage": null, as OpenAI's do.
    let first: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["usage"], Value::Null);
    assert!(first.as_object().unwrap().contains_key("usage"));
}

#[tokio::test]
async fn models_and_keys() {
    let server = MockServer::start_with(&["--require-key", "k1"]).await;
    let client = reqwest::Client::new();
    let url = format!("{}/models", server.base_url());
    let denied = client.get(&url).send().await.unwrap();
    assert_eq!(denied.status(), 401);
    let body: Value = denied.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");
    let models: Value = client
        .get(&url)
        .bearer_auth("k1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    assert!(models["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "long-stream"));

    let anthropic = client
        .post(format!("{}/messages", server.base_url()))
        .header("x-api-key", "k1")
        .json(&json!({"model": "echo", "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(anthropic.status(), 400, "max_tokens is required");
    let body: Value = anthropic.json().await.unwrap();
    assert_eq!(body["type"], "error");
}

#[tokio::test]
async fn anthropic_event_sequence() {
    let server = MockServer::start().await;
    let text = post(
        &server,
        "/messages",
        json!({"model": "echo", "max_tokens": 10, "stream": true,
               "messages": [{"role": "user", "content": "hi you"}]}),
    )
    .await
    .text()
    .await
    .unwrap();
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(
        events,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
}

#[tokio::test]
async fn stats_are_kept_per_test_id() {
    let server = MockServer::start().await;
    let client = reqwest::Client::new();
    for id in ["a", "a", "b"] {
        client
            .post(format!("{}/embeddings", server.base_url()))
            .header("x-test-id", id)
            .json(&json!({"model": "echo", "input": "x"}))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(server.stats(Some("a")).await["requests_total"], 2);
    assert_eq!(server.stats(Some("b")).await["requests_total"], 1);
    assert_eq!(server.stats(Some("zzz")).await["requests_total"], 0);
    assert_eq!(
        server.stats(None).await,
        json!({"requests_total": 3, "streams_cancelled": 0})
    );
}
