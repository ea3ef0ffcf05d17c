use crate::both_backends;
use crate::harness::*;
use reqwest::StatusCode;
use serde_json::json;

both_backends!(key_lifecycle, |app: TestApp| async move {
    let t = app.signup("keys@example.ng").await;
    let created = app
        .create_key(&t, json!({"name": "ci", "allowed_models": ["gpt-3.5-turbo"], "allowed_ips": ["10.0.0.0/8", "127.0.0.1"], "expires_in_days": 30, "max_requests_per_day": 500}))
        .await;
    let key = s(&created, "key");
    assert!(key.starts_with("kobo_sk_"), "{key}");
    assert!(key.starts_with(created["prefix"].as_str().unwrap()));
    assert!(key.len() >= 8 + 12 + 1 + 43, "secret of at least 256 bits");
    assert_eq!(created["status"], "active");
    assert_eq!(created["max_requests_per_day"], 500);
    assert!(created["expires_at"].is_string());

    // Listing never shows the secret.
    let res = app
        .get(
            &format!("/api/v1/workspaces/{}/api-keys", t.workspace_id),
            &t.token,
        )
        .await;
    let text = res.text().await.unwrap();
    assert!(
        !text.contains(&key[20..]),
        "the secret leaked into a listing"
    );
    let list: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(list["data"][0]["id"], created["id"]);
    assert!(list["data"][0].get("key").is_none());

    // Only the hash is stored.
    let rec = app
        .state
        .store
        .key_by_prefix(&s(&created, "prefix")["kobo_sk_".len()..])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.secret_hash.len(), 64);
    assert!(!rec.secret_hash.contains(&key[21..]));

    // Rotate: a new key, the old one keeps working for the grace period.
    let id = s(&created, "id");
    let res = app
        .post(
            &format!("/api/v1/api-keys/{id}/rotate"),
            &t.token,
            json!({"grace_seconds": 60}),
        )
        .await;
    let (status, rotated) = body(res).await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    assert_ne!(rotated["key"], created["key"]);
    assert_eq!(rotated["allowed_models"], created["allowed_models"]);
    let old = app
        .state
        .store
        .key(t.org_id.parse().unwrap(), id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let grace_end = old.expires_at.unwrap() - app.state.clock.now_ms();
    assert!(grace_end > 50_000 && grace_end <= 60_000, "{grace_end}");
    // Rotating twice is refused.
    let res = app
        .post(
            &format!("/api/v1/api-keys/{id}/rotate"),
            &t.token,
            json!({}),
        )
        .await;
    expect_error(res, StatusCode::CONFLICT, "api_key_not_active").await;

    // Revoke.
    let new_id = s(&rotated, "id");
    assert_eq!(
        app.delete(&format!("/api/v1/api-keys/{new_id}"), &t.token)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let (_, list) = body(
        app.get(
            &format!("/api/v1/workspaces/{}/api-keys", t.workspace_id),
            &t.token,
        )
        .await,
    )
    .await;
    let revoked = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == new_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(revoked["status"], "revoked");
});

both_backends!(key_count_limit_per_plan, |app: TestApp| async move {
    let t = app.signup("limit@example.ng").await;
    app.create_key(&t, json!({"name": "one"})).await;
    let second = app.create_key(&t, json!({"name": "two"})).await;
    let res = app
        .post(
            &format!("/api/v1/workspaces/{}/api-keys", t.workspace_id),
            &t.token,
            json!({"name": "three"}),
        )
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "api_key_limit_reached").await;
    // A revoked key frees its slot.
    app.delete(&format!("/api/v1/api-keys/{}", s(&second, "id")), &t.token)
        .await;
    app.create_key(&t, json!({"name": "three"})).await;
});

both_backends!(key_scope_validation, |app: TestApp| async move {
    let t = app.signup("scope@example.ng").await;
    let path = format!("/api/v1/workspaces/{}/api-keys", t.workspace_id);
    for (bad, param) in [
        (json!({"name": ""}), "name"),
        (
            json!({"name": "x", "allowed_ips": ["10.0.0.300"]}),
            "allowed_ips",
        ),
        (
            json!({"name": "x", "allowed_ips": ["not-an-ip"]}),
            "allowed_ips",
        ),
        (
            json!({"name": "x", "expires_in_days": 0}),
            "expires_in_days",
        ),
        (
            json!({"name": "x", "max_requests_per_day": 0}),
            "max_requests_per_day",
        ),
        (
            json!({"name": "x", "allowed_models": [""]}),
            "allowed_models",
        ),
    ] {
        let v = expect_error(
            app.post(&path, &t.token, bad).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        )
        .await;
        assert_eq!(v["error"]["param"], param);
    }
    let res = app
        .post(&path, &t.token, json!({"name": "x", "expires_in_days": -1}))
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let res = app
        .post(
            &format!("/api/v1/api-keys/{}/rotate", uuid::Uuid::now_v7()),
            &t.token,
            json!({}),
        )
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
});
