use kobo_domain::money::Kobo;
use kobo_payments::paystack::{
    verify_signature, ChargeAuthorization, KnownEvent, RefundStatus, TransactionStatus,
    WebhookEvent, SIGNATURE_HEADER,
};
use kobo_payments::PaymentError;
use serde_json::{json, Value};

use crate::helpers::{init_request, start, PAYSTACK_SECRET};

fn charge(code: &str, reference: &str, amount: Kobo) -> ChargeAuthorization {
    ChargeAuthorization {
        email: "ada@example.ng".into(),
        amount,
        authorization_code: code.into(),
        reference: reference.into(),
        metadata: json!({"invoice_id": "inv_7", "attempt": 1}),
    }
}

#[tokio::test]
async fn initialize_complete_signed_webhook_then_verify() {
    let (sim, receiver) = start().await;
    let client = sim.paystack();

    let init = client
        .initialize(init_request("kobo-ref-1", Kobo(4_500_000)))
        .await
        .unwrap();
    assert_eq!(init.reference, "kobo-ref-1");
    assert_eq!(
        init.authorization_url,
        sim.url(&format!("/checkout/{}", init.access_code))
    );
    let page = sim.get(&format!("/checkout/{}", init.access_code)).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("₦45,000.00"));

    // Not paid yet.
    let pending = client.verify("kobo-ref-1").await.unwrap();
    assert_eq!(pending.status, TransactionStatus::Abandoned);
    assert!(!pending.pays_at_least("NGN", Kobo(4_500_000)));

    let (status, done) = sim
        .post(
            "/sim/paystack/kobo-ref-1/complete",
            json!({"outcome": "success"}),
        )
        .await;
    assert_eq!(status, 200, "{done}");

    // The webhook arrived before the control call answered.
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let hook = &received[0];
    assert_eq!(hook.endpoint, "paystack");
    assert!(verify_signature(
        PAYSTACK_SECRET.as_bytes(),
        &hook.body,
        hook.header(SIGNATURE_HEADER)
    ));
    assert!(!verify_signature(
        b"sk_test_wrong",
        &hook.body,
        hook.header(SIGNATURE_HEADER)
    ));
    assert_eq!(
        done["webhook"]["body"].as_str().unwrap().as_bytes(),
        &hook.body[..]
    );
    assert_eq!(done["webhook"]["response_status"], 200);

    let event = WebhookEvent::parse(&hook.body).unwrap();
    let KnownEvent::ChargeSuccess(paid) = event.typed().unwrap() else {
        panic!("expected charge.success, got {}", event.event);
    };
    assert_eq!(event.identity(), format!("charge.success:{}", paid.id));
    assert_eq!(paid.amount, Kobo(4_500_000));
    assert!(paid.id > 1 << 53, "the simulator hands out ids beyond 2^53");

    let verified = client.verify("kobo-ref-1").await.unwrap();
    assert_eq!(verified.status, TransactionStatus::Success);
    assert_eq!(verified.id, paid.id);
    assert_eq!(verified.amount, Kobo(4_500_000));
    assert_eq!(verified.requested_amount, Some(Kobo(4_500_000)));
    assert_eq!(verified.currency, "NGN");
    assert_eq!(verified.customer_email.as_deref(), Some("ada@example.ng"));
    assert_eq!(
        verified.metadata,
        json!({"org_id": "org_1", "invoice_id": "inv_1"})
    );
    assert!(verified.paid_at.is_some());
    assert!(verified.pays_at_least("NGN", Kobo(4_500_000)));
    let auth = verified.authorization.unwrap();
    assert!(auth.reusable);
    assert!(auth.authorization_code.starts_with("AUTH_"));
    assert_eq!(auth.last4.as_deref(), Some("4081"));

    // A paid checkout cannot be paid again.
    let (status, _) = sim
        .post(
            "/sim/paystack/kobo-ref-1/complete",
            json!({"outcome": "success"}),
        )
        .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn overrides_underpayment_and_failure() {
    let (sim, receiver) = start().await;
    let client = sim.paystack();
    client
        .initialize(init_request("under-1", Kobo(4_500_000)))
        .await
        .unwrap();
    let (status, _) = sim
        .post(
            "/sim/paystack/under-1/complete",
            json!({"outcome": "success", "amount": 4_000_000, "currency": "USD"}),
        )
        .await;
    assert_eq!(status, 200);
    let t = client.verify("under-1").await.unwrap();
    assert_eq!(t.status, TransactionStatus::Success);
    assert_eq!(t.amount, Kobo(4_000_000));
    assert_eq!(t.requested_amount, Some(Kobo(4_500_000)));
    assert_eq!(t.currency, "USD");
    assert!(!t.pays_at_least("NGN", Kobo(4_500_000)));

    client
        .initialize(init_request("fail-1", Kobo(10_000)))
        .await
        .unwrap();
    let (status, _) = sim
        .post(
            "/sim/paystack/fail-1/complete",
            json!({"outcome": "failed"}),
        )
        .await;
    assert_eq!(status, 200);
    let hook = receiver.received().pop().unwrap();
    let event = WebhookEvent::parse(&hook.body).unwrap();
    assert_eq!(event.event, "charge.failed");
    assert!(matches!(
        event.typed().unwrap(),
        KnownEvent::ChargeFailed(_)
    ));
    assert_eq!(
        client.verify("fail-1").await.unwrap().status,
        TransactionStatus::Failed
    );

    // A failed checkout may be retried and paid.
    let (status, _) = sim
        .post(
            "/sim/paystack/fail-1/complete",
            json!({"outcome": "success"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        client.verify("fail-1").await.unwrap().status,
        TransactionStatus::Success
    );

    let (status, _) = sim
        .post("/sim/paystack/nope/complete", json!({"outcome": "success"}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = sim
        .post("/sim/paystack/fail-1/complete", json!({"outcome": "maybe"}))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn initialize_refusals() {
    let (sim, _receiver) = start().await;
    let client = sim.paystack();
    client
        .initialize(init_request("dup-1", Kobo(10_000)))
        .await
        .unwrap();
    match client.initialize(init_request("dup-1", Kobo(10_000))).await {
        Err(PaymentError::Provider {
            http_status,
            message,
            ..
        }) => {
            assert_eq!(http_status, 400);
            assert_eq!(message, "Duplicate Transaction Reference");
        }
        other => panic!("expected a duplicate reference error, got {other:?}"),
    }

    let wrong_key =
        kobo_payments::paystack::PaystackClient::new(&sim.url(""), "sk_test_wrong").unwrap();
    match wrong_key.verify("dup-1").await {
        Err(PaymentError::Provider { http_status, .. }) => assert_eq!(http_status, 401),
        other => panic!("expected 401, got {other:?}"),
    }
    assert!(matches!(
        client.verify("unknown-ref").await,
        Err(PaymentError::Provider {
            http_status: 400,
            ..
        })
    ));

    // Raw requests: the validation the client does not repeat.
    let post = |body: Value| {
        sim.raw()
            .post(sim.url("/transaction/initialize"))
            .bearer_auth(PAYSTACK_SECRET)
            .json(&body)
            .send()
    };
    let answer = post(json!({"email": "a@b.co", "amount": 99}))
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    assert_eq!(
        answer.json::<Value>().await.unwrap()["message"],
        "Invalid Amount Sent"
    );
    let answer = post(json!({"email": "a@b.co", "amount": 150.5}))
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let answer = post(json!({"email": "not-an-email", "amount": 10000}))
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let answer = post(json!({"email": "a@b.co", "amount": 10000, "reference": "bad ref!"}))
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    // The documented form: amount as a string; no reference → one is generated.
    let answer = post(json!({"email": "a@b.co", "amount": "20000"}))
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["status"], true);
    assert!(!body["data"]["reference"].as_str().unwrap().is_empty());
    let no_auth = sim
        .raw()
        .post(sim.url("/transaction/initialize"))
        .json(&json!({"email": "a@b.co", "amount": 10000}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_auth.status(), 401);
}

#[tokio::test]
async fn charge_authorization_test_codes() {
    let (sim, receiver) = start().await;
    let client = sim.paystack();

    let ok = client
        .charge_authorization(charge("AUTH_success", "inv-7-a1", Kobo(1_500_000)))
        .await
        .unwrap();
    assert_eq!(ok.status, TransactionStatus::Success);
    assert_eq!(ok.amount, Kobo(1_500_000));
    assert_eq!(ok.metadata["invoice_id"], "inv_7");
    let hook = receiver.received().pop().unwrap();
    assert!(verify_signature(
        PAYSTACK_SECRET.as_bytes(),
        &hook.body,
        hook.header(SIGNATURE_HEADER)
    ));
    assert_eq!(
        WebhookEvent::parse(&hook.body).unwrap().event,
        "charge.success"
    );

    for (code, reference, reason) in [
        ("AUTH_decline", "inv-7-a2", "Declined"),
        ("AUTH_insufficient", "inv-7-a3", "Insufficient Funds"),
    ] {
        let t = client
            .charge_authorization(charge(code, reference, Kobo(1_500_000)))
            .await
            .unwrap();
        assert_eq!(t.status, TransactionStatus::Failed, "{code}");
        assert_eq!(t.gateway_response.as_deref(), Some(reason));
        let hook = receiver.received().pop().unwrap();
        let event = WebhookEvent::parse(&hook.body).unwrap();
        assert_eq!(event.event, "charge.failed");
        let KnownEvent::ChargeFailed(failed) = event.typed().unwrap() else {
            panic!("not typed as charge.failed");
        };
        assert_eq!(failed.reference, reference);
        assert_eq!(
            client.verify(reference).await.unwrap().status,
            TransactionStatus::Failed
        );
    }

    // The same reference cannot be charged twice.
    assert!(matches!(
        client
            .charge_authorization(charge("AUTH_success", "inv-7-a1", Kobo(1_500_000)))
            .await,
        Err(PaymentError::Provider {
            http_status: 400,
            ..
        })
    ));
    assert!(matches!(
        client
            .charge_authorization(charge("AUTH_unknown", "inv_7_a9", Kobo(1_500_000)))
            .await,
        Err(PaymentError::Provider {
            http_status: 400,
            ..
        })
    ));
}

#[tokio::test]
async fn an_authorization_from_a_payment_can_be_charged_again() {
    let (sim, _receiver) = start().await;
    let client = sim.paystack();
    client
        .initialize(init_request("first-pay", Kobo(4_500_000)))
        .await
        .unwrap();
    sim.post(
        "/sim/paystack/first-pay/complete",
        json!({"outcome": "success"}),
    )
    .await;
    let code = client
        .verify("first-pay")
        .await
        .unwrap()
        .authorization
        .unwrap()
        .authorization_code;

    let renewal = client
        .charge_authorization(charge(&code, "renewal-1", Kobo(4_500_000)))
        .await
        .unwrap();
    assert_eq!(renewal.status, TransactionStatus::Success);
    assert_eq!(renewal.authorization.unwrap().authorization_code, code);

    let mut someone_else = charge(&code, "renewal-2", Kobo(4_500_000));
    someone_else.email = "eve@example.ng".into();
    assert!(matches!(
        client.charge_authorization(someone_else).await,
        Err(PaymentError::Provider {
            http_status: 400,
            ..
        })
    ));
}

#[tokio::test]
async fn refunds_send_refund_processed() {
    let (sim, receiver) = start().await;
    let client = sim.paystack();
    let paid = client
        .charge_authorization(charge("AUTH_success", "to-refund", Kobo(1_000_000)))
        .await
        .unwrap();

    let partial = client
        .refund("to-refund", Some(Kobo(400_000)))
        .await
        .unwrap();
    assert_eq!(partial.amount, Kobo(400_000));
    assert_eq!(partial.status, RefundStatus::Pending);
    assert_eq!(partial.transaction_reference.as_deref(), Some("to-refund"));
    assert_eq!(partial.transaction_id, Some(paid.id));
    let hook = receiver.received().pop().unwrap();
    assert!(verify_signature(
        PAYSTACK_SECRET.as_bytes(),
        &hook.body,
        hook.header(SIGNATURE_HEADER)
    ));
    let event = WebhookEvent::parse(&hook.body).unwrap();
    let KnownEvent::RefundProcessed(processed) = event.typed().unwrap() else {
        panic!("expected refund.processed, got {}", event.event);
    };
    assert_eq!(processed.amount, Kobo(400_000));
    assert_eq!(processed.status, RefundStatus::Processed);
    assert_eq!(
        processed.transaction_reference.as_deref(),
        Some("to-refund")
    );
    assert_eq!(event.identity(), format!("refund.processed:{}", partial.id));
    assert_eq!(
        client.verify("to-refund").await.unwrap().status,
        TransactionStatus::Success
    );

    // The rest, by transaction id; then the transaction is reversed.
    let rest = client.refund(&paid.id.to_string(), None).await.unwrap();
    assert_eq!(rest.amount, Kobo(600_000));
    assert_ne!(rest.id, partial.id);
    assert_eq!(
        client.verify("to-refund").await.unwrap().status,
        TransactionStatus::Reversed
    );
    assert!(matches!(
        client.refund("to-refund", Some(Kobo(1))).await,
        Err(PaymentError::Provider {
            http_status: 400,
            ..
        })
    ));
    assert!(matches!(
        client.refund("never-existed", None).await,
        Err(PaymentError::Provider { .. })
    ));
}

#[tokio::test]
async fn the_checkout_page_pays_and_redirects_to_the_callback() {
    let (sim, receiver) = start().await;
    let client = sim.paystack();
    let init = client
        .initialize(init_request("browser-1", Kobo(150_000)))
        .await
        .unwrap();
    let answer = sim
        .raw()
        .post(sim.url(&format!("/checkout/{}/pay", init.access_code)))
        .form(&[("outcome", "success")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(
        answer.headers()["location"],
        "http://kobo.test/api/v1/billing/callback?trxref=browser-1&reference=browser-1"
    );
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(
        client.verify("browser-1").await.unwrap().status,
        TransactionStatus::Success
    );
}

#[tokio::test]
async fn an_unreachable_paystack_is_unavailable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client =
        kobo_payments::paystack::PaystackClient::new(&format!("http://127.0.0.1:{port}"), "sk")
            .unwrap();
    let err = client.verify("r").await.unwrap_err();
    assert!(matches!(err, PaymentError::Unavailable { .. }), "{err:?}");
}
