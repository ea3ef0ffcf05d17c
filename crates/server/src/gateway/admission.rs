//! Rate limits and quota reservations on the hot path (capabilities 11 and 12).
//!
//! Before the upstream is called, one atomic `check_rates` covers requests/min and
//! tokens/min for the organization and the key, then one atomic `reserve` covers the
//! monthly token and call quotas and the key's daily cap: estimated prompt tokens +
//! `max_tokens` (or the plan's per-request cap) are reserved. After the answer, the
//! reservation is settled to the real figure. Counters are keyed by quota period, so a
//! new period starts from zero; a counter that is missing (a new period, a restarted
//! process, Redis that lost its memory) is rebuilt from the usage records before use.

use crate::error::ApiError;
use crate::gateway::tenants::Tenant;
use crate::settings::LimiterFailure;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use chrono::{DateTime, NaiveDate, Utc};
use kobo_domain::calendar::{self, BillingCycle, Period};
use kobo_domain::ids::{ApiKeyId, OrgId};
use kobo_limits::{Limiter, LimiterError, QuotaDecision, QuotaRule, RateDecision, RateRule};
use kobo_store::{NotificationRecord, QuotaPeriodRecord, Store, UsageRecord};
use rand::Rng;
use std::sync::Arc;

const MINUTE_MS: u64 = 60_000;
const DAY_SECS: u64 = 86_400;
/// Soft-limit thresholds, in percent of the hard limit.
const THRESHOLDS: [u64; 2] = [80, 100];

pub struct Admission {
    limiter: Arc<dyn Limiter>,
    fallback: Option<Arc<dyn Limiter>>,
    failure: LimiterFailure,
    store: Arc<dyn Store>,
}

/// What one request holds between admission and settlement.
#[derive(Clone)]
pub struct Ticket {
    limiter: Arc<dyn Limiter>,
    org: OrgId,
    period: Period,
    tokens_key: String,
    calls_key: String,
    day_key: Option<String>,
    tpm_rules: Vec<RateRule>,
    token_limit: Option<u64>,
    call_limit: Option<u64>,
    pub reserved_tokens: u64,
    pub headers: RateHeaders,
}

/// The values of the OpenAI-style `x-ratelimit-*` headers.
#[derive(Clone, Debug, Default)]
pub struct RateHeaders {
    pub limit_requests: Option<u64>,
    pub remaining_requests: u64,
    pub reset_requests_ms: u64,
    pub limit_tokens: Option<u64>,
    pub remaining_tokens: u64,
    pub reset_tokens_ms: u64,
}

impl RateHeaders {
    pub fn apply(&self, headers: &mut HeaderMap) {
        let mut put = |name: &'static str, v: String| {
            if let Ok(v) = HeaderValue::from_str(&v) {
                headers.insert(name, v);
            }
        };
        if let Some(l) = self.limit_requests {
            put("x-ratelimit-limit-requests", l.to_string());
            put(
                "x-ratelimit-remaining-requests",
                self.remaining_requests.to_string(),
            );
            put(
                "x-ratelimit-reset-requests",
                duration_text(self.reset_requests_ms),
            );
        }
        if let Some(l) = self.limit_tokens {
            put("x-ratelimit-limit-tokens", l.to_string());
            put(
                "x-ratelimit-remaining-tokens",
                self.remaining_tokens.to_string(),
            );
            put(
                "x-ratelimit-reset-tokens",
                duration_text(self.reset_tokens_ms),
            );
        }
    }
}

/// OpenAI's duration format: `20ms`, `1s`, `6m0s`.
pub fn duration_text(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = ms.div_ceil(1000);
    if secs < 60 {
        format!("{secs}s")
    } else {
        format!("{}m{}s", secs / 60, secs % 60)
    }
}

