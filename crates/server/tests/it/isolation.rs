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

/// PostgreSQL's row-level security is a second wall: a non-superuser connection bound to
/// tenant A sees none of B's rows even with a query that forgets the tenant filter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_level_security_hides_other_tenants() {
    use sqlx::Connection;
    let app = TestApp::spawn(Db::Postgres).await;
    let a = app.signup("rls-a@example.ng").await;
    let b = app.signup("rls-b@example.ng").await;
    app.create_key(&a, json!({"name": "a-key"})).await;
    app.create_key(&b, json!({"name": "b-key"})).await;

    let url = app.state.settings.database_url.clone();
    let role = format!("kobo_rls_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE ROLE {role} LOGIN"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(&format!(
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    let role_url = url.replacen("root@", &format!("{role}@"), 1);
    let mut conn = sqlx::PgConnection::connect(&role_url).await.unwrap();
    sqlx::query("SELECT set_config('kobo.org_id', $1, false)")
        .bind(&a.org_id)
        .execute(&mut conn)
        .await
        .unwrap();
    for table in ["api_keys", "workspaces", "memberships"] {
        let orgs: Vec<String> = sqlx::query_scalar(&format!("SELECT DISTINCT org_id FROM {table}"))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert_eq!(
            orgs,
            vec![a.org_id.clone()],
            "{table} leaked another tenant"
        );
    }
    drop(conn);
    sqlx::query(&format!("DROP OWNED BY {role}"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(&format!("DROP ROLE {role}"))
        .execute(&mut admin)
        .await
        .unwrap();
}
