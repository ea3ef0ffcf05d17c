//! Integration tests for kobo-limits: one behavioural suite run against both limiters,
//! plus Redis-only tests (outages, key layout, the pub/sub bus).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bus;
mod redis_only;
mod suite;
mod support;

/// Runs each suite function once against a fresh [`kobo_limits::LocalLimiter`] and once
/// against a [`kobo_limits::RedisLimiter`] on 127.0.0.1:6379 in a namespace of its own.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::suite::$name(crate::support::local()).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::suite::$name(crate::support::shared_redis().await).await;
                }
            )*
        }
    };
}

conformance!(
    fresh_bucket_admits_the_limit_then_refuses,
    concurrent_checks_admit_exactly_the_limit,
    no_double_burst_at_half_period,
    multiple_rules_are_all_or_nothing,
    cost_above_limit_is_refused_for_a_period,
    weighted_costs_wait_for_enough_capacity,
    a_key_repeated_in_one_request_adds_up,
    refunds_never_overfill_a_bucket,
    invalid_rules_are_errors,
    unseeded_counter_is_seeded_then_reserved,
    hard_limit_refuses_without_reserving,
    racing_reservations_never_pass_the_hard_limit,
    racing_uneven_reservations_never_pass_the_hard_limit,
    multiple_quota_rules_are_all_or_nothing,
    a_missing_later_counter_reserves_nothing,
    adjust_never_goes_below_zero,
    mark_once_is_true_once,
    counters_and_marks_expire,
    ping_answers,
);
