//! Plans, subscriptions and payments against the Paystack/Flutterwave simulator, a real
//! HTTP server process that signs and sends webhooks to the app.

use crate::both_backends;
use crate::harness::*;
use crate::procs::{self, Proc};
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The app wired to a fresh simulator.
pub struct Billed {
    pub app: TestApp,
    pub sim: Proc,
    pub http: reqwest::Client,
}

pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

pub fn with_sim(s: &mut kobo_server::Settings, sim: &str, public: &str) {
    s.paystack_secret_key = Some(procs::SIM_PAYSTACK_SECRET.to_string().into());
    s.paystack_base_url = format!("http://{sim}");
    s.flutterwave_secret_key = Some(procs::SIM_FLUTTERWAVE_SECRET.to_string().into());
    s.flutterwave_secret_hash = Some(procs::SIM_FLUTTERWAVE_HASH.to_string().into());
    s.flutterwave_base_url = format!("http://{sim}/flw/v3");
    s.public_url = public.to_string();
    // These tests move the clock by months; the sessions they hold must outlive that.
    s.session_ttl_secs = 400 * 24 * 3600;
}

impl Billed {
    pub async fn start(db: Db, now: Option<DateTime<Utc>>) -> Self {
        Self::start_hooked(db, now, true).await
    }

    /// With `deliver` false the simulator's webhooks go to a closed port (they are
    /// still recorded), so a test can deliver them itself, late.
    pub async fn start_hooked(db: Db, now: Option<DateTime<Utc>>, deliver: bool) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let sim = procs::paystack_sim(if deliver { &base } else { "http://127.0.0.1:9" });
        let addr = sim.addr.clone();
        let app = TestApp::spawn_on(db, listener, |s| {
            with_sim(s, &addr, &base);
            s.test_now = now;
        })
        .await;
        Self {
            app,
            sim,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// Another app on the same database and simulator, with the clock at `now`.
    pub async fn later(&self, now: DateTime<Utc>) -> TestApp {
        let url = self.app.state.settings.database_url.clone();
        let sim = self.sim.addr.clone();
        let public = self.app.url("");
        TestApp::spawn_with(Db::Sqlite, |s| {
            s.database_url = url;
            with_sim(s, &sim, &public);
            s.test_now = Some(now);
        })
        .await
    }

    pub async fn sim_post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let res = self
            .http
            .post(format!("http://{}{path}", self.sim.addr))
            .json(&body)
            .send()
            .await
            .unwrap();
        body_of(res).await
    }

    pub async fn subscribe(&self, t: &Tenant, plan: &str, method: &str) -> Value {
        let res = self
            .app
            .post(
                "/api/v1/billing/subscriptions",
                &t.token,
                json!({"plan": plan, "payment_method": method, "billing_email": t.email}),
            )
            .await;
        let (status, v) = body(res).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v
    }

