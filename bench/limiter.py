"""Limiter micro-benchmark: runs the criterion bench `kobo-limits/benches/limiter.rs`
several times and reports, per case, the median of criterion's per-run medians.

Usage: python3 bench/limiter.py (through bench/limiter.sh). Settings: BENCH_RUNS (3),
BENCH_NO_DOC=1 to leave docs/BENCHMARKS.md alone.
"""

from __future__ import annotations

import json
import os
import subprocess

import kobo_bench as kb

RUNS = int(os.environ.get("BENCH_RUNS", "3"))

CASES = [
    ("baseline", "atomic_add", "baseline: one `AtomicU64::fetch_add`"),
    ("baseline", "hashmap_get", "baseline: one `HashMap<String, u64>` lookup (gateway-shaped key)"),
    ("baseline", "mutex_hashmap_update", "baseline: lock a `parking_lot::Mutex`, find and bump one entry"),
    ("local", "check_rates_1_rule", "`check_rates`, 1 GCRA rule, allowed"),
    ("local", "check_rates_gateway_4_rules", "`check_rates`, the gateway's 4 rules (rpm + tpm, org + key), allowed"),
    ("local", "check_rates_4_rules_10k_tenants", "the same, cycling over 10,000 tenants"),
    ("local", "check_rates_refused", "`check_rates`, 1 rule, refused (bucket full)"),
    ("local", "reserve_gateway_2_quotas", "`reserve`, the gateway's 2 monthly quotas"),
    ("local", "admission_rates_and_quotas", "one request's whole admission: 4-rule `check_rates` + 2-quota `reserve`"),
]


def estimate_ns(target, group: str, name: str) -> float:
    path = target / "criterion" / group / name / "new" / "estimates.json"
    return json.loads(path.read_text())["median"]["point_estimate"]


def main() -> None:
    m = kb.machine()
    target = kb.target_dir()
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=kb.REPO,
                            capture_output=True, text=True).stdout.strip()
    results: dict[str, list[float]] = {f"{g}/{n}": [] for g, n, _ in CASES}
    for run in range(RUNS):
        kb.wait_for_quiet()
        kb.log(f"criterion run {run + 1} of {RUNS}")
        subprocess.run(
            ["cargo", "bench", "-p", "kobo-limits", "--bench", "limiter", "--", "--noplot"],
            cwd=kb.REPO,
            check=True,
        )
        for g, n, _ in CASES:
            results[f"{g}/{n}"].append(estimate_ns(target, g, n))
    kb.log(f"raw results: {kb.save_raw('limiter', {'machine': m, 'commit': commit, 'ns': results})}")
    lines = [
        f"Measured {kb.BENCH_DATE} on {kb.machine_line(m)}; Kobo `{commit}`. criterion 0.5 "
        f"(60 samples, 3 s each case), one thread; each figure is the median of {RUNS} runs' "
        "medians, with the lowest and highest run in brackets.",
        "",
        "| case | time per call (ns) |",
        "|---|--:|",
    ]
    for g, n, label in CASES:
        xs = results[f"{g}/{n}"]
        text = kb.spread(xs, "{:.1f}")
        if g == "local":
            text = f"**{kb.median(xs):.1f}** ({min(xs):.1f}–{max(xs):.1f})"
        lines.append(f"| {label} | {text} |")
    text = "\n".join(lines)
    print(text)
    if os.environ.get("BENCH_NO_DOC") != "1":
        kb.replace_block("limiter", text)


if __name__ == "__main__":
    main()
