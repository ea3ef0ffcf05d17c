use crate::both_backends;
use crate::harness::*;
use reqwest::StatusCode;
use serde_json::json;

both_backends!(health_ready_openapi_docs, |app: TestApp| async move {
    let res = app.client.get(app.url("/health")).send().await.unwrap();
    assert!(res.headers().contains_key("x-request-id"));
    assert_eq!(res.status(), StatusCode::OK);
    let (status, ready) = body(app.client.get(app.url("/ready")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ready["database"], "ok");
    let (status, doc) = body(
        app.client
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["paths"]["/api/v1/auth/signup"]["post"].is_object(),
        "{doc}"
    );
    assert!(doc["paths"]["/api/v1/workspaces/{workspace_id}/api-keys"]["post"].is_object());
    for (path, method) in [
        ("/v1/chat/completions", "post"),
        ("/v1/models", "get"),
        ("/api/v1/usage", "get"),
        ("/api/v1/quotas", "get"),
        ("/api/v1/billing/subscriptions", "post"),
        ("/api/v1/webhooks/paystack", "post"),
        ("/api/v1/admin/plans", "post"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
    let page = app
        .client
        .get(app.url("/docs"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("/openapi.json"));
});

both_backends!(operator_routes, |app: TestApp| async move {
    let t = app.signup("tenant@example.ng").await;
    // Tenants never reach the operator's routes, whatever their role.
    expect_error(
        app.get("/api/v1/admin/organizations", &t.token).await,
        StatusCode::FORBIDDEN,
        "operator_only",
    )
    .await;
    let res = app
        .put(
            &format!("/api/v1/admin/organizations/{}/plan", t.org_id),
            &t.token,
            json!({"plan": "enterprise"}),
        )
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "operator_only").await;

    let op = app.operator_token().await;
    let (status, page) = body(app.get("/api/v1/admin/organizations?limit=10", &op).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["id"] == t.org_id.as_str()));
    let res = app
        .put(
            &format!("/api/v1/admin/organizations/{}/plan", t.org_id),
            &op,
            json!({"plan": "professional"}),
        )
        .await;
    let (status, org) = body(res).await;
    assert_eq!(status, StatusCode::OK, "{org}");
    assert_eq!(org["plan"], "professional");
    let res = app
        .put(
            &format!("/api/v1/admin/organizations/{}/plan", t.org_id),
            &op,
            json!({"plan": "platinum"}),
        )
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "unknown_plan").await;
    let res = app
        .put(
            &format!("/api/v1/admin/organizations/{}/limits", t.org_id),
            &op,
            json!({"monthly_tokens": 100, "requests_per_minute": "unlimited"}),
        )
        .await;
    let (status, org) = body(res).await;
    assert_eq!(status, StatusCode::OK, "{org}");
    assert_eq!(org["limits"]["monthly_tokens"], 100);
    assert_eq!(org["limits"]["requests_per_minute"], "unlimited");
    let res = app
        .put(
            &format!("/api/v1/admin/organizations/{}/limits", t.org_id),
            &op,
            json!({"monthly_tokens": -5}),
        )
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let res = app
        .put(
            &format!("/api/v1/admin/organizations/{}/plan", uuid::Uuid::now_v7()),
            &op,
            json!({"plan": "starter"}),
        )
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
});
