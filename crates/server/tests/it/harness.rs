//! `TestApp`: the real application on a random port, with its own database.

use kobo_server::{App, Settings};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use sqlx::Connection;
use std::net::SocketAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub fn pg_admin_url() -> String {
    std::env::var("KOBO_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into())
}

/// A fresh PostgreSQL database, dropped when the guard goes.
pub struct PgDb {
    pub name: String,
    pub url: String,
}

impl PgDb {
    pub async fn create() -> Self {
        let admin = pg_admin_url();
        let name = format!("kobo_t_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .expect("PostgreSQL answers");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create database");
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b.to_string())
            .unwrap_or(admin.clone());
        Self {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = pg_admin_url();
        // Drop cannot be async: a short-lived runtime on its own thread does the cleanup.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async move {
                    if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut c)
                                .await;
                    }
                });
            }
        })
        .join();
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: Client,
    pub db: Db,
    pub state: kobo_server::state::AppState,
    _dir: tempfile::TempDir,
    _pg: Option<PgDb>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestApp {
    pub async fn spawn(db: Db) -> Self {
        Self::spawn_with(db, |_| {}).await
    }

    pub async fn spawn_with(db: Db, tweak: impl FnOnce(&mut Settings)) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        Self::spawn_on(db, listener, tweak).await
    }

    /// On a listener bound beforehand (when a peer, e.g. the payment simulator, must
    /// know the address before the app starts).
    pub async fn spawn_on(
        db: Db,
        listener: tokio::net::TcpListener,
        tweak: impl FnOnce(&mut Settings),
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings::with_data_dir(dir.path());
        let pg = match db {
            Db::Sqlite => None,
            Db::Postgres => {
                let pg = PgDb::create().await;
                settings.database_url = pg.url.clone();
                Some(pg)
            }
        };
        settings.operator_email = Some("operator@kobo.test".into());
        settings.operator_password = Some("operator-password-1".to_string().into());
        tweak(&mut settings);
        let app = App::build(settings).await.expect("app builds");
        let state = app.state.clone();
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.serve(listener, async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            client: Client::new(),
            db,
            state,
            _dir: dir,
            _pg: pg,
            shutdown: Some(tx),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Response {
        self.client
            .put(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// Signs up a new organization; returns its owner.
    pub async fn signup(&self, email: &str) -> Tenant {
        let res = self
            .client
            .post(self.url("/api/v1/auth/signup"))
            .json(&json!({"email": email, "password": "correct horse battery", "organization_name": format!("Org of {email}")}))
            .send()
            .await
            .expect("signup");
        assert_eq!(res.status(), StatusCode::CREATED, "signup of {email}");
        let v: Value = res.json().await.expect("json");
        Tenant {
            email: email.to_string(),
            user_id: s(&v, "user_id"),
            org_id: s(&v, "organization_id"),
            workspace_id: s(&v, "workspace_id"),
            token: s(&v, "access_token"),
        }
    }

    pub async fn login(&self, email: &str, password: &str, org: Option<&str>) -> Response {
        let mut body = json!({"username": email, "password": password});
        if let Some(o) = org {
            body["organization_id"] = json!(o);
        }
        self.client
            .post(self.url("/api/v1/auth/token"))
            .json(&body)
            .send()
            .await
            .expect("token")
    }

    pub async fn token_for(&self, email: &str, org: Option<&str>) -> String {
        let res = self.login(email, "correct horse battery", org).await;
        assert_eq!(res.status(), StatusCode::OK, "login of {email}");
        let v: Value = res.json().await.expect("json");
        s(&v, "access_token")
    }

    pub async fn operator_token(&self) -> String {
        let res = self
            .login("operator@kobo.test", "operator-password-1", None)
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        s(&res.json::<Value>().await.expect("json"), "access_token")
    }

    /// Adds a user with `role` to `owner`'s organization; returns a token bound to it.
    pub async fn add_member(&self, owner: &Tenant, email: &str, role: &str) -> Tenant {
        let other = self.signup(email).await;
        let res = self
            .post(
                &format!("/api/v1/orgs/{}/members", owner.org_id),
                &owner.token,
                json!({"email": email, "role": role}),
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "invite {email} as {role}"
        );
        let token = self.token_for(email, Some(&owner.org_id)).await;
        Tenant {
            token,
            org_id: owner.org_id.clone(),
            workspace_id: owner.workspace_id.clone(),
            ..other
        }
    }

    pub async fn create_key(&self, t: &Tenant, body: Value) -> Value {
        let res = self
            .post(
                &format!("/api/v1/workspaces/{}/api-keys", t.workspace_id),
                &t.token,
                body,
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json().await.expect("json")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[derive(Clone, Debug)]
pub struct Tenant {
    pub email: String,
    pub user_id: String,
    pub org_id: String,
    pub workspace_id: String,
    pub token: String,
}

pub fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string `{key}` in {v}"))
        .to_string()
}

pub async fn body(res: Response) -> (StatusCode, Value) {
    let status = res.status();
    let text = res.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Asserts the error envelope and its code.
pub async fn expect_error(res: Response, status: StatusCode, code: &str) -> Value {
    let (got, v) = body(res).await;
    assert_eq!(got, status, "expected {status} {code}, got {got}: {v}");
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(
        v["error"]["message"].is_string() && v["error"]["type"].is_string(),
        "{v}"
    );
    v
}

/// Runs one async test body against both backends.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let f = $body;
                f(TestApp::spawn($crate::harness::Db::Sqlite).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let f = $body;
                f(TestApp::spawn($crate::harness::Db::Postgres).await).await;
            }
        }
    };
}

impl TestApp {
    /// A tenant with an API key, ready to call the gateway.
    pub async fn tenant_with_key(&self, email: &str, body: Value) -> (Tenant, String, Value) {
        let t = self.signup(email).await;
        let k = self.create_key(&t, body).await;
        (t, s(&k, "key"), k)
    }

    pub async fn chat(&self, key: &str, body: Value) -> Response {
        self.client
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    /// Waits until the usage journal has been moved to the database (bounded).
    pub async fn usage_settled(&self, expected: u64) -> u64 {
        let mut n = 0;
        for _ in 0..200 {
            n = self.state.store.usage_count().await.expect("count");
            if n >= expected {
                return n;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        n
    }

    /// Upgrades the tenant's plan through the operator.
    pub async fn grant_plan(&self, t: &Tenant, plan: &str) {
        let op = self.operator_token().await;
        let res = self
            .put(
                &format!("/api/v1/admin/organizations/{}/plan", t.org_id),
                &op,
                json!({"plan": plan}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        self.state.tenants.forget(t.org_id.parse().unwrap());
    }

    pub async fn set_limits(&self, t: &Tenant, limits: Value) {
        let op = self.operator_token().await;
        let res = self
            .put(
                &format!("/api/v1/admin/organizations/{}/limits", t.org_id),
                &op,
                limits,
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        self.state.tenants.forget(t.org_id.parse().unwrap());
    }
}

/// Settings pointing at a mock upstream process: an OpenAI-shaped and an Anthropic-shaped
/// upstream, and models over them.
pub fn with_mock_upstreams(s: &mut Settings, addr: &str) {
    use kobo_server::settings::{ModelConfig, UpstreamConfig};
    let up = |name: &str, kind: kobo_providers::UpstreamKind, timeout_ms: u64| UpstreamConfig {
        name: name.into(),
        kind,
        base_url: format!("http://{addr}/v1"),
        api_key_env: None,
        timeout_ms,
        connect_timeout_ms: 1000,
        first_byte_timeout_ms: timeout_ms,
        max_retries: 1,
    };
    s.upstreams = vec![
        up("local", kobo_providers::UpstreamKind::OpenAi, 5000),
        up("claude", kobo_providers::UpstreamKind::Anthropic, 5000),
        up("impatient", kobo_providers::UpstreamKind::OpenAi, 300),
    ];
    let model = |name: &str,
                 upstream: &str,
                 upstream_model: &str,
                 inp: i64,
                 out: i64,
                 fallbacks: &[&str]| ModelConfig {
        name: name.into(),
        upstream: upstream.into(),
        upstream_model: Some(upstream_model.into()),
        input_price_per_1k_kobo: inp,
        output_price_per_1k_kobo: out,
        input_cost_per_1k_micro_usd: 150,
        output_cost_per_1k_micro_usd: 600,
        fallbacks: fallbacks.iter().map(|f| f.to_string()).collect(),
    };
    s.models = vec![
        model("gpt-4o-mini", "local", "echo", 22, 88, &[]),
        model("gpt-3.5-turbo", "local", "echo", 11, 33, &[]),
        model("gpt-4o", "local", "fail-503", 350, 1050, &["gpt-4o-mini"]),
        model("claude-3-haiku", "claude", "echo", 25, 125, &[]),
        model("broken", "local", "fail-500", 1, 1, &[]),
        model("picky", "local", "bad-request", 1, 1, &[]),
        model("sluggish", "impatient", "slow", 1, 1, &[]),
        model("dying", "local", "die-midstream", 1, 1, &[]),
        model("endless", "local", "long-stream", 1, 1, &[]),
        model("quiet", "local", "no-usage", 1000, 2000, &[]),
    ];
}
