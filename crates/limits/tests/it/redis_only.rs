//! Redis-only behaviour: outages, key layout and expiry.

use std::time::Duration;

use kobo_limits::{Limiter, LimiterError, QuotaDecision, QuotaRule, RateRule, RedisLimiter};

use crate::support::{free_port, namespace, now_ms, OwnRedis, SHARED_REDIS_URL};

const OP_TIMEOUT: Duration = Duration::from_millis(500);

fn unavailable<T: std::fmt::Debug>(result: Result<T, LimiterError>) -> bool {
    matches!(result, Err(LimiterError::Unavailable(_)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limiter_fails_closed_while_redis_is_down_and_recovers_after_a_restart() {
    let mut server = OwnRedis::start().await;
    let limiter = RedisLimiter::connect(&server.url(), &namespace(), OP_TIMEOUT)
        .await
        .unwrap();
    let t = now_ms();
    let rule = RateRule::per_minute("rpm:key", 10, 1);
    assert!(
        limiter
            .check_rates(std::slice::from_ref(&rule), t)
            .await
            .unwrap()
            .allowed
    );
    limiter.seed("tokens", 0, 60).await.unwrap();

    server.kill().await;
    assert!(unavailable(
        limiter.check_rates(std::slice::from_ref(&rule), t).await
    ));
    assert!(unavailable(
        limiter
            .reserve(&[QuotaRule::new("tokens", 1, None, 60)])
            .await
    ));
    assert!(unavailable(limiter.ping().await));
    assert!(unavailable(limiter.get("tokens").await));

    server.restart().await;
    // The same limiter works again, with no rebuild and no wait.
    assert!(
        limiter
            .check_rates(std::slice::from_ref(&rule), t)
            .await
            .unwrap()
            .allowed
    );
    limiter.ping().await.unwrap();
    // The restarted server kept nothing: counters must be rebuilt from the database.
    let tokens = QuotaRule::new("tokens", 5, Some(100), 60);
    assert_eq!(
        limiter
            .reserve(std::slice::from_ref(&tokens))
            .await
            .unwrap(),
        QuotaDecision::Unseeded { index: 0 }
    );
    assert_eq!(limiter.seed("tokens", 42, 60).await.unwrap(), 42);
    assert_eq!(
        limiter.reserve(&[tokens]).await.unwrap(),
        QuotaDecision::Reserved { usages: vec![47] }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_calls_survive_an_unnoticed_restart() {
    let mut server = OwnRedis::start().await;
    let limiter = RedisLimiter::connect(&server.url(), &namespace(), OP_TIMEOUT)
        .await
        .unwrap();
    limiter.ping().await.unwrap();
    // Restarted between two calls: the limiter's connection is dead but it does not
    // know yet. A read may be sent again, so the first one after the restart succeeds.
    server.kill().await;
    server.restart().await;
    assert_eq!(limiter.get("absent").await.unwrap(), None);
    limiter.ping().await.unwrap();
    assert!(
        limiter
            .check_rates(&[RateRule::per_minute("k", 1, 1)], now_ms())
            .await
            .unwrap()
            .allowed
    );
}

#[tokio::test]
async fn connect_fails_when_redis_is_unreachable() {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let result = RedisLimiter::connect(&url, &namespace(), OP_TIMEOUT).await;
    assert!(unavailable(result), "connected to nothing?");
}

#[tokio::test]
async fn bad_configuration_is_reported_as_such() {
    let bad_url = RedisLimiter::connect("mysql://x", &namespace(), OP_TIMEOUT).await;
    assert!(matches!(bad_url, Err(LimiterError::Config(_))));
    let bad_namespace = RedisLimiter::connect(SHARED_REDIS_URL, "", OP_TIMEOUT).await;
    assert!(matches!(bad_namespace, Err(LimiterError::Config(_))));
}

#[tokio::test]
async fn keys_live_under_the_namespace_and_expire() {
    let ns = namespace();
    let limiter = RedisLimiter::connect(SHARED_REDIS_URL, &ns, OP_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(limiter.key_prefix(), format!("kobo:{ns}:"));
    let t = now_ms();
    let rule = RateRule::per_minute("rpm:key", 100, 10);
    assert!(limiter.check_rates(&[rule], t).await.unwrap().allowed);
    limiter.seed("tokens", 3, 120).await.unwrap();
    assert!(limiter.mark_once("soft", 90).await.unwrap());

    let client = redis::Client::open(SHARED_REDIS_URL).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let rate_ttl: i64 = redis::cmd("PTTL")
        .arg(format!("kobo:{ns}:rate:rpm:key"))
        .query_async(&mut conn)
        .await
        .unwrap();
    // 10 of 100 per minute: the bucket is full again after 6 s.
    assert!(rate_ttl > 0 && rate_ttl <= 6000, "rate key PTTL {rate_ttl}");
    let quota_ttl: i64 = redis::cmd("TTL")
        .arg(format!("kobo:{ns}:quota:tokens"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        quota_ttl > 0 && quota_ttl <= 120,
        "quota key TTL {quota_ttl}"
    );
    let once_ttl: i64 = redis::cmd("TTL")
        .arg(format!("kobo:{ns}:once:soft"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(once_ttl > 0 && once_ttl <= 90, "mark key TTL {once_ttl}");
}

#[tokio::test]
async fn a_corrupt_counter_is_a_backend_error() {
    let ns = namespace();
    let limiter = RedisLimiter::connect(SHARED_REDIS_URL, &ns, OP_TIMEOUT)
        .await
        .unwrap();
    let client = redis::Client::open(SHARED_REDIS_URL).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(format!("kobo:{ns}:quota:junk"))
        .arg("not a number")
        .arg("EX")
        .arg(60)
        .query_async(&mut conn)
        .await
        .unwrap();
    let result = limiter
        .reserve(&[QuotaRule::new("junk", 1, Some(5), 60)])
        .await;
    assert!(
        matches!(result, Err(LimiterError::Backend(_))),
        "{result:?}"
    );
}
