//! The role matrix: each role × each permission-guarded route, allowed or 403.

use crate::both_backends;
use crate::harness::*;
use reqwest::StatusCode;
use serde_json::json;

both_backends!(role_matrix, |app: TestApp| async move {
    let op = app.operator_token().await;
    for (role, allowed) in [
        (
            "owner",
            [
                "ws",
                "invite",
                "role",
                "remove",
                "key_create",
                "key_read",
                "key_delete",
                "key_rotate",
            ]
            .as_slice(),
        ),
        (
            "admin",
            [
                "ws",
                "invite",
                "role",
                "remove",
                "key_create",
                "key_read",
                "key_delete",
                "key_rotate",
            ]
            .as_slice(),
        ),
        ("member", ["key_create", "key_read"].as_slice()),
        ("viewer", ["key_read"].as_slice()),
    ] {
        let owner = app.signup(&format!("owner-{role}@example.ng")).await;
        // Room for every attempt below.
        app.put(
            &format!("/api/v1/admin/organizations/{}/plan", owner.org_id),
            &op,
            json!({"plan": "enterprise"}),
        )
        .await;
        let actor = if role == "owner" {
            owner.clone()
        } else {
            app.add_member(&owner, &format!("{role}@example.ng"), role)
                .await
        };
        let target = app
            .add_member(&owner, &format!("target-{role}@example.ng"), "viewer")
            .await;
        let other_target = app
            .add_member(&owner, &format!("target2-{role}@example.ng"), "viewer")
            .await;
        let key = app.create_key(&owner, json!({"name": "k"})).await;
        let key2 = app.create_key(&owner, json!({"name": "k2"})).await;
        let org = &owner.org_id;
        let tok = &actor.token;

        let attempts = [
            (
                "ws",
                app.post(
                    &format!("/api/v1/orgs/{org}/workspaces"),
                    tok,
                    json!({"name": "W"}),
                )
                .await
                .status(),
            ),
            (
                "invite",
                app.post(
                    &format!("/api/v1/orgs/{org}/members"),
                    tok,
                    json!({"email": format!("new-{role}@example.ng"), "role": "member"}),
                )
                .await
                .status(),
            ),
            (
                "role",
                app.patch(
                    &format!("/api/v1/orgs/{org}/members/{}", target.user_id),
                    tok,
                    json!({"role": "member"}),
                )
                .await
                .status(),
            ),
            (
                "remove",
                app.delete(
                    &format!("/api/v1/orgs/{org}/members/{}", other_target.user_id),
                    tok,
                )
                .await
                .status(),
            ),
            (
                "key_create",
                app.post(
                    &format!("/api/v1/workspaces/{}/api-keys", owner.workspace_id),
                    tok,
                    json!({"name": "n"}),
                )
                .await
                .status(),
            ),
            (
                "key_read",
                app.get(
                    &format!("/api/v1/workspaces/{}/api-keys", owner.workspace_id),
                    tok,
                )
                .await
                .status(),
            ),
            (
                "key_delete",
                app.delete(&format!("/api/v1/api-keys/{}", s(&key, "id")), tok)
                    .await
                    .status(),
            ),
            (
                "key_rotate",
                app.post(
                    &format!("/api/v1/api-keys/{}/rotate", s(&key2, "id")),
                    tok,
                    json!({}),
                )
                .await
                .status(),
            ),
        ];
        for (name, status) in attempts {
            if allowed.contains(&name) {
                assert!(
                    status.is_success(),
                    "{role} should be allowed {name}, got {status}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{role} must be refused {name}"
                );
            }
        }
        // Every role may read the organization's workspaces and members.
        assert_eq!(
            app.get(&format!("/api/v1/orgs/{org}/workspaces"), tok)
                .await
                .status(),
            StatusCode::OK
        );
        assert_eq!(
            app.get(&format!("/api/v1/orgs/{org}/members"), tok)
                .await
                .status(),
            StatusCode::OK
        );
    }
});

both_backends!(
    admins_cannot_make_or_unmake_owners,
    |app: TestApp| async move {
        let owner = app.signup("boss@example.ng").await;
        let admin = app.add_member(&owner, "adm@example.ng", "admin").await;
        let res = app
            .post(
                &format!("/api/v1/orgs/{}/members", owner.org_id),
                &admin.token,
                json!({"email": "x@example.ng", "role": "owner"}),
            )
            .await;
        expect_error(res, StatusCode::FORBIDDEN, "permission_denied").await;
        let res = app
            .patch(
                &format!("/api/v1/orgs/{}/members/{}", owner.org_id, admin.user_id),
                &admin.token,
                json!({"role": "owner"}),
            )
            .await;
        expect_error(res, StatusCode::FORBIDDEN, "permission_denied").await;
        let res = app
            .delete(
                &format!("/api/v1/orgs/{}/members/{}", owner.org_id, owner.user_id),
                &admin.token,
            )
            .await;
        expect_error(res, StatusCode::FORBIDDEN, "permission_denied").await;
    }
);
