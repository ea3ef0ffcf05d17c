//! The in-process limiter used by the embedded (single machine) mode.

use std::time::{Duration, Instant};

use crate::gcra::{self, RatePlan};
use crate::sharded::Sharded;
use crate::types::{LimiterError, QuotaDecision, QuotaRule, RateDecision, RateRule};
use crate::Limiter;

/// A quota counter and when it stops existing.
#[derive(Debug, Clone, Copy)]
struct Counter {
    value: u64,
    expires_at: Option<Instant>,
}

fn alive(expires_at: Option<Instant>, now: Instant) -> bool {
    expires_at.is_none_or(|at| at > now)
}

fn expiry(ttl_secs: u64, now: Instant) -> Option<Instant> {
    (ttl_secs > 0).then(|| now + Duration::from_secs(ttl_secs))
}

/// The in-process [`Limiter`]: sharded `parking_lot` mutexes over hash maps.
///
/// A decision locks only the shards of its own keys (in ascending order, so overlapping
/// requests cannot deadlock) and does no I/O. Rate buckets are forgotten once they are
/// full again, counters and marks once their TTL has passed; expired entries are swept in
/// bulk, amortised over the operations on each shard.
///
/// The synchronous `*_now` methods are the same operations without the async wrapper,
/// for benchmarks and for callers that are not in an async context.
pub struct LocalLimiter {
    /// Rate buckets: theoretical arrival time in µs.
    rates: Sharded<u64>,
    counters: Sharded<Counter>,
    /// `mark_once` keys and their expiry.
    marks: Sharded<Option<Instant>>,
}

impl Default for LocalLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for LocalLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLimiter").finish_non_exhaustive()
    }
}

impl LocalLimiter {
    pub fn new() -> Self {
        Self {
            rates: Sharded::new(),
            counters: Sharded::new(),
            marks: Sharded::new(),
        }
    }

    /// Synchronous [`Limiter::check_rates`].
    pub fn check_rates_now(
        &self,
        rules: &[RateRule],
        now_ms: u64,
    ) -> Result<RateDecision, LimiterError> {
        let now = gcra::now_us(now_ms)?;
        let plans = gcra::plans(rules)?;
        let mut fills = Vec::with_capacity(rules.len());
        // The bucket's `tat` should this request be consumed, per rule.
        let mut next_tats = Vec::with_capacity(rules.len());
        let mut allowed = true;

        let mut locked = self.rates.lock_many(rules.iter().map(|r| r.key.as_str()));
        for (i, (rule, plan)) in rules.iter().zip(&plans).enumerate() {
            // A key repeated in one request sees the earlier rules' consumption.
            let tat = match rules[..i].iter().rposition(|r| r.key == rule.key) {
                Some(j) => next_tats[j],
                None => locked.shard(i).map.get(&rule.key).copied().unwrap_or(now),
            }
            .max(now);
            let fill = tat - now;
            allowed &= plan.fits(fill);
            fills.push(fill);
            next_tats.push(tat + plan.step_us().unwrap_or(0));
        }
        for (i, rule) in rules.iter().enumerate() {
            let shard = locked.shard(i);
            if allowed {
                let tat = next_tats[i];
                if tat <= now {
                    shard.map.remove(&rule.key);
                } else if let Some(stored) = shard.map.get_mut(&rule.key) {
                    *stored = tat;
                } else {
                    shard.map.insert(rule.key.clone(), tat);
                }
            }
            shard.tick(|&tat| tat <= now);
        }
        drop(locked);
        Ok(gcra::decision(&plans, &fills, allowed))
    }

    /// Synchronous [`Limiter::refund_rate`].
    pub fn refund_rate_now(
        &self,
        rule: &RateRule,
        units: u64,
        now_ms: u64,
    ) -> Result<(), LimiterError> {
        let now = gcra::now_us(now_ms)?;
        let back = RatePlan::new(rule)?.units_us(units);
        let mut shard = self.rates.lock(&rule.key);
        if let Some(tat) = shard.map.get_mut(&rule.key) {
            *tat = tat.saturating_sub(back);
            if *tat <= now {
                shard.map.remove(&rule.key);
            }
        }
        Ok(())
    }

