//! What the mock does, chosen by the requested model name.

use std::time::Duration;

/// How long `slow` waits when the request has no `x-mock-delay-ms` header.
pub const DEFAULT_SLOW_DELAY: Duration = Duration::from_millis(2000);
/// Number of chunks of `long-stream`, and the pause between two of them.
pub const LONG_STREAM_CHUNKS: usize = 200;
pub const LONG_STREAM_INTERVAL: Duration = Duration::from_millis(20);
/// Number of chunks `die-midstream` sends before dropping the connection.
pub const DIE_AFTER_CHUNKS: usize = 3;

/// The behaviour selected by the `model` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// `echo`, and any name not listed here: answer with the last user message.
    Echo,
    /// `fail-503`: always 503.
    Fail503,
    /// `fail-500`: always 500.
    Fail500,
    /// `flaky-503`: the first request (per `x-test-id` value, or per process without the
    /// header) gets 503; later ones are answered like `echo`.
    Flaky503,
    /// `slow`: waits `x-mock-delay-ms` milliseconds (default 2000) before sending the
    /// headers; `slow-<ms>` waits `<ms>` milliseconds. Then answers like `echo`.
    Slow(Option<u64>),
    /// `stall-stream`: streams the opening frames and the first word chunk, then never
    /// sends anything again (a non-stream request is answered like `echo`).
    StallStream,
    /// `die-midstream`: streams the opening frames and 3 word chunks, then drops the
    /// connection without ending the body (a non-stream request is answered like `echo`).
    DieMidstream,
    /// `no-usage`: answers without any `usage` (no usage chunk in streams either).
    NoUsage,
    /// `bad-request`: 400 with the error message "mock: bad request".
    BadRequest,
    /// `long-stream`: streams 200 chunks (`w1`, ` w2`, ...) 20 ms apart.
    LongStream,
}

impl Behaviour {
    pub fn from_model(model: &str) -> Behaviour {
        match model {
            "fail-503" => Behaviour::Fail503,
            "fail-500" => Behaviour::Fail500,
            "flaky-503" => Behaviour::Flaky503,
            "slow" => Behaviour::Slow(None),
            "stall-stream" => Behaviour::StallStream,
            "die-midstream" => Behaviour::DieMidstream,
            "no-usage" => Behaviour::NoUsage,
            "bad-request" => Behaviour::BadRequest,
            "long-stream" => Behaviour::LongStream,
            other => match other.strip_prefix("slow-").map(str::parse::<u64>) {
                Some(Ok(ms)) => Behaviour::Slow(Some(ms)),
                _ => Behaviour::Echo,
            },
        }
    }

    /// The names listed by `GET /v1/models`.
    pub const MODEL_NAMES: [&'static str; 10] = [
        "echo",
        "fail-503",
        "fail-500",
        "flaky-503",
        "slow",
        "stall-stream",
        "die-midstream",
        "no-usage",
        "bad-request",
        "long-stream",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(Behaviour::from_model("gpt-4o"), Behaviour::Echo);
        assert_eq!(
            Behaviour::from_model("slow-150"),
            Behaviour::Slow(Some(150))
        );
        assert_eq!(Behaviour::from_model("slow-x"), Behaviour::Echo);
        for name in Behaviour::MODEL_NAMES {
            let b = Behaviour::from_model(name);
            assert!(name == "echo" || b != Behaviour::Echo, "{name}");
        }
    }
}