/// `Retry-After` seconds with jitter (×1.1–1.5, capped at 300 s), so clients spread out.
pub fn retry_after_secs(wait_ms: u64) -> u64 {
    let factor = rand::thread_rng().gen_range(110..=150);
    let ms = wait_ms.max(1).saturating_mul(factor) / 100;
    ms.div_ceil(1000).clamp(1, 300)
}

/// The quota period of an organization at `now`: from its billing anchor day, in Lagos time.
pub fn quota_period(tenant: &Tenant, now: DateTime<Utc>) -> Period {
    calendar::period_containing(tenant.org.billing_anchor_day, BillingCycle::Monthly, now)
}

fn day_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// What admission needs of the API key (none for session calls).
#[derive(Clone, Copy, Debug)]
pub struct KeyLimits {
    pub id: ApiKeyId,
    pub max_requests_per_day: Option<u64>,
    pub requests_per_minute: Option<u64>,
    pub tokens_per_minute: Option<u64>,
}

pub struct Request<'a> {
    pub tenant: &'a Tenant,
    pub key: Option<KeyLimits>,
    pub estimate_tokens: u64,
    pub now: DateTime<Utc>,
}

impl Admission {
    pub fn new(
        limiter: Arc<dyn Limiter>,
        fallback: Option<Arc<dyn Limiter>>,
        failure: LimiterFailure,
        store: Arc<dyn Store>,
    ) -> Self {
        Self {
            limiter,
            fallback,
            failure,
            store,
        }
    }

    pub async fn ping(&self) -> Result<(), LimiterError> {
        self.limiter.ping().await
    }

    /// Admits a request or refuses it with 429 (or 503 when the limiter is unreachable).
    pub async fn admit(&self, req: &Request<'_>) -> Result<Ticket, ApiError> {
        match self.admit_with(self.limiter.clone(), req).await {
            Err(AdmitError::Limiter(e)) if e.is_unavailable() => {
                match (&self.fallback, self.failure) {
                    (Some(local), LimiterFailure::OpenLocal) => {
                        tracing::warn!(error = %e, "Redis is unreachable: this replica enforces its own in-process limits.");
                        self.admit_with(local.clone(), req)
                            .await
                            .map_err(AdmitError::into_api)
                    }
                    _ => {
                        tracing::error!(error = %e, "Redis is unreachable: gateway requests fail closed.");
                        Err(ApiError::unavailable(
                            "rate_limiter_unavailable",
                            "the rate limiter is unavailable; retry shortly",
                            5,
                        ))
                    }
                }
            }
            other => other.map_err(AdmitError::into_api),
        }
    }

    async fn admit_with(
        &self,
        limiter: Arc<dyn Limiter>,
        req: &Request<'_>,
    ) -> Result<Ticket, AdmitError> {
        let t = req.tenant;
        let org = t.org.id;
        let now_ms = u64::try_from(req.now.timestamp_millis()).unwrap_or(0);
        let key_id = req.key.map(|k| k.id);

        // Rates: requests and tokens per minute, for the organization and the key.
        let mut rules = Vec::new();
        let mut request_rules = Vec::new();
        let mut token_rules = Vec::new();
        // A key's own limit is the operator's override for it, else the organization's.
        let key_rpm = req
            .key
            .and_then(|k| k.requests_per_minute.or(t.limits.requests_per_minute));
        let key_tpm = req
            .key
            .and_then(|k| k.tokens_per_minute.or(t.limits.tokens_per_minute));
        if let Some(rpm) = t.limits.requests_per_minute {
            request_rules.push(rules.len());
            rules.push(RateRule::new(format!("rpm:org:{org}"), rpm, MINUTE_MS, 1));
        }
        if let (Some(k), Some(rpm)) = (key_id, key_rpm) {
            request_rules.push(rules.len());
            rules.push(RateRule::new(format!("rpm:key:{k}"), rpm, MINUTE_MS, 1));
        }
        if let Some(tpm) = t.limits.tokens_per_minute {
            token_rules.push(rules.len());
            rules.push(RateRule::new(
                format!("tpm:org:{org}"),
                tpm,
                MINUTE_MS,
                req.estimate_tokens,
            ));
        }
        if let (Some(k), Some(tpm)) = (key_id, key_tpm) {
            token_rules.push(rules.len());
            rules.push(RateRule::new(
                format!("tpm:key:{k}"),
                tpm,
                MINUTE_MS,
                req.estimate_tokens,
            ));
        }
        let decision = if rules.is_empty() {
            RateDecision {
                allowed: true,
                statuses: Vec::new(),
            }
        } else {
            limiter
                .check_rates(&rules, now_ms)
                .await
                .map_err(AdmitError::Limiter)?
        };
        let headers = headers_of(&decision, &rules, &request_rules, &token_rules);
        if !decision.allowed {
            let wait = decision.retry_after_ms();
            let mut err = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_exceeded",
                "rate limit reached; retry after the time in Retry-After",
            )
            .retry_after(retry_after_secs(wait));
            let mut h = HeaderMap::new();
            headers.apply(&mut h);
            err.headers = Some(Box::new(h));
            return Err(AdmitError::Api(Box::new(err)));
        }
        let tpm_rules: Vec<RateRule> = token_rules.iter().map(|i| rules[*i].clone()).collect();