    /// Synchronous [`Limiter::reserve`].
    pub fn reserve_now(&self, rules: &[QuotaRule]) -> Result<QuotaDecision, LimiterError> {
        let now = Instant::now();
        let mut locked = self
            .counters
            .lock_many(rules.iter().map(|r| r.key.as_str()));
        let mut usages: Vec<u64> = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            let current = match rules[..i].iter().rposition(|r| r.key == rule.key) {
                Some(j) => usages[j],
                None => {
                    let live = locked
                        .shard(i)
                        .map
                        .get(&rule.key)
                        .filter(|c| alive(c.expires_at, now));
                    match live {
                        Some(counter) => counter.value,
                        None => return Ok(QuotaDecision::Unseeded { index: i }),
                    }
                }
            };
            let after = current.checked_add(rule.amount).ok_or_else(|| {
                LimiterError::Backend(format!("quota counter {:?} would overflow", rule.key))
            })?;
            if let Some(limit) = rule.hard_limit {
                if after > limit {
                    return Ok(QuotaDecision::Exceeded {
                        index: i,
                        current_usage: current,
                        limit,
                        requested: rule.amount,
                    });
                }
            }
            usages.push(after);
        }
        for (i, rule) in rules.iter().enumerate() {
            let shard = locked.shard(i);
            if let Some(counter) = shard.map.get_mut(&rule.key) {
                counter.value = usages[i];
                if rule.ttl_secs > 0 {
                    counter.expires_at = expiry(rule.ttl_secs, now);
                }
            }
            shard.tick(|c| !alive(c.expires_at, now));
        }
        Ok(QuotaDecision::Reserved { usages })
    }

    fn adjust_inner(&self, key: &str, delta: i64, ttl_secs: u64, create: bool) -> Option<u64> {
        let now = Instant::now();
        let mut shard = self.counters.lock(key);
        shard.tick(|c| !alive(c.expires_at, now));
        let existing = shard
            .map
            .get(key)
            .copied()
            .filter(|c| alive(c.expires_at, now));
        if existing.is_none() && !create {
            return None;
        }
        let current = existing.map_or(0, |c| c.value);
        let value = if delta < 0 {
            current.saturating_sub(delta.unsigned_abs())
        } else {
            current.saturating_add(delta.unsigned_abs())
        };
        let expires_at = if ttl_secs > 0 {
            expiry(ttl_secs, now)
        } else {
            existing.and_then(|c| c.expires_at)
        };
        shard
            .map
            .insert(key.to_owned(), Counter { value, expires_at });
        Some(value)
    }

    /// Synchronous [`Limiter::adjust`].
    pub fn adjust_now(&self, key: &str, delta: i64, ttl_secs: u64) -> u64 {
        self.adjust_inner(key, delta, ttl_secs, true).unwrap_or(0)
    }

    /// Synchronous [`Limiter::adjust_existing`].
    pub fn adjust_existing_now(&self, key: &str, delta: i64, ttl_secs: u64) -> Option<u64> {
        self.adjust_inner(key, delta, ttl_secs, false)
    }

    /// Synchronous [`Limiter::seed`].
    pub fn seed_now(&self, key: &str, value: u64, ttl_secs: u64) -> u64 {
        let now = Instant::now();
        let mut shard = self.counters.lock(key);
        shard.tick(|c| !alive(c.expires_at, now));
        if let Some(counter) = shard.map.get(key).filter(|c| alive(c.expires_at, now)) {
            return counter.value;
        }
        let expires_at = expiry(ttl_secs, now);
        shard
            .map
            .insert(key.to_owned(), Counter { value, expires_at });
        value
    }

    /// Synchronous [`Limiter::get`].
    pub fn get_now(&self, key: &str) -> Option<u64> {
        let now = Instant::now();
        let shard = self.counters.lock(key);
        shard
            .map
            .get(key)
            .filter(|c| alive(c.expires_at, now))
            .map(|c| c.value)
    }

    /// Synchronous [`Limiter::mark_once`].
    pub fn mark_once_now(&self, key: &str, ttl_secs: u64) -> bool {
        let now = Instant::now();
        let mut shard = self.marks.lock(key);
        shard.tick(|&expires_at| !alive(expires_at, now));
        if shard.map.get(key).is_some_and(|&e| alive(e, now)) {
            return false;
        }
        shard.map.insert(key.to_owned(), expiry(ttl_secs, now));
        true
    }

    /// Entries currently held (rate buckets, counters, marks), including expired ones
    /// not yet swept. For tests and metrics.
    pub fn entries(&self) -> usize {
        self.rates.len() + self.counters.len() + self.marks.len()
    }
}

