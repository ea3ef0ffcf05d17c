//! Rate limits and quotas through the gateway, in-process and in Redis.

use crate::harness::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

fn redis_ns() -> String {
    format!("test-{}", uuid::Uuid::new_v4().simple())
}

async fn local_app() -> TestApp {
    TestApp::spawn(Db::Sqlite).await
}

async fn redis_app() -> TestApp {
    let ns = redis_ns();
    TestApp::spawn_with(Db::Postgres, |s| {
        s.redis_url = Some("redis://127.0.0.1:6379".into());
        s.redis_namespace = ns;
    })
    .await
}

async fn mvp_quota_refusal(app: TestApp) {
    let (t, key, _) = app
        .tenant_with_key("mvp@example.ng", json!({"name": "k"}))
        .await;
    app.set_limits(&t, json!({"monthly_tokens": 100})).await;
    let mut refused = None;
    for i in 0..10 {
        let res = app.chat(&key, json!({"model": "mock-echo", "max_tokens": 100, "messages": user(&format!("hi {i}"))})).await;
        if res.status() != StatusCode::OK {
            refused = Some(res);
            break;
        }
    }
    let v = expect_error(
        refused.expect("refused before 10 requests"),
        StatusCode::TOO_MANY_REQUESTS,
        "quota_exceeded",
    )
    .await;
    assert_eq!(v["error"]["limit"], 100);
    assert!(v["error"]["requested"].as_u64().unwrap() > 100);
    assert!(v["error"]["current_usage"].is_u64());
    let (_, q) = body(app.get("/api/v1/quotas", &t.token).await).await;
    let tokens = &q["quotas"]["monthly_tokens"];
    assert_eq!(tokens["hard_limit"], 100);
    assert_eq!(tokens["soft_limit"], 80);
    assert!(tokens["current_usage"].as_u64().unwrap() <= 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mvp_quota_refusal_local() {
    mvp_quota_refusal(local_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mvp_quota_refusal_redis() {
    mvp_quota_refusal(redis_app().await).await;
}

async fn exact_rate_limit_under_concurrency(app: TestApp) {
    let (t, key, _) = app
        .tenant_with_key("burst@example.ng", json!({"name": "k"}))
        .await;
    app.set_limits(&t, json!({"requests_per_minute": 100, "tokens_per_minute": "unlimited", "monthly_tokens": "unlimited", "monthly_api_calls": 10000})).await;
    let futs = (0..150).map(|i| {
        let (app, key) = (&app, key.clone());
        async move {
            app.chat(
                &key,
                json!({"model": "mock-echo", "messages": user(&format!("n{i}"))}),
            )
            .await
        }
    });
    let results = futures::future::join_all(futs).await;
    let ok = results
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count();
    let limited: Vec<_> = results
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(ok, 100);
    assert_eq!(limited.len(), 50);
    for r in &limited {
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=300).contains(&retry));
        assert_eq!(r.headers()["x-ratelimit-limit-requests"], "100");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_rate_limit_local() {
    exact_rate_limit_under_concurrency(local_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_rate_limit_redis() {
    exact_rate_limit_under_concurrency(redis_app().await).await;
}

async fn token_quota_never_overshoots(app: TestApp) {
    let (t, key, _) = app
        .tenant_with_key("race@example.ng", json!({"name": "k"}))
        .await;
    app.set_limits(&t, json!({"monthly_tokens": 1000, "requests_per_minute": "unlimited", "tokens_per_minute": "unlimited"})).await;
    let futs = (0..60).map(|i| {
        let (app, key) = (&app, key.clone());
        async move { app.chat(&key, json!({"model": "mock-echo", "max_tokens": 40, "messages": user(&format!("race number {i}"))})).await.status() }
    });
    let statuses = futures::future::join_all(futs).await;
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS));
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count() as u64;
    app.usage_settled(ok).await;
    let (_, sum) = body(app.get("/api/v1/usage", &t.token).await).await;
    let used = sum["totals"]["total_tokens"].as_u64().unwrap();
    assert!(used <= 1000, "recorded usage {used} passed the hard limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_quota_never_overshoots_local() {
    token_quota_never_overshoots(local_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_quota_never_overshoots_redis() {
    token_quota_never_overshoots(redis_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_redis_limit() {
    let ns = redis_ns();
    let pg = PgDb::create().await;
    let (url, ns2) = (pg.url.clone(), ns.clone());
    let a = TestApp::spawn_with(Db::Sqlite, |s| {
        s.database_url = url.clone();
        s.redis_url = Some("redis://127.0.0.1:6379".into());
        s.redis_namespace = ns.clone();
    })
    .await;
    let b = TestApp::spawn_with(Db::Sqlite, |s| {
        s.database_url = url;
        s.redis_url = Some("redis://127.0.0.1:6379".into());
        s.redis_namespace = ns2;
    })
    .await;
    let (t, key, _) = a
        .tenant_with_key("shared@example.ng", json!({"name": "k"}))
        .await;
    a.set_limits(&t, json!({"requests_per_minute": 20})).await;
    b.state.tenants.forget(t.org_id.parse().unwrap());
    let mut ok = 0;
    for i in 0..30 {
        let app = if i % 2 == 0 { &a } else { &b };
        if app
            .chat(&key, json!({"model": "mock-echo", "messages": user("x")}))
            .await
            .status()
            == StatusCode::OK
        {
            ok += 1;
        }
    }
    assert_eq!(ok, 20, "the limit is shared, not per replica");
    // Revocation is broadcast to the other replica at once.
    let (_, list) = body(
        a.get(
            &format!("/api/v1/workspaces/{}/api-keys", t.workspace_id),
            &t.token,
        )
        .await,
    )
    .await;
    let id = list["data"][0]["id"].as_str().unwrap().to_string();
    a.delete(&format!("/api/v1/api-keys/{id}"), &t.token).await;
    let mut refused = false;
    for _ in 0..40 {
        if b.chat(&key, json!({"model": "mock-echo", "messages": user("x")}))
            .await
            .status()
            == StatusCode::UNAUTHORIZED
        {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(refused, "replica b still accepts a revoked key after 1 s");
}

/// Two `kobo serve` processes on one PostgreSQL and one Redis: requests alternate
/// between them and the organization's limit holds for both together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_kobo_processes_share_one_redis_limit() {
    let ns = redis_ns();
    let pg = PgDb::create().await;
    let env = [
        ("KOBO_DATABASE_URL", pg.url.as_str()),
        ("KOBO_REDIS_URL", "redis://127.0.0.1:6379"),
        ("KOBO_REDIS_NAMESPACE", ns.as_str()),
        ("KOBO_OPERATOR_EMAIL", "op@kobo.test"),
        ("KOBO_OPERATOR_PASSWORD", "operator-password-1"),
    ];
    let (a, _da) = crate::procs::kobo_serve(&env).await;
    let (b, _db) = crate::procs::kobo_serve(&env).await;
    let http = reqwest::Client::new();
    let post = |base: String, token: Option<String>, path: &'static str, body: Value| {
        let http = http.clone();
        async move {
            let mut req = http.post(format!("http://{base}{path}")).json(&body);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let res = req.send().await.unwrap();
            let status = res.status();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (_, signup) = post(a.addr.clone(), None, "/api/v1/auth/signup", json!({"email": "procs@example.ng", "password": "correct horse battery", "organization_name": "Procs"})).await;
    let token = s(&signup, "access_token");
    let (_, op) = post(
        b.addr.clone(),
        None,
        "/api/v1/auth/token",
        json!({"username": "op@kobo.test", "password": "operator-password-1"}),
    )
    .await;
    let res = http
        .put(format!(
            "http://{}/api/v1/admin/organizations/{}/limits",
            b.addr,
            s(&signup, "organization_id")
        ))
        .bearer_auth(s(&op, "access_token"))
        .json(&json!({"requests_per_minute": 30, "tokens_per_minute": "unlimited", "monthly_tokens": "unlimited"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let ws = s(&signup, "workspace_id");
    let res = http
        .post(format!("http://{}/api/v1/workspaces/{ws}/api-keys", a.addr))
        .bearer_auth(&token)
        .json(&json!({"name": "shared"}))
        .send()
        .await
        .unwrap();
    let key = s(&res.json::<Value>().await.unwrap(), "key");
    // Neither process has cached the tenant yet (no gateway call so far): both read the
    // new limit on their first call.
    let futs = (0..60).map(|i| {
        let addr = if i % 2 == 0 {
            a.addr.clone()
        } else {
            b.addr.clone()
        };
        let (http, key) = (http.clone(), key.clone());
        async move {
            http.post(format!("http://{addr}/v1/chat/completions"))
                .bearer_auth(key)
                .json(&json!({"model": "mock-echo", "messages": user(&format!("p{i}"))}))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures::future::join_all(futs).await;
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((ok, limited), (30, 30), "one limit for both processes");
}

/// Starts a private redis-server on a free port (never the machine's 6379).
fn private_redis(port: u16) -> std::process::Child {
    std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server")
}

async fn wait_redis(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("redis did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fails_closed_and_recovers() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut redis = private_redis(port);
    wait_redis(port).await;
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.redis_url = Some(format!("redis://127.0.0.1:{port}"))
    })
    .await;
    let (_, key, _) = app
        .tenant_with_key("down@example.ng", json!({"name": "k"}))
        .await;
    assert_eq!(
        app.chat(&key, json!({"model": "mock-echo", "messages": user("x")}))
            .await
            .status(),
        StatusCode::OK
    );

    redis.kill().unwrap();
    redis.wait().unwrap();
    let res = app
        .chat(&key, json!({"model": "mock-echo", "messages": user("x")}))
        .await;
    assert_eq!(res.headers()["retry-after"], "5");
    expect_error(
        res,
        StatusCode::SERVICE_UNAVAILABLE,
        "rate_limiter_unavailable",
    )
    .await;
    assert_eq!(
        app.client
            .get(app.url("/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    // The process keeps serving everything else.
    assert_eq!(
        app.client
            .get(app.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    let mut redis = private_redis(port);
    wait_redis(port).await;
    let mut recovered = false;
    for _ in 0..100 {
        if app
            .chat(&key, json!({"model": "mock-echo", "messages": user("x")}))
            .await
            .status()
            == StatusCode::OK
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = redis.kill();
    let _ = redis.wait();
    assert!(
        recovered,
        "the gateway did not recover when Redis came back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_with_fail_open_uses_local_limits() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut redis = private_redis(port);
    wait_redis(port).await;
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.redis_url = Some(format!("redis://127.0.0.1:{port}"));
        s.rate_limiter_failure = kobo_server::settings::LimiterFailure::OpenLocal;
    })
    .await;
    let (_, key, _) = app
        .tenant_with_key("open@example.ng", json!({"name": "k"}))
        .await;
    redis.kill().unwrap();
    redis.wait().unwrap();
    assert_eq!(
        app.chat(&key, json!({"model": "mock-echo", "messages": user("x")}))
            .await
            .status(),
        StatusCode::OK
    );
}

crate::both_backends!(
    soft_limit_warnings_once_per_threshold,
    |app: TestApp| async move {
        let (t, key, _) = app
            .tenant_with_key("soft@example.ng", json!({"name": "k"}))
            .await;
        app.set_limits(&t, json!({"monthly_api_calls": 10})).await;
        for i in 0..10 {
            assert_eq!(
                app.chat(
                    &key,
                    json!({"model": "mock-echo", "messages": user(&format!("{i}"))})
                )
                .await
                .status(),
                StatusCode::OK
            );
        }
        expect_error(
            app.chat(&key, json!({"model": "mock-echo", "messages": user("11")}))
                .await,
            StatusCode::TOO_MANY_REQUESTS,
            "quota_exceeded",
        )
        .await;
        let (_, q) = body(app.get("/api/v1/quotas", &t.token).await).await;
        let warnings: Vec<_> = q["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["quota"] == "monthly_api_calls")
            .map(|w| w["threshold_percent"].as_u64().unwrap())
            .collect();
        assert_eq!(warnings, vec![80, 100], "{q}");
        assert_eq!(q["quotas"]["monthly_api_calls"]["current_usage"], 10);
        assert_eq!(q["quotas"]["monthly_api_calls"]["remaining"], 0);
    }
);

/// `redis`: a namespace to share counters in Redis (on PostgreSQL), else in process.
async fn quota_period_rolls_over_in_lagos_time(redis: Option<String>) {
    // 30 Nov 22:30 UTC is still November in Lagos (23:30 WAT).
    let before = chrono::DateTime::parse_from_rfc3339("2026-11-30T22:30:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let with_limits = |s: &mut kobo_server::Settings| {
        if let Some(ns) = &redis {
            s.redis_url = Some("redis://127.0.0.1:6379".into());
            s.redis_namespace = ns.clone();
        }
    };
    let db = if redis.is_some() {
        Db::Postgres
    } else {
        Db::Sqlite
    };
    let app = TestApp::spawn_with(db, |s| {
        s.test_now = Some(before);
        with_limits(s);
    })
    .await;
    let (t, key, _) = app
        .tenant_with_key("roll@example.ng", json!({"name": "k"}))
        .await;
    app.set_limits(&t, json!({"monthly_api_calls": 3})).await;
    for _ in 0..3 {
        assert_eq!(
            app.chat(&key, json!({"model": "mock-echo", "messages": user("x")}))
                .await
                .status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        app.chat(&key, json!({"model": "mock-echo", "messages": user("x")}))
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let (_, q) = body(app.get("/api/v1/quotas", &t.token).await).await;
    assert_eq!(q["period_start"], "2026-11-01");
    app.usage_settled(3).await;

    // 30 Nov 23:30 UTC is already 1 December in Lagos: a new period, counters from zero.
    let url = app.state.settings.database_url.clone();
    let after = chrono::DateTime::parse_from_rfc3339("2026-11-30T23:30:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let later = TestApp::spawn_with(Db::Sqlite, |s| {
        s.database_url = url;
        s.test_now = Some(after);
        with_limits(s);
    })
    .await;
    assert_eq!(
        later
            .chat(&key, json!({"model": "mock-echo", "messages": user("x")}))
            .await
            .status(),
        StatusCode::OK
    );
    let (_, q) = body(later.get("/api/v1/quotas", &t.token).await).await;
    assert_eq!(q["period_start"], "2026-12-01");
    assert_eq!(q["quotas"]["monthly_api_calls"]["current_usage"], 1);
    // The old period is archived with its figures.
    let archived = q["archived_periods"].as_array().unwrap();
    assert_eq!(archived[0]["period_start"], "2026-11-01");
    assert_eq!(archived[0]["api_calls"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_period_rolls_over_in_lagos_time_local() {
    quota_period_rolls_over_in_lagos_time(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_period_rolls_over_in_lagos_time_redis() {
    quota_period_rolls_over_in_lagos_time(Some(redis_ns())).await;
}

/// An operator's per-key override: one key gets a lower requests/min than its
/// organization; the organization's other keys keep the organization's figure.
async fn per_key_rate_limits(app: TestApp) {
    let (t, slow, slow_view) = app
        .tenant_with_key("perkey@example.ng", json!({"name": "slow"}))
        .await;
    let fast = s(&app.create_key(&t, json!({"name": "fast"})).await, "key");
    app.set_limits(&t, json!({"requests_per_minute": 50})).await;
    let op = app.operator_token().await;
    let path = format!(
        "/api/v1/admin/organizations/{}/api-keys/{}/limits",
        t.org_id,
        s(&slow_view, "id")
    );
    let (status, v) = body(app.put(&path, &op, json!({"requests_per_minute": 3})).await).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["requests_per_minute"], 3);
    assert!(v["tokens_per_minute"].is_null());
    // Tenants cannot set it; bad values and another organization's key are refused.
    expect_error(
        app.put(&path, &t.token, json!({"requests_per_minute": 1000}))
            .await,
        StatusCode::FORBIDDEN,
        "operator_only",
    )
    .await;
    expect_error(
        app.put(&path, &op, json!({"requests_per_minute": 0})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    let other = app.signup("perkey-other@example.ng").await;
    let cross = format!(
        "/api/v1/admin/organizations/{}/api-keys/{}/limits",
        other.org_id,
        s(&slow_view, "id")
    );
    expect_error(
        app.put(&cross, &op, json!({"requests_per_minute": 9}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let call = |key: String| {
        let app = &app;
        async move {
            app.chat(
                &key,
                json!({"model": "mock-echo", "messages": user("per key")}),
            )
            .await
        }
    };
    for _ in 0..3 {
        let res = call(slow.clone()).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let refused = call(slow.clone()).await;
    assert_eq!(refused.headers()["x-ratelimit-limit-requests"], "3");
    expect_error(
        refused,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_exceeded",
    )
    .await;
    let res = call(fast.clone()).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the other key keeps the organization's limit"
    );
    assert_eq!(res.headers()["x-ratelimit-limit-requests"], "50");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_key_rate_limits_local() {
    per_key_rate_limits(local_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_key_rate_limits_redis() {
    per_key_rate_limits(redis_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_are_rebuilt_from_usage_records_after_a_restart() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let (t, key, _) = app
        .tenant_with_key("rebuild@example.ng", json!({"name": "k"}))
        .await;
    app.set_limits(&t, json!({"monthly_api_calls": 4})).await;
    for _ in 0..3 {
        assert_eq!(
            app.chat(&key, json!({"model": "mock-echo", "messages": user("x")}))
                .await
                .status(),
            StatusCode::OK
        );
    }
    app.usage_settled(3).await;
    // A fresh process (in-process counters empty) on the same database.
    let url = app.state.settings.database_url.clone();
    let fresh = TestApp::spawn_with(Db::Sqlite, |s| s.database_url = url).await;
    assert_eq!(
        fresh
            .chat(&key, json!({"model": "mock-echo", "messages": user("x")}))
            .await
            .status(),
        StatusCode::OK
    );
    expect_error(
        fresh
            .chat(&key, json!({"model": "mock-echo", "messages": user("x")}))
            .await,
        StatusCode::TOO_MANY_REQUESTS,
        "quota_exceeded",
    )
    .await;
}
