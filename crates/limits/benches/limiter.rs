//! The cost of one in-process limiter decision, beside trivial baselines measured in the
//! same run. Run with `cargo bench -p kobo-limits --bench limiter`; `bench/limiter.sh`
//! runs it several times and writes the medians to docs/BENCHMARKS.md.
//!
//! Cases, all on one thread (the gateway calls the limiter from many tasks, but a
//! decision itself takes only the mutexes of its own shards):
//!
//! * `baseline/atomic_add` — one `AtomicU64::fetch_add`, the floor of any counter;
//! * `baseline/hashmap_get` — one `HashMap<String, u64>` lookup by a gateway-shaped key;
//! * `baseline/mutex_hashmap_update` — lock a `parking_lot::Mutex`, look up and bump one
//!   entry: what a naive shared limiter would do at least;
//! * `local/check_rates_1_rule` — one GCRA rule, allowed;
//! * `local/check_rates_gateway_4_rules` — the gateway's rate call: requests/min and
//!   tokens/min for the organization and for the key, in one atomic decision;
//! * `local/check_rates_4_rules_10k_tenants` — the same across 10,000 tenants (cold-ish
//!   caches, a bigger map);
//! * `local/check_rates_refused` — a bucket that is full, so the decision refuses;
//! * `local/reserve_gateway_2_quotas` — the gateway's quota call: monthly tokens and
//!   monthly calls reserved together;
//! * `local/admission_rates_and_quotas` — both calls, which is what one request costs the
//!   limiter before the upstream is called.

use std::cell::Cell;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use kobo_limits::{LocalLimiter, QuotaRule, RateRule};
use parking_lot::Mutex;

/// 2026-12-04T00:00:00Z in ms: a plausible wall clock.
const START_MS: u64 = 1_796_342_400_000;
const MINUTE_MS: u64 = 60_000;
/// Big enough never to refuse while the clock advances 1 ms per decision.
const HIGH_RPM: u64 = 1_000_000;
const HIGH_TPM: u64 = 50_000_000;

/// A synthetic clock: 1 ms later at every call, so buckets drain as in real traffic.
struct Clock(Cell<u64>);

impl Clock {
    fn new() -> Self {
        Self(Cell::new(START_MS))
    }
    fn tick(&self) -> u64 {
        let now = self.0.get() + 1;
        self.0.set(now);
        now
    }
}

/// The four rules the gateway checks for one request (org and key, requests and tokens).
fn gateway_rules(org: &str, key: &str, tokens: u64) -> Vec<RateRule> {
    vec![
        RateRule::new(format!("rpm:org:{org}"), HIGH_RPM, MINUTE_MS, 1),
        RateRule::new(format!("rpm:key:{key}"), HIGH_RPM, MINUTE_MS, 1),
        RateRule::new(format!("tpm:org:{org}"), HIGH_TPM, MINUTE_MS, tokens),
        RateRule::new(format!("tpm:key:{key}"), HIGH_TPM, MINUTE_MS, tokens),
    ]
}

fn gateway_quotas(org: &str) -> Vec<QuotaRule> {
    let ttl = 40 * 86_400;
    vec![
        QuotaRule::new(
            format!("quota:{org}:tokens:2026-12-01"),
            40,
            Some(1 << 50),
            ttl,
        ),
        QuotaRule::new(
            format!("quota:{org}:calls:2026-12-01"),
            1,
            Some(1 << 50),
            ttl,
        ),
    ]
}

const ORG: &str = "org_01JEZ3Q7W9K4M2N8P5R6S7T8V9";
const KEY: &str = "key_01JEZ3Q8A1B2C3D4E5F6G7H8J9";

fn baselines(c: &mut Criterion) {
    let mut g = c.benchmark_group("baseline");

    let counter = AtomicU64::new(0);
    g.bench_function("atomic_add", |b| {
        b.iter(|| black_box(counter.fetch_add(black_box(1), Ordering::Relaxed)))
    });

    let mut map: HashMap<String, u64> = HashMap::new();
    for i in 0..4096u64 {
        map.insert(format!("rpm:key:key_{i:026}"), i);
    }
    map.insert(format!("rpm:key:{KEY}"), 7);
    let wanted = format!("rpm:key:{KEY}");
    g.bench_function("hashmap_get", |b| {
        b.iter(|| black_box(map.get(black_box(wanted.as_str())).copied()))
    });

    let shared = Mutex::new(map.clone());
    g.bench_function("mutex_hashmap_update", |b| {
        b.iter(|| {
            let mut m = shared.lock();
            if let Some(v) = m.get_mut(black_box(wanted.as_str())) {
                *v += 1;
            }
        })
    });
    g.finish();
}

fn local(c: &mut Criterion) {
    let mut g = c.benchmark_group("local");

    let limiter = LocalLimiter::new();
    let clock = Clock::new();
    let one = [RateRule::new(
        format!("rpm:key:{KEY}"),
        HIGH_RPM,
        MINUTE_MS,
        1,
    )];
    g.bench_function("check_rates_1_rule", |b| {
        b.iter(|| black_box(limiter.check_rates_now(black_box(&one), clock.tick())))
    });

    let limiter = LocalLimiter::new();
    let clock = Clock::new();
    let rules = gateway_rules(ORG, KEY, 40);
    g.bench_function("check_rates_gateway_4_rules", |b| {
        b.iter(|| black_box(limiter.check_rates_now(black_box(&rules), clock.tick())))
    });

    let limiter = LocalLimiter::new();
    let clock = Clock::new();
    let tenants: Vec<Vec<RateRule>> = (0..10_000)
        .map(|i| gateway_rules(&format!("org_{i:026}"), &format!("key_{i:026}"), 40))
        .collect();
    let next = Cell::new(0usize);
    g.bench_function("check_rates_4_rules_10k_tenants", |b| {
        b.iter(|| {
            let i = next.get();
            next.set((i + 1) % tenants.len());
            black_box(limiter.check_rates_now(black_box(&tenants[i]), clock.tick()))
        })
    });

    // 10 requests a minute, clock frozen: after the first 10 every decision refuses.
    let limiter = LocalLimiter::new();
    let full = [RateRule::new(format!("rpm:key:{KEY}"), 10, MINUTE_MS, 1)];
    for _ in 0..10 {
        let _ = limiter.check_rates_now(&full, START_MS);
    }
    g.bench_function("check_rates_refused", |b| {
        b.iter(|| black_box(limiter.check_rates_now(black_box(&full), START_MS)))
    });

    let limiter = LocalLimiter::new();
    let quotas = gateway_quotas(ORG);
    for q in &quotas {
        limiter.seed_now(&q.key, 0, q.ttl_secs);
    }
    g.bench_function("reserve_gateway_2_quotas", |b| {
        b.iter(|| black_box(limiter.reserve_now(black_box(&quotas))))
    });

    let limiter = LocalLimiter::new();
    let clock = Clock::new();
    for q in &quotas {
        limiter.seed_now(&q.key, 0, q.ttl_secs);
    }
    g.bench_function("admission_rates_and_quotas", |b| {
        b.iter(|| {
            let rates = limiter.check_rates_now(black_box(&rules), clock.tick());
            let quota = limiter.reserve_now(black_box(&quotas));
            black_box((rates, quota))
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(60)
}

criterion_group! {
    name = benches;
    config = config();
    targets = baselines, local
}
criterion_main!(benches);