        // Quotas: reserve atomically, rebuilding missing counters from the usage records.
        let period = quota_period(t, req.now);
        let start = day_text(period.start_date());
        let ttl = u64::try_from((period.end - req.now).num_seconds()).unwrap_or(0) + 7 * DAY_SECS;
        let tokens_key = format!("quota:{org}:tokens:{start}");
        let calls_key = format!("quota:{org}:calls:{start}");
        let mut quota = vec![
            QuotaRule::new(
                tokens_key.clone(),
                req.estimate_tokens,
                t.limits.monthly_tokens,
                ttl,
            ),
            QuotaRule::new(calls_key.clone(), 1, t.limits.monthly_api_calls, ttl),
        ];
        let today = day_text(calendar::lagos_date(req.now));
        let day_key = match req.key.map(|k| (k.id, k.max_requests_per_day)) {
            Some((k, Some(cap))) => {
                let key = format!("quota:key:{k}:day:{today}");
                quota.push(QuotaRule::new(key.clone(), 1, Some(cap), 2 * DAY_SECS));
                Some(key)
            }
            _ => None,
        };
        let refund_rates = || {
            let limiter = limiter.clone();
            let rules = tpm_rules.clone();
            async move {
                for r in &rules {
                    let _ = limiter.refund_rate(r, r.cost, now_ms).await;
                }
            }
        };
        for _ in 0..4 {
            match limiter.reserve(&quota).await.map_err(AdmitError::Limiter)? {
                QuotaDecision::Reserved { .. } => {
                    return Ok(Ticket {
                        limiter,
                        org,
                        period,
                        tokens_key,
                        calls_key,
                        day_key,
                        tpm_rules,
                        token_limit: t.limits.monthly_tokens,
                        call_limit: t.limits.monthly_api_calls,
                        reserved_tokens: req.estimate_tokens,
                        headers,
                    });
                }
                QuotaDecision::Exceeded {
                    index,
                    current_usage,
                    limit,
                    requested,
                } => {
                    refund_rates().await;
                    let what = match index {
                        0 => "monthly_tokens",
                        1 => "monthly_api_calls",
                        _ => "api_key_daily_requests",
                    };
                    let err = ApiError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "quota_exceeded",
                        format!("the {} quota would be exceeded ({current_usage} used of {limit}, {requested} requested)", what.replace('_', " ")),
                    )
                    .with("quota", what)
                    .with("current_usage", current_usage)
                    .with("limit", limit)
                    .with("requested", requested)
                    .retry_after(if index == 2 { 3600 } else { 86_400 });
                    let mut err = err;
                    let mut h = HeaderMap::new();
                    headers.apply(&mut h);
                    err.headers = Some(Box::new(h));
                    return Err(AdmitError::Api(Box::new(err)));
                }
                QuotaDecision::Unseeded { index } => {
                    let rule = &quota[index];
                    let value = self
                        .rebuild(t, &period, index, key_id, &today)
                        .await
                        .map_err(AdmitError::Store)?;
                    limiter
                        .seed(&rule.key, value, rule.ttl_secs)
                        .await
                        .map_err(AdmitError::Limiter)?;
                }
            }
        }
        refund_rates().await;
        Err(AdmitError::Api(Box::new(ApiError::unavailable(
            "rate_limiter_unavailable",
            "quota counters could not be prepared; retry",
            1,
        ))))
    }

    /// The figure a missing counter starts from: what the usage records already hold.
    /// A new period also archives the previous one's figures.
    async fn rebuild(
        &self,
        t: &Tenant,
        period: &Period,
        index: usize,
        key: Option<ApiKeyId>,
        today: &str,
    ) -> Result<u64, kobo_store::StoreError> {
        if index == 2 {
            return match key {
                Some(k) => self.store.key_billed_requests(k, today).await,
                None => Ok(0),
            };
        }
        let first = day_text(period.start_date());
        let last = day_text(period.last_day());
        if index == 0 {
            self.archive_previous(t, period).await?;
        }
        let (tokens, calls) = self.store.billed_totals(t.org.id, &first, &last).await?;
        Ok(if index == 0 { tokens } else { calls })
    }

    async fn archive_previous(
        &self,
        t: &Tenant,
        period: &Period,
    ) -> Result<(), kobo_store::StoreError> {
        let before = period.start - chrono::Duration::milliseconds(1);
        let prev =
            calendar::period_containing(t.org.billing_anchor_day, BillingCycle::Monthly, before);
        if prev.end <= kobo_domain::clock::from_ms(t.org.created_at) {
            return Ok(()); // the organization did not exist then
        }
        let (first, last) = (day_text(prev.start_date()), day_text(prev.last_day()));
        let (tokens, api_calls) = self.store.billed_totals(t.org.id, &first, &last).await?;
        let rec = QuotaPeriodRecord {
            period_start: first,
            period_end: last,
            tokens,
            api_calls,
            archived_at: Utc::now().timestamp_millis(),
        };
        if self.store.archive_period(t.org.id, &rec).await? {
            tracing::info!(org_id = %t.org.id, period_start = %rec.period_start, tokens, api_calls, "A finished quota period was archived.");
        }
        Ok(())
    }

    /// Settles a ticket to what the request really used; records soft-limit warnings.
    pub async fn settle(&self, ticket: &Ticket, rec: &UsageRecord, now_ms: u64) {
        let l = &ticket.limiter;
        let billed = rec.billed();
        let actual = if billed {
            rec.prompt_tokens + rec.completion_tokens
        } else {
            0
        };
        let delta = i64::try_from(actual).unwrap_or(i64::MAX)
            - i64::try_from(ticket.reserved_tokens).unwrap_or(i64::MAX);
        let ttl = 0; // keep the counters' expiry
        let tokens_now = l.adjust_existing(&ticket.tokens_key, delta, ttl).await;
        let calls_now = if billed {
            l.get(&ticket.calls_key)
                .await
                .map(|v| v.unwrap_or(0))
                .map(Some)
        } else {
            if let Some(day) = &ticket.day_key {
                let _ = l.adjust_existing(day, -1, ttl).await;
            }
            l.adjust_existing(&ticket.calls_key, -1, ttl).await
        };
        if actual < ticket.reserved_tokens {
            for r in &ticket.tpm_rules {
                let _ = l
                    .refund_rate(r, ticket.reserved_tokens - actual, now_ms)
                    .await;
            }
        }
        if let Ok(Some(used)) = tokens_now {
            self.warn_thresholds(ticket, "monthly_tokens", used, ticket.token_limit)
                .await;
        }
        if let Ok(Some(used)) = calls_now {
            self.warn_thresholds(ticket, "monthly_api_calls", used, ticket.call_limit)
                .await;
        }
    }

    async fn warn_thresholds(&self, ticket: &Ticket, quota: &str, used: u64, limit: Option<u64>) {
        let Some(limit) = limit.filter(|l| *l > 0) else {
            return;
        };
        let start = day_text(ticket.period.start_date());
        for pct in THRESHOLDS {
            if u128::from(used) * 100 < u128::from(limit) * u128::from(pct) {
                continue;
            }
            let mark = format!("soft:{}:{quota}:{start}:{pct}", ticket.org);
            match ticket.limiter.mark_once(&mark, 40 * DAY_SECS).await {
                Ok(true) | Err(_) => {
                    // The outbox row is unique per (org, quota, period, threshold): once, even
                    // if the mark was lost and set again.
                    let n = NotificationRecord {
                        id: uuid::Uuid::now_v7().to_string(),
                        org_id: ticket.org,
                        kind: "quota.warning".into(),
                        dedupe_key: format!("quota.warning:{}:{quota}:{start}:{pct}", ticket.org),
                        payload: serde_json::json!({"quota": quota, "threshold_percent": pct, "current_usage": used, "limit": limit, "period_start": start}).to_string(),
                        created_at: Utc::now().timestamp_millis(),
                    };
                    match self.store.notify(&n).await {
                        Ok(true) => {
                            tracing::info!(org_id = %ticket.org, quota, threshold = pct, used, limit, "A soft quota threshold was crossed.")
                        }
                        Ok(false) => {}
                        Err(e) => {
                            tracing::error!(error = %e, "A quota warning could not be written to the outbox.")
                        }
                    }
                }
                Ok(false) => {}
            }
        }
    }
}

