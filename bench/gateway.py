"""Gateway load benchmark: Kobo in front of the mock upstream, against the mock alone.

For each configuration (journal durability fsync / os × limiter in-process / Redis) a
fresh Kobo (release build, its own SQLite data folder) is started with an `openai`
upstream pointing at one shared mock upstream process. A tenant is signed up, given an
API key, moved to the enterprise plan and given very high (not unlimited) limits, so
every request still goes through the rate limiter, the quota reservation, metering and
the usage journal without ever being refused. Then wrk drives
`POST /v1/chat/completions` at each fixed concurrency, alternating runs straight to the
mock (the baseline) and through Kobo, several times; the tables show medians.

Run through bench/gateway.sh, which checks the tools first. Settings (environment):
BENCH_RUNS (3), BENCH_DURATION (10 s), BENCH_CONCURRENCY ("1 16 64"),
BENCH_CONFIGS ("fsync/local os/local fsync/redis os/redis"), BENCH_REDIS_URL
(redis://127.0.0.1:6379), BENCH_TMP (/var/tmp: a real disk, not tmpfs, since the fsync
figures must be the disk's), BENCH_NO_DOC=1 to leave docs/BENCHMARKS.md alone.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import kobo_bench as kb

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
DURATION = int(os.environ.get("BENCH_DURATION", "10"))
CONCURRENCY = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "1 16 64").split()]
CONFIGS = os.environ.get("BENCH_CONFIGS", "fsync/local os/local fsync/redis os/redis").split()
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
TMP_PARENT = os.environ.get("BENCH_TMP", "/var/tmp")
LUA = str(Path(__file__).resolve().parent / "chat.lua")
WARMUP_S = 3
OPERATOR = ("bench-operator@kobo.test", "bench-operator-password-1")
PROMPT = "Hello from Lagos, this is a gateway benchmark request"


def body(model: str) -> str:
    return json.dumps(
        {"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 16},
        separators=(",", ":"),
    )


# --- the disk's own fdatasync -------------------------------------------------------


def fdatasync_latency(directory: Path, count: int = 1000, line_bytes: int = 480) -> dict:
    """Appends `line_bytes` (about one journal line) and fdatasyncs, `count` times: the
    same system calls as one group commit of the usage journal."""
    path = directory / "fsync-probe.bin"
    line = b"x" * (line_bytes - 1) + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    samples = []
    try:
        for _ in range(count):
            os.write(fd, line)
            t0 = time.perf_counter_ns()
            os.fdatasync(fd)
            samples.append((time.perf_counter_ns() - t0) / 1000)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    samples.sort()
    return {
        "p50_us": kb.percentile(samples, 50),
        "p99_us": kb.percentile(samples, 99),
        "mean_us": sum(samples) / len(samples),
        "max_us": samples[-1],
    }


# --- processes ----------------------------------------------------------------------


def start_mock(bin_dir: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [str(bin_dir / "kobo-mock-upstream"), "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=open(log_path, "wb"),
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        kb.stop(proc)
        raise RuntimeError(f"the mock upstream said {line!r}")
    return proc, line.removeprefix("listening on ")


def write_config(work: Path, port: int, mock_addr: str) -> Path:
    cfg = work / "kobo.toml"
    cfg.write_text(
        f"""# Written by bench/gateway.py for one benchmark run.
listen = "127.0.0.1:{port}"
data_dir = "{work / 'data'}"
public_url = "http://127.0.0.1:{port}"
log_format = "json"

[[upstreams]]
name = "bench-mock"
kind = "openai"
base_url = "http://{mock_addr}/v1"

