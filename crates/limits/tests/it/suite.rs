//! The behaviour every [`Limiter`] must show, written once.

use std::sync::Arc;
use std::time::Duration;

use kobo_limits::{Limiter, LimiterError, QuotaDecision, QuotaRule, RateRule, RateStatus};

use crate::support::now_ms;

const MINUTE: u64 = 60_000;
const TTL: u64 = 300;

async fn check(limiter: &dyn Limiter, rules: &[RateRule], at: u64) -> kobo_limits::RateDecision {
    limiter.check_rates(rules, at).await.unwrap()
}

async fn reserve(limiter: &dyn Limiter, rules: &[QuotaRule]) -> QuotaDecision {
    limiter.reserve(rules).await.unwrap()
}

fn quota(key: &str, amount: u64, hard_limit: Option<u64>) -> QuotaRule {
    QuotaRule::new(key, amount, hard_limit, TTL)
}

pub async fn fresh_bucket_admits_the_limit_then_refuses(limiter: Arc<dyn Limiter>) {
    let t = now_ms();
    let rule = RateRule::new("rpm:key", 10, 1000, 1);
    for i in 0..10 {
        let d = check(&*limiter, std::slice::from_ref(&rule), t).await;
        assert!(d.allowed, "request {i}");
        assert_eq!(
            d.statuses,
            vec![RateStatus {
                limit: 10,
                remaining: 9 - i,
                reset_after_ms: (i + 1) * 100,
                retry_after_ms: 0,
            }]
        );
    }
    let refused = check(&*limiter, std::slice::from_ref(&rule), t).await;
    assert!(!refused.allowed);
    assert_eq!(
        refused.statuses[0],
        RateStatus {
            limit: 10,
            remaining: 0,
            reset_after_ms: 1000,
            retry_after_ms: 100,
        }
    );
    assert_eq!(refused.retry_after_ms(), 100);
    assert_eq!(refused.refused_by(), Some(0));
    // One emission interval later exactly one more fits.
    assert!(
        check(&*limiter, std::slice::from_ref(&rule), t + 100)
            .await
            .allowed
    );
    assert!(!check(&*limiter, &[rule], t + 100).await.allowed);
}