enum AdmitError {
    Api(Box<ApiError>),
    Limiter(LimiterError),
    Store(kobo_store::StoreError),
}

impl AdmitError {
    fn into_api(self) -> ApiError {
        match self {
            AdmitError::Api(e) => *e,
            AdmitError::Limiter(e) if e.is_unavailable() => ApiError::unavailable(
                "rate_limiter_unavailable",
                "the rate limiter is unavailable; retry shortly",
                5,
            ),
            AdmitError::Limiter(e) => ApiError::internal(&e),
            AdmitError::Store(e) => e.into(),
        }
    }
}

/// The tightest of the organization's and the key's figures.
fn headers_of(
    d: &RateDecision,
    rules: &[RateRule],
    requests: &[usize],
    tokens: &[usize],
) -> RateHeaders {
    let mut h = RateHeaders::default();
    let pick = |idx: &[usize]| -> Option<(u64, u64, u64)> {
        idx.iter()
            .filter_map(|i| {
                d.statuses
                    .get(*i)
                    .map(|s| (rules[*i].limit, s.remaining, s.reset_after_ms))
            })
            .min_by_key(|(_, remaining, _)| *remaining)
    };
    if let Some((l, r, s)) = pick(requests) {
        h.limit_requests = Some(l);
        h.remaining_requests = r;
        h.reset_requests_ms = s;
    }
    if let Some((l, r, s)) = pick(tokens) {
        h.limit_tokens = Some(l);
        h.remaining_tokens = r;
        h.reset_tokens_ms = s;
    }
    h
}

impl Admission {
    /// The live (tokens, calls) counters of the current period, where the limiter has them.
    pub async fn counters(
        &self,
        tenant: &Tenant,
        now: DateTime<Utc>,
    ) -> (Option<u64>, Option<u64>) {
        let start = day_text(quota_period(tenant, now).start_date());
        let org = tenant.org.id;
        let tokens = self
            .limiter
            .get(&format!("quota:{org}:tokens:{start}"))
            .await
            .ok()
            .flatten();
        let calls = self
            .limiter
            .get(&format!("quota:{org}:calls:{start}"))
            .await
            .ok()
            .flatten();
        (tokens, calls)
    }
}
