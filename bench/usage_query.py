"""Usage-query benchmark: `GET /api/v1/usage` over 10,000,000 usage records.

A fresh Kobo (release build) creates the schema and two tenants through its own API:
*big*, which is given 10,000,000 usage records spread over 365 days, 8 models and 2 API
keys, and *small*, given 10,000 records over the same days (the baseline in the same
database and the same run). Kobo is stopped, the records are bulk-inserted with one
`INSERT … SELECT` from a generated series, and the daily rollups (`usage_daily`, the
table the summary reads) are filled from those records with one `GROUP BY`, so the two
tables agree exactly. Kobo is started again on the seeded database and each query is
timed from a keep-alive HTTP client; the raw `SELECT count(*)` and the same grouping
computed from `usage_records` instead of the rollups are timed directly in the
database for comparison.

Usage: python3 bench/usage_query.py sqlite|postgres. Settings (environment):
BENCH_RECORDS (10000000), BENCH_SMALL_RECORDS (10000), BENCH_RUNS (3),
BENCH_QUERIES (200 per run), BENCH_PG_URL (postgres://root@127.0.0.1:5432; a database
of its own is created and dropped), BENCH_TMP (/var/tmp), BENCH_NO_DOC=1.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import kobo_bench as kb

RECORDS = int(os.environ.get("BENCH_RECORDS", "10000000"))
SMALL = int(os.environ.get("BENCH_SMALL_RECORDS", "10000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
QUERIES = int(os.environ.get("BENCH_QUERIES", "200"))
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://root@127.0.0.1:5432").rstrip("/")
TMP_PARENT = os.environ.get("BENCH_TMP", "/var/tmp")
DAYS = 365
# Lagos days 2025-12-05 … 2026-12-04 (Lagos is UTC+1 all year).
FIRST_DAY, LAST_DAY = "2025-12-05", "2026-12-04"
START_MS = 1_764_889_200_000  # 2025-12-05T00:00:00+01:00
SPAN_MS = DAYS * 86_400_000
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "claude-3-5-haiku", "llama-3.1-8b",
          "llama-3.1-70b", "qwen2.5-7b", "mistral-small"]
OPS = ("bench-operator@kobo.test", "bench-operator-password-1")


# --- the seed, as SQL ---------------------------------------------------------------


def records_sql(backend: str, t: dict, count: int, prefix: str) -> str:
    """One INSERT … SELECT of `count` records for tenant `t`, evenly spread in time.
    Every 100th record is a failed upstream call (502, no tokens, not billed)."""
    step = SPAN_MS // count
    model_case = "CASE n % 8 " + " ".join(
        f"WHEN {i} THEN '{m}'" for i, m in enumerate(MODELS)
    ) + " END"
    key_case = f"CASE n % 2 WHEN 0 THEN '{t['keys'][0]}' ELSE '{t['keys'][1]}' END"
    if backend == "sqlite":
        series = f"WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < {count - 1})"
        source = "s"
        rid = f"'{prefix}' || printf('%010d', n)"
        day = f"date(({START_MS} + n * {step} + 3600000) / 86400000 * 86400, 'unixepoch')"
    else:
        series = f"WITH s(n) AS (SELECT generate_series(0, {count - 1})::bigint)"
        source = "s"
        rid = f"'{prefix}' || lpad(n::text, 10, '0')"
        day = (
            f"to_char(DATE '1970-01-01' + (({START_MS} + n * {step} + 3600000) / 86400000)::int, "
            "'YYYY-MM-DD')"
        )
    ok = "(n % 100 <> 99)"
    prompt = f"CASE WHEN {ok} THEN 20 + n % 200 ELSE 0 END"
    completion = f"CASE WHEN {ok} THEN 10 + n % 300 ELSE 0 END"
    return f"""
