//! The GCRA arithmetic shared by every limiter, in whole microseconds.
//!
//! State per bucket is one number, the theoretical arrival time `tat` (µs since the
//! epoch). The limiters only read and write `tat`; everything else is computed here so
//! the in-process and Redis limiters decide identically. The Redis script receives the
//! precomputed `step` and `period` and only adds and compares, so its doubles never see
//! a number above 2^53.
//!
//! Words used below:
//! * `fill` = `max(tat, now) - now`, how much of the period the bucket has used;
//!   0 is an idle (full) bucket.
//! * `step(c)` = ⌊c · period / limit⌋, the time a request of cost `c` adds to `tat`.

use crate::types::{LimiterError, RateDecision, RateRule, RateStatus};

/// Longest period a rate rule may use (30 days).
pub const MAX_PERIOD_MS: u64 = 30 * 24 * 60 * 60 * 1000;

/// Latest `now_ms` accepted (year 2255); keeps `now + period` in µs below 2^53.
pub const MAX_NOW_MS: u64 = 9_000_000_000_000;

/// Converts a caller's millisecond clock to the µs used for state.
pub(crate) fn now_us(now_ms: u64) -> Result<u64, LimiterError> {
    if now_ms > MAX_NOW_MS {
        return Err(LimiterError::InvalidRule(format!(
            "now_ms {now_ms} is beyond the supported range"
        )));
    }
    Ok(now_ms * 1000)
}

/// A validated rule, ready to evaluate against a `fill`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RatePlan {
    limit: u64,
    period_ms: u64,
    period_us: u64,
    /// Time one unit adds; at least 1 µs.
    unit_us: u64,
    /// Time this request adds; `None` when its cost exceeds the limit (never fits).
    step_us: Option<u64>,
}

impl RatePlan {
    pub(crate) fn new(rule: &RateRule) -> Result<Self, LimiterError> {
        if rule.limit == 0 {
            return Err(invalid(rule, "limit must be at least 1"));
        }
        if rule.period_ms == 0 || rule.period_ms > MAX_PERIOD_MS {
            return Err(invalid(rule, "period_ms must be between 1 ms and 30 days"));
        }
        let period_us = rule.period_ms * 1000;
        if rule.limit > period_us {
            return Err(invalid(
                rule,
                "limit must not exceed one unit per microsecond",
            ));
        }
        Ok(Self {
            limit: rule.limit,
            period_ms: rule.period_ms,
            period_us,
            unit_us: step(1, period_us, rule.limit),
            step_us: (rule.cost <= rule.limit).then(|| step(rule.cost, period_us, rule.limit)),
        })
    }

    pub(crate) fn period_us(&self) -> u64 {
        self.period_us
    }

    /// The time this request adds to `tat`, or `None` when it can never fit.
    pub(crate) fn step_us(&self) -> Option<u64> {
        self.step_us
    }

    /// The time `units` add to `tat` (used for refunds); capped at the whole period.
    pub(crate) fn units_us(&self, units: u64) -> u64 {
        if units >= self.limit {
            self.period_us
        } else {
            step(units, self.period_us, self.limit)
        }
    }

    /// Whether the request fits a bucket whose current fill is `fill_us`.
    pub(crate) fn fits(&self, fill_us: u64) -> bool {
        match self.step_us {
            Some(step) => fill_us.saturating_add(step) <= self.period_us,
            None => false,
        }
    }

    /// The status to report for this rule given its fill before the decision and
    /// whether the request was consumed.
    pub(crate) fn status(&self, fill_before_us: u64, consumed: bool) -> RateStatus {
        let step = self.step_us.unwrap_or(0);
        let fill_after = if consumed {
            fill_before_us.saturating_add(step)
        } else {
            fill_before_us
        };
        let retry_after_ms = if consumed {
            0
        } else if self.step_us.is_none() {
            self.period_ms
        } else {
            ceil_ms(
                fill_before_us
                    .saturating_add(step)
                    .saturating_sub(self.period_us),
            )
        };
        RateStatus {
            limit: self.limit,
            remaining: (self.period_us.saturating_sub(fill_after) / self.unit_us).min(self.limit),
            reset_after_ms: ceil_ms(fill_after),
            retry_after_ms,
        }
    }
}

