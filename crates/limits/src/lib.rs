//! Rate limits and quota counters for the Kobo gateway, in process or in Redis.
//!
//! Everything goes through one trait, [`Limiter`], held as `Arc<dyn Limiter>`:
//! [`LocalLimiter`] for the embedded mode (one process), [`RedisLimiter`] for the
//! scale-out mode (many replicas sharing one Redis). Both pass the same behavioural
//! test-suite (`tests/it`). [`RedisBus`] carries cross-replica invalidations (revoked
//! API keys) over Redis pub/sub.
//!
//! # Rate limits: GCRA
//!
//! Rates use the *generic cell rate algorithm* (GCRA), the arithmetic form of a leaky
//! bucket, rather than fixed or sliding windows:
//!
//! * **smooth** — capacity comes back continuously (one unit every `period / limit`),
//!   not all at once when a window rolls over;
//! * **no double burst** — a fixed window lets a client spend `limit` at the end of one
//!   window and `limit` again at the start of the next; with GCRA, after spending the
//!   whole `limit` at `t`, only half of it is available at `t + period/2`;
//! * **one number of state per key** — the *theoretical arrival time* `tat`; a sliding
//!   log needs one entry per request, a sliding window two counters and a float.
//!
//! With emission interval `T = period / limit` and burst tolerance `period - T`, a fresh
//! key admits `limit` units at once. A request of cost `c` computes
//! `tat' = max(tat, now) + c·T` and is admitted iff `tat' - now <= period`; if it is,
//! `tat'` is stored. A cost above `limit` can never fit: it is refused with
//! `retry_after = period`. All state is integer microseconds; `c·T` is computed as
//! `⌊c·period/limit⌋` per request (exact whenever `limit` divides the period in µs, as
//! for every plan in the catalogue; otherwise rounding down by under 1 µs per request).
//! Each [`RateStatus`] reports `remaining` (unit requests that still fit),
//! `reset_after_ms` (until the bucket is full again, `tat' - now`) and `retry_after_ms`
//! (until this request would fit; 0 when allowed), which map onto OpenAI's
//! `x-ratelimit-*` headers and `Retry-After`. [`Limiter::refund_rate`] moves `tat` back
//! (tokens reserved but not used), never below `now`.
//!
//! Time comes from the caller (`now_ms`), so tests run on a synthetic clock and every
//! replica decides by its own clock; keep replicas' clocks NTP-synchronised (a skew of
//! `d` ms makes a bucket look `d` ms fuller or emptier to that replica).
//!
//! # Quotas
//!
//! A quota is a counter ([`Limiter::reserve`]): the request reserves its estimate up
//! front on every counter it touches (monthly tokens, monthly calls, a key's daily
//! cap…), refused with [`QuotaDecision::Exceeded`] if any counter would pass its hard
//! limit, and later settles the difference with [`Limiter::adjust_existing`] (or
//! [`Limiter::adjust`]). Because the check and the increment are one atomic step,
//! concurrent requests can never push a counter past its hard limit. Soft-limit warnings
//! use [`Limiter::mark_once`]: "once per threshold per period" is a mark keyed by
//! tenant, threshold and period.
//!
//! # Atomicity
//!
//! A multi-rule call is all or nothing: every rule is checked, and only if all pass are
//! all of them consumed. In Redis each call is one Lua script (Redis runs scripts one at
//! a time); in process each call holds the mutexes of the shards of all its keys,
//! taken in ascending shard order so overlapping calls cannot deadlock. A key repeated
//! within one call sees the earlier rules' share of that call.
//!
//! # Key layout (Redis)
//!
//! Every key is `kobo:{namespace}:{kind}:{key}`, `{key}` being the caller's key:
//!
//! | kind    | value                       | expiry                                   |
//! |---------|-----------------------------|------------------------------------------|
//! | `rate`  | `tat` in µs since the epoch | when the bucket is full again (≤ period) |
//! | `quota` | counter, an integer         | `ttl_secs`, reset on every write         |
//! | `once`  | `1`                         | `ttl_secs`                               |
//! | `bus`   | pub/sub channel             | —                                        |
//!
//! The namespace separates deployments (and test runs) sharing one Redis. Scripts touch
//! several keys, so this layout assumes one Redis primary, not Redis Cluster.
//!
//! # Rebuilding counters
//!
//! Counters are a cache of the usage records in the database, which remain the system of
//! record. When a counter is missing (first use in a period, TTL passed, Redis restarted
//! without persistence, or the process restarted in embedded mode), `reserve` answers
//! [`QuotaDecision::Unseeded`] and reserves nothing. The caller sums the period's usage
//! from the database, calls [`Limiter::seed`] — `SET NX`, so when several replicas
//! rebuild the same counter at once the first value wins and the others get it back —
//! and retries the reservation. Settling with [`Limiter::adjust_existing`] leaves a
//! missing counter missing, so it is rebuilt from the database (which then includes the
//! settled request) instead of being recreated from a partial delta.
//!
//! # Failure
//!
//! Every Redis call is bounded by the limiter's `op_timeout`; a timeout, a refused or
//! dropped connection becomes [`LimiterError::Unavailable`], and the gateway fails
//! closed. The connection is re-established in the background, so the same
//! [`RedisLimiter`] works again once Redis is back. A command is sent a second time only
//! when that cannot apply it twice: after a refused connection (it never left), or for
//! idempotent commands (`get`, `seed`, `ping`, `publish`). So when Redis restarts
//! between two calls, the first consuming call (`check_rates`, `reserve`, `adjust`…)
//! may still fail with `Unavailable`, which is the safe side for billing.
//! [`RedisLimiter::connect`] itself fails when Redis cannot be reached at start-up; the
//! caller decides whether to retry or exit.
//!
//! Counters must stay below 2^53 (Lua numbers are doubles), far above any quota.