INSERT INTO usage_records (id, org_id, workspace_id, api_key_id, user_id, endpoint, model, upstream,
    prompt_tokens, completion_tokens, cost_millikobo, upstream_cost_micro_usd, latency_ms, status,
    error_code, streamed, lagos_day, created_at)
{series}
SELECT {rid}, '{t['org']}', '{t['workspace']}', {key_case}, NULL, 'chat.completions',
    {model_case}, 'bench-upstream',
    {prompt}, {completion},
    ({prompt}) * 22 + ({completion}) * 88,
    (({prompt}) * 150 + ({completion}) * 600 + 500) / 1000,
    80 + n % 900,
    CASE WHEN {ok} THEN 200 ELSE 502 END,
    CASE WHEN {ok} THEN NULL ELSE 'upstream_error' END,
    CASE WHEN n % 3 = 0 THEN 1 ELSE 0 END,
    {day},
    {START_MS} + n * {step}
FROM {source};
"""


def rollups_sql(t: dict) -> str:
    """The daily rollups of tenant `t`, computed from its records: what the mover's
    `insert_usage` would have accumulated, row for row."""
    return f"""
INSERT INTO usage_daily (org_id, lagos_day, workspace_id, api_key_id, model, requests, errors,
    prompt_tokens, completion_tokens, cost_millikobo, upstream_cost_micro_usd, latency_ms_sum)
SELECT org_id, lagos_day, workspace_id, COALESCE(api_key_id, ''), model, COUNT(*),
    SUM(CASE WHEN status >= 200 AND status < 300 THEN 0 ELSE 1 END),
    SUM(prompt_tokens), SUM(completion_tokens), SUM(cost_millikobo),
    SUM(upstream_cost_micro_usd), SUM(latency_ms)
