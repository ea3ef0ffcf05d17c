use crate::both_backends;
use crate::harness::*;
use reqwest::StatusCode;
use serde_json::json;

both_backends!(bad_input_gets_clear_errors, |app: TestApp| async move {
    let signup = app.url("/api/v1/auth/signup");
    let send = |body: &'static str| {
        app.client
            .post(&signup)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    expect_error(
        send("{not json").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    expect_error(
        send("").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    expect_error(
        send(r#"{"email": 5, "password": "x", "organization_name": "y"}"#)
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    expect_error(
        send(r#"{"email": "a@b.ng"}"#).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    expect_error(
        send("[1,2,3]").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    let weak = app
        .post(
            "/api/v1/auth/signup",
            "",
            json!({"email": "w@example.ng", "password": "short", "organization_name": "W"}),
        )
        .await;
    let v = expect_error(weak, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
    assert_eq!(v["error"]["param"], "password");
    let bad_email = app.post("/api/v1/auth/signup", "", json!({"email": "not-an-email", "password": "long enough pw", "organization_name": "W"})).await;
    expect_error(bad_email, StatusCode::UNPROCESSABLE_ENTITY, "invalid_email").await;
    // Unknown fields are ignored.
    let res = app.post("/api/v1/auth/signup", "", json!({"email": "u@example.ng", "password": "long enough pw", "organization_name": "U", "favourite_colour": "green"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // Duplicate e-mail, in another letter case.
    let dup = app.post("/api/v1/auth/signup", "", json!({"email": "U@Example.ng", "password": "long enough pw", "organization_name": "U2"})).await;
    expect_error(dup, StatusCode::CONFLICT, "email_taken").await;

    // A body over 1 MiB.
    let big = format!(
        r#"{{"email": "big@example.ng", "password": "long enough pw", "organization_name": "{}"}}"#,
        "x".repeat(1024 * 1024 + 10)
    );
    let res = app
        .client
        .post(&signup)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;

    // Credentials: missing, garbage, an API key on a session route, a forged session.
    expect_error(
        app.client.get(app.url("/api/v1/me")).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "missing_credentials",
    )
    .await;
    for bad in [
        "garbage",
        "kobo_st_",
        "kobo_st_zzz_yyy",
        "kobo_st_01a23d87eb9d74fdbf4744b5bd124dcc_forged",
        "kobo_sk_abcdefghijkl_0123456789012345678901234567890123456789",
    ] {
        expect_error(
            app.get("/api/v1/me", bad).await,
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        )
        .await;
    }
    let t = app.signup("real@example.ng").await;
    let forged = format!("{}x", &t.token[..t.token.len() - 1]);
    expect_error(
        app.get("/api/v1/me", &forged).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;

    // Ids that do not parse are simply not found; unknown routes too, in the envelope.
    expect_error(
        app.get("/api/v1/orgs/not-an-id/workspaces", &t.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.get("/api/v1/nothing-here", &t.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // Wrong role value.
    let res = app
        .post(
            &format!("/api/v1/orgs/{}/members", t.org_id),
            &t.token,
            json!({"email": "x@example.ng", "role": "emperor"}),
        )
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    // Sign-in with a malformed body and a bad organization id.
    let res = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"username": 1}))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let res = app
        .login("real@example.ng", "correct horse battery", Some("nope"))
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
});

/// Query strings and oversized gateway bodies are answered in the error envelope too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_and_huge_gateway_bodies_use_the_envelope() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let (t, key, _) = app
        .tenant_with_key("query@example.ng", json!({"name": "k"}))
        .await;
    for path in [
        "/api/v1/usage/records?limit=abc",
        "/api/v1/usage?group_by=model&from=yesterday",
    ] {
        let res = app.get(path, &t.token).await;
        assert!(
            res.status() == StatusCode::UNPROCESSABLE_ENTITY
                || res.status() == StatusCode::BAD_REQUEST,
            "{path}: {}",
            res.status()
        );
        let v: serde_json::Value = res.json().await.unwrap();
        assert!(v["error"]["code"].is_string(), "{path}: {v}");
    }
    expect_error(
        app.get("/api/v1/usage/records?limit=abc", &t.token).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_query",
    )
    .await;
    let op = app.operator_token().await;
    expect_error(
        app.get("/api/v1/admin/organizations?limit=-1", &op).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_query",
    )
    .await;
    // 17 MiB: over the gateway's 16 MiB limit.
    let huge = format!(
        r#"{{"model":"mock-echo","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "a".repeat(17 * 1024 * 1024)
    );
    let res = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;
}
