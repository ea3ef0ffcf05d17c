//! The pub/sub invalidation bus.

use std::time::Duration;

use futures::StreamExt;
use kobo_limits::{BusEvent, RedisBus};

use crate::support::{namespace, OwnRedis, SHARED_REDIS_URL};

const WAIT: Duration = Duration::from_secs(10);

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test]
async fn published_messages_reach_subscribers_of_the_same_namespace_only() {
    let ns = namespace();
    let publisher = RedisBus::connect(SHARED_REDIS_URL, &ns).await.unwrap();
    let listener = RedisBus::connect(SHARED_REDIS_URL, &ns).await.unwrap();
    let stranger = RedisBus::connect(SHARED_REDIS_URL, &namespace())
        .await
        .unwrap();
    assert_eq!(publisher.channel(), format!("kobo:{ns}:bus"));

    let mut subscription = listener.subscribe();
    assert_eq!(
        within("the subscription", subscription.next_event()).await,
        Some(BusEvent::Subscribed)
    );
    stranger.publish("revoked:other").await.unwrap();
    assert_eq!(publisher.publish("revoked:k1").await.unwrap(), 1);
    publisher.publish("revoked:k2").await.unwrap();
    // As a Stream of texts; the other namespace's message never arrives.
    assert_eq!(
        within("a message", subscription.next()).await.as_deref(),
        Some("revoked:k1")
    );
    assert_eq!(
        within("a message", subscription.recv()).await.as_deref(),
        Some("revoked:k2")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_come_back_after_redis_restarts() {
    let mut server = OwnRedis::start().await;
    let ns = namespace();
    let bus = RedisBus::connect_with_timeout(&server.url(), &ns, Duration::from_millis(500))
        .await
        .unwrap();
    let mut subscription = bus.subscribe();
    assert_eq!(
        within("the subscription", subscription.next_event()).await,
        Some(BusEvent::Subscribed)
    );
    bus.publish("before").await.unwrap();
    assert_eq!(
        within("a message", subscription.recv()).await.as_deref(),
        Some("before")
    );

    server.kill().await;
    assert!(bus.publish("lost").await.unwrap_err().is_unavailable());
    server.restart().await;
    assert_eq!(
        within("the resubscription", subscription.next_event()).await,
        Some(BusEvent::Resubscribed)
    );
    bus.publish("after").await.unwrap();
    assert_eq!(
        within("a message", subscription.recv()).await.as_deref(),
        Some("after")
    );
}