pub async fn concurrent_checks_admit_exactly_the_limit(limiter: Arc<dyn Limiter>) {
    let t = now_ms();
    let rule = RateRule::per_minute("rpm:hot", 100, 1);
    let tasks: Vec<_> = (0..150)
        .map(|_| {
            let limiter = limiter.clone();
            let rule = rule.clone();
            tokio::spawn(async move { limiter.check_rates(&[rule], t).await.unwrap() })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        let d = task.await.unwrap();
        if d.allowed {
            allowed += 1;
        } else {
            assert!(
                d.retry_after_ms() > 0,
                "a refusal without Retry-After: {d:?}"
            );
        }
    }
    assert_eq!(allowed, 100);
}

pub async fn no_double_burst_at_half_period(limiter: Arc<dyn Limiter>) {
    let t = now_ms();
    let rule = RateRule::per_minute("rpm:burst", 100, 1);
    for _ in 0..100 {
        assert!(
            check(&*limiter, std::slice::from_ref(&rule), t)
                .await
                .allowed
        );
    }
    assert!(
        !check(&*limiter, std::slice::from_ref(&rule), t)
            .await
            .allowed
    );

    // Half a period later, half the limit has come back: 30 s / 600 ms = 50.
    let half = t + MINUTE / 2;
    let probe = RateRule::per_minute("rpm:burst", 100, 0);
    assert_eq!(
        check(&*limiter, std::slice::from_ref(&probe), half)
            .await
            .statuses[0]
            .remaining,
        50
    );
    for i in 0..50 {
        assert!(
            check(&*limiter, std::slice::from_ref(&rule), half)
                .await
                .allowed,
            "request {i}"
        );
    }
    let refused = check(&*limiter, std::slice::from_ref(&rule), half).await;
    assert!(!refused.allowed);
    assert_eq!(refused.statuses[0].retry_after_ms, 600);

    // Where a fixed window would reset to 100 at t + 60 s, GCRA has only 50 again.
    let window_edge = t + MINUTE;
    assert_eq!(
        check(&*limiter, &[probe], window_edge).await.statuses[0].remaining,
        50
    );
}

pub async fn multiple_rules_are_all_or_nothing(limiter: Arc<dyn Limiter>) {
    let t = now_ms();
    let wide = RateRule::per_minute("rpm:org", 10, 1);
    let narrow = RateRule::per_minute("rpm:key", 1, 1);
    let first = check(&*limiter, &[wide.clone(), narrow.clone()], t).await;
    assert!(first.allowed);
    assert_eq!(first.statuses[0].remaining, 9);
    assert_eq!(first.statuses[1].remaining, 0);

    let second = check(&*limiter, &[wide.clone(), narrow.clone()], t).await;
    assert!(!second.allowed);
    assert_eq!(second.refused_by(), Some(1));
    assert_eq!(
        second.statuses[0].remaining, 9,
        "the wide rule was not consumed"
    );
    assert_eq!(second.statuses[0].retry_after_ms, 0);
    assert_eq!(second.statuses[1].retry_after_ms, MINUTE);
    assert_eq!(second.retry_after_ms(), MINUTE);

    let alone = check(&*limiter, &[wide], t).await;
    assert!(alone.allowed);
    assert_eq!(alone.statuses[0].remaining, 8);
}

pub async fn cost_above_limit_is_refused_for_a_period(limiter: Arc<dyn Limiter>) {
    let t = now_ms();
    let huge = RateRule::new("tpm:key", 10, 1000, 11);
    let d = check(&*limiter, &[huge], t).await;
    assert!(!d.allowed);
    assert_eq!(d.statuses[0].retry_after_ms, 1000);
    assert_eq!(d.statuses[0].remaining, 10);
    // Nothing was consumed: the whole limit still fits.
    assert!(
        check(&*limiter, &[RateRule::new("tpm:key", 10, 1000, 10)], t)
            .await
            .allowed
    );
}

pub async fn weighted_costs_wait_for_enough_capacity(limiter: Arc<dyn Limiter>) {
    let t = now_ms();
    let tokens = RateRule::per_minute("tpm:org", 1000, 600);
    let first = check(&*limiter, std::slice::from_ref(&tokens), t).await;
    assert!(first.allowed);
    assert_eq!(first.statuses[0].remaining, 400);
    assert_eq!(first.statuses[0].reset_after_ms, 36_000);

    let second = check(&*limiter, std::slice::from_ref(&tokens), t).await;
    assert!(!second.allowed);
    // 200 tokens short at 60 ms per token.
    assert_eq!(second.statuses[0].retry_after_ms, 12_000);
    assert!(
        !check(&*limiter, std::slice::from_ref(&tokens), t + 11_999)
            .await
            .allowed
    );
    assert!(check(&*limiter, &[tokens], t + 12_000).await.allowed);
}

pub async fn a_key_repeated_in_one_request_adds_up(limiter: Arc<dyn Limiter>) {
    let t = now_ms();
    let six = RateRule::new("rpm:dup", 10, 1000, 6);
    assert!(!check(&*limiter, &[six.clone(), six], t).await.allowed);
    let five = RateRule::new("rpm:dup", 10, 1000, 5);
    let d = check(&*limiter, &[five.clone(), five.clone()], t).await;
    assert!(d.allowed);
    assert_eq!(d.statuses[0].remaining, 5);
    assert_eq!(d.statuses[1].remaining, 0);
    assert!(
        !check(&*limiter, &[RateRule::new("rpm:dup", 10, 1000, 1)], t)
            .await
            .allowed
    );
}

pub async fn refunds_never_overfill_a_bucket(limiter: Arc<dyn Limiter>) {
    let t = now_ms();
    let all = RateRule::new("tpm:refund", 10, 1000, 10);
    assert!(
        check(&*limiter, std::slice::from_ref(&all), t)
            .await
            .allowed
    );
    limiter.refund_rate(&all, 4, t).await.unwrap();
    assert!(
        check(&*limiter, &[RateRule::new("tpm:refund", 10, 1000, 4)], t)
            .await
            .allowed
    );
    assert!(
        !check(&*limiter, &[RateRule::new("tpm:refund", 10, 1000, 1)], t)
            .await
            .allowed
    );

    // Refunding more than was consumed leaves an idle bucket, not a bigger one.
    limiter.refund_rate(&all, 100, t).await.unwrap();
    let probe = RateRule::new("tpm:refund", 10, 1000, 0);
    assert_eq!(
        check(&*limiter, &[probe], t).await.statuses[0].remaining,
        10
    );
    assert!(
        check(&*limiter, std::slice::from_ref(&all), t)
            .await
            .allowed
    );
    assert!(
        !check(&*limiter, &[RateRule::new("tpm:refund", 10, 1000, 1)], t)
            .await
            .allowed
    );

    // Refunding a bucket that does not exist does nothing.
    limiter
        .refund_rate(&RateRule::new("tpm:none", 10, 1000, 1), 5, t)
        .await
        .unwrap();
}

pub async fn invalid_rules_are_errors(limiter: Arc<dyn Limiter>) {
    let t = now_ms();
    let zero = RateRule::new("rpm:bad", 0, 1000, 1);
    assert!(matches!(
        limiter.check_rates(&[zero], t).await,
        Err(LimiterError::InvalidRule(_))
    ));
    let no_period = RateRule::new("rpm:bad", 1, 0, 1);
    assert!(matches!(
        limiter.refund_rate(&no_period, 1, t).await,
        Err(LimiterError::InvalidRule(_))
    ));
}

pub async fn unseeded_counter_is_seeded_then_reserved(limiter: Arc<dyn Limiter>) {
    let rule = quota("tokens:org:m1", 10, Some(100));
    assert_eq!(
        reserve(&*limiter, std::slice::from_ref(&rule)).await,
        QuotaDecision::Unseeded { index: 0 }
    );
    assert_eq!(limiter.get("tokens:org:m1").await.unwrap(), None);
    assert_eq!(limiter.seed("tokens:org:m1", 40, TTL).await.unwrap(), 40);
    // A second seeder (another replica rebuilding at the same time) gets the first value.
    assert_eq!(limiter.seed("tokens:org:m1", 70, TTL).await.unwrap(), 40);
    assert_eq!(
        reserve(&*limiter, &[rule]).await,
        QuotaDecision::Reserved { usages: vec![50] }
    );
    assert_eq!(limiter.get("tokens:org:m1").await.unwrap(), Some(50));
}

pub async fn hard_limit_refuses_without_reserving(limiter: Arc<dyn Limiter>) {
    limiter.seed("calls:org", 0, TTL).await.unwrap();
    let take = |amount| quota("calls:org", amount, Some(100));
    assert_eq!(
        reserve(&*limiter, &[take(60)]).await,
        QuotaDecision::Reserved { usages: vec![60] }
    );
    assert_eq!(
        reserve(&*limiter, &[take(50)]).await,
        QuotaDecision::Exceeded {
            index: 0,
            current_usage: 60,
            limit: 100,
            requested: 50,
        }
    );
    assert_eq!(
        reserve(&*limiter, &[take(40)]).await,
        QuotaDecision::Reserved { usages: vec![100] }
    );
    assert!(reserve(&*limiter, &[take(0)]).await.is_reserved());
    assert!(!reserve(&*limiter, &[take(1)]).await.is_reserved());
    assert_eq!(limiter.get("calls:org").await.unwrap(), Some(100));
}

pub async fn racing_reservations_never_pass_the_hard_limit(limiter: Arc<dyn Limiter>) {
    limiter.seed("tokens:race", 0, TTL).await.unwrap();
    let tasks: Vec<_> = (0..150)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                limiter
                    .reserve(&[quota("tokens:race", 10, Some(1000))])
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        match task.await.unwrap() {
            QuotaDecision::Reserved { usages } => {
                assert!(usages[0] <= 1000);
                granted += 10;
            }
            QuotaDecision::Exceeded { current_usage, .. } => assert!(current_usage > 990),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(granted, 1000);
    assert_eq!(limiter.get("tokens:race").await.unwrap(), Some(1000));
}

pub async fn racing_uneven_reservations_never_pass_the_hard_limit(limiter: Arc<dyn Limiter>) {
    limiter.seed("tokens:uneven", 0, TTL).await.unwrap();
    let tasks: Vec<_> = (0..200u64)
        .map(|i| {
            let limiter = limiter.clone();
            let amount = 1 + i % 13;
            tokio::spawn(async move {
                let decision = limiter
                    .reserve(&[quota("tokens:uneven", amount, Some(777))])
                    .await
                    .unwrap();
                (amount, decision)
            })
        })
        .collect();
    let mut granted = 0;
    let mut refused = Vec::new();
    for task in tasks {
        let (amount, decision) = task.await.unwrap();
        match decision {
            QuotaDecision::Reserved { .. } => granted += amount,
            QuotaDecision::Exceeded { .. } => refused.push(amount),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(granted <= 777);
    assert!(!refused.is_empty(), "demand (1 400) exceeds the limit");
    // Counters only grow, so every refusal must still be justified at the end.
    for amount in refused {
        assert!(
            granted + amount > 777,
            "{amount} was refused with {granted} used"
        );
    }
    assert_eq!(limiter.get("tokens:uneven").await.unwrap(), Some(granted));
}

pub async fn multiple_quota_rules_are_all_or_nothing(limiter: Arc<dyn Limiter>) {
    limiter.seed("q:tokens", 0, TTL).await.unwrap();
    limiter.seed("q:calls", 0, TTL).await.unwrap();
    limiter.seed("q:unlimited", 5, TTL).await.unwrap();
    let rules = [
        quota("q:tokens", 100, Some(1000)),
        quota("q:calls", 1, Some(1)),
        quota("q:unlimited", 100, None),
    ];
    assert_eq!(
        reserve(&*limiter, &rules).await,
        QuotaDecision::Reserved {
            usages: vec![100, 1, 105]
        }
    );
    assert_eq!(
        reserve(&*limiter, &rules).await,
        QuotaDecision::Exceeded {
            index: 1,
            current_usage: 1,
            limit: 1,
            requested: 1,
        }
    );
    assert_eq!(limiter.get("q:tokens").await.unwrap(), Some(100));
    assert_eq!(limiter.get("q:unlimited").await.unwrap(), Some(105));
    // An unlimited counter is still counted.
    assert_eq!(
        reserve(
            &*limiter,
            &[quota("q:unlimited", u64::from(u32::MAX), None)]
        )
        .await,
        QuotaDecision::Reserved {
            usages: vec![105 + u64::from(u32::MAX)]
        }
    );
}

pub async fn a_missing_later_counter_reserves_nothing(limiter: Arc<dyn Limiter>) {
    limiter.seed("m:seeded", 7, TTL).await.unwrap();
    let rules = [quota("m:seeded", 3, Some(100)), quota("m:absent", 1, None)];
    assert_eq!(
        reserve(&*limiter, &rules).await,
        QuotaDecision::Unseeded { index: 1 }
    );
    assert_eq!(limiter.get("m:seeded").await.unwrap(), Some(7));
}

pub async fn adjust_never_goes_below_zero(limiter: Arc<dyn Limiter>) {
    limiter.seed("a:tokens", 10, TTL).await.unwrap();
    assert_eq!(limiter.adjust("a:tokens", -25, TTL).await.unwrap(), 0);
    assert_eq!(limiter.adjust("a:tokens", 5, TTL).await.unwrap(), 5);
    assert_eq!(limiter.adjust("a:tokens", -2, 0).await.unwrap(), 3);
    assert_eq!(limiter.get("a:tokens").await.unwrap(), Some(3));

    // adjust creates a missing counter; adjust_existing leaves it missing.
    assert_eq!(limiter.adjust("a:created", 7, TTL).await.unwrap(), 7);
    assert_eq!(limiter.adjust("a:negative", -7, TTL).await.unwrap(), 0);
    assert_eq!(
        limiter.adjust_existing("a:lost", -3, TTL).await.unwrap(),
        None
    );
    assert_eq!(limiter.get("a:lost").await.unwrap(), None);
    assert_eq!(
        limiter.adjust_existing("a:created", -3, TTL).await.unwrap(),
        Some(4)
    );
}

pub async fn mark_once_is_true_once(limiter: Arc<dyn Limiter>) {
    assert!(limiter.mark_once("soft:org:80:2025-07", TTL).await.unwrap());
    assert!(!limiter.mark_once("soft:org:80:2025-07", TTL).await.unwrap());
    assert!(!limiter.mark_once("soft:org:80:2025-07", TTL).await.unwrap());
    assert!(limiter
        .mark_once("soft:org:100:2025-07", TTL)
        .await
        .unwrap());
}

pub async fn counters_and_marks_expire(limiter: Arc<dyn Limiter>) {
    assert!(limiter.mark_once("e:mark", 1).await.unwrap());
    assert_eq!(limiter.seed("e:counter", 5, 1).await.unwrap(), 5);
    assert_eq!(limiter.seed("e:kept", 5, 60).await.unwrap(), 5);
    // A ttl of 0 keeps the counter's expiry as it is.
    assert_eq!(limiter.adjust("e:kept", 1, 0).await.unwrap(), 6);
    assert!(!limiter.mark_once("e:mark", 1).await.unwrap());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(limiter.mark_once("e:mark", 1).await.unwrap());
    assert_eq!(limiter.get("e:counter").await.unwrap(), None);
    assert_eq!(
        reserve(&*limiter, &[QuotaRule::new("e:counter", 1, None, 1)]).await,
        QuotaDecision::Unseeded { index: 0 }
    );
    assert_eq!(limiter.get("e:kept").await.unwrap(), Some(6));
}

pub async fn ping_answers(limiter: Arc<dyn Limiter>) {
    limiter.ping().await.unwrap();
}
