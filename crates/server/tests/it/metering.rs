//! Metering exactness, idempotency, the usage APIs, and the crash test.

use crate::harness::*;
use crate::procs::{binary, mock_upstream};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::process::{Command, Stdio};

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

crate::both_backends!(
    metering_is_exact_to_the_millikobo,
    |app: TestApp| async move {
        let mock = mock_upstream();
        // A second app on the same database, with the mock upstream configured.
        let url = app.state.settings.database_url.clone();
        let addr = mock.addr.clone();
        let gw = TestApp::spawn_with(app.db, |s| {
            s.database_url = url;
            with_mock_upstreams(s, &addr);
        })
        .await;
        let (t, key, k) = gw
            .tenant_with_key("exact@example.ng", json!({"name": "k"}))
            .await;
        gw.grant_plan(&t, "enterprise").await;
        // N requests with known word counts: prompt = words in, completion = words echoed.
        let mut expected_prompt = 0u64;
        let mut expected_cost = 0i64;
        for n in 1..=12u64 {
            let text = vec!["word"; n as usize].join(" ");
            let (status, v) = body(
                gw.chat(
                    &key,
                    json!({"model": "gpt-4o-mini", "messages": user(&text)}),
                )
                .await,
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{v}");
            expected_prompt += n;
            // gpt-4o-mini: ₦0.22 in / ₦0.88 out per 1K tokens = 22 and 88 millikobo per token.
            expected_cost += (n as i64) * 22 + (n as i64) * 88;
        }
        // A model whose upstream reports no usage: counted with the tokenizer.
        let (status, _) = body(
            gw.chat(
                &key,
                json!({"model": "quiet", "messages": user("count me please")}),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let quiet_prompt = kobo_providers::tokens::count_prompt(
            "no-usage",
            &serde_json::from_value(
                json!({"model": "no-usage", "messages": user("count me please")}),
            )
            .unwrap(),
        );
        let quiet_completion = kobo_providers::tokens::count_text("no-usage", "count me please");
        assert_eq!(gw.usage_settled(13).await, 13);

        let (_, sum) = body(gw.get("/api/v1/usage?group_by=model", &t.token).await).await;
        let mini = sum["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["model"] == "gpt-4o-mini")
            .unwrap()
            .clone();
        assert_eq!(mini["requests"], 12);
        assert_eq!(mini["prompt_tokens"], expected_prompt);
        assert_eq!(mini["completion_tokens"], expected_prompt);
        assert_eq!(mini["cost_millikobo"], expected_cost);
        assert_eq!(mini["cost_kobo"], (expected_cost + 500) / 1000);
        let quiet = sum["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["model"] == "quiet")
            .unwrap()
            .clone();
        assert_eq!(quiet["prompt_tokens"], quiet_prompt);
        assert_eq!(quiet["completion_tokens"], quiet_completion);
        assert_eq!(
            quiet["cost_millikobo"],
            (quiet_prompt * 1000 + quiet_completion * 2000) as i64
        );

        // Grouped by key and by day give the same totals.
        let (_, by_key) = body(gw.get("/api/v1/usage?group_by=api_key", &t.token).await).await;
        assert_eq!(by_key["data"][0]["api_key"], k["id"]);
        assert_eq!(
            by_key["totals"]["cost_millikobo"],
            sum["totals"]["cost_millikobo"]
        );
        let (_, by_day) = body(gw.get("/api/v1/usage?group_by=day", &t.token).await).await;
        assert_eq!(by_day["data"].as_array().unwrap().len(), 1);
        assert_eq!(by_day["totals"]["requests"], 13);

        // Records: cursor pagination covers each record exactly once.
        let mut seen = std::collections::HashSet::new();
        let mut cursor = String::new();
        loop {
            let (_, page) = body(
                gw.get(
                    &format!("/api/v1/usage/records?limit=5&cursor={cursor}"),
                    &t.token,
                )
                .await,
            )
            .await;
            for r in page["data"].as_array().unwrap() {
                assert!(
                    seen.insert(r["id"].as_str().unwrap().to_string()),
                    "duplicate record"
                );
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = c.to_string(),
                None => break,
            }
        }
        assert_eq!(seen.len(), 13);
        let csv = gw
            .client
            .get(gw.url("/api/v1/usage/records?limit=100"))
            .bearer_auth(&t.token)
            .header("accept", "text/csv")
            .send()
            .await
            .unwrap();
        assert!(csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        let csv = csv.text().await.unwrap();
        assert_eq!(csv.lines().count(), 14, "{csv}");
        assert!(csv.starts_with("id,created_at,"));
        expect_error(
            gw.get("/api/v1/usage?group_by=color", &t.token).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        )
        .await;
        expect_error(
            gw.get("/api/v1/usage/records?cursor=zzz", &t.token).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_cursor",
        )
        .await;

        // Another tenant sees none of it.
        let other = gw.signup("other@example.ng").await;
        let (_, empty) = body(gw.get("/api/v1/usage/records", &other.token).await).await;
        assert_eq!(empty["data"].as_array().unwrap().len(), 0);
        let (_, empty) = body(gw.get("/api/v1/usage", &other.token).await).await;
        assert_eq!(empty["totals"]["requests"], 0);
    }
);

crate::both_backends!(
    idempotent_requests_are_billed_once,
    |app: TestApp| async move {
        let (t, key, _) = app
            .tenant_with_key("idem@example.ng", json!({"name": "k"}))
            .await;
        let send = |idem: &'static str, text: &'static str| {
            app.client
                .post(app.url("/v1/chat/completions"))
                .bearer_auth(&key)
                .header("idempotency-key", idem)
                .json(&json!({"model": "mock-echo", "messages": user(text)}))
                .send()
        };
        let first = send("retry-1", "pay once").await.unwrap();
        assert_eq!(first.status(), StatusCode::OK);
        let first = first.text().await.unwrap();
        for _ in 0..3 {
            let again = send("retry-1", "pay once").await.unwrap();
            assert_eq!(again.status(), StatusCode::OK);
            assert_eq!(again.headers()["idempotent-replayed"], "true");
            assert_eq!(
                again.text().await.unwrap(),
                first,
                "the first answer is returned"
            );
        }
        expect_error(
            send("retry-1", "another body").await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
        )
        .await;
        // A different key is a different request.
        assert_eq!(
            send("retry-2", "pay once").await.unwrap().status(),
            StatusCode::OK
        );
        // Streams are idempotent too.
        let stream_req = || {
            app.client.post(app.url("/v1/chat/completions")).bearer_auth(&key).header("idempotency-key", "s-1").json(&json!({"model": "mock-echo", "stream": true, "messages": user("streamed once")})).send()
        };
        let a = stream_req().await.unwrap().text().await.unwrap();
        let b = stream_req().await.unwrap().text().await.unwrap();
        assert_eq!(a, b);
        assert_eq!(app.usage_settled(3).await, 3);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(
            app.state.store.usage_count().await.unwrap(),
            3,
            "each idempotency key billed once"
        );
        let (_, sum) = body(app.get("/api/v1/usage", &t.token).await).await;
        assert_eq!(sum["totals"]["requests"], 3);

        // A request still running with the same key → 409.
        let org = t.org_id.parse().unwrap();
        let now = app.state.clock.now_ms();
        let hash = {
            use sha2::Digest;
            let raw = serde_json::to_vec(&json!({"model": "mock-echo", "messages": user("busy")}))
                .unwrap();
            hex::encode(
                sha2::Sha256::new()
                    .chain_update("chat.completions")
                    .chain_update(b"\n")
                    .chain_update(&raw)
                    .finalize(),
            )
        };
        app.state
            .store
            .idem_claim(org, "busy-1", &hash, now, now + 60_000)
            .await
            .unwrap();
        // The same body as the claim above, under the idempotency key `idem`.
        let send = |idem: &'static str| {
            app.client
                .post(app.url("/v1/chat/completions"))
                .bearer_auth(&key)
                .header("idempotency-key", idem)
                .header("content-type", "application/json")
                .body(
                    serde_json::to_vec(&json!({"model": "mock-echo", "messages": user("busy")}))
                        .unwrap(),
                )
                .send()
        };
        let res = send("busy-1").await.unwrap();
        expect_error(res, StatusCode::CONFLICT, "idempotency_in_progress").await;

        // A claim still `running` past the lease was left by a process that died: a
        // retry takes it over and is served.
        let stale = now - kobo_store::IDEMPOTENCY_RUNNING_LEASE_MS - 1;
        app.state
            .store
            .idem_claim(org, "dead-1", &hash, stale, stale + 86_400_000)
            .await
            .unwrap();
        assert_eq!(send("dead-1").await.unwrap().status(), StatusCode::OK);
    }
);

/// Kills `kobo` with SIGKILL in the middle of a load and restarts it: every 200 the
/// client saw is exactly one usage record (none lost, none doubled). A request whose
/// record was journaled in the instant before the kill, but whose answer never left,
/// is billed too (at-least-once toward the client, exactly-once in the database): such
/// records can only come from the requests in flight at the kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crash_test_kill_9_loses_no_usage_and_doubles_none() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let start = || {
        Command::new(binary("kobo"))
            .arg("serve")
            .env("KOBO_DATA_DIR", dir.path())
            .env("KOBO_LISTEN", format!("127.0.0.1:{port}"))
            .env("KOBO_OPERATOR_EMAIL", "op@kobo.test")
            .env("KOBO_OPERATOR_PASSWORD", "operator-password-1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let wait_ready = |client: reqwest::Client, base: String| async move {
        for _ in 0..400 {
            if let Ok(r) = client.get(format!("{base}/ready")).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("kobo did not become ready");
    };
    let mut child = start();
    wait_ready(client.clone(), base.clone()).await;

    let signup: Value = client.post(format!("{base}/api/v1/auth/signup")).json(&json!({"email": "crash@example.ng", "password": "correct horse battery", "organization_name": "Crash"})).send().await.unwrap().json().await.unwrap();
    let token = s(&signup, "access_token");
    let org = s(&signup, "organization_id");
    let op: Value = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"username": "op@kobo.test", "password": "operator-password-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let op = s(&op, "access_token");
    client
        .put(format!("{base}/api/v1/admin/organizations/{org}/plan"))
        .bearer_auth(&op)
        .json(&json!({"plan": "enterprise"}))
        .send()
        .await
        .unwrap();
    let key: Value = client
        .post(format!(
            "{base}/api/v1/workspaces/{}/api-keys",
            s(&signup, "workspace_id")
        ))
        .bearer_auth(&token)
        .json(&json!({"name": "load"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = s(&key, "key");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await; // the plan change reaches the tenant cache

    // 300 requests, 32 at a time; SIGKILL after the first 150 answers.
    let ok = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen_ids = std::sync::Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
    let answered = std::sync::Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(32));
    for i in 0..300 {
        let (client, base, key, ok, answered, sem, seen_ids) = (
            client.clone(),
            base.clone(),
            key.clone(),
            ok.clone(),
            answered.clone(),
            sem.clone(),
            seen_ids.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await.unwrap();
            let res = client
                .post(format!("{base}/v1/chat/completions"))
                .bearer_auth(&key)
                .json(&json!({"model": "mock-echo", "messages": user(&format!("request {i}"))}))
                .send()
                .await;
            if let Ok(r) = res {
                let id = r
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                if r.status() == StatusCode::OK && r.bytes().await.is_ok() {
                    seen_ids.lock().push(id.unwrap());
                    ok.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    answered.notify_one();
                }
            }
        }));
    }
    while ok.load(std::sync::atomic::Ordering::SeqCst) < 150 {
        answered.notified().await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let served = ok.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (150..300).contains(&served),
        "the kill landed mid-run ({served})"
    );

    let mut child = start();
    wait_ready(client.clone(), base.clone()).await;
    let token: Value = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"username": "crash@example.ng", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = s(&token, "access_token");
    let mut ids = std::collections::HashSet::new();
    let mut cursor = String::new();
    loop {
        let page: Value = client
            .get(format!(
                "{base}/api/v1/usage/records?limit=1000&cursor={cursor}"
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for r in page["data"].as_array().unwrap() {
            if r["status"] == 200 {
                assert!(
                    ids.insert(r["id"].as_str().unwrap().to_string()),
                    "a usage record is duplicated"
                );
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let client_ids: std::collections::HashSet<String> = seen_ids.lock().iter().cloned().collect();
    assert_eq!(client_ids.len() as u64, served);
    let lost: Vec<_> = client_ids.difference(&ids).collect();
    assert!(
        lost.is_empty(),
        "answered requests missing from billing: {lost:?}"
    );
    let cut = ids.len() as u64 - served;
    assert!(
        cut <= 32,
        "{cut} records without an answer: more than were in flight"
    );
    eprintln!(
        "crash test: {served} answers, {} records, {cut} journaled in the instant of the kill",
        ids.len()
    );
}
