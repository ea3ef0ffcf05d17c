//! The values that cross the [`Limiter`](crate::Limiter) boundary.

/// One GCRA rule: at most `limit` units per `period_ms`; this request costs `cost` units.
///
/// `key` names the bucket (for example `rpm:key:01J…` or `tpm:org:01J…`); two rules with
/// the same key share one bucket, whatever their limits, so put the limit's identity in
/// the key when a plan change must start a fresh bucket.
///
/// Valid rules have `1 <= limit <= period_ms * 1000` (state is kept in whole µs, so at
/// most 60 000 000 units per minute; count bigger quantities in coarser units) and
/// `1 ms <= period_ms <= 30 days`; others are [`LimiterError::InvalidRule`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RateRule {
    pub key: String,
    pub limit: u64,
    pub period_ms: u64,
    pub cost: u64,
}

impl RateRule {
    /// A rule costing `cost` units of `limit` per `period_ms`.
    pub fn new(key: impl Into<String>, limit: u64, period_ms: u64, cost: u64) -> Self {
        Self {
            key: key.into(),
            limit,
            period_ms,
            cost,
        }
    }

    /// `limit` units per minute.
    pub fn per_minute(key: impl Into<String>, limit: u64, cost: u64) -> Self {
        Self::new(key, limit, 60_000, cost)
    }
}

/// Per-rule status after a decision, enough for OpenAI-style `x-ratelimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateStatus {
    /// The rule's `limit`.
    pub limit: u64,
    /// How many more unit-cost requests would fit right now (after this decision).
    pub remaining: u64,
    /// Milliseconds until the bucket is full again (`x-ratelimit-reset-*`).
    pub reset_after_ms: u64,
    /// Milliseconds until this request would fit under this rule; 0 when it fits.
    pub retry_after_ms: u64,
}

/// The outcome of [`Limiter::check_rates`](crate::Limiter::check_rates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateDecision {
    /// True when every rule admitted the request and all of them were consumed.
    pub allowed: bool,
    /// `statuses[i]` belongs to `rules[i]`.
    pub statuses: Vec<RateStatus>,
}

impl RateDecision {
    /// How long the caller should wait before retrying (`Retry-After`): the largest
    /// per-rule wait; 0 when the request was allowed.
    pub fn retry_after_ms(&self) -> u64 {
        if self.allowed {
            return 0;
        }
        self.statuses
            .iter()
            .map(|s| s.retry_after_ms)
            .max()
            .unwrap_or(0)
    }

    /// Index of the first rule that refused the request, if any.
    pub fn refused_by(&self) -> Option<usize> {
        if self.allowed {
            return None;
        }
        self.statuses.iter().position(|s| s.retry_after_ms > 0)
    }
}

/// One quota counter to reserve on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QuotaRule {
    /// Counter name, for example `tokens:org:01J…:2025-07`.
    pub key: String,
    /// Units to add to the counter.
    pub amount: u64,
    /// Refuse when the counter would pass this value; `None` = unlimited (still counted).
    pub hard_limit: Option<u64>,
    /// Expiry (re)set on the counter whenever it is written; 0 leaves the expiry as it is
    /// (a counter created with 0 never expires).
    pub ttl_secs: u64,
}

impl QuotaRule {
    pub fn new(
        key: impl Into<String>,
        amount: u64,
        hard_limit: Option<u64>,
        ttl_secs: u64,
    ) -> Self {
        Self {
            key: key.into(),
            amount,
            hard_limit,
            ttl_secs,
        }
    }
}

/// The outcome of [`Limiter::reserve`](crate::Limiter::reserve).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaDecision {
    /// Every counter was incremented; `usages[i]` is rule `i`'s counter afterwards.
    Reserved { usages: Vec<u64> },
    /// Rule `index` would pass its hard limit; nothing was reserved.
    Exceeded {
        index: usize,
        current_usage: u64,
        limit: u64,
        requested: u64,
    },
    /// Rule `index`'s counter does not exist (first use, expired, or the store lost it);
    /// nothing was reserved. The caller must [`seed`](crate::Limiter::seed) it from the
    /// usage records in the database, then retry.
    Unseeded { index: usize },
}

impl QuotaDecision {
    pub fn is_reserved(&self) -> bool {
        matches!(self, Self::Reserved { .. })
    }
}

/// Why a limiter call failed. Callers fail closed on every variant.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum LimiterError {
    /// The store could not be reached or did not answer in time.
    #[error("limiter store unavailable: {0}")]
    Unavailable(String),
    /// A rule or argument that no limiter can evaluate (zero limit, period too long…).
    #[error("invalid limiter rule: {0}")]
    InvalidRule(String),
    /// The store answered with an error or a reply this crate does not understand
    /// (for example a counter key holding something that is not a number).
    #[error("limiter store error: {0}")]
    Backend(String),
    /// A bad connection URL or similar start-up mistake.
    #[error("limiter configuration error: {0}")]
    Config(String),
}

impl LimiterError {
    /// True when retrying later may succeed (the store is down or slow).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}