#[async_trait::async_trait]
impl Limiter for LocalLimiter {
    async fn check_rates(
        &self,
        rules: &[RateRule],
        now_ms: u64,
    ) -> Result<RateDecision, LimiterError> {
        self.check_rates_now(rules, now_ms)
    }

    async fn refund_rate(
        &self,
        rule: &RateRule,
        units: u64,
        now_ms: u64,
    ) -> Result<(), LimiterError> {
        self.refund_rate_now(rule, units, now_ms)
    }

    async fn reserve(&self, rules: &[QuotaRule]) -> Result<QuotaDecision, LimiterError> {
        self.reserve_now(rules)
    }

    async fn adjust(&self, key: &str, delta: i64, ttl_secs: u64) -> Result<u64, LimiterError> {
        Ok(self.adjust_now(key, delta, ttl_secs))
    }

    async fn adjust_existing(
        &self,
        key: &str,
        delta: i64,
        ttl_secs: u64,
    ) -> Result<Option<u64>, LimiterError> {
        Ok(self.adjust_existing_now(key, delta, ttl_secs))
    }

    async fn seed(&self, key: &str, value: u64, ttl_secs: u64) -> Result<u64, LimiterError> {
        Ok(self.seed_now(key, value, ttl_secs))
    }

    async fn get(&self, key: &str) -> Result<Option<u64>, LimiterError> {
        Ok(self.get_now(key))
    }

    async fn mark_once(&self, key: &str, ttl_secs: u64) -> Result<bool, LimiterError> {
        Ok(self.mark_once_now(key, ttl_secs))
    }

    async fn ping(&self) -> Result<(), LimiterError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn idle_rate_buckets_are_swept() {
        let limiter = LocalLimiter::new();
        let now = 1_700_000_000_000;
        for i in 0..3000 {
            let rule = RateRule::new(format!("k{i}"), 10, 1000, 1);
            assert!(limiter.check_rates_now(&[rule], now).unwrap().allowed);
        }
        assert_eq!(limiter.rates.len(), 3000);
        // Long after every bucket refilled, enough traffic sweeps them all away.
        let later = now + 10_000;
        for i in 0..64_000 {
            let rule = RateRule::new(format!("fresh{i}"), 10, 1000, 0);
            limiter.check_rates_now(&[rule], later).unwrap();
        }
        assert!(limiter.rates.len() < 100, "left {}", limiter.rates.len());
    }

    #[test]
    fn zero_cost_on_an_idle_bucket_stores_nothing() {
        let limiter = LocalLimiter::new();
        let rule = RateRule::new("k", 10, 1000, 0);
        let decision = limiter.check_rates_now(&[rule], 5_000).unwrap();
        assert!(decision.allowed);
        assert_eq!(decision.statuses[0].remaining, 10);
        assert_eq!(limiter.entries(), 0);
    }
}
