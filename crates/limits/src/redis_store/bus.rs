//! Cross-replica invalidation messages over Redis pub/sub.
//!
//! Pub/sub delivers only to subscribers connected at the time, so a subscriber that lost
//! its connection may have missed messages. [`Subscription`] reconnects by itself and
//! then reports [`BusEvent::Resubscribed`]: a cache fed by the bus should drop everything
//! it holds at that point (or at least shorten its TTLs).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt;
use redis::aio::ConnectionManager;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{bounded, client, key_prefix, manager, Retry};
use crate::types::LimiterError;

/// Timeout used by [`RedisBus::connect`].
pub const DEFAULT_BUS_TIMEOUT: Duration = Duration::from_secs(2);
const RECONNECT_MIN: Duration = Duration::from_millis(50);
const RECONNECT_MAX: Duration = Duration::from_secs(1);
const BUFFER: usize = 1024;

/// What a [`Subscription`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusEvent {
    /// The first subscription is in place: messages published from now on arrive.
    Subscribed,
    /// The subscription was lost and is back; messages sent in between were missed.
    Resubscribed,
    /// A message published on the bus.
    Message(String),
}

/// Publishes to, and subscribes to, the channel `kobo:{namespace}:bus`.
pub struct RedisBus {
    client: redis::Client,
    conn: ConnectionManager,
    channel: String,
    op_timeout: Duration,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl RedisBus {
    /// Connects with [`DEFAULT_BUS_TIMEOUT`]; see [`connect_with_timeout`](Self::connect_with_timeout).
    pub async fn connect(url: &str, namespace: &str) -> Result<Self, LimiterError> {
        Self::connect_with_timeout(url, namespace, DEFAULT_BUS_TIMEOUT).await
    }

    /// Connects the publishing side (fails if Redis cannot be reached now);
    /// `op_timeout` bounds each publish and each subscription attempt.
    pub async fn connect_with_timeout(
        url: &str,
        namespace: &str,
        op_timeout: Duration,
    ) -> Result<Self, LimiterError> {
        let channel = format!("{}bus", key_prefix(namespace)?);
        let client = client(url)?;
        let conn = manager(client.clone(), op_timeout).await?;
        Ok(Self {
            client,
            conn,
            channel,
            op_timeout,
        })
    }

    /// The pub/sub channel name.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Publishes `msg` to every replica subscribed now; returns how many received it.
    pub async fn publish(&self, msg: &str) -> Result<usize, LimiterError> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(&self.channel).arg(msg);
        let cmd = &cmd;
        bounded(
            &self.conn,
            self.op_timeout,
            "publish",
            Retry::Idempotent,
            |mut conn| async move { cmd.query_async(&mut conn).await },
        )
        .await
    }

    /// Starts a subscription that reconnects by itself until it is dropped.
    ///
    /// Must be called inside a Tokio runtime. The background task belongs to the
    /// returned [`Subscription`] and stops when it is dropped. Wait for
    /// [`BusEvent::Subscribed`] (see [`Subscription::next_event`]) before relying on
    /// delivery; the [`Stream`](futures::Stream) of messages skips those events.
    pub fn subscribe(&self) -> Subscription {
        let (tx, rx) = mpsc::channel(BUFFER);
        let task = tokio::spawn(pump(
            self.client.clone(),
            self.channel.clone(),
            self.op_timeout,
            tx,
        ));
        Subscription { rx, task }
    }
}

/// A live subscription; a [`Stream`](futures::Stream) of message texts.
pub struct Subscription {
    rx: mpsc::Receiver<BusEvent>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

impl Subscription {
    /// The next event, subscription changes included. Never `None` while the
    /// subscription lives (the task only stops when it is dropped).
    pub async fn next_event(&mut self) -> Option<BusEvent> {
        self.rx.recv().await
    }

    /// The next message, skipping subscription events.
    pub async fn recv(&mut self) -> Option<String> {
        loop {
            match self.rx.recv().await? {
                BusEvent::Message(text) => return Some(text),
                BusEvent::Subscribed | BusEvent::Resubscribed => {}
            }
        }
    }
}

impl futures::Stream for Subscription {
    type Item = String;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
        loop {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(BusEvent::Message(text))) => return Poll::Ready(Some(text)),
                Poll::Ready(Some(_)) => continue,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Keeps one subscription open, forwarding messages, until the receiver goes away.
async fn pump(
    client: redis::Client,
    channel: String,
    op_timeout: Duration,
    tx: mpsc::Sender<BusEvent>,
) {
    let mut first = true;
    let mut delay = RECONNECT_MIN;
    loop {
        match tokio::time::timeout(op_timeout, open(&client, &channel)).await {
            Ok(Ok(mut messages)) => {
                delay = RECONNECT_MIN;
                let event = if first {
                    BusEvent::Subscribed
                } else {
                    BusEvent::Resubscribed
                };
                first = false;
                if tx.send(event).await.is_err() {
                    return;
                }
                while let Some(msg) = messages.next().await {
                    match msg.get_payload::<String>() {
                        Ok(text) => {
                            if tx.send(BusEvent::Message(text)).await.is_err() {
                                return;
                            }
                        }
                        Err(err) => {
                            tracing::warn!(%channel, error = %err, "ignored a bus message that is not text");
                        }
                    }
                }
                tracing::warn!(%channel, "lost the Redis bus subscription; reconnecting");
            }
            Ok(Err(err)) => {
                tracing::debug!(%channel, error = %err, "could not subscribe to the Redis bus");
            }
            Err(_) => {
                tracing::debug!(%channel, "subscribing to the Redis bus timed out");
            }
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(jittered(delay)).await;
        delay = (delay * 2).min(RECONNECT_MAX);
    }
}

async fn open(
    client: &redis::Client,
    channel: &str,
) -> redis::RedisResult<redis::aio::PubSubStream> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    Ok(pubsub.into_on_message())
}

/// `delay` plus up to half again, so replicas do not reconnect in lockstep.
fn jittered(delay: Duration) -> Duration {
    use rand::Rng;
    let half = u64::try_from(delay.as_millis() / 2).unwrap_or(0);
    delay + Duration::from_millis(rand::thread_rng().gen_range(0..=half))
}