    /// Pays a Paystack checkout at the simulator (which sends the signed webhook).
    pub async fn pay(&self, reference: &str) -> Value {
        let (status, v) = self
            .sim_post(
                &format!("/sim/paystack/{reference}/complete"),
                json!({"outcome": "success"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(
            v["webhook"]["response_status"], 200,
            "the app accepted the webhook: {v}"
        );
        v
    }

    pub async fn current(&self, app: &TestApp, t: &Tenant) -> Value {
        let (status, v) = body(
            app.get("/api/v1/billing/subscriptions/current", &t.token)
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v
    }

    pub async fn payments(&self, t: &Tenant) -> Vec<Value> {
        let (_, v) = body(self.app.get("/api/v1/billing/payments", &t.token).await).await;
        v["data"].as_array().unwrap().clone()
    }

    pub async fn events(&self) -> Vec<Value> {
        let op = self.app.operator_token().await;
        let (status, v) = body(
            self.app
                .get("/api/v1/admin/payment-events?limit=200", &op)
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        v["data"].as_array().unwrap().clone()
    }

    /// Subscribes `t` and pays at once; returns the subscription answer.
    pub async fn subscribed(&self, t: &Tenant, plan: &str) -> Value {
        let sub = self.subscribe(t, plan, "paystack_card").await;
        self.pay(sub["reference"].as_str().unwrap()).await;
        sub
    }
}

async fn body_of(res: reqwest::Response) -> (StatusCode, Value) {
    body(res).await
}

/// The public plan card `id`.
async fn plan_card(app: &TestApp, id: &str) -> Value {
    let (_, v) = body(
        app.client
            .get(app.url("/api/v1/billing/plans"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap()
        .clone()
}

fn count(list: &[Value], key: &str, value: &str) -> usize {
    list.iter().filter(|v| v[key] == value).count()
}

both_backends!(
    plan_cards_carry_display_strings,
    |app: TestApp| async move {
        let (status, v) = body(
            app.client
                .get(app.url("/api/v1/billing/plans"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let plans = v["data"].as_array().unwrap();
        let pro = plans.iter().find(|p| p["id"] == "professional").unwrap();
        assert_eq!(pro["price_kobo"], 4_500_000);
        assert_eq!(pro["price_display"], "₦45,000");
        assert_eq!(pro["included_tokens_display"], "10M");
        assert_eq!(pro["annual_price_kobo"], 43_200_000);
        let free = plans.iter().find(|p| p["id"] == "free").unwrap();
        assert_eq!(free["price_display"], "Free");
        assert_eq!(free["included_tokens_display"], "100K");
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mvp_subscribe_to_professional_by_transfer_sqlite() {
    mvp_subscribe(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mvp_subscribe_to_professional_by_transfer_postgres() {
    mvp_subscribe(Db::Postgres).await;
}

async fn mvp_subscribe(db: Db) {
    let b = Billed::start(db, Some(at("2026-11-03T10:00:00Z"))).await;
    let t = b.app.signup("mvp@example.ng").await;
    let v = b.subscribe(&t, "professional", "paystack_transfer").await;
    assert_eq!(v["status"], "pending_payment");
    assert_eq!(v["amount_ngn"], 45000);
    assert_eq!(v["amount_kobo"], 4_500_000);
    assert_eq!(v["plan"], "professional");
    assert_eq!(v["next_billing_date"], "2026-12-03");
    assert!(v["payment_url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("http://{}/checkout/", b.sim.addr)));
    assert!(v["reference"].as_str().unwrap().starts_with("kobo-sub-"));
    // Not paid yet: the organization is still on the free plan.
    let cur = b.current(&b.app, &t).await;
    assert_eq!(cur["status"], "pending_payment");
    let (_, me) = body(b.app.get("/api/v1/quotas", &t.token).await).await;
    assert_eq!(me["plan"], "free", "{me}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paying_activates_and_the_quota_follows_the_plan_sqlite() {
    pay_flow(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paying_activates_and_the_quota_follows_the_plan_postgres() {
    pay_flow(Db::Postgres).await;
}

async fn pay_flow(db: Db) {
    let b = Billed::start(db, Some(at("2026-11-03T10:00:00Z"))).await;
    let t = b.app.signup("pay@example.ng").await;
    let sub = b.subscribe(&t, "professional", "paystack_card").await;
    let reference = sub["reference"].as_str().unwrap();
    // The payer opens the checkout page and pays; the simulator signs and sends the webhook.
    let page = b
        .http
        .get(sub["payment_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    b.pay(reference).await;
    let cur = b.current(&b.app, &t).await;
    assert_eq!(cur["status"], "active", "{cur}");
    assert_eq!(cur["plan"], "professional");
    assert_eq!(cur["has_saved_card"], true);
    assert_eq!(cur["anchor_day"], 3);
    assert_eq!(cur["next_billing_date"], "2026-12-03");
    assert_eq!(cur["current_period_start"], "2026-11-02T23:00:00.000Z");
    // The gateway's quota follows the new plan.
    let (_, q) = body(b.app.get("/api/v1/quotas", &t.token).await).await;
    assert_eq!(
        q["quotas"]["monthly_tokens"]["hard_limit"], 50_000_000,
        "{q}"
    );
    assert_eq!(q["period_start"], "2026-11-03", "{q}");
    // The payer returns to the callback after the webhook: a no-op that reports the state.
    let (status, cb) = body(
        b.app
            .client
            .get(b.app.url(&format!(
                "/api/v1/billing/callback?trxref={reference}&reference={reference}"
            )))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cb}");
    assert_eq!(cb["payment_status"], "success");
    assert_eq!(cb["subscription_status"], "active");
    let payments = b.payments(&t).await;
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["status"], "success");
    assert_eq!(payments[0]["paid_amount_kobo"], 4_500_000);
    // A second subscription while one is active is refused.
    let res = b
        .app
        .post(
            "/api/v1/billing/subscriptions",
            &t.token,
            json!({"plan": "starter", "payment_method": "paystack_card", "billing_email": t.email}),
        )
        .await;
    expect_error(res, StatusCode::CONFLICT, "subscription_exists").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callback_can_settle_before_the_webhook() {
    let b = Billed::start_hooked(Db::Sqlite, None, false).await;
    let t = b.app.signup("cb@example.ng").await;
    let sub = b.subscribe(&t, "starter", "paystack_card").await;
    let reference = sub["reference"].as_str().unwrap().to_string();
    // Paid at the provider; the webhook has not arrived (it went nowhere).
    let (status, v) = b
        .sim_post(
            &format!("/sim/paystack/{reference}/complete"),
            json!({"outcome": "success"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_ne!(v["webhook"]["response_status"], 200);
    assert_eq!(b.current(&b.app, &t).await["status"], "pending_payment");
    // The payer comes back first: the callback verifies with the provider and settles.
    let (status, cb) = body(
        b.app
            .client
            .get(b.app.url(&format!(
                "/api/v1/billing/callback?trxref={reference}&reference={reference}"
            )))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cb}");
    assert_eq!(cb["payment_status"], "success");
    assert_eq!(cb["subscription_status"], "active");
    // The webhook arrives late, byte for byte as signed: acknowledged, a no-op.
    let delivery = v["webhook"].clone();
    let res = b
        .app
        .client
        .post(b.app.url("/api/v1/webhooks/paystack"))
        .header(
            "x-paystack-signature",
            delivery["header_value"].as_str().unwrap(),
        )
        .body(delivery["body"].as_str().unwrap().to_string())
        .send()
        .await
        .unwrap();
    let (status, ack) = body(res).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ack["outcome"], "already_settled", "{ack}");
    let payments = b.payments(&t).await;
    assert_eq!(payments.len(), 1);
    assert_eq!(count(&payments, "status", "success"), 1);
    // An unknown reference is 404; a missing one 422.
    let res = b
        .app
        .client
        .get(b.app.url("/api/v1/billing/callback?reference=nope"))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = b
        .app
        .client
        .get(b.app.url("/api/v1/billing/callback"))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_and_concurrent_copies_apply_once_sqlite() {
    replays_apply_once(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_and_concurrent_copies_apply_once_postgres() {
    replays_apply_once(Db::Postgres).await;
}

async fn replays_apply_once(db: Db) {
    let b = Billed::start(db, None).await;
    let t = b.app.signup("replay@example.ng").await;
    let sub = b.subscribe(&t, "starter", "paystack_card").await;
    b.pay(sub["reference"].as_str().unwrap()).await;
    let list: Value = b
        .http
        .get(format!("http://{}/sim/webhooks", b.sim.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let n = list["webhooks"].as_array().unwrap().len();
    // Ten replays one after another, then ten concurrent copies.
    for _ in 0..10 {
        let (status, v) = b
            .sim_post(&format!("/sim/webhooks/replay/{n}"), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let replay = format!("/sim/webhooks/replay/{n}");
    let copies = (0..10).map(|_| b.sim_post(&replay, json!({})));
    for (status, v) in futures::future::join_all(copies).await {
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let list: Value = b
        .http
        .get(format!("http://{}/sim/webhooks", b.sim.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let deliveries = list["webhooks"].as_array().unwrap();
    assert!(deliveries.len() >= n + 20);
    assert!(
        deliveries.iter().all(|d| d["response_status"] == 200),
        "every copy was acknowledged"
    );
    let payments = b.payments(&t).await;
    assert_eq!(payments.len(), 1);
    assert_eq!(count(&payments, "status", "success"), 1);
    let events = b.events().await;
    let charge: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "charge.success" && e["reference"] == sub["reference"])
        .collect();
    assert_eq!(
        charge.len(),
        1,
        "one stored event for all the copies: {events:?}"
    );
    assert_eq!(charge[0]["outcome"], "applied");
    assert_eq!(b.current(&b.app, &t).await["status"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_change_nothing() {
    let b = Billed::start(Db::Sqlite, None).await;
    let t = b.app.signup("forge@example.ng").await;
    let sub = b.subscribe(&t, "starter", "paystack_card").await;
    let reference = sub["reference"].as_str().unwrap();
    let body_text = json!({"event": "charge.success", "data": {"id": 99, "reference": reference, "status": "success", "amount": 1_500_000, "currency": "NGN"}}).to_string();
    let good =
        kobo_payments::paystack::sign(procs::SIM_PAYSTACK_SECRET.as_bytes(), body_text.as_bytes());
    let hook = b.app.url("/api/v1/webhooks/paystack");
    let send = |sig: Option<String>, text: String| {
        let mut req = b
            .app
            .client
            .post(&hook)
            .header("content-type", "application/json")
            .body(text);
        if let Some(sig) = sig {
            req = req.header("x-paystack-signature", sig);
        }
        req.send()
    };
    // Missing, forged (another key), and a body altered after signing.
    let forged = kobo_payments::paystack::sign(b"sk_test_someone_else", body_text.as_bytes());
    let altered = body_text.replace("1500000", "1500001");
    for (sig, text) in [
        (None, body_text.clone()),
        (Some(forged), body_text.clone()),
        (Some(good.clone()), altered),
        (Some("zz".into()), body_text.clone()),
    ] {
        let res = send(sig, text).await.unwrap();
        expect_error(res, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    }
    // Flutterwave: a wrong verif-hash.
    let res = b
        .app
        .client
        .post(b.app.url("/api/v1/webhooks/flutterwave"))
        .header("verif-hash", "guess")
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    assert_eq!(b.current(&b.app, &t).await["status"], "pending_payment");
    assert!(b.events().await.is_empty());
    // A correctly signed claim is still verified with Paystack before value is given:
    // the simulator says the transaction is unpaid, so nothing is activated.
    let res = send(Some(good), body_text).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(b.current(&b.app, &t).await["status"], "pending_payment");
    assert_eq!(count(&b.payments(&t).await, "status", "pending"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_amount_is_flagged_not_activated() {
    let b = Billed::start(Db::Sqlite, None).await;
    let t = b.app.signup("short@example.ng").await;
    let sub = b.subscribe(&t, "professional", "paystack_card").await;
    let reference = sub["reference"].as_str().unwrap();
    let (status, v) = b
        .sim_post(
            &format!("/sim/paystack/{reference}/complete"),
            json!({"outcome": "success", "amount": 450_000}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["webhook"]["response_status"], 200);
    assert_eq!(b.current(&b.app, &t).await["status"], "pending_payment");
    let payments = b.payments(&t).await;
    assert_eq!(payments[0]["status"], "flagged");
    assert_eq!(payments[0]["paid_amount_kobo"], 450_000);
    let events = b.events().await;
    assert_eq!(events[0]["outcome"], "flagged", "{events:?}");
    assert!(events[0]["detail"]
        .as_str()
        .unwrap()
        .contains("expected 4500000"));
    let (_, q) = body(b.app.get("/api/v1/quotas", &t.token).await).await;
    assert_eq!(q["plan"], "free");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_charge_leaves_the_subscription_unpaid() {
    let b = Billed::start(Db::Sqlite, None).await;
    let t = b.app.signup("declined@example.ng").await;
    let sub = b.subscribe(&t, "starter", "paystack_card").await;
    let reference = sub["reference"].as_str().unwrap();
    let (status, v) = b
        .sim_post(
            &format!("/sim/paystack/{reference}/complete"),
            json!({"outcome": "failed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(b.current(&b.app, &t).await["status"], "pending_payment");
    assert_eq!(b.payments(&t).await[0]["status"], "failed");
    // A fresh checkout replaces the unpaid one.
    let again = b.subscribe(&t, "starter", "paystack_card").await;
    assert_ne!(again["subscription_id"], sub["subscription_id"]);
    b.pay(again["reference"].as_str().unwrap()).await;
    assert_eq!(b.current(&b.app, &t).await["status"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flutterwave_card_and_the_ussd_ceiling() {
    let b = Billed::start(Db::Sqlite, None).await;
    let t = b.app.signup("flw@example.ng").await;
    // Enterprise, annually: ₦1,440,000 — above USSD's ₦500,000 ceiling.
    let res = b
        .app
        .post("/api/v1/billing/subscriptions", &t.token, json!({"plan": "enterprise", "payment_method": "flutterwave_ussd", "billing_email": t.email, "billing_cycle": "annually"}))
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "payment_not_allowed").await;
    assert!(b.payments(&t).await.is_empty(), "nothing was written");
    let sub = b.subscribe(&t, "starter", "flutterwave_card").await;
    let tx_ref = sub["reference"].as_str().unwrap();
    assert!(sub["payment_url"]
        .as_str()
        .unwrap()
        .contains("/flw/checkout/"));
    let (status, v) = b
        .sim_post(
            &format!("/sim/flutterwave/{tx_ref}/complete"),
            json!({"outcome": "success"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["webhook"]["response_status"], 200, "{v}");
    let cur = b.current(&b.app, &t).await;
    assert_eq!(cur["status"], "active");
    assert_eq!(cur["plan"], "starter");
    let payments = b.payments(&t).await;
    assert_eq!(payments[0]["paid_amount_kobo"], 1_500_000);
    assert_eq!(payments[0]["provider"], "flutterwave");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_routes_check_roles_and_tenants() {
    let b = Billed::start(Db::Sqlite, None).await;
    let owner = b.app.signup("own@example.ng").await;
    let sub = b.subscribed(&owner, "starter").await;
    let id = sub["subscription_id"].as_str().unwrap();
    for role in ["admin", "member", "viewer"] {
        let m = b
            .app
            .add_member(&owner, &format!("{role}-b@example.ng"), role)
            .await;
        let res = b.app.post("/api/v1/billing/subscriptions", &m.token, json!({"plan": "starter", "payment_method": "paystack_card", "billing_email": m.email})).await;
        expect_error(res, StatusCode::FORBIDDEN, "permission_denied").await;
        let res = b
            .app
            .post(
                &format!("/api/v1/billing/subscriptions/{id}/cancel"),
                &m.token,
                json!({}),
            )
            .await;
        expect_error(res, StatusCode::FORBIDDEN, "permission_denied").await;
        let status = b
            .app
            .get("/api/v1/billing/subscriptions/current", &m.token)
            .await
            .status();
        let expected = if role == "admin" {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(status, expected, "{role} reads the subscription");
    }
    // Another organization's owner cannot see or touch this subscription.
    let other = b.app.signup("other-b@example.ng").await;
    let res = b
        .app
        .post(
            &format!("/api/v1/billing/subscriptions/{id}/cancel"),
            &other.token,
            json!({"immediately": true}),
        )
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = b
        .app
        .post(
            &format!("/api/v1/billing/subscriptions/{id}/change-plan"),
            &other.token,
            json!({"plan": "professional", "preview": true}),
        )
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        b.app
            .get("/api/v1/billing/subscriptions/current", &other.token)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(b.current(&b.app, &owner).await["status"], "active");
    // Tenants cannot reach the operator's billing routes.
    for path in ["/api/v1/admin/plans", "/api/v1/admin/payment-events"] {
        expect_error(
            b.app.get(path, &owner.token).await,
            StatusCode::FORBIDDEN,
            "operator_only",
        )
        .await;
    }
    // Bad input: unknown plan, method and cycle; a free plan; a bad e-mail.
    for (body, code) in [
        (
            json!({"plan": "gold", "payment_method": "paystack_card", "billing_email": "a@b.ng"}),
            "unknown_plan",
        ),
        (
            json!({"plan": "starter", "payment_method": "cash", "billing_email": "a@b.ng"}),
            "invalid_request",
        ),
        (
            json!({"plan": "starter", "payment_method": "paystack_card", "billing_email": "a@b.ng", "billing_cycle": "weekly"}),
            "invalid_request",
        ),
        (
            json!({"plan": "free", "payment_method": "paystack_card", "billing_email": "a@b.ng"}),
            "invalid_plan",
        ),
        (
            json!({"plan": "starter", "payment_method": "paystack_card", "billing_email": "not-an-email"}),
            "invalid_email",
        ),
    ] {
        let res = b
            .app
            .post("/api/v1/billing/subscriptions", &other.token, body)
            .await;
        expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    let res = b
        .app
        .post(
            "/api/v1/billing/subscriptions",
            &other.token,
            json!({"plan": 5}),
        )
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_edit_plans_without_repricing_subscriptions() {
    let b = Billed::start(Db::Sqlite, None).await;
    let t = b.app.signup("price@example.ng").await;
    b.subscribed(&t, "starter").await;
    let op = b.app.operator_token().await;
    let (_, plans) = body(b.app.get("/api/v1/admin/plans", &op).await).await;
    let mut starter = plans["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "starter")
        .unwrap()
        .clone();
    starter["price_kobo"] = json!(2_000_000);
    let (status, v) = body(
        b.app
            .put("/api/v1/admin/plans/starter", &op, starter.clone())
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let card = plan_card(&b.app, "starter").await;
    assert_eq!(card["price_display"], "₦20,000");
    // The running subscription keeps the price it was sold at until it renews.
    assert_eq!(b.current(&b.app, &t).await["price_kobo"], 1_500_000);
    // A new plan; a duplicate; a bad one.
    let mut gold = starter.clone();
    gold["id"] = json!("gold");
    gold["name"] = json!("Gold");
    assert_eq!(
        b.app
            .post("/api/v1/admin/plans", &op, gold.clone())
            .await
            .status(),
        StatusCode::CREATED
    );
    expect_error(
        b.app.post("/api/v1/admin/plans", &op, gold.clone()).await,
        StatusCode::CONFLICT,
        "already_exists",
    )
    .await;
    gold["price_kobo"] = json!(-1);
    expect_error(
        b.app.put("/api/v1/admin/plans/gold", &op, gold).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_plan",
    )
    .await;
    expect_error(
        b.app.put("/api/v1/admin/plans/nope", &op, starter).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

/// Starter → professional on day 11 of a 30-day cycle, then on day 11 of February.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_are_prorated_by_lagos_days() {
    // Paid on 1 Nov (Lagos): the period is 1 Nov – 1 Dec, 30 days.
    let b = Billed::start(Db::Sqlite, Some(at("2026-11-01T09:00:00Z"))).await;
    let t = b.app.signup("prorate@example.ng").await;
    let sub = b.subscribed(&t, "starter").await;
    let id = sub["subscription_id"].as_str().unwrap().to_string();
    let later = b.later(at("2026-11-11T10:00:00Z")).await;
    let path = format!("/api/v1/billing/subscriptions/{id}/change-plan");
    let (status, p) = body(
        later
            .post(
                &path,
                &t.token,
                json!({"plan": "professional", "preview": true}),
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["kind"], "upgrade");
    assert_eq!(p["days_in_period"], 30);
    assert_eq!(p["days_remaining"], 20);
    // 20/30 of ₦15,000 back, 20/30 of ₦45,000 to pay: ₦20,000 now.
    assert_eq!(p["lines"][0]["amount_kobo"], -1_000_000);
    assert_eq!(p["lines"][1]["amount_kobo"], 3_000_000);
    assert_eq!(p["amount_due_kobo"], 2_000_000);
    assert_eq!(p["amount_due_display"], "₦20,000.00");
    assert_eq!(p["status"], "preview");
    assert_eq!(
        b.current(&later, &t).await["plan"],
        "starter",
        "a preview changes nothing"
    );
    // Carried out: charged at once on the saved card.
    let (status, done) = body(
        later
            .post(&path, &t.token, json!({"plan": "professional"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "changed");
    let cur = b.current(&later, &t).await;
    assert_eq!(cur["plan"], "professional");
    assert_eq!(cur["price_kobo"], 4_500_000);
    assert_eq!(cur["next_billing_date"], "2026-12-01", "the period stays");
    let payments = b.payments(&t).await;
    let upgrade = payments.iter().find(|p| p["purpose"] == "upgrade").unwrap();
    assert_eq!(upgrade["amount_kobo"], 2_000_000);
    assert_eq!(upgrade["status"], "success");
    // Downgrading waits for the period end.
    let (status, down) = body(
        later
            .post(&path, &t.token, json!({"plan": "starter"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{down}");
    assert_eq!(down["kind"], "downgrade");
    assert_eq!(down["status"], "scheduled");
    assert_eq!(down["amount_due_kobo"], 0);
    assert_eq!(b.current(&later, &t).await["pending_plan"], "starter");

    // February: paid on 1 Feb, changed on 11 Feb: 18 of 28 days remain.
    let feb = Billed::start(Db::Sqlite, Some(at("2027-02-01T09:00:00Z"))).await;
    let t = feb.app.signup("feb@example.ng").await;
    let sub = feb.subscribed(&t, "starter").await;
    let id = sub["subscription_id"].as_str().unwrap();
    let later = feb.later(at("2027-02-11T12:00:00Z")).await;
    let (_, p) = body(
        later
            .post(
                &format!("/api/v1/billing/subscriptions/{id}/change-plan"),
                &t.token,
                json!({"plan": "professional", "preview": true}),
            )
            .await,
    )
    .await;
    assert_eq!(p["days_in_period"], 28);
    assert_eq!(p["days_remaining"], 18);
    // 1,500,000 × 18/28 = 964,285.71… → 964,286; 4,500,000 × 18/28 = 2,892,857.14… → 2,892,857.
    assert_eq!(p["lines"][0]["amount_kobo"], -964_286);
    assert_eq!(p["lines"][1]["amount_kobo"], 2_892_857);
    assert_eq!(p["amount_due_kobo"], 1_928_571);
}

async fn run_renewals(app: &TestApp) -> Value {
    let report = kobo_server::billing::renewals::run_due(&app.state)
        .await
        .expect("renewal sweep");
    serde_json::to_value(report).unwrap()
}

async fn gateway_status(app: &TestApp, key: &str) -> StatusCode {
    app.chat(
        key,
        json!({"model": "mock-echo", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewals_succeed_and_dunning_suspends_until_paid() {
    // Paid on 3 Nov (Lagos): renews on 3 Dec.
    let b = Billed::start(Db::Sqlite, Some(at("2026-11-03T10:00:00Z"))).await;
    let t = b.app.signup("renew@example.ng").await;
    let key = s(&b.app.create_key(&t, json!({"name": "k"})).await, "key");
    b.subscribed(&t, "starter").await;

    // Nothing is due before the period ends.
    let r = run_renewals(&b.app).await;
    assert_eq!(r["renewed"], 0);

    // 3 Dec 00:30 Lagos: the saved card is charged and the period moves on.
    let dec = b.later(at("2026-12-02T23:30:00Z")).await;
    let r = run_renewals(&dec).await;
    assert_eq!(r["renewed"], 1, "{r}");
    let cur = b.current(&dec, &t).await;
    assert_eq!(cur["status"], "active");
    assert_eq!(cur["next_billing_date"], "2027-01-03");
    let renewals: Vec<_> = b
        .payments(&t)
        .await
        .into_iter()
        .filter(|p| p["purpose"] == "renewal")
        .collect();
    assert_eq!(renewals.len(), 1);
    assert_eq!(renewals[0]["status"], "success");
    assert_eq!(renewals[0]["amount_kobo"], 1_500_000);
    // A second sweep (another replica, a cron run) charges nothing more.
    let r = run_renewals(&dec).await;
    assert_eq!(r["renewed"], 0);

    // The card now declines: 3 Jan fails, retries on 4, 6 and 8 Jan fail too.
    let mut sub = dec
        .state
        .store
        .subscription_by_id(cur["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    sub.authorization_code = Some("AUTH_decline".into());
    dec.state.store.save_subscription(&sub).await.unwrap();
    let steps = [
        ("2027-01-03T00:10:00Z", "retry_scheduled", "active", 1),
        ("2027-01-04T00:10:00Z", "retry_scheduled", "active", 2),
        ("2027-01-06T00:10:00Z", "retry_scheduled", "active", 3),
        ("2027-01-08T00:10:00Z", "past_due", "past_due", 4),
    ];
    for (when, counter, status, attempts) in steps {
        let app = b.later(at(when)).await;
        // Too early for the next step: nothing happens.
        let r = run_renewals(&app).await;
        assert_eq!(r[counter], 1, "{when}: {r}");
        let cur = b.current(&app, &t).await;
        assert_eq!(cur["status"], status, "{when}");
        assert_eq!(cur["renewal_attempts"], attempts, "{when}");
        assert_eq!(
            gateway_status(&app, &key).await,
            StatusCode::OK,
            "{when}: still served"
        );
    }
    let early = b.later(at("2027-01-10T00:10:00Z")).await;
    assert_eq!(
        run_renewals(&early).await["suspended"],
        0,
        "inside the grace period"
    );

    // Seven days after past_due: suspended, and the gateway answers 402.
    let late = b.later(at("2027-01-15T01:00:00Z")).await;
    let r = run_renewals(&late).await;
    assert_eq!(r["suspended"], 1, "{r}");
    assert_eq!(b.current(&late, &t).await["status"], "suspended");
    let res = late
        .chat(
            &key,
            json!({"model": "mock-echo", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    expect_error(res, StatusCode::PAYMENT_REQUIRED, "payment_required").await;

    // The payment link sent at past_due is paid: active at once, for the next period.
    let link = b
        .payments(&t)
        .await
        .into_iter()
        .find(|p| p["purpose"] == "renewal" && p["status"] == "pending")
        .expect("an open renewal payment");
    b.pay(link["reference"].as_str().unwrap()).await;
    let cur = b.current(&late, &t).await;
    assert_eq!(cur["status"], "active", "{cur}");
    assert_eq!(cur["next_billing_date"], "2027-02-03");
    let mut served = StatusCode::PAYMENT_REQUIRED;
    for _ in 0..40 {
        served = gateway_status(&late, &key).await;
        if served == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(served, StatusCode::OK, "the gateway serves again");
    let notes = late
        .state
        .store
        .notifications(t.org_id.parse().unwrap(), "subscription.")
        .await
        .unwrap();
    let kinds: Vec<_> = notes.iter().map(|n| n.kind.as_str()).collect();
    assert!(kinds.contains(&"subscription.past_due"), "{kinds:?}");
    assert!(kinds.contains(&"subscription.suspended"), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_at_period_end_returns_to_free_at_renewal() {
    let b = Billed::start(Db::Sqlite, Some(at("2026-11-03T10:00:00Z"))).await;
    let t = b.app.signup("cancel@example.ng").await;
    let sub = b.subscribed(&t, "starter").await;
    let id = sub["subscription_id"].as_str().unwrap();
    let (status, v) = body(
        b.app
            .post(
                &format!("/api/v1/billing/subscriptions/{id}/cancel"),
                &t.token,
                json!({}),
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["cancel_at_period_end"], true);
    assert_eq!(v["status"], "active");
    let dec = b.later(at("2026-12-03T08:00:00Z")).await;
    let r = run_renewals(&dec).await;
    assert_eq!(r["cancelled"], 1, "{r}");
    assert_eq!(r["renewed"], 0);
    let (_, q) = body(dec.get("/api/v1/quotas", &t.token).await).await;
    assert_eq!(q["plan"], "free");
    assert_eq!(
        dec.get("/api/v1/billing/subscriptions/current", &t.token)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert!(
        b.payments(&t)
            .await
            .iter()
            .all(|p| p["purpose"] != "renewal"),
        "nothing was charged"
    );
}

/// An old checkout paid after a newer subscription replaced it brings nothing back: the
/// payment is flagged for a refund and the organization keeps its plan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paying_a_replaced_checkout_activates_nothing() {
    let b = Billed::start(Db::Sqlite, Some(at("2026-11-03T10:00:00Z"))).await;
    let t = b.app.signup("twice@example.ng").await;
    let first = b.subscribe(&t, "professional", "paystack_card").await;
    let second = b.subscribe(&t, "starter", "paystack_card").await;
    b.pay(first["reference"].as_str().unwrap()).await;
    let cur = b.current(&b.app, &t).await;
    assert_eq!(cur["id"], second["subscription_id"], "{cur}");
    assert_eq!(cur["status"], "pending_payment");
    let (_, q) = body(b.app.get("/api/v1/quotas", &t.token).await).await;
    assert_eq!(q["plan"], "free", "{q}");
    let payments = b.payments(&t).await;
    let old = payments
        .iter()
        .find(|p| p["reference"] == first["reference"])
        .unwrap();
    assert_eq!(old["status"], "flagged", "{old}");
    // The current checkout still works.
    b.pay(second["reference"].as_str().unwrap()).await;
    let cur = b.current(&b.app, &t).await;
    assert_eq!(cur["status"], "active");
    assert_eq!(cur["plan"], "starter");
}

/// Ten copies of a webhook that nobody has applied yet, all at once: exactly one
/// payment settles and one activation happens (both backends).
async fn concurrent_first_deliveries(db: Db) {
    let b = Billed::start_hooked(db, None, false).await;
    let t = b.app.signup("race@example.ng").await;
    let sub = b.subscribe(&t, "starter", "paystack_card").await;
    let reference = sub["reference"].as_str().unwrap();
    let (status, v) = b
        .sim_post(
            &format!("/sim/paystack/{reference}/complete"),
            json!({"outcome": "success"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(b.current(&b.app, &t).await["status"], "pending_payment");
    let list: Value = b
        .http
        .get(format!("http://{}/sim/webhooks", b.sim.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hook = list["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["event"] == "charge.success")
        .expect("the simulator signed a charge.success")
        .clone();
    let url = b.app.url("/api/v1/webhooks/paystack");
    let copies = (0..10).map(|_| {
        b.app
            .client
            .post(&url)
            .header("content-type", "application/json")
            .header(
                "x-paystack-signature",
                hook["header_value"].as_str().unwrap(),
            )
            .body(hook["body"].as_str().unwrap().to_string())
            .send()
    });
    for res in futures::future::join_all(copies).await {
        assert_eq!(res.unwrap().status(), StatusCode::OK);
    }
    let payments = b.payments(&t).await;
    assert_eq!(payments.len(), 1);
    assert_eq!(count(&payments, "status", "success"), 1);
    let applied: Vec<_> = b
        .events()
        .await
        .into_iter()
        .filter(|e| e["event"] == "charge.success" && e["outcome"] == "applied")
        .collect();
    assert_eq!(applied.len(), 1, "{applied:?}");
    let cur = b.current(&b.app, &t).await;
    assert_eq!(cur["status"], "active");
    let notes = b
        .app
        .state
        .store
        .notifications(t.org_id.parse().unwrap(), "subscription.")
        .await
        .unwrap();
    assert!(
        notes
            .iter()
            .filter(|n| n.kind == "subscription.activated")
            .count()
            <= 1,
        "at most one activation notice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_deliveries_apply_once_sqlite() {
    concurrent_first_deliveries(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_deliveries_apply_once_postgres() {
    concurrent_first_deliveries(Db::Postgres).await;
}

/// A fresh install may start from its own plan catalog file instead of the shipped one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plans_file_seeds_a_fresh_install() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plans.json");
    let shipped = include_str!("../../../domain/data/plans.json");
    std::fs::write(
        &path,
        shipped.replace("\"price_kobo\": 1500000", "\"price_kobo\": 1750000"),
    )
    .unwrap();
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.plans_file = Some(path.clone())).await;
    let starter = plan_card(&app, "starter").await;
    assert_eq!(starter["price_display"], "₦17,500");

    // A broken file stops the start with a message naming it.
    std::fs::write(&path, "{\"plans\": []}").unwrap();
    let mut s = kobo_server::Settings::with_data_dir(dir.path());
    s.plans_file = Some(path);
    let err = kobo_server::App::build(s).await.err().expect("refused");
    assert!(format!("{err:#}").contains("no `free` plan"), "{err:#}");
}
