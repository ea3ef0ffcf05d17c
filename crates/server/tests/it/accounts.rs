use crate::both_backends;
use crate::harness::*;
use reqwest::StatusCode;
use serde_json::json;

both_backends!(full_account_flow, |app: TestApp| async move {
    let owner = app.signup("ada@example.ng").await;

    // Sign in with form fields, as OAuth2 password clients do, and with JSON.
    let res = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .form(&[
            ("username", "ADA@example.ng"),
            ("password", "correct horse battery"),
        ])
        .send()
        .await
        .unwrap();
    let (status, v) = body(res).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["token_type"], "bearer");
    let token = s(&v, "access_token");

    let (status, me) = body(app.get("/api/v1/me", &token).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], "ada@example.ng");
    assert_eq!(me["memberships"][0]["role"], "owner");
    assert_eq!(me["memberships"][0]["plan"], "free");
    assert_eq!(me["current_organization_id"], owner.org_id.as_str());

    // A second workspace, then the free plan's limit of two.
    let res = app
        .post(
            &format!("/api/v1/orgs/{}/workspaces", owner.org_id),
            &token,
            json!({"name": "Research"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .post(
            &format!("/api/v1/orgs/{}/workspaces", owner.org_id),
            &token,
            json!({"name": "Third"}),
        )
        .await;
    let v = expect_error(res, StatusCode::FORBIDDEN, "quota_exceeded").await;
    assert_eq!(v["error"]["limit"], 2);
    let (_, list) = body(
        app.get(&format!("/api/v1/orgs/{}/workspaces", owner.org_id), &token)
            .await,
    )
    .await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(2));

    // Invite an unknown e-mail: pending until that person signs up.
    let res = app
        .post(
            &format!("/api/v1/orgs/{}/members", owner.org_id),
            &token,
            json!({"email": "bola@example.ng", "role": "member"}),
        )
        .await;
    let (status, inv) = body(res).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(inv["status"], "invited");
    let bola = app.signup("bola@example.ng").await;
    let (_, me) = body(app.get("/api/v1/me", &bola.token).await).await;
    let orgs: Vec<_> = me["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["organization_id"].clone(), m["role"].clone()))
        .collect();
    assert!(
        orgs.contains(&(json!(owner.org_id), json!("member"))),
        "{me}"
    );
    assert_eq!(orgs.len(), 2);
    // Bola picks Ada's organization at sign-in.
    let bola_in_ada = app.token_for("bola@example.ng", Some(&owner.org_id)).await;
    let (_, me) = body(app.get("/api/v1/me", &bola_in_ada).await).await;
    assert_eq!(me["current_organization_id"], owner.org_id.as_str());

    // Members list shows both, with roles; change Bola's role.
    let (_, members) = body(
        app.get(&format!("/api/v1/orgs/{}/members", owner.org_id), &token)
            .await,
    )
    .await;
    assert_eq!(members["data"].as_array().map(Vec::len), Some(2));
    let res = app
        .patch(
            &format!("/api/v1/orgs/{}/members/{}", owner.org_id, bola.user_id),
            &token,
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.state
            .store
            .role_of(owner.org_id.parse().unwrap(), bola.user_id.parse().unwrap())
            .await
            .unwrap(),
        Some(kobo_domain::rbac::Role::Admin)
    );

    // Logout revokes the session.
    let res = app.post("/api/v1/auth/logout", &token, json!({})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    expect_error(
        app.get("/api/v1/me", &token).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    // Other sessions of the same user are untouched.
    assert_eq!(
        app.get("/api/v1/me", &owner.token).await.status(),
        StatusCode::OK
    );
});

both_backends!(
    member_removal_revokes_sessions_at_once,
    |app: TestApp| async move {
        let owner = app.signup("owner@example.ng").await;
        let m = app.add_member(&owner, "member@example.ng", "member").await;
        assert_eq!(
            app.get("/api/v1/me", &m.token).await.status(),
            StatusCode::OK
        );
        let res = app
            .delete(
                &format!("/api/v1/orgs/{}/members/{}", owner.org_id, m.user_id),
                &owner.token,
            )
            .await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        // The very next request with that session fails.
        expect_error(
            app.get("/api/v1/me", &m.token).await,
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        )
        .await;
        // Signing in again lands in their own organization, not the old one.
        let again = app.token_for("member@example.ng", None).await;
        let (_, me) = body(app.get("/api/v1/me", &again).await).await;
        assert_ne!(me["current_organization_id"], owner.org_id.as_str());
        let res = app
            .login(
                "member@example.ng",
                "correct horse battery",
                Some(&owner.org_id),
            )
            .await;
        expect_error(res, StatusCode::FORBIDDEN, "not_a_member").await;
    }
);

both_backends!(last_owner_rule, |app: TestApp| async move {
    let owner = app.signup("solo@example.ng").await;
    let org = &owner.org_id;
    let res = app
        .patch(
            &format!("/api/v1/orgs/{org}/members/{}", owner.user_id),
            &owner.token,
            json!({"role": "admin"}),
        )
        .await;
    expect_error(res, StatusCode::CONFLICT, "last_owner").await;
    let res = app
        .delete(
            &format!("/api/v1/orgs/{org}/members/{}", owner.user_id),
            &owner.token,
        )
        .await;
    expect_error(res, StatusCode::CONFLICT, "last_owner").await;
    // With a second owner, the first may step down.
    let second = app.add_member(&owner, "second@example.ng", "owner").await;
    let res = app
        .patch(
            &format!("/api/v1/orgs/{org}/members/{}", owner.user_id),
            &owner.token,
            json!({"role": "member"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .delete(
            &format!("/api/v1/orgs/{org}/members/{}", second.user_id),
            &second.token,
        )
        .await;
    expect_error(res, StatusCode::CONFLICT, "last_owner").await;
});

both_backends!(
    login_lockout_after_five_failures,
    |app: TestApp| async move {
        app.signup("lock@example.ng").await;
        for _ in 0..5 {
            let res = app.login("lock@example.ng", "wrong password!!", None).await;
            expect_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        }
        // Even the right password is refused now, with a Retry-After.
        let res = app
            .login("lock@example.ng", "correct horse battery", None)
            .await;
        let retry: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry > 0 && retry <= 900, "{retry}");
        expect_error(
            res,
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_login_attempts",
        )
        .await;
        // An unknown account answers exactly like a known one: no hint it does not exist.
        for _ in 0..5 {
            let res = app
                .login("ghost@example.ng", "wrong password!!", None)
                .await;
            expect_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        }
        let res = app
            .login("ghost@example.ng", "wrong password!!", None)
            .await;
        expect_error(
            res,
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_login_attempts",
        )
        .await;
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockout_expires_after_the_window() {
    // The clock starts 20 minutes in the past relative to a second app on the same data.
    let start = chrono::Utc::now() - chrono::Duration::minutes(20);
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.test_now = Some(start)).await;
    app.signup("late@example.ng").await;
    for _ in 0..5 {
        app.login("late@example.ng", "wrong password!!", None).await;
    }
    assert_eq!(
        app.login("late@example.ng", "correct horse battery", None)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Same database, clock 20 minutes later: the failures are outside the window.
    let url = app.state.settings.database_url.clone();
    let later = TestApp::spawn_with(Db::Sqlite, |s| s.database_url = url).await;
    assert_eq!(
        later
            .login("late@example.ng", "correct horse battery", None)
            .await
            .status(),
        StatusCode::OK
    );
}

both_backends!(expired_sessions_are_refused, |app: TestApp| async move {
    let owner = app.signup("exp@example.ng").await;
    let url = app.state.settings.database_url.clone();
    // The same database seen from two hours later.
    let later = TestApp::spawn_with(app.db, |s| {
        s.database_url = url;
        s.test_now = Some(chrono::Utc::now() + chrono::Duration::hours(2));
    })
    .await;
    expect_error(
        later.get("/api/v1/me", &owner.token).await,
        StatusCode::UNAUTHORIZED,
        "token_expired",
    )
    .await;
    assert_eq!(
        app.get("/api/v1/me", &owner.token).await.status(),
        StatusCode::OK
    );
});

// The free plan's three team members (the owner included): a fourth is refused.
both_backends!(member_limit_follows_the_plan, |app: TestApp| async move {
    let owner = app.signup("seats@example.ng").await;
    app.add_member(&owner, "seat-2@example.ng", "member").await;
    app.add_member(&owner, "seat-3@example.ng", "viewer").await;
    app.signup("seat-4@example.ng").await;
    let res = app
        .post(
            &format!("/api/v1/orgs/{}/members", owner.org_id),
            &owner.token,
            json!({"email": "seat-4@example.ng", "role": "member"}),
        )
        .await;
    let v = expect_error(res, StatusCode::FORBIDDEN, "quota_exceeded").await;
    assert_eq!(v["error"]["limit"], 3, "{v}");
    let (_, list) = body(
        app.get(
            &format!("/api/v1/orgs/{}/members", owner.org_id),
            &owner.token,
        )
        .await,
    )
    .await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(3), "{list}");
});
