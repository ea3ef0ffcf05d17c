//! Tenants never see each other: A calls every organization-scoped route with B's ids.

use crate::both_backends;
use crate::harness::*;
use reqwest::StatusCode;
use serde_json::json;

both_backends!(cross_tenant_ids_are_not_found, |app: TestApp| async move {
    let a = app.signup("a@example.ng").await;
    let b = app.signup("b@example.ng").await;
    let b_member = app.add_member(&b, "b-member@example.ng", "member").await;
    let b_key = app.create_key(&b, json!({"name": "b-key"})).await;
    let b_key_id = s(&b_key, "id");
    let snapshot = |app: &TestApp, b: Tenant| {
        let store = app.state.store.clone();
        async move {
            let org = b.org_id.parse().unwrap();
            let ws = store.workspaces(org).await.unwrap();
            let members = store.members(org).await.unwrap();
            let keys = store
                .keys_of_workspace(org, b.workspace_id.parse().unwrap())
                .await
                .unwrap();
            format!("{ws:?}{members:?}{keys:?}")
        }
    };
    let before = snapshot(&app, b.clone()).await;

    let org = &b.org_id;
    let ws = &b.workspace_id;
    let t = &a.token;
    let calls = vec![
        app.get(&format!("/api/v1/orgs/{org}/workspaces"), t).await,
        app.post(
            &format!("/api/v1/orgs/{org}/workspaces"),
            t,
            json!({"name": "stolen"}),
        )
        .await,
        app.get(&format!("/api/v1/orgs/{org}/members"), t).await,
        app.post(
            &format!("/api/v1/orgs/{org}/members"),
            t,
            json!({"email": "spy@example.ng", "role": "owner"}),
        )
        .await,
        app.patch(
            &format!("/api/v1/orgs/{org}/members/{}", b_member.user_id),
            t,
            json!({"role": "viewer"}),
        )
        .await,
        app.delete(
            &format!("/api/v1/orgs/{org}/members/{}", b_member.user_id),
            t,
        )
        .await,
        app.delete(&format!("/api/v1/orgs/{org}/members/{}", b.user_id), t)
            .await,
        app.get(&format!("/api/v1/workspaces/{ws}/api-keys"), t)
            .await,
        app.post(
            &format!("/api/v1/workspaces/{ws}/api-keys"),
            t,
            json!({"name": "stolen"}),
        )
        .await,
        app.delete(&format!("/api/v1/api-keys/{b_key_id}"), t).await,
        app.post(&format!("/api/v1/api-keys/{b_key_id}/rotate"), t, json!({}))
            .await,
        // A's own organization path with B's member id.
        app.patch(
            &format!("/api/v1/orgs/{}/members/{}", a.org_id, b_member.user_id),
            t,
            json!({"role": "viewer"}),
        )
        .await,
        app.delete(
            &format!("/api/v1/orgs/{}/members/{}", a.org_id, b.user_id),
            t,
        )
        .await,
    ];
    for res in calls {
        let url = res.url().to_string();
        let (status, v) = body(res).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{url}: {v}");
        assert_eq!(v["error"]["code"], "not_found");
    }
    assert_eq!(before, snapshot(&app, b.clone()).await, "B's data changed");
    // And B's key still works for B.
    assert_eq!(
        app.get(&format!("/api/v1/workspaces/{ws}/api-keys"), &b.token)
            .await
            .status(),
        StatusCode::OK
    );
});
