//! The [`Limiter`] shared by every replica, kept in Redis.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{FromRedisValue, Script, ScriptInvocation};

use super::{bounded, client, key_prefix, manager, Retry};
use crate::gcra::{self, RatePlan};
use crate::types::{LimiterError, QuotaDecision, QuotaRule, RateDecision, RateRule};
use crate::Limiter;

/// The Lua scripts, hashed once; `Script` runs them with EVALSHA and loads them on
/// `NOSCRIPT` (first use, or after Redis restarted).
struct Scripts {
    rate: Script,
    refund: Script,
    reserve: Script,
    adjust: Script,
    seed: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            rate: Script::new(include_str!("lua/rate.lua")),
            refund: Script::new(include_str!("lua/refund.lua")),
            reserve: Script::new(include_str!("lua/reserve.lua")),
            adjust: Script::new(include_str!("lua/adjust.lua")),
            seed: Script::new(include_str!("lua/seed.lua")),
        }
    }
}

/// The Redis [`Limiter`]: one Lua script per multi-key decision, keys under
/// `kobo:{namespace}:`, every call bounded by `op_timeout`.
///
/// Cheap to share behind an `Arc`; all calls multiplex over one connection that is
/// re-established in the background after a failure.
pub struct RedisLimiter {
    conn: ConnectionManager,
    prefix: String,
    op_timeout: Duration,
    scripts: Scripts,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("prefix", &self.prefix)
            .field("op_timeout", &self.op_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisLimiter {
    /// Connects to `url` (`redis://[:password@]host:port[/db]`, or `rediss://`).
    ///
    /// Fails with [`LimiterError::Unavailable`] when Redis cannot be reached now (the
    /// caller retries or exits), and with [`LimiterError::Config`] for a bad URL or
    /// namespace. Once connected, outages are survived without rebuilding the limiter.
    pub async fn connect(
        url: &str,
        namespace: &str,
        op_timeout: Duration,
    ) -> Result<Self, LimiterError> {
        let prefix = key_prefix(namespace)?;
        let conn = manager(client(url)?, op_timeout).await?;
        Ok(Self {
            conn,
            prefix,
            op_timeout,
            scripts: Scripts::new(),
        })
    }

    /// The prefix of every key this limiter writes, `kobo:{namespace}:`.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, kind: &str, key: &str) -> String {
        format!("{}{kind}:{key}", self.prefix)
    }

    async fn run_script<T>(
        &self,
        op: &'static str,
        retry: Retry,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, LimiterError>
    where
        T: FromRedisValue + Send,
    {
        bounded(
            &self.conn,
            self.op_timeout,
            op,
            retry,
            |mut conn| async move { invocation.invoke_async(&mut conn).await },
        )
        .await
    }

    async fn run_command<T>(
        &self,
        op: &'static str,
        retry: Retry,
        cmd: &redis::Cmd,
    ) -> Result<T, LimiterError>
    where
        T: FromRedisValue + Send,
    {
        bounded(
            &self.conn,
            self.op_timeout,
            op,
            retry,
            |mut conn| async move { cmd.query_async(&mut conn).await },
        )
        .await
    }
}

fn reply_error(op: &str, reply: &[i64]) -> LimiterError {
    LimiterError::Backend(format!("{op}: unexpected script reply {reply:?}"))
}

fn non_negative(op: &str, value: i64) -> Result<u64, LimiterError> {
    u64::try_from(value)
        .map_err(|_| LimiterError::Backend(format!("{op}: negative value {value} in reply")))
}

#[async_trait::async_trait]
impl Limiter for RedisLimiter {
    async fn check_rates(
        &self,
        rules: &[RateRule],
        now_ms: u64,
    ) -> Result<RateDecision, LimiterError> {
        let now = gcra::now_us(now_ms)?;
        let plans = gcra::plans(rules)?;
        let mut invocation = self.scripts.rate.prepare_invoke();
        invocation.arg(now);
        for (rule, plan) in rules.iter().zip(&plans) {
            invocation.key(self.key("rate", &rule.key));
            invocation.arg(plan.period_us());
            match plan.step_us() {
                Some(step) => invocation.arg(step),
                None => invocation.arg(-1),
            };
        }
        let reply: Vec<i64> = self
            .run_script("check_rates", Retry::IfNotSent, &invocation)
            .await?;
        let (allowed, fills) = match reply.split_first() {
            Some((&allowed, fills)) if fills.len() == rules.len() => (allowed == 1, fills),
            _ => return Err(reply_error("check_rates", &reply)),
        };
        let fills = fills
            .iter()
            .map(|&fill| non_negative("check_rates", fill))
            .collect::<Result<Vec<u64>, _>>()?;
        Ok(gcra::decision(&plans, &fills, allowed))
    }

    async fn refund_rate(
        &self,
        rule: &RateRule,
        units: u64,
        now_ms: u64,
    ) -> Result<(), LimiterError> {
        let now = gcra::now_us(now_ms)?;
        let back = RatePlan::new(rule)?.units_us(units);
        let mut invocation = self.scripts.refund.prepare_invoke();
        invocation
            .key(self.key("rate", &rule.key))
            .arg(now)
            .arg(back);
        let _: i64 = self
            .run_script("refund_rate", Retry::IfNotSent, &invocation)
            .await?;
        Ok(())
    }

    async fn reserve(&self, rules: &[QuotaRule]) -> Result<QuotaDecision, LimiterError> {
        if rules.is_empty() {
            return Ok(QuotaDecision::Reserved { usages: Vec::new() });
        }
        let mut invocation = self.scripts.reserve.prepare_invoke();
        for rule in rules {
            invocation.key(self.key("quota", &rule.key));
            invocation.arg(rule.amount);
            match rule.hard_limit {
                Some(limit) => invocation.arg(limit),
                None => invocation.arg(-1),
            };
            invocation.arg(rule.ttl_secs);
        }
        let reply: Vec<i64> = self
            .run_script("reserve", Retry::IfNotSent, &invocation)
            .await?;
        let index = |i: i64| usize::try_from(i).map_err(|_| reply_error("reserve", &reply));
        match reply.as_slice() {
            [0, usages @ ..] if usages.len() == rules.len() => Ok(QuotaDecision::Reserved {
                usages: usages
                    .iter()
                    .map(|&u| non_negative("reserve", u))
                    .collect::<Result<_, _>>()?,
            }),
            &[1, i, current, limit, requested] => Ok(QuotaDecision::Exceeded {
                index: index(i)?,
                current_usage: non_negative("reserve", current)?,
                limit: non_negative("reserve", limit)?,
                requested: non_negative("reserve", requested)?,
            }),
            &[2, i] => Ok(QuotaDecision::Unseeded { index: index(i)? }),
            _ => Err(reply_error("reserve", &reply)),
        }
    }

    async fn adjust(&self, key: &str, delta: i64, ttl_secs: u64) -> Result<u64, LimiterError> {
        let mut invocation = self.scripts.adjust.prepare_invoke();
        invocation
            .key(self.key("quota", key))
            .arg(delta)
            .arg(ttl_secs)
            .arg(1);
        let value: Option<u64> = self
            .run_script("adjust", Retry::IfNotSent, &invocation)
            .await?;
        value.ok_or_else(|| LimiterError::Backend("adjust: the counter was not created".into()))
    }

    async fn adjust_existing(
        &self,
        key: &str,
        delta: i64,
        ttl_secs: u64,
    ) -> Result<Option<u64>, LimiterError> {
        let mut invocation = self.scripts.adjust.prepare_invoke();
        invocation
            .key(self.key("quota", key))
            .arg(delta)
            .arg(ttl_secs)
            .arg(0);
        self.run_script("adjust_existing", Retry::IfNotSent, &invocation)
            .await
    }

    async fn seed(&self, key: &str, value: u64, ttl_secs: u64) -> Result<u64, LimiterError> {
        let mut invocation = self.scripts.seed.prepare_invoke();
        invocation
            .key(self.key("quota", key))
            .arg(value)
            .arg(ttl_secs);
        self.run_script("seed", Retry::Idempotent, &invocation)
            .await
    }

    async fn get(&self, key: &str) -> Result<Option<u64>, LimiterError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.key("quota", key));
        self.run_command("get", Retry::Idempotent, &cmd).await
    }

    async fn mark_once(&self, key: &str, ttl_secs: u64) -> Result<bool, LimiterError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key("once", key)).arg(1).arg("NX");
        if ttl_secs > 0 {
            cmd.arg("EX").arg(ttl_secs);
        }
        let set: Option<String> = self
            .run_command("mark_once", Retry::IfNotSent, &cmd)
            .await?;
        Ok(set.is_some())
    }

    async fn ping(&self) -> Result<(), LimiterError> {
        let _: String = self
            .run_command("ping", Retry::Idempotent, &redis::cmd("PING"))
            .await?;
        Ok(())
    }
}