FROM usage_records WHERE org_id = '{t['org']}'
GROUP BY org_id, lagos_day, workspace_id, COALESCE(api_key_id, ''), model;
"""


def raw_group_sql(t: dict) -> str:
    """The same summary computed from the records themselves (what rollups avoid)."""
    return (
        "SELECT model, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(cost_millikobo) "
        f"FROM usage_records WHERE org_id = '{t['org']}' AND created_at >= {START_MS} "
        f"AND created_at < {START_MS + SPAN_MS} GROUP BY model ORDER BY model"
    )


# --- the two databases --------------------------------------------------------------


class Sqlite:
    name = "SQLite"

    def __init__(self, work: Path):
        self.path = work / "data" / "kobo.db"
        self.url = None  # Kobo's default: SQLite in its data folder

    def seed(self, tenants: list[dict]) -> float:
        t0 = time.monotonic()
        c = sqlite3.connect(self.path, isolation_level=None)
        c.execute("PRAGMA journal_mode = WAL")
        c.execute("PRAGMA synchronous = OFF")
        c.execute("PRAGMA cache_size = -1048576")  # 1 GiB for the bulk load only
        c.execute("BEGIN")
        for t in tenants:
            c.execute(records_sql("sqlite", t, t["records"], t["prefix"]))
            kb.log(f"SQLite: {t['records']:,} records for {t['label']} after {time.monotonic() - t0:.0f} s")
            c.execute(rollups_sql(t))
        c.execute("COMMIT")
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        c.close()
        return time.monotonic() - t0

    def timed(self, sql: str, runs: int) -> list[float]:
        out = []
        c = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        for _ in range(runs):
            t0 = time.perf_counter()
            c.execute(sql).fetchall()
            out.append((time.perf_counter() - t0) * 1000)
        c.close()
        return out

    def size_mib(self) -> float:
        return sum(p.stat().st_size for p in self.path.parent.glob("kobo.db*")) / 2**20

    def rollup_rows(self, t: dict) -> int:
        c = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        n = c.execute("SELECT count(*) FROM usage_daily WHERE org_id = ?", (t["org"],)).fetchone()[0]
        c.close()
        return n

    def drop(self) -> None:
        pass


class Postgres:
    name = "PostgreSQL"

    def __init__(self, work: Path):
        self.db = f"kobo_bench_{os.getpid()}_{int(time.time())}"
        self.admin = PG_URL + "/postgres"
        self.url = f"{PG_URL}/{self.db}"
        self.psql(self.admin, f"CREATE DATABASE {self.db}")
        self.created = True

    @staticmethod
    def psql(url: str, sql: str, *extra: str) -> str:
        return subprocess.run(
            ["psql", url, "-v", "ON_ERROR_STOP=1", "-qAt", *extra, "-c", sql],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def seed(self, tenants: list[dict]) -> float:
        t0 = time.monotonic()
        for t in tenants:
            self.psql(self.url, records_sql("postgres", t, t["records"], t["prefix"]))
            kb.log(f"PostgreSQL: {t['records']:,} records for {t['label']} after {time.monotonic() - t0:.0f} s")
            self.psql(self.url, rollups_sql(t))
        # What autovacuum would have done by itself on a live database.
        self.psql(self.url, "VACUUM (ANALYZE) usage_records")
        self.psql(self.url, "VACUUM (ANALYZE) usage_daily")
        return time.monotonic() - t0

    def timed(self, sql: str, runs: int) -> list[float]:
        # psql's \timing: the round trip of each statement as its client sees it.
        script = "\\timing on\n" + "\n".join([sql + ";"] * runs) + "\n"
        out = subprocess.run(
            ["psql", self.url, "-qAt", "-v", "ON_ERROR_STOP=1"],
            input=script,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return [
            float(line.split()[1])
            for line in out.splitlines()
            if line.startswith("Time: ")
        ]

    def size_mib(self) -> float:
        return int(self.psql(self.url, f"SELECT pg_database_size('{self.db}')").strip()) / 2**20

    def rollup_rows(self, t: dict) -> int:
        return int(self.psql(self.url, f"SELECT count(*) FROM usage_daily WHERE org_id = '{t['org']}'").strip())

    def drop(self) -> None:
        if self.created:
            self.psql(self.admin, f"DROP DATABASE IF EXISTS {self.db}")
            self.created = False


# --- Kobo ---------------------------------------------------------------------------


def start_kobo(bin_dir: Path, work: Path, db_url: str | None, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KOBO_") and k != "RUST_LOG"}
    env.update(
        KOBO_LISTEN=f"127.0.0.1:{port}",
        KOBO_DATA_DIR=str(work / "data"),
        KOBO_OPERATOR_EMAIL=OPS[0],
        KOBO_OPERATOR_PASSWORD=OPS[1],
        KOBO_SESSION_TTL_SECS="86400",
    )
    if db_url:
        env["KOBO_DATABASE_URL"] = db_url
    proc = subprocess.Popen(
        [str(bin_dir / "kobo"), "serve"],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(work / "kobo.log", "ab"),
    )
    kb.wait_http(f"http://127.0.0.1:{port}/health", proc=proc, timeout_s=120)
    return proc


def make_tenant(base: str, label: str, records: int) -> dict:
    s, _ = kb.http_json(
        "POST",
        base + "/api/v1/auth/signup",
        {"email": f"{label}@kobo.test", "password": "bench tenant password 1",
         "organization_name": f"Bench {label}"},
    )
    keys = []
    for i in range(2):
        k, _ = kb.http_json(
            "POST", f"{base}/api/v1/workspaces/{s['workspace_id']}/api-keys",
            {"name": f"bench-{i}"}, token=s["access_token"],
        )
        keys.append(k["id"])
    return {
        "label": label, "org": s["organization_id"], "workspace": s["workspace_id"],
        "token": s["access_token"], "keys": keys, "records": records,
        "prefix": f"req_bench_{label}_",
    }


def time_api(port: int, token: str, path: str, count: int) -> tuple[list[float], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"authorization": f"Bearer {token}"}
    samples, last = [], b""
    for _ in range(count):
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        last = r.read()
        samples.append((time.perf_counter() - t0) * 1000)
        if r.status != 200:
            raise RuntimeError(f"GET {path} answered {r.status}: {last[:300]!r}")
    conn.close()
    return samples, last


def main() -> None:
    backend = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    if backend not in ("sqlite", "postgres"):
        raise SystemExit("usage: usage_query.py sqlite|postgres")
    bin_dir = kb.target_dir() / "release"
    if not (bin_dir / "kobo").exists():
        raise SystemExit(f"{bin_dir / 'kobo'} is missing: run `cargo build --release --bins` first")
    m = kb.machine()
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=kb.REPO,
                            capture_output=True, text=True).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix=f"kobo-bench-usage-{backend}-", dir=TMP_PARENT))
    (work / "data").mkdir()
    db = Sqlite(work) if backend == "sqlite" else Postgres(work)
    port = kb.free_port()
    base = f"http://127.0.0.1:{port}"
    kobo = None
    try:
        kobo = start_kobo(bin_dir, work, db.url, port)
        tenants = [make_tenant(base, "big", RECORDS), make_tenant(base, "small", SMALL)]
        kb.stop(kobo)
        kobo = None
        seed_s = db.seed(tenants)
        kb.log(f"{db.name}: seeded in {seed_s:.0f} s, {db.size_mib():.0f} MiB")
        kb.wait_for_quiet()
        kobo = start_kobo(bin_dir, work, db.url, port)

        cases = []
        for t in tenants:
            for group in ("model", "day"):
                path = f"/api/v1/usage?group_by={group}&from={FIRST_DAY}&to={LAST_DAY}"
                time_api(port, t["token"], path, 10)  # warm-up
                runs = []
                for _ in range(RUNS):
                    s, raw = time_api(port, t["token"], path, QUERIES)
                    s.sort()
                    runs.append({"p50": kb.percentile(s, 50), "p99": kb.percentile(s, 99)})
                total = json.loads(raw)["totals"]["requests"]
                if total != t["records"]:
                    raise RuntimeError(f"{t['label']}: the summary counts {total}, not {t['records']}")
                cases.append({"tenant": t["label"], "records": t["records"], "group_by": group,
                              "rollup_rows": db.rollup_rows(t), "runs": runs})
                kb.log(f"{db.name} {t['label']} group_by={group}: {runs}")
        kb.stop(kobo)
        kobo = None
        direct = {
            "count": db.timed("SELECT count(*) FROM usage_records", RUNS),
            "raw_group_big": db.timed(raw_group_sql(tenants[0]), RUNS),
            "raw_group_small": db.timed(raw_group_sql(tenants[1]), RUNS),
        }
        kb.log(f"{db.name} direct: {direct}")
        size = db.size_mib()
    finally:
        kb.stop(kobo)
        db.drop()
    raw = {"machine": m, "commit": commit, "backend": backend, "seed_s": seed_s,
           "size_mib": size, "cases": cases, "direct": direct}
    kb.log(f"raw results: {kb.save_raw('usage-' + backend, raw)}")
    text = report(m, commit, db.name, seed_s, size, cases, direct)
    print(text)
    if os.environ.get("BENCH_NO_DOC") != "1":
        kb.replace_block(f"usage-{backend}", text)
    shutil.rmtree(work, ignore_errors=True)


def report(m, commit, name, seed_s, size, cases, direct) -> str:
    lines = [
        f"**{name}** — measured {kb.BENCH_DATE} on {kb.machine_line(m)}; Kobo `{commit}`, "
        f"release build. {RECORDS + SMALL:,} records in one database ({size:,.0f} MiB), seeded in "
        f"{seed_s:.0f} s. Each API figure: median over {RUNS} runs of the per-run p50 / p99 of "
        f"{QUERIES} sequential requests on one keep-alive connection (client to answer).",
        "",
        "| query | tenant's records | rollup rows read | p50 (ms) | p99 (ms) |",
        "|---|--:|--:|--:|--:|",
    ]
    for c in cases:
        p50 = kb.median([r["p50"] for r in c["runs"]])
        p99 = kb.median([r["p99"] for r in c["runs"]])
        bold = "**" if c["records"] == RECORDS else ""
        lines.append(
            f"| `GET /api/v1/usage?group_by={c['group_by']}` (365 days) | {c['records']:,} | "
            f"{c['rollup_rows']:,} | {bold}{p50:.2f}{bold} | {p99:.2f} |"
        )
    lines += [
        f"| raw `SELECT count(*) FROM usage_records` (in the database, no HTTP) | {RECORDS + SMALL:,} | – "
        f"| {kb.median(direct['count']):,.1f} | – |",
        f"| the same `group_by=model` summed from `usage_records`, no rollups (in the database) "
        f"| {RECORDS:,} | – | {kb.median(direct['raw_group_big']):,.1f} | – |",
        f"| the same, small tenant | {SMALL:,} | – | {kb.median(direct['raw_group_small']):,.1f} | – |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
