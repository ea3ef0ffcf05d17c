//! The gateway against a mock upstream process: routing, streaming, errors, scopes.

use crate::harness::*;
use crate::procs::mock_upstream;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn app_with_upstream() -> (TestApp, crate::procs::Proc) {
    let mock = mock_upstream();
    let addr = mock.addr.clone();
    let app = TestApp::spawn_with(Db::Sqlite, |s| with_mock_upstreams(s, &addr)).await;
    (app, mock)
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_echo_works_with_no_configuration() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let (_, key, _) = app
        .tenant_with_key("fresh@example.ng", json!({"name": "k"}))
        .await;
    let res = app
        .chat(
            &key,
            json!({"model": "mock-echo", "messages": user("Hello from Lagos")}),
        )
        .await;
    assert!(res.headers().contains_key("x-request-id"));
    for h in [
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
    ] {
        assert!(res.headers().contains_key(h), "missing {h}");
    }
    let (status, v) = body(res).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["choices"][0]["message"]["content"], "Hello from Lagos");
    assert_eq!(v["model"], "mock-echo");
    // Real tokenizer counts (cl100k): "Hello", " from", " Lagos".
    assert_eq!(v["usage"]["completion_tokens"], 3);
    let (_, models) = body(
        app.client
            .get(app.url("/v1/models"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(models["data"][0]["id"], "mock-echo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_streams_and_translates() {
    let (app, _mock) = app_with_upstream().await;
    let (t, key, _) = app
        .tenant_with_key("route@example.ng", json!({"name": "k"}))
        .await;
    app.grant_plan(&t, "enterprise").await;

    // OpenAI-compatible upstream, model renamed back to what the client asked for.
    let (status, v) = body(
        app.chat(
            &key,
            json!({"model": "gpt-4o-mini", "messages": user("one two three"), "custom_field": 1}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["model"], "gpt-4o-mini");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6})
    );

    // Anthropic upstream, translated to chat completions.
    let (status, v) = body(app.chat(&key, json!({"model": "claude-3-haiku", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi there"}]})).await).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["choices"][0]["message"]["content"], "hi there");
    assert_eq!(v["object"], "chat.completion");

    // Streaming, usage chunk only when asked for.
    for include in [true, false] {
        let mut req =
            json!({"model": "gpt-4o-mini", "stream": true, "messages": user("alpha beta gamma")});
        if include {
            req["stream_options"] = json!({"include_usage": true});
        }
        let res = app.chat(&key, req).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        let text = res.text().await.unwrap();
        assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
        let events: Vec<Value> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        let usage_chunks: Vec<&Value> = events
            .iter()
            .filter(|e| e["choices"].as_array().is_some_and(|c| c.is_empty()))
            .collect();
        assert_eq!(usage_chunks.len(), usize::from(include), "{text}");
        if include {
            assert_eq!(usage_chunks[0]["usage"]["completion_tokens"], 3);
        }
        let content: String = events
            .iter()
            .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(content.trim(), "alpha beta gamma");
        assert!(events.iter().all(|e| e["model"] == "gpt-4o-mini"));
    }

    // Anthropic streaming too.
    let res = app.chat(&key, json!({"model": "claude-3-haiku", "stream": true, "stream_options": {"include_usage": true}, "messages": user("stream me")})).await;
    let text = res.text().await.unwrap();
    assert!(
        text.contains("chat.completion.chunk") && text.trim_end().ends_with("data: [DONE]"),
        "{text}"
    );

    // Completions and embeddings.
    let res = app
        .client
        .post(app.url("/v1/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "gpt-3.5-turbo", "prompt": "say this"}))
        .send()
        .await
        .unwrap();
    let (status, v) = body(res).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["choices"][0]["text"], "say this");
    let res = app
        .client
        .post(app.url("/v1/embeddings"))
        .bearer_auth(&key)
        .json(&json!({"model": "gpt-4o-mini", "input": "embed these words"}))
        .send()
        .await
        .unwrap();
    let (status, v) = body(res).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["data"][0]["embedding"].is_array());
    assert_eq!(v["usage"]["prompt_tokens"], 3);

    // Native route, with the API key and with a session.
    for cred in [key.clone(), t.token.clone()] {
        let res = app
            .client
            .post(app.url("/api/v1/ai/complete"))
            .bearer_auth(&cred)
            .json(&json!({"prompt": "native call", "model": "gpt-4o-mini"}))
            .send()
            .await
            .unwrap();
        let (status, v) = body(res).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["completion"], "native call");
        assert_eq!(v["usage"]["total_tokens"], 4);
        assert!(v["request_id"].as_str().unwrap().starts_with("req_"));
        assert!(v["processing_time_ms"].is_u64());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failures_fallbacks_and_timeouts() {
    let (app, _mock) = app_with_upstream().await;
    let (t, key, _) = app
        .tenant_with_key("fail@example.ng", json!({"name": "k"}))
        .await;
    app.grant_plan(&t, "enterprise").await;

    // gpt-4o's upstream always answers 503 (retried, then) → falls back to gpt-4o-mini.
    let (status, v) = body(
        app.chat(
            &key,
            json!({"model": "gpt-4o", "messages": user("fall back please")}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["choices"][0]["message"]["content"], "fall back please");

    let v = expect_error(
        app.chat(&key, json!({"model": "broken", "messages": user("x")}))
            .await,
        StatusCode::BAD_GATEWAY,
        "upstream_error",
    )
    .await;
    assert_eq!(v["error"]["type"], "upstream_error");
    let v = expect_error(
        app.chat(&key, json!({"model": "picky", "messages": user("x")}))
            .await,
        StatusCode::BAD_REQUEST,
        "upstream_error",
    )
    .await;
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mock: bad request"),
        "{v}"
    );
    expect_error(
        app.chat(&key, json!({"model": "sluggish", "messages": user("x")}))
            .await,
        StatusCode::GATEWAY_TIMEOUT,
        "upstream_timeout",
    )
    .await;

    // A stream that dies midway ends with an error event and is not billed.
    let text = app
        .chat(
            &key,
            json!({"model": "dying", "stream": true, "messages": user("a b c d e f")}),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("\"error\"") && !text.contains("[DONE]"),
        "{text}"
    );

    // Failed requests are recorded, with status and code, and cost nothing.
    app.usage_settled(6).await;
    let (_, recs) = body(app.get("/api/v1/usage/records?limit=100", &t.token).await).await;
    let recs = recs["data"].as_array().unwrap().clone();
    let failed: Vec<&Value> = recs.iter().filter(|r| r["status"] != 200).collect();
    assert_eq!(failed.len(), 4, "{recs:?}");
    assert!(failed
        .iter()
        .all(|r| r["cost_millikobo"] == 0 && r["prompt_tokens"] == 0));
    let codes: Vec<_> = failed
        .iter()
        .map(|r| r["error_code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"upstream_timeout") && codes.contains(&"upstream_error"),
        "{codes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_cancels_upstream_and_bills_what_was_produced() {
    let (app, mock) = app_with_upstream().await;
    let (t, key, _) = app
        .tenant_with_key("leave@example.ng", json!({"name": "k"}))
        .await;
    app.grant_plan(&t, "enterprise").await;
    let res = app.chat(&key, json!({"model": "endless", "stream": true, "messages": user("w1 w2 w3 w4 w5 w6 w7 w8 w9 w10")})).await;
    let mut stream = res.bytes_stream();
    let mut seen = 0;
    while let Some(chunk) = stream.next().await {
        seen += chunk.unwrap().len();
        if seen > 600 {
            break;
        }
    }
    drop(stream); // the client goes away

    let stats = format!("http://{}/stats", mock.addr);
    let mut cancelled = 0;
    for _ in 0..100 {
        let v: Value = reqwest::get(&stats).await.unwrap().json().await.unwrap();
        cancelled = v["streams_cancelled"].as_u64().unwrap();
        if cancelled > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(cancelled, 1, "the upstream stream was not cancelled");
    app.usage_settled(1).await;
    let (_, recs) = body(app.get("/api/v1/usage/records", &t.token).await).await;
    let r = &recs["data"][0];
    assert_eq!(r["error_code"], "client_disconnected");
    assert_eq!(r["status"], 200);
    assert!(r["completion_tokens"].as_u64().unwrap() > 0, "{r}");
    assert!(r["cost_millikobo"].as_i64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_scopes_and_bad_requests() {
    let (app, _mock) = app_with_upstream().await;
    let t = app.signup("scopes@example.ng").await;
    let only_mini = s(
        &app.create_key(
            &t,
            json!({"name": "mini", "allowed_models": ["gpt-4o-mini"]}),
        )
        .await,
        "key",
    );
    app.grant_plan(&t, "professional").await;
    let far_away = s(
        &app.create_key(&t, json!({"name": "ip", "allowed_ips": ["10.0.0.0/8"]}))
            .await,
        "key",
    );
    let capped = s(
        &app.create_key(&t, json!({"name": "cap", "max_requests_per_day": 2}))
            .await,
        "key",
    );
    let any = s(&app.create_key(&t, json!({"name": "any"})).await, "key");

    expect_error(
        app.chat(
            &only_mini,
            json!({"model": "gpt-3.5-turbo", "messages": user("x")}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "model_not_allowed",
    )
    .await;
    assert_eq!(
        app.chat(
            &only_mini,
            json!({"model": "gpt-4o-mini", "messages": user("x")})
        )
        .await
        .status(),
        StatusCode::OK
    );
    // The plan (professional) does not include claude-3-haiku.
    expect_error(
        app.chat(
            &any,
            json!({"model": "claude-3-haiku", "messages": user("x")}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "model_not_allowed",
    )
    .await;
    expect_error(
        app.chat(
            &far_away,
            json!({"model": "gpt-4o-mini", "messages": user("x")}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "ip_not_allowed",
    )
    .await;
    expect_error(
        app.chat(
            &any,
            json!({"model": "no-such-model", "messages": user("x")}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "model_not_found",
    )
    .await;
    for _ in 0..2 {
        assert_eq!(
            app.chat(
                &capped,
                json!({"model": "gpt-4o-mini", "messages": user("x")})
            )
            .await
            .status(),
            StatusCode::OK
        );
    }
    let v = expect_error(
        app.chat(
            &capped,
            json!({"model": "gpt-4o-mini", "messages": user("x")}),
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS,
        "quota_exceeded",
    )
    .await;
    assert_eq!(v["error"]["quota"], "api_key_daily_requests");

    // Credentials.
    for bad in [
        "",
        "Bearer nope",
        "Bearer kobo_sk_abcdefghijkl_0123456789012345678901234567890123456789",
    ] {
        let res = app
            .client
            .post(app.url("/v1/chat/completions"))
            .header("authorization", bad)
            .json(&json!({"model": "mock-echo", "messages": user("x")}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{bad}");
    }
    let res = app
        .client
        .post(app.url("/v1/chat/completions"))
        .header("x-api-key", &any)
        .json(&json!({"model": "mock-echo", "messages": user("x")}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "x-api-key header works");
    // A session token is not an API key on the OpenAI routes.
    expect_error(
        app.chat(
            &t.token,
            json!({"model": "mock-echo", "messages": user("x")}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_api_key",
    )
    .await;

    // Bad bodies.
    let raw = |b: &'static str| {
        app.client
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(&any)
            .header("content-type", "application/json")
            .body(b)
            .send()
    };
    expect_error(
        raw("{oops").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    expect_error(
        raw("[]").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    expect_error(
        raw(r#"{"messages": []}"#).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    expect_error(
        raw(r#"{"model": "mock-echo", "messages": [], "max_tokens": "lots"}"#)
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    expect_error(
        raw(r#"{"model": "mock-echo", "messages": [], "stream": "yes"}"#)
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_rotation_and_expiry_on_the_hot_path() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let (t, key, k) = app
        .tenant_with_key("rev@example.ng", json!({"name": "k", "expires_in_days": 1}))
        .await;
    let call = |key: String| {
        let app = &app;
        async move {
            app.chat(&key, json!({"model": "mock-echo", "messages": user("x")}))
                .await
                .status()
        }
    };
    assert_eq!(call(key.clone()).await, StatusCode::OK);
    // Rotation: the new key works at once and the old one during the grace period.
    let res = app
        .post(
            &format!("/api/v1/api-keys/{}/rotate", s(&k, "id")),
            &t.token,
            json!({"grace_seconds": 3600}),
        )
        .await;
    let new_key = s(&res.json::<Value>().await.unwrap(), "key");
    assert_eq!(call(new_key.clone()).await, StatusCode::OK);
    assert_eq!(call(key.clone()).await, StatusCode::OK);
    // Revocation takes effect on this replica at once.
    let (_, list) = body(
        app.get(
            &format!("/api/v1/workspaces/{}/api-keys", t.workspace_id),
            &t.token,
        )
        .await,
    )
    .await;
    let new_id = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["replaced_by"].is_null())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.delete(&format!("/api/v1/api-keys/{new_id}"), &t.token)
        .await;
    expect_error(
        app.chat(
            &new_key,
            json!({"model": "mock-echo", "messages": user("x")}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_api_key",
    )
    .await;

    // The same database seen two days later: the key has expired.
    let url = app.state.settings.database_url.clone();
    let later = TestApp::spawn_with(Db::Sqlite, |s| {
        s.database_url = url;
        s.test_now = Some(chrono::Utc::now() + chrono::Duration::days(2));
    })
    .await;
    expect_error(
        later
            .chat(&key, json!({"model": "mock-echo", "messages": user("x")}))
            .await,
        StatusCode::UNAUTHORIZED,
        "api_key_expired",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_reaches_another_replica_within_a_second() {
    // Two app instances on one database, no Redis: the cache TTL bounds staleness to 1 s.
    let pg = PgDb::create().await;
    let url = pg.url.clone();
    let a = TestApp::spawn_with(Db::Sqlite, |s| s.database_url = url.clone()).await;
    let b = TestApp::spawn_with(Db::Sqlite, |s| s.database_url = url.clone()).await;
    let (t, key, k) = a
        .tenant_with_key("replica@example.ng", json!({"name": "k"}))
        .await;
    assert_eq!(
        b.chat(&key, json!({"model": "mock-echo", "messages": user("x")}))
            .await
            .status(),
        StatusCode::OK
    );
    a.delete(&format!("/api/v1/api-keys/{}", s(&k, "id")), &t.token)
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    expect_error(
        b.chat(&key, json!({"model": "mock-echo", "messages": user("x")}))
            .await,
        StatusCode::UNAUTHORIZED,
        "invalid_api_key",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_changes_models_at_run_time() {
    let (app, _mock) = app_with_upstream().await;
    let (t, key, _) = app
        .tenant_with_key("runtime@example.ng", json!({"name": "k"}))
        .await;
    app.grant_plan(&t, "enterprise").await;
    let op = app.operator_token().await;
    expect_error(
        app.chat(&key, json!({"model": "fresh-model", "messages": user("x")}))
            .await,
        StatusCode::NOT_FOUND,
        "model_not_found",
    )
    .await;
    let res = app.post("/api/v1/admin/models", &op, json!({"name": "fresh-model", "upstream": "local", "upstream_model": "echo", "input_price_per_1k_kobo": 1000, "output_price_per_1k_kobo": 2000})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let (status, v) = body(
        app.chat(
            &key,
            json!({"model": "fresh-model", "messages": user("a b")}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // Price change applies to the next request.
    let res = app.put("/api/v1/admin/models/fresh-model", &op, json!({"upstream": "local", "upstream_model": "echo", "input_price_per_1k_kobo": 3000, "output_price_per_1k_kobo": 0})).await;
    assert_eq!(res.status(), StatusCode::OK);
    app.chat(
        &key,
        json!({"model": "fresh-model", "messages": user("a b")}),
    )
    .await;
    app.usage_settled(2).await;
    let (_, sum) = body(app.get("/api/v1/usage?group_by=model", &t.token).await).await;
    let row = sum["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["model"] == "fresh-model")
        .unwrap()
        .clone();
    // 2×1000 + 2×2000 = 6000 millikobo, then 2×3000 = 6000.
    assert_eq!(row["cost_millikobo"], 12_000);
    let res = app.post("/api/v1/admin/models", &op, json!({"name": "x", "upstream": "nowhere", "input_price_per_1k_kobo": 1, "output_price_per_1k_kobo": 1})).await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_upstream").await;
    assert_eq!(
        app.delete("/api/v1/admin/models/fresh-model", &op)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    expect_error(
        app.chat(&key, json!({"model": "fresh-model", "messages": user("x")}))
            .await,
        StatusCode::NOT_FOUND,
        "model_not_found",
    )
    .await;
    expect_error(
        app.get("/api/v1/admin/models", &t.token).await,
        StatusCode::FORBIDDEN,
        "operator_only",
    )
    .await;
}