/// ⌊cost · period / limit⌋ without overflow.
fn step(cost: u64, period_us: u64, limit: u64) -> u64 {
    let exact = u128::from(cost) * u128::from(period_us) / u128::from(limit);
    u64::try_from(exact).unwrap_or(u64::MAX)
}

/// Microseconds to milliseconds, rounding up so that waiting that long is enough.
pub(crate) fn ceil_ms(us: u64) -> u64 {
    us.div_ceil(1000)
}

fn invalid(rule: &RateRule, why: &str) -> LimiterError {
    LimiterError::InvalidRule(format!(
        "rate rule {:?} ({} per {} ms): {why}",
        rule.key, rule.limit, rule.period_ms
    ))
}

/// Validates every rule of a request.
pub(crate) fn plans(rules: &[RateRule]) -> Result<Vec<RatePlan>, LimiterError> {
    rules.iter().map(RatePlan::new).collect()
}

/// Builds the decision from each rule's fill before the request (as seen inside the
/// atomic section, including earlier rules of the same request on the same key).
pub(crate) fn decision(plans: &[RatePlan], fills_us: &[u64], allowed: bool) -> RateDecision {
    RateDecision {
        allowed,
        statuses: plans
            .iter()
            .zip(fills_us)
            .map(|(plan, &fill)| plan.status(fill, allowed))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn plan(limit: u64, period_ms: u64, cost: u64) -> RatePlan {
        RatePlan::new(&RateRule::new("k", limit, period_ms, cost)).unwrap()
    }

    #[test]
    fn steps_are_exact_when_the_period_divides() {
        let p = plan(100, 60_000, 1);
        assert_eq!(p.step_us(), Some(600_000));
        assert_eq!(p.units_us(100), 60_000_000);
    }

    #[test]
    fn steps_round_down_for_uneven_periods() {
        let p = plan(7, 60_000, 3);
        // 3 * 60 000 000 / 7 = 25 714 285.7…
        assert_eq!(p.step_us(), Some(25_714_285));
        // A fresh bucket still admits all 7 units at once.
        assert!(plan(7, 60_000, 7).fits(0));
    }

    #[test]
    fn a_fresh_bucket_admits_exactly_the_limit() {
        let p = plan(10, 1000, 1);
        let mut fill = 0;
        let mut admitted = 0;
        while p.fits(fill) {
            fill += p.step_us().unwrap();
            admitted += 1;
        }
        assert_eq!(admitted, 10);
        let status = p.status(fill, false);
        assert_eq!(status.remaining, 0);
        assert_eq!(status.retry_after_ms, 100);
        assert_eq!(status.reset_after_ms, 1000);
    }

    #[test]
    fn cost_above_limit_never_fits_and_waits_a_period() {
        let p = plan(10, 1000, 11);
        assert!(!p.fits(0));
        assert_eq!(p.status(0, false).retry_after_ms, 1000);
        assert_eq!(p.status(0, false).remaining, 10);
    }

    #[test]
    fn statuses_after_consuming() {
        let p = plan(100, 60_000, 1);
        let s = p.status(0, true);
        assert_eq!(s.remaining, 99);
        assert_eq!(s.reset_after_ms, 600);
        assert_eq!(s.retry_after_ms, 0);
    }

    #[test]
    fn retry_after_rounds_up() {
        let p = plan(3, 1000, 1); // step 333 333 µs
        let s = p.status(1_000_000, false);
        assert_eq!(s.retry_after_ms, 334);
    }

    #[test]
    fn invalid_rules_are_rejected() {
        assert!(RatePlan::new(&RateRule::new("k", 0, 1000, 1)).is_err());
        assert!(RatePlan::new(&RateRule::new("k", 1, 0, 1)).is_err());
        assert!(RatePlan::new(&RateRule::new("k", 1, MAX_PERIOD_MS + 1, 1)).is_err());
        assert!(RatePlan::new(&RateRule::new("k", 1001, 1, 1)).is_err());
        assert!(now_us(MAX_NOW_MS + 1).is_err());
    }

    #[test]
    fn zero_cost_reports_without_consuming_time() {
        let p = plan(10, 1000, 0);
        assert!(p.fits(1_000_000));
        assert!(!p.fits(1_000_001));
    }
}