[[models]]
name = "bench-echo"
upstream = "bench-mock"
upstream_model = "echo"
input_price_per_1k_kobo = 22
output_price_per_1k_kobo = 88
input_cost_per_1k_micro_usd = 150
output_cost_per_1k_micro_usd = 600
"""
    )
    return cfg


def start_kobo(
    bin_dir: Path, work: Path, cfg: Path, durability: str, redis_ns: str | None
) -> tuple[subprocess.Popen, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("KOBO_") and k != "RUST_LOG"
    }
    env.update(
        KOBO_USAGE_JOURNAL_DURABILITY=durability,
        KOBO_OPERATOR_EMAIL=OPERATOR[0],
        KOBO_OPERATOR_PASSWORD=OPERATOR[1],
    )
    if redis_ns is not None:
        env.update(KOBO_REDIS_URL=REDIS_URL, KOBO_REDIS_NAMESPACE=redis_ns)
    proc = subprocess.Popen(
        [str(bin_dir / "kobo"), "--config", str(cfg), "serve"],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(work / "kobo.log", "wb"),
    )
    port = cfg.read_text().split('listen = "127.0.0.1:', 1)[1].split('"', 1)[0]
    base = f"http://127.0.0.1:{port}"
    kb.wait_http(base + "/health", proc=proc)
    return proc, base


def setup_tenant(base: str) -> tuple[str, str]:
    """Signs a tenant up, creates its API key, and has the operator lift its limits.
    Returns (org id, API key)."""
    signup, _ = kb.http_json(
        "POST",
        base + "/api/v1/auth/signup",
        {
            "email": "bench-tenant@kobo.test",
            "password": "bench tenant password 1",
            "organization_name": "Bench Tenant",
        },
    )
    org, ws, session = signup["organization_id"], signup["workspace_id"], signup["access_token"]
    key, _ = kb.http_json(
        "POST",
        f"{base}/api/v1/workspaces/{ws}/api-keys",
        {"name": "bench"},
        token=session,
    )
    op, _ = kb.http_json(
        "POST",
        base + "/api/v1/auth/token",
        {"username": OPERATOR[0], "password": OPERATOR[1]},
    )
    kb.http_json(
        "PUT",
        f"{base}/api/v1/admin/organizations/{org}/plan",
        {"plan": "enterprise"},
        token=op["access_token"],
    )
    # Numbers, not "unlimited": an unlimited rate is never checked, and the point is to
    # measure the limiter. 60,000,000 a minute is the largest per-minute GCRA limit
    # (one unit per µs); monthly quotas stay far below 2^53 for Redis' Lua numbers.
    kb.http_json(
        "PUT",
        f"{base}/api/v1/admin/organizations/{org}/limits",
        {
            "requests_per_minute": 60_000_000,
            "tokens_per_minute": 60_000_000,
            "monthly_tokens": 1_000_000_000_000_000,
            "monthly_api_calls": 1_000_000_000_000_000,
        },
        token=op["access_token"],
    )
    time.sleep(1.5)  # the tenant cache keeps an entry 1 s
    return org, key["key"]


def probe(base: str, key: str) -> dict:
    """One request through Kobo: it must pass and carry the rate-limit headers."""
    data, headers = kb.http_json(
        "POST", base + "/v1/chat/completions", json.loads(body("bench-echo")), token=key
    )
    lower = {k.lower(): v for k, v in headers.items()}
    if "x-ratelimit-limit-requests" not in lower or "x-ratelimit-limit-tokens" not in lower:
        raise RuntimeError(f"no rate-limit headers on the probe: {lower}")
    if lower["x-ratelimit-limit-requests"] != "60000000":
        raise RuntimeError(f"the tenant's limits were not raised: {lower}")
    return {"usage": data.get("usage"), "x-ratelimit-limit-requests": lower["x-ratelimit-limit-requests"]}


def redis_cleanup(ns: str) -> int:
    """Deletes this run's keys (its own namespace only) from the shared Redis."""
    if shutil.which("redis-cli") is None:
        return 0
    keys = subprocess.run(
        ["redis-cli", "-u", REDIS_URL, "--scan", "--pattern", f"kobo:{ns}:*"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for i in range(0, len(keys), 500):
        subprocess.run(
            ["redis-cli", "-u", REDIS_URL, "del", *keys[i : i + 500]],
            capture_output=True,
            check=True,
        )
    return len(keys)


def metered_records(db: Path, settle_s: float = 20.0) -> int:
    """Usage records in the database once the mover has caught up (count stops moving)."""
    deadline, last, stable = time.monotonic() + settle_s, -1, 0
    while time.monotonic() < deadline:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as c:
            n = c.execute("SELECT count(*) FROM usage_records").fetchone()[0]
        stable = stable + 1 if n == last else 0
        if stable >= 3:
            return n
        last = n
        time.sleep(0.5)
    return last


# --- one wrk run --------------------------------------------------------------------


def wrk(url: str, conc: int, duration: int, payload: str, key: str, watch: dict) -> dict:
    env = dict(os.environ, BENCH_BODY=payload, BENCH_API_KEY=key)
    threads = min(2, conc)
    cpu0 = {name: kb.proc_cpu_s(pid) for name, pid in watch.items()}
    busy0 = kb.machine_busy_s()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = kb.loadavg()
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{conc}", f"-d{duration}s", "--timeout", "10s", "-s", LUA, url],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = kb.machine_busy_s() - busy0
    cpu = {name: kb.proc_cpu_s(pid) - cpu0[name] for name, pid in watch.items()}
    cpu["wrk"] = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    line = next((l for l in out.splitlines() if l.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    r = {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    secs = r["duration_us"] / 1e6
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    return {
        "requests": int(r["requests"]),
        "rps": r["requests"] / secs,
        "p50_ms": r["p50_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "p999_ms": r["p999_us"] / 1000,
        "errors": int(errors),
        "status_errors": int(r["status"]),
        "cpu_s": cpu,
        # CPU used by anything else on the machine during the run, in % of all cores.
        "foreign_cpu_pct": 100
        * max(0.0, busy - sum(cpu.values()))
        / (secs * os.cpu_count()),
        "load_start": load0,
    }


# --- one configuration --------------------------------------------------------------


def run_config(name: str, bin_dir: Path, mock: subprocess.Popen, mock_addr: str, tmp: Path) -> dict:
    durability, limiter = name.split("/")
    work = tmp / name.replace("/", "-")
    work.mkdir()
    port = kb.free_port()
    cfg = write_config(work, port, mock_addr)
    ns = f"bench-{os.getpid()}-{int(time.time())}" if limiter == "redis" else None
    kobo, base = start_kobo(bin_dir, work, cfg, durability, ns)
    result: dict = {"config": name, "redis_namespace": ns, "cells": {}}
    try:
        org, key = setup_tenant(base)
        result["probe"] = probe(base, key)
        watch = {"kobo": kobo.pid, "mock": mock.pid}
        direct_url = f"http://{mock_addr}/v1/chat/completions"
        kobo_url = f"{base}/v1/chat/completions"
        kb.log(f"{name}: warming up")
        wrk(direct_url, 64, WARMUP_S, body("echo"), "", watch)
        warm = wrk(kobo_url, 64, WARMUP_S, body("bench-echo"), key, watch)
        served = warm["requests"]
        for conc in CONCURRENCY:
            cell = {"direct": [], "kobo": [], "rss_kib": []}
            for run in range(RUNS):
                order = ["direct", "kobo"] if run % 2 == 0 else ["kobo", "direct"]
                for target in order:
                    if target == "direct":
                        r = wrk(direct_url, conc, DURATION, body("echo"), "", watch)
                    else:
                        r = wrk(kobo_url, conc, DURATION, body("bench-echo"), key, watch)
                        served += r["requests"]
                        cell["rss_kib"].append(kb.proc_status_kib(kobo.pid, "VmRSS"))
                    cell[target].append(r)
                    kb.log(
                        f"{name} c={conc} run {run + 1} {target}: {r['rps']:.0f} rps, "
                        f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
                        f"errors {r['errors']}, foreign CPU {r['foreign_cpu_pct']:.0f}%"
                    )
            result["cells"][str(conc)] = cell
        result["vm_hwm_kib"] = kb.proc_status_kib(kobo.pid, "VmHWM")
        result["vm_rss_kib"] = kb.proc_status_kib(kobo.pid, "VmRSS")
        result["responses_seen"] = served + 1  # + the probe
        result["records_metered"] = metered_records(work / "data" / "kobo.db")
    finally:
        kb.stop(kobo)
        if ns is not None:
            result["redis_keys_deleted"] = redis_cleanup(ns)
    return result


# --- the report ---------------------------------------------------------------------


def med(cell: dict, target: str, field: str) -> float:
    return kb.median([r[field] for r in cell[target]])


def report(m: dict, fsync: list[dict], results: list[dict], tmp_fs: str, commit: str) -> str:
    lines = [
        f"Measured {kb.BENCH_DATE} on {kb.machine_line(m)}. Kobo `{commit}`, release build; "
        f"wrk {wrk_version()}; journal and SQLite on `{tmp_fs}`.",
        "",
        f"Each cell: median of {RUNS} runs of {DURATION} s (wrk, 2 threads; 1 at concurrency 1), "
        "Kobo and direct runs alternating in the same session. *Added* = Kobo's median minus "
        "the direct median. RSS = Kobo's VmRSS after its runs at that concurrency (median); "
        "peak = VmHWM at the end of the configuration.",
        "",
        "**The disk's own fdatasync** (append 480 B + `fdatasync`, "
        f"{len(fsync)} × 1,000 calls, median of the runs): p50 "
        f"{kb.median([f['p50_us'] for f in fsync]) / 1000:.3f} ms, p99 "
        f"{kb.median([f['p99_us'] for f in fsync]) / 1000:.3f} ms, mean "
        f"{kb.median([f['mean_us'] for f in fsync]) / 1000:.3f} ms.",
        "",
        "| journal | limiter | conc. | direct RPS | Kobo RPS | Kobo/direct | direct p50 / p99 (ms) "
        "| Kobo p50 / p99 (ms) | added p50 / p99 (ms) | Kobo RSS / peak (MiB) | "
        "Kobo CPU/request (µs) |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    notes = []
    for res in results:
        durability, limiter = res["config"].split("/")
        lim = "Redis" if limiter == "redis" else "in-process"
        for conc, cell in res["cells"].items():
            d_rps, k_rps = med(cell, "direct", "rps"), med(cell, "kobo", "rps")
            d50, d99 = med(cell, "direct", "p50_ms"), med(cell, "direct", "p99_ms")
            k50, k99 = med(cell, "kobo", "p50_ms"), med(cell, "kobo", "p99_ms")
            cpu_us = kb.median(
                [1e6 * r["cpu_s"]["kobo"] / max(1, r["requests"]) for r in cell["kobo"]]
            )
            rss = kb.median(cell["rss_kib"]) / 1024
            lines.append(
                f"| {durability} | {lim} | {conc} | {d_rps:,.0f} | {k_rps:,.0f} | "
                f"{k_rps / d_rps:.2f} | {d50:.2f} / {d99:.2f} | {k50:.2f} / {k99:.2f} | "
                f"**{k50 - d50:+.2f} / {k99 - d99:+.2f}** | {rss:.0f} / "
                f"{res['vm_hwm_kib'] / 1024:.0f} | {cpu_us:.0f} |"
            )
            errs = sum(r["errors"] for t in ("direct", "kobo") for r in cell[t])
            if errs:
                notes.append(f"{res['config']} c={conc}: {errs} errors or non-2xx answers")
        foreign = max(
            r["foreign_cpu_pct"] for c in res["cells"].values() for t in ("direct", "kobo") for r in c[t]
        )
        notes.append(
            f"{res['config']}: {res['records_metered']:,} usage records in the database for "
            f"{res['responses_seen']:,} answers wrk and the probe saw; other processes used at "
            f"most {foreign:.0f}% of the CPU during a run"
        )
    lines += ["", "Checks: " + "; ".join(notes) + "."]
    return "\n".join(lines)


def wrk_version() -> str:
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    return out.split()[1] if len(out.split()) > 1 else "?"


def main() -> None:
    bin_dir = kb.target_dir() / "release"
    for b in ("kobo", "kobo-mock-upstream"):
        if not (bin_dir / b).exists():
            raise SystemExit(f"{bin_dir / b} is missing: run `cargo build --release --bins` first")
    m = kb.machine()
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=kb.REPO, capture_output=True, text=True
    ).stdout.strip()
    tmp = Path(tempfile.mkdtemp(prefix="kobo-bench-gateway-", dir=TMP_PARENT))
    tmp_fs = subprocess.run(
        ["df", "--output=source,fstype", str(tmp)], capture_output=True, text=True
    ).stdout.splitlines()[-1]
    tmp_fs = " ".join(tmp_fs.split())
    mock = None
    results: list[dict] = []
    try:
        kb.wait_for_quiet()
        fsync = [fdatasync_latency(tmp) for _ in range(3)]
        kb.log(f"fdatasync: {fsync}")
        mock, mock_addr = start_mock(bin_dir, tmp / "mock.log")
        for name in CONFIGS:
            kb.wait_for_quiet()
            results.append(run_config(name, bin_dir, mock, mock_addr, tmp))
        fsync += [fdatasync_latency(tmp)]
    finally:
        kb.stop(mock)
    raw = {"machine": m, "commit": commit, "fsync": fsync, "results": results}
    kb.log(f"raw results: {kb.save_raw('gateway', raw)}")
    text = report(m, fsync, results, tmp_fs, commit)
    print(text)
    if os.environ.get("BENCH_NO_DOC") != "1":
        kb.replace_block("gateway", text)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
