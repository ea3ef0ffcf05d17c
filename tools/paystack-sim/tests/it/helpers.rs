use std::process::Stdio;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use kobo_domain::money::Kobo;
use kobo_payments::flutterwave::{FlutterwaveClient, PaymentMethod, PaymentRequest};
use kobo_payments::paystack::{InitializeRequest, PaystackClient};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const PAYSTACK_SECRET: &str = "sk_test_x";
pub const FLUTTERWAVE_SECRET: &str = "FLWSECK_TEST-x";
pub const FLUTTERWAVE_HASH: &str = "myhash";

/// One webhook as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    /// `paystack` or `flutterwave` (the last path segment).
    pub endpoint: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// A webhook receiver on `127.0.0.1:0`: `POST /webhooks/{provider}`.
#[derive(Clone)]
pub struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    answer: Arc<AtomicU16>,
    pub address: String,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(AtomicU16::new(200));
        let app = Router::new()
            .route("/webhooks/{provider}", post(receive))
            .with_state((received.clone(), answer.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            received,
            answer,
            address,
        }
    }

    pub fn paystack_url(&self) -> String {
        format!("http://{}/webhooks/paystack", self.address)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().clone()
    }

    /// Answer every later webhook with this status.
    pub fn answer_with(&self, status: u16) {
        self.answer.store(status, Ordering::SeqCst);
    }
}

type ReceiverState = (Arc<Mutex<Vec<Received>>>, Arc<AtomicU16>);

async fn receive(
    State((received, answer)): State<ReceiverState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    received.lock().push(Received {
        endpoint: provider,
        headers,
        body,
    });
    StatusCode::from_u16(answer.load(Ordering::SeqCst)).unwrap()
}

/// A running simulator; killed when dropped.
pub struct Sim {
    _child: Child,
    pub address: String,
    http: reqwest::Client,
}

impl Sim {
    /// Start the binary, sending webhooks to `receiver`.
    pub async fn start(receiver: &Receiver) -> Sim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kobo-paystack-sim"))
            .args(["--listen", "127.0.0.1:0"])
            .args(["--webhook-url", &receiver.paystack_url()])
            .args(["--paystack-secret", PAYSTACK_SECRET])
            .args(["--flutterwave-secret", FLUTTERWAVE_SECRET])
            .args(["--flutterwave-hash", FLUTTERWAVE_HASH])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start kobo-paystack-sim");
        let stdout = child.stdout.take().expect("stdout");
        let line = BufReader::new(stdout)
            .lines()
            .next_line()
            .await
            .expect("read the first line")
            .expect("a first line");
        let address = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Sim {
            _child: child,
            address,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn paystack(&self) -> PaystackClient {
        PaystackClient::new(&self.url(""), PAYSTACK_SECRET).unwrap()
    }

    pub fn flutterwave(&self) -> FlutterwaveClient {
        FlutterwaveClient::new(&self.url("/flw/v3"), FLUTTERWAVE_SECRET).unwrap()
    }

    /// POST JSON to a simulator path; the status and the JSON answer.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let answer = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap())
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    pub fn raw(&self) -> &reqwest::Client {
        &self.http
    }

    /// `GET /sim/webhooks`.
    pub async fn webhooks(&self) -> Vec<Value> {
        let list: Value = self.get("/sim/webhooks").await.json().await.unwrap();
        list["webhooks"].as_array().unwrap().clone()
    }
}

/// A fresh simulator and receiver.
pub async fn start() -> (Sim, Receiver) {
    let receiver = Receiver::start().await;
    let sim = Sim::start(&receiver).await;
    (sim, receiver)
}

pub fn init_request(reference: &str, amount: Kobo) -> InitializeRequest {
    InitializeRequest {
        email: "ada@example.ng".into(),
        amount,
        reference: reference.into(),
        callback_url: "http://kobo.test/api/v1/billing/callback".into(),
        metadata: serde_json::json!({"org_id": "org_1", "invoice_id": "inv_1"}),
        channels: Some(vec!["card".into()]),
    }
}

pub fn payment_request(tx_ref: &str, amount: Kobo, method: PaymentMethod) -> PaymentRequest {
    PaymentRequest {
        tx_ref: tx_ref.into(),
        amount,
        currency: "NGN".into(),
        redirect_url: "http://kobo.test/api/v1/billing/callback".into(),
        customer_email: "ada@example.ng".into(),
        method,
        meta: serde_json::json!({"org_id": "org_1"}),
    }
}
