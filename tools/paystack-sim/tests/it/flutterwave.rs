use kobo_domain::money::Kobo;
use kobo_payments::flutterwave::{
    verify_hash, FlwKnownEvent, FlwStatus, PaymentMethod, WebhookEvent, HASH_HEADER,
    USSD_MAX_AMOUNT,
};
use kobo_payments::PaymentError;
use serde_json::json;

use crate::helpers::{payment_request, start, FLUTTERWAVE_HASH};

#[tokio::test]
async fn initiate_complete_verif_hash_webhook_then_verify_exact_kobo() {
    let (sim, receiver) = start().await;
    let client = sim.flutterwave();

    // ₦45,000.50: goes out as "45000.50", comes back as the number 45000.5.
    let link = client
        .initiate(payment_request(
            "flw_tx_1",
            Kobo(4_500_050),
            PaymentMethod::Card,
        ))
        .await
        .unwrap();
    assert_eq!(link.link, sim.url("/flw/checkout/flw_tx_1"));
    let page = sim.get("/flw/checkout/flw_tx_1").await;
    assert!(page.text().await.unwrap().contains("₦45,000.50"));

    let (status, done) = sim
        .post(
            "/sim/flutterwave/flw_tx_1/complete",
            json!({"outcome": "success"}),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    let id = done["transaction_id"].as_u64().unwrap();

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let hook = &received[0];
    assert_eq!(hook.endpoint, "flutterwave");
    assert!(verify_hash(FLUTTERWAVE_HASH, hook.header(HASH_HEADER)));
    assert!(!verify_hash("otherhash", hook.header(HASH_HEADER)));
    let text = std::str::from_utf8(&hook.body).unwrap();
    assert!(text.contains(r#""amount":45000.5,"#), "{text}");

    let event = WebhookEvent::parse(&hook.body).unwrap();
    assert_eq!(event.identity(), format!("charge.completed:{id}"));
    let FlwKnownEvent::ChargeCompleted(charge) = event.typed().unwrap() else {
        panic!("expected charge.completed");
    };
    assert_eq!(charge.amount, Kobo(4_500_050));
    assert_eq!(charge.status, FlwStatus::Successful);

    let verified = client.verify(id).await.unwrap();
    assert_eq!(verified.id, id);
    assert!(id > 1 << 53);
    assert_eq!(verified.tx_ref, "flw_tx_1");
    assert_eq!(verified.amount, Kobo(4_500_050));
    assert_eq!(verified.currency, "NGN");
    assert_eq!(verified.payment_type.as_deref(), Some("card"));
    assert_eq!(verified.customer.email.as_deref(), Some("ada@example.ng"));
    assert!(verified.pays_at_least("flw_tx_1", "NGN", Kobo(4_500_050)));
}

#[tokio::test]
async fn failed_charges_also_arrive_as_charge_completed() {
    let (sim, receiver) = start().await;
    let client = sim.flutterwave();
    client
        .initiate(payment_request(
            "flw_fail",
            Kobo(100_000),
            PaymentMethod::BankTransfer,
        ))
        .await
        .unwrap();
    let (_, done) = sim
        .post(
            "/sim/flutterwave/flw_fail/complete",
            json!({"outcome": "failed"}),
        )
        .await;
    let id = done["transaction_id"].as_u64().unwrap();
    let hook = receiver.received().pop().unwrap();
    let event = WebhookEvent::parse(&hook.body).unwrap();
    assert_eq!(event.event, "charge.completed");
    let FlwKnownEvent::ChargeCompleted(charge) = event.typed().unwrap() else {
        panic!("expected charge.completed");
    };
    assert_eq!(charge.status, FlwStatus::Failed);
    let verified = client.verify(id).await.unwrap();
    assert_eq!(verified.status, FlwStatus::Failed);
    assert_eq!(verified.payment_type.as_deref(), Some("bank_transfer"));
    assert!(!verified.pays_at_least("flw_fail", "NGN", Kobo(100_000)));
}

#[tokio::test]
async fn ussd_above_the_limit_never_reaches_the_provider() {
    let (sim, _receiver) = start().await;
    let client = sim.flutterwave();
    let over = payment_request(
        "ussd_big",
        Kobo(USSD_MAX_AMOUNT.as_i64() + 1),
        PaymentMethod::Ussd,
    );
    assert!(matches!(
        client.initiate(over).await,
        Err(PaymentError::UssdLimitExceeded { .. })
    ));
    // The simulator never heard of it.
    let (status, _) = sim
        .post(
            "/sim/flutterwave/ussd_big/complete",
            json!({"outcome": "success"}),
        )
        .await;
    assert_eq!(status, 404);

    client
        .initiate(payment_request(
            "ussd_max",
            USSD_MAX_AMOUNT,
            PaymentMethod::Ussd,
        ))
        .await
        .unwrap();
    let (_, done) = sim
        .post(
            "/sim/flutterwave/ussd_max/complete",
            json!({"outcome": "success"}),
        )
        .await;
    let verified = client
        .verify(done["transaction_id"].as_u64().unwrap())
        .await
        .unwrap();
    assert_eq!(verified.amount, USSD_MAX_AMOUNT);
    assert_eq!(verified.payment_type.as_deref(), Some("ussd"));
}

#[tokio::test]
async fn paid_amounts_are_read_exactly_and_sub_kobo_amounts_refused() {
    let (sim, _receiver) = start().await;
    let client = sim.flutterwave();
    for (tx_ref, paid, expected) in [
        ("amt_1", "0.29", Some(Kobo(29))),
        ("amt_2", "1.15", Some(Kobo(115))),
        ("amt_3", "100.005", None),
    ] {
        client
            .initiate(payment_request(tx_ref, Kobo(100), PaymentMethod::Card))
            .await
            .unwrap();
        let (status, done) = sim
            .post(
                &format!("/sim/flutterwave/{tx_ref}/complete"),
                json!({"outcome": "success", "amount": paid}),
            )
            .await;
        assert_eq!(status, 200, "{done}");
        let result = client
            .verify(done["transaction_id"].as_u64().unwrap())
            .await;
        match expected {
            Some(kobo) => assert_eq!(result.unwrap().amount, kobo, "{paid}"),
            None => assert!(
                matches!(result, Err(PaymentError::Protocol { .. })),
                "{paid} must be refused, got {result:?}"
            ),
        }
    }
}

#[tokio::test]
async fn flutterwave_refusals() {
    let (sim, _receiver) = start().await;
    let client = sim.flutterwave();
    client
        .initiate(payment_request(
            "dup_tx",
            Kobo(100_000),
            PaymentMethod::Card,
        ))
        .await
        .unwrap();
    assert!(matches!(
        client
            .initiate(payment_request(
                "dup_tx",
                Kobo(100_000),
                PaymentMethod::Card
            ))
            .await,
        Err(PaymentError::Provider {
            http_status: 400,
            ..
        })
    ));
    assert!(matches!(
        client.verify(12345).await,
        Err(PaymentError::Provider {
            http_status: 400,
            ..
        })
    ));
    let wrong_key = kobo_payments::flutterwave::FlutterwaveClient::new(
        &sim.url("/flw/v3"),
        "FLWSECK_TEST-wrong",
    )
    .unwrap();
    assert!(matches!(
        wrong_key
            .initiate(payment_request("tx_2", Kobo(100_000), PaymentMethod::Card))
            .await,
        Err(PaymentError::Provider {
            http_status: 401,
            ..
        })
    ));
}