mod gcra;
mod local;
mod redis_store;
mod sharded;
mod types;

pub use gcra::{MAX_NOW_MS, MAX_PERIOD_MS};
pub use local::LocalLimiter;
pub use redis_store::bus::{BusEvent, RedisBus, Subscription, DEFAULT_BUS_TIMEOUT};
pub use redis_store::limiter::RedisLimiter;
pub use types::{LimiterError, QuotaDecision, QuotaRule, RateDecision, RateRule, RateStatus};

/// Rate limits and quota counters; see the crate documentation for the semantics.
#[async_trait::async_trait]
pub trait Limiter: Send + Sync + 'static {
    /// Checks every rule; only if all of them admit the request are all consumed, in
    /// one atomic step. `statuses[i]` in the answer belongs to `rules[i]`.
    async fn check_rates(
        &self,
        rules: &[RateRule],
        now_ms: u64,
    ) -> Result<RateDecision, LimiterError>;

    /// Gives back `units` to a rate bucket (for example tokens reserved but not used);
    /// the bucket never gets fuller than an idle one.
    async fn refund_rate(
        &self,
        rule: &RateRule,
        units: u64,
        now_ms: u64,
    ) -> Result<(), LimiterError>;

    /// Atomically reserves `amount` on every counter, only if none would pass its hard
    /// limit and all of them exist.
    async fn reserve(&self, rules: &[QuotaRule]) -> Result<QuotaDecision, LimiterError>;

    /// Adds `delta` (may be negative) to a counter, never going below 0, and returns the
    /// new value. A missing counter is created from 0.
    async fn adjust(&self, key: &str, delta: i64, ttl_secs: u64) -> Result<u64, LimiterError>;

    /// Like [`adjust`](Self::adjust), but leaves a missing counter missing and returns
    /// `None`: the right way to settle a reservation, since a counter lost in between
    /// is rebuilt from the database, which already holds the settled usage.
    async fn adjust_existing(
        &self,
        key: &str,
        delta: i64,
        ttl_secs: u64,
    ) -> Result<Option<u64>, LimiterError>;

    /// Sets a counter only if it does not exist (rebuild after the store lost it) and
    /// returns the value it now holds.
    async fn seed(&self, key: &str, value: u64, ttl_secs: u64) -> Result<u64, LimiterError>;

    /// The counter's value, `None` if it does not exist.
    async fn get(&self, key: &str) -> Result<Option<u64>, LimiterError>;

    /// True exactly once per key until the mark expires (`ttl_secs`, 0 = never).
    async fn mark_once(&self, key: &str, ttl_secs: u64) -> Result<bool, LimiterError>;

    /// Reachability check for `/ready`.
    async fn ping(&self) -> Result<(), LimiterError>;
}
