//! Redis plumbing shared by [`RedisLimiter`](limiter::RedisLimiter) and
//! [`RedisBus`](bus::RedisBus): connecting, bounding every call in time, and sorting
//! Redis errors into [`LimiterError`] variants.

pub(crate) mod bus;
pub(crate) mod limiter;

use std::future::Future;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, RedisResult};

use crate::types::LimiterError;

/// `kobo:{namespace}:`, after checking the namespace is usable in a key.
pub(crate) fn key_prefix(namespace: &str) -> Result<String, LimiterError> {
    if namespace.is_empty()
        || namespace
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(LimiterError::Config(format!(
            "Redis namespace {namespace:?} must be non-empty and without spaces"
        )));
    }
    Ok(format!("kobo:{namespace}:"))
}

pub(crate) fn client(url: &str) -> Result<redis::Client, LimiterError> {
    redis::Client::open(url).map_err(|err| {
        // The URL may carry a password: name the problem, not the URL.
        LimiterError::Config(format!("invalid Redis URL ({:?})", err.kind()))
    })
}

/// A self-reconnecting connection. Each reconnection is a single attempt (no built-in
/// back-off, whose first wait is a whole second): the next call after a failed attempt
/// starts a fresh one, so the limiter recovers as soon as Redis is back.
pub(crate) async fn manager(
    client: redis::Client,
    op_timeout: Duration,
) -> Result<ConnectionManager, LimiterError> {
    let config = ConnectionManagerConfig::new()
        .set_number_of_retries(0)
        .set_connection_timeout(op_timeout);
    match tokio::time::timeout(
        op_timeout,
        ConnectionManager::new_with_config(client, config),
    )
    .await
    {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(err)) => Err(map_error("connect", err)),
        Err(_) => Err(LimiterError::Unavailable(format!(
            "connect: no answer from Redis within {op_timeout:?}"
        ))),
    }
}

/// Which failed attempts may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Only when the connection was refused, so the command never reached Redis. For
    /// commands that must not run twice (consuming a rate, reserving a quota).
    IfNotSent,
    /// After any connection error. For commands that may safely run twice (reads,
    /// `SET NX`, publishing an invalidation).
    Idempotent,
}

impl Retry {
    fn allows(self, err: &RedisError) -> bool {
        match self {
            Self::IfNotSent => err.is_connection_refusal(),
            Self::Idempotent => err.is_io_error(),
        }
    }
}

/// Runs one Redis call within `op_timeout`, trying it a second time when `retry`
/// allows.
///
/// The second try is what makes recovery immediate: the first call after Redis comes
/// back meets the connection (or the failed reconnection) of the outage, and its retry
/// uses the fresh connection that failure started. A command that may have run is not
/// repeated, so the first consuming call after an unnoticed restart can still fail.
pub(crate) async fn bounded<T, F, Fut>(
    conn: &ConnectionManager,
    op_timeout: Duration,
    op: &'static str,
    retry: Retry,
    call: F,
) -> Result<T, LimiterError>
where
    F: Fn(ConnectionManager) -> Fut,
    Fut: Future<Output = RedisResult<T>>,
{
    let attempts = async {
        match call(conn.clone()).await {
            Err(err) if retry.allows(&err) => call(conn.clone()).await,
            other => other,
        }
    };
    match tokio::time::timeout(op_timeout, attempts).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(map_error(op, err)),
        Err(_) => Err(LimiterError::Unavailable(format!(
            "{op}: no answer from Redis within {op_timeout:?}"
        ))),
    }
}

/// Connection-level trouble is `Unavailable`; an error reply is `Backend`.
pub(crate) fn map_error(op: &str, err: RedisError) -> LimiterError {
    let unavailable = err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || matches!(
            err.kind(),
            ErrorKind::BusyLoadingError
                | ErrorKind::TryAgain
                | ErrorKind::ClusterDown
                | ErrorKind::MasterDown
                | ErrorKind::ReadOnly
        );
    tracing::debug!(op, error = %err, unavailable, "a Redis limiter call failed");
    if unavailable {
        LimiterError::Unavailable(format!("{op}: {err}"))
    } else {
        LimiterError::Backend(format!("{op}: {err}"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn namespaces_become_key_prefixes() {
        assert_eq!(key_prefix("prod").unwrap(), "kobo:prod:");
        assert!(key_prefix("").is_err());
        assert!(key_prefix("a b").is_err());
    }

    #[test]
    fn bad_urls_are_configuration_errors() {
        assert!(matches!(
            client("http://nope"),
            Err(LimiterError::Config(_))
        ));
    }

    #[test]
    fn io_errors_are_unavailable() {
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(map_error("op", RedisError::from(io)).is_unavailable());
        let reply = RedisError::from((ErrorKind::ResponseError, "WRONGTYPE"));
        assert!(matches!(map_error("op", reply), LimiterError::Backend(_)));
    }
}
