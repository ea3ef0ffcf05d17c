use kobo_domain::money::Kobo;
use kobo_payments::paystack::{verify_signature, WebhookEvent, SIGNATURE_HEADER};
use serde_json::json;

use crate::helpers::{init_request, start, PAYSTACK_SECRET};

#[tokio::test]
async fn replay_resends_identical_bytes() {
    let (sim, receiver) = start().await;
    sim.paystack()
        .initialize(init_request("replay-1", Kobo(250_000)))
        .await
        .unwrap();
    sim.post(
        "/sim/paystack/replay-1/complete",
        json!({"outcome": "success"}),
    )
    .await;

    let (status, replayed) = sim.post("/sim/webhooks/replay/1", json!({})).await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["n"], 2);
    assert_eq!(replayed["replay_of"], 1);

    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].body, received[1].body, "byte for byte");
    assert_eq!(
        received[0].header(SIGNATURE_HEADER),
        received[1].header(SIGNATURE_HEADER)
    );
    assert!(verify_signature(
        PAYSTACK_SECRET.as_bytes(),
        &received[1].body,
        received[1].header(SIGNATURE_HEADER)
    ));
    let first = WebhookEvent::parse(&received[0].body).unwrap();
    let second = WebhookEvent::parse(&received[1].body).unwrap();
    assert_eq!(first.identity(), second.identity(), "a replay dedupes");

    let log = sim.webhooks().await;
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["n"], 1);
    assert_eq!(log[0]["event"], "charge.success");
    assert_eq!(log[0]["provider"], "paystack");
    assert_eq!(log[1]["replay_of"], 1);
    assert_eq!(log[0]["body"], log[1]["body"]);

    let (status, _) = sim.post("/sim/webhooks/replay/9", json!({})).await;
    assert_eq!(status, 404);
    let (status, _) = sim.post("/sim/webhooks/replay/0", json!({})).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_receivers_status_is_recorded_and_not_retried() {
    let (sim, receiver) = start().await;
    receiver.answer_with(500);
    sim.paystack()
        .initialize(init_request("refused-1", Kobo(250_000)))
        .await
        .unwrap();
    let (_, done) = sim
        .post(
            "/sim/paystack/refused-1/complete",
            json!({"outcome": "success"}),
        )
        .await;
    assert_eq!(done["webhook"]["response_status"], 500);
    assert_eq!(receiver.received().len(), 1, "no automatic retry");

    receiver.answer_with(200);
    let (_, replayed) = sim.post("/sim/webhooks/replay/1", json!({})).await;
    assert_eq!(replayed["response_status"], 200);
    assert_eq!(receiver.received().len(), 2);
}
