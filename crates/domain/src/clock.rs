//! The process clock. Every date decision reads it, so tests and demos can move time.
//!
//! `KOBO_TEST_NOW` (tests and demos only) starts the clock at a given instant; it then
//! advances at the real rate, so timeouts and durations still behave.

use chrono::{DateTime, Duration, Utc};
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct Clock {
    /// `None`: the system clock. `Some`: (`start`, the real instant it was set).
    anchor: Option<(DateTime<Utc>, Instant)>,
}

impl Clock {
    pub fn system() -> Self {
        Self { anchor: None }
    }

    /// A clock that reads `start` now and moves on in real time.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            anchor: Some((start, Instant::now())),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self.anchor {
            None => Utc::now(),
            Some((start, at)) => {
                let elapsed = Duration::from_std(at.elapsed()).unwrap_or(Duration::zero());
                start + elapsed
            }
        }
    }

    /// Milliseconds since the Unix epoch, the stored form of every instant.
    pub fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }

    pub fn is_test_clock(&self) -> bool {
        self.anchor.is_some()
    }
}

/// An instant stored as milliseconds since the epoch, back to a `DateTime`.
pub fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_clock_starts_at_the_given_instant() {
        let start = DateTime::parse_from_rfc3339("2026-12-31T23:30:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        let clock = Clock::starting_at(start);
        let now = clock.now();
        assert!(now >= start && now - start < Duration::seconds(5));
        assert!(clock.is_test_clock());
    }
}
