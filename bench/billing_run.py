"""Billing-run benchmark: `kobo billing run --period 2026-11` over 10,000 organizations
and 10,000,000 usage records, time and peak memory, on SQLite or PostgreSQL.

A fresh Kobo (release build) creates the schema and seeds the plan catalog; one tenant
signs up through the API (the template: the seeded rows copy every column of its user,
organization, workspace, membership and API key, so they are what a real signup
writes) and Kobo is stopped. The script then bulk-inserts, by SQL, the other
organizations with their owner, membership, "Default" workspace and one API key, spread
over the plans by position (of every 20: 8 free, 7 starter, 4 professional, 1
enterprise). Paid organizations come three ways, in turn: a monthly Paystack card
subscription with a saved card (`AUTH_success`), its first payment in August and its
renewals in September, October and November, as the settlement path leaves them; a
plan granted by an operator (no subscription: billed in arrears); a monthly Flutterwave
subscription (no saved card). The usage records of November 2026 (Lagos) are one
`INSERT … SELECT` over a generated series, spread over the organizations by weight
(free 1, starter 6, professional 40, enterprise 100, times 1, 2, 4 or 8), so some
organizations of every plan use more than their allowance and some less; the daily
rollups (`usage_daily`, which the billing run reads) are filled from those records with
one `GROUP BY`.

Each run bills a fresh copy of the seeded database (SQLite: the data folder is copied;
PostgreSQL: `CREATE DATABASE … TEMPLATE`), so every run invoices from scratch, against
its own `kobo-paystack-sim` (payment links and saved-card charges). The command's wall
time, peak RSS (`ru_maxrss` from `wait4`, i.e. VmHWM at exit) and CPU time are taken;
then the script checks, in the database, that the invoices are exactly the report's
`issued`, one per organization that owes something (every paid-plan organization),
with the totals it computes itself from the seed (plan price, overage rounded half-up,
7.5% VAT), numbered 0001, paid by card or carrying a payment link, each with its PDF.

Usage: python3 bench/billing_run.py sqlite|postgres. Settings (environment):
BENCH_ORGS (10000), BENCH_RECORDS (10000000), BENCH_RUNS (3), BENCH_PERIOD (2026-11),
BENCH_NOW (2026-12-02T10:00:00Z: the clock of the billing run), BENCH_PG_URL
(postgres://root@127.0.0.1:5432; databases of its own are created and dropped),
BENCH_TMP (/var/tmp), BENCH_NO_DOC=1.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import kobo_bench as kb

ORGS = int(os.environ.get("BENCH_ORGS", "10000"))
RECORDS = int(os.environ.get("BENCH_RECORDS", "10000000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
PERIOD = os.environ.get("BENCH_PERIOD", "2026-11")
NOW = os.environ.get("BENCH_NOW", "2026-12-02T10:00:00Z")
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://root@127.0.0.1:5432").rstrip("/")
TMP_PARENT = os.environ.get("BENCH_TMP", "/var/tmp")
# The clock of the first Kobo, when the template tenant signs up.
SIGNUP_NOW = "2026-06-15T09:00:00Z"

LAGOS = timezone(timedelta(hours=1))  # Africa/Lagos: UTC+1 all year, no DST
YEAR, MONTH = (int(x) for x in PERIOD.split("-"))


def lagos_midnight_ms(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=LAGOS).timestamp() * 1000)


def add_months(y: int, m: int, k: int) -> tuple[int, int]:
    i = y * 12 + (m - 1) + k
    return i // 12, i % 12 + 1


PERIOD_START_MS = lagos_midnight_ms(date(YEAR, MONTH, 1))
PERIOD_END_MS = lagos_midnight_ms(date(*add_months(YEAR, MONTH, 1), 1))
FIRST_DAY = date(YEAR, MONTH, 1).isoformat()
LAST_DAY = (date(*add_months(YEAR, MONTH, 1), 1) - timedelta(days=1)).isoformat()
NOW_MS = int(datetime.fromisoformat(NOW.replace("Z", "+00:00")).timestamp() * 1000)
INVOICE_DATE = datetime.fromtimestamp(NOW_MS / 1000, LAGOS).date()

# The shipped plan catalog (crates/domain/data/plans.json), checked against the
# database after the first start.
PLANS = {
    "free": {"price": 0, "included": 100_000, "overage": 50},
    "starter": {"price": 1_500_000, "included": 1_000_000, "overage": 30},
    "professional": {"price": 4_500_000, "included": 10_000_000, "overage": 20},
    "enterprise": {"price": 15_000_000, "included": 50_000_000, "overage": None},
}
# Of every 20 organizations by position: 8 free, 7 starter, 4 professional, 1 enterprise.
PLAN_OF_POS = ["free"] * 8 + ["starter"] * 7 + ["professional"] * 4 + ["enterprise"]
BASE_WEIGHT = {"free": 1, "starter": 6, "professional": 40, "enterprise": 100}
KINDS = ("paystack_card", "granted", "flutterwave_card")  # how a paid plan is held
VAT_BP = 750  # Nigerian VAT on the invoice date (crates/domain/data/tax_rates.json)
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "claude-3-5-haiku", "llama-3.1-8b",
          "llama-3.1-70b", "qwen2.5-7b", "mistral-small"]
SIM_PAYSTACK_SECRET = "sk_test_kobo_sim"
SIM_FLW_SECRET, SIM_FLW_HASH = "FLWSECK_TEST-x", "h"
TEMPLATE_EMAIL = "owner00000@bench.kobo.test"
TEMPLATE_PASSWORD = "bench tenant password 1"


def uuid7(ms: int) -> str:
    """A UUIDv7 for the instant `ms`, as Kobo's ids are (time-ordered, hyphenated)."""
    r = int.from_bytes(secrets.token_bytes(10), "big")
    v = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (r >> 68) << 64 | 0b10 << 62 | (r & ((1 << 62) - 1))
    return str(uuid.UUID(int=v))


def hex_id(prefix: str, ms: int) -> str:
    """`sub_…`, `pay_…`, `kobo-ren-…`: a prefix and a UUIDv7 without hyphens."""
    return prefix + uuid7(ms).replace("-", "")


def half_up(num: int, den: int) -> int:
    return (2 * num + den) // (2 * den)


# --- the organizations --------------------------------------------------------------


def layout(n: int) -> list[dict]:
    """Who each organization is: plan, how it holds a paid plan, usage weight, anchor day."""
    out = []
    for idx in range(n):
        g = idx // 20
        plan = PLAN_OF_POS[idx % 20]
        out.append({
            "idx": idx,
            "plan": plan,
            "kind": "free" if plan == "free" else KINDS[g % 3],
            "weight": BASE_WEIGHT[plan] * 2 ** (g % 4),
            "anchor": 3 + idx % 26,  # 3..28: every November has it, no December renewal yet
        })
    return out


def seed_rows(orgs: list[dict], tpl: dict) -> dict[str, list[dict]]:
    """Rows of every table for organizations 1…N-1 (0 is the template that signed up
    through the API), each a copy of the template's row with its own ids and times."""
    rows: dict[str, list[dict]] = {t: [] for t in (
        "users", "organizations", "workspaces", "memberships", "api_keys",
        "subscriptions", "payments")}
    t0 = int(datetime(YEAR, 1, 5, 9, tzinfo=LAGOS).timestamp() * 1000)
    t1 = int(datetime(YEAR, 7, 31, 18, tzinfo=LAGOS).timestamp() * 1000)
    spacing = (t1 - t0) // max(1, len(orgs))
    for o in orgs[1:]:
        idx, at = o["idx"], t0 + o["idx"] * spacing
        email = f"owner{idx:05d}@bench.kobo.test"
        o.update(org=uuid7(at), user=uuid7(at), workspace=uuid7(at), key=uuid7(at + 60_000),
                 email=email)
        rows["users"].append({**tpl["users"], "id": o["user"], "email": email, "created_at": at})
        org = {**tpl["organizations"], "id": o["org"], "name": f"Bench Organization {idx:05d}",
               "created_at": at}
        rows["organizations"].append(org)
        rows["workspaces"].append({**tpl["workspaces"], "id": o["workspace"], "org_id": o["org"],
                                   "created_at": at})
        rows["memberships"].append({**tpl["memberships"], "org_id": o["org"], "user_id": o["user"],
                                    "created_at": at})
        rows["api_keys"].append({
            **tpl["api_keys"], "id": o["key"], "org_id": o["org"], "workspace_id": o["workspace"],
            "prefix": f"b{idx:011d}", "secret_hash": hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
            "created_by": o["user"], "created_at": at + 60_000, "last_used_at": PERIOD_END_MS - 60_000,
        })
        if o["plan"] == "free":
            continue
        org["plan_id"] = o["plan"]
        if o["kind"] == "granted":
            continue  # PUT /admin/organizations/{id}/plan changes plan_id only
        subscription_rows(o, org, rows)
    return rows


def subscription_rows(o: dict, org: dict, rows: dict[str, list[dict]]) -> None:
    """A monthly subscription taken in August on anchor day d, renewed on the d-th of
    September, October and November, as the settlement path leaves it."""
    price, d = PLANS[o["plan"]]["price"], o["anchor"]
    card = o["kind"] == "paystack_card"
    provider = "paystack" if card else "flutterwave"
    y_aug, m_aug = add_months(YEAR, MONTH, -3)
    created = lagos_midnight_ms(date(y_aug, m_aug, d)) + 10 * 3_600_000
    sub_id = hex_id("sub_", created)
    settled = []
    for k in range(4):  # the first payment, then three renewals
        y, m = add_months(y_aug, m_aug, k)
        if k == 0:
            at, pay_at, purpose, ref = created, created + 120_000, "subscription", "kobo-sub-"
        else:
            at = lagos_midnight_ms(date(y, m, d)) + 300_000  # the renewal sweep
            # a saved card is charged at once; without one the payer follows a link later
            pay_at = at + (1_000 if card else 9 * 3_600_000)
            purpose, ref = "renewal", "kobo-ren-"
        rows["payments"].append({
            "id": hex_id("pay_", at), "org_id": o["org"], "subscription_id": sub_id,
            "provider": provider, "reference": hex_id(ref, at), "purpose": purpose,
            "plan_id": o["plan"], "amount_kobo": price, "currency": "NGN", "status": "success",
            "provider_txn_id": str(4_100_000_000 + o["idx"] * 10 + k), "paid_amount_kobo": price,
            "detail": None, "created_at": at, "settled_at": pay_at,
        })
        settled.append(pay_at)
    y_end, m_end = add_months(YEAR, MONTH, 1)
    period_start = lagos_midnight_ms(date(YEAR, MONTH, d))
    period_end = lagos_midnight_ms(date(y_end, m_end, d))
    rows["subscriptions"].append({
        "id": sub_id, "org_id": o["org"], "plan_id": o["plan"], "status": "active",
        "billing_cycle": "monthly", "anchor_day": d, "price_kobo": price, "provider": provider,
        "payment_method": o["kind"], "billing_email": o["email"], "period_start": period_start,
        "period_end": period_end, "cancel_at_period_end": 0, "pending_plan_id": None,
        "authorization_code": "AUTH_success" if card else None, "renewal_attempts": 0,
        "next_attempt_at": period_end, "past_due_since": None, "claimed_until": None,
        "created_at": created, "updated_at": settled[-1], "cancelled_at": None,
    })
    org["billing_anchor_day"] = d


def records_sql(backend: str, count: int, slots: int) -> str:
    """One INSERT … SELECT of `count` records evenly spread over the billed month; record
    n belongs to the organization of slot n % slots. Every 100th is a failed call."""
    step = (PERIOD_END_MS - PERIOD_START_MS) // count
    model_case = "CASE n % 8 " + " ".join(f"WHEN {i} THEN '{m}'" for i, m in enumerate(MODELS)) + " END"
    at = f"({PERIOD_START_MS} + n * {step})"
    if backend == "sqlite":
        series = f"WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < {count - 1})"
        rid = "'req_bench_' || printf('%010d', n)"
        day = f"date(({at} + 3600000) / 86400000 * 86400, 'unixepoch')"
    else:
        series = f"WITH s(n) AS (SELECT generate_series(0, {count - 1})::bigint)"
        rid = "'req_bench_' || lpad(n::text, 10, '0')"
        day = f"to_char(DATE '1970-01-01' + (({at} + 3600000) / 86400000)::int, 'YYYY-MM-DD')"
    ok = "(n % 100 <> 99)"
    prompt = f"CASE WHEN {ok} THEN 200 + (n * 7) % 3000 ELSE 0 END"
    completion = f"CASE WHEN {ok} THEN 50 + n % 1200 ELSE 0 END"
    return f"""
INSERT INTO usage_records (id, org_id, workspace_id, api_key_id, user_id, endpoint, model, upstream,
    prompt_tokens, completion_tokens, cost_millikobo, upstream_cost_micro_usd, latency_ms, status,
    error_code, streamed, lagos_day, created_at)
{series}
SELECT {rid}, o.org_id, o.workspace_id, o.key_id, NULL, 'chat.completions', {model_case},
    'bench-upstream', {prompt}, {completion},
    ({prompt}) * 22 + ({completion}) * 88,
    (({prompt}) * 150 + ({completion}) * 600 + 500) / 1000,
    80 + n % 900,
    CASE WHEN {ok} THEN 200 ELSE 502 END,
    CASE WHEN {ok} THEN NULL ELSE 'upstream_error' END,
    CASE WHEN n % 3 = 0 THEN 1 ELSE 0 END,
    {day}, {at}
FROM s JOIN bench_slots b ON b.slot = n % {slots} JOIN bench_orgs o ON o.idx = b.idx;
"""


ROLLUPS_SQL = """
INSERT INTO usage_daily (org_id, lagos_day, workspace_id, api_key_id, model, requests, errors,
    prompt_tokens, completion_tokens, cost_millikobo, upstream_cost_micro_usd, latency_ms_sum)
SELECT org_id, lagos_day, workspace_id, COALESCE(api_key_id, ''), model, COUNT(*),
    SUM(CASE WHEN status >= 200 AND status < 300 THEN 0 ELSE 1 END),
    SUM(prompt_tokens), SUM(completion_tokens), SUM(cost_millikobo),
    SUM(upstream_cost_micro_usd), SUM(latency_ms)
FROM usage_records
GROUP BY org_id, lagos_day, workspace_id, COALESCE(api_key_id, ''), model;
"""

TOKENS_SQL = (
    "SELECT org_id, SUM(prompt_tokens + completion_tokens) FROM usage_daily "
    f"WHERE lagos_day >= '{FIRST_DAY}' AND lagos_day <= '{LAST_DAY}' GROUP BY org_id"
)

INVOICES_SQL = (
    "SELECT org_id, kind, number, sequence, period, status, total_kobo, amount_paid_kobo, "
    "amount_due_kobo, tax_basis_points, CASE WHEN payment_url IS NULL THEN 0 ELSE 1 END, id "
    "FROM invoices"
)


def helper_rows(orgs: list[dict]) -> tuple[list[dict], list[dict]]:
    """bench_orgs (who) and bench_slots (record n → organization, by weight)."""
    borgs = [{"idx": o["idx"], "org_id": o["org"], "workspace_id": o["workspace"], "key_id": o["key"]}
             for o in orgs]
    slots, s = [], 0
    for o in orgs:
        for _ in range(o["weight"]):
            slots.append({"slot": s, "idx": o["idx"]})
            s += 1
    return borgs, slots


# --- the two databases --------------------------------------------------------------


class Sqlite:
    name = "SQLite"

    def __init__(self, work: Path):
        self.seed_data = work / "seed" / "data"
        self.seed_data.mkdir(parents=True)
        self.path = self.seed_data / "kobo.db"
        self.url = None  # Kobo's default: SQLite in its data folder

    def rows(self, sql: str, path: Path | None = None) -> list[tuple]:
        c = sqlite3.connect(f"file:{path or self.path}?mode=ro", uri=True)
        try:
            return c.execute(sql).fetchall()
        finally:
            c.close()

    def template(self, table: str, where: str) -> dict:
        c = sqlite3.connect(self.path)
        c.row_factory = sqlite3.Row
        r = c.execute(f"SELECT * FROM {table} WHERE {where}").fetchone()
        c.close()
        return dict(r)

    def seed(self, rows: dict[str, list[dict]], borgs: list[dict], slots: list[dict]) -> float:
        t0 = time.monotonic()
        c = sqlite3.connect(self.path, isolation_level=None)
        c.execute("PRAGMA journal_mode = WAL")
        c.execute("PRAGMA synchronous = OFF")
        c.execute("PRAGMA cache_size = -1048576")  # 1 GiB for the bulk load only
        c.execute("BEGIN")
        for table, rs in rows.items():
            if rs:
                cols = list(rs[0])
                c.executemany(
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                    [tuple(r[k] for k in cols) for r in rs],
                )
        c.execute("CREATE TABLE bench_orgs (idx INTEGER PRIMARY KEY, org_id TEXT, workspace_id TEXT, key_id TEXT)")
        c.execute("CREATE TABLE bench_slots (slot INTEGER PRIMARY KEY, idx INTEGER)")
        c.executemany("INSERT INTO bench_orgs VALUES (?, ?, ?, ?)",
                      [(b["idx"], b["org_id"], b["workspace_id"], b["key_id"]) for b in borgs])
        c.executemany("INSERT INTO bench_slots VALUES (?, ?)", [(s["slot"], s["idx"]) for s in slots])
        kb.log(f"SQLite: {len(borgs):,} organizations after {time.monotonic() - t0:.0f} s")
        c.execute(records_sql("sqlite", RECORDS, len(slots)))
        kb.log(f"SQLite: {RECORDS:,} usage records after {time.monotonic() - t0:.0f} s")
        c.execute(ROLLUPS_SQL)
        c.execute("DROP TABLE bench_orgs")
        c.execute("DROP TABLE bench_slots")
        c.execute("COMMIT")
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        c.close()
        return time.monotonic() - t0

    def size_mib(self) -> float:
        return sum(p.stat().st_size for p in self.seed_data.glob("kobo.db*")) / 2**20

    def fresh_copy(self, run_dir: Path) -> tuple[Path, str | None]:
        data = run_dir / "data"
        shutil.copytree(self.seed_data, data)
        return data, None

    def run_rows(self, run_dir: Path, sql: str) -> list[tuple]:
        return self.rows(sql, run_dir / "data" / "kobo.db")

    def drop_copy(self, run_dir: Path) -> None:
        shutil.rmtree(run_dir, ignore_errors=True)

    def drop(self) -> None:
        pass


def pg_copy_value(v) -> str:
    if v is None:
        return "\\N"
    return (str(v).replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\n", "\\n").replace("\r", "\\r"))


class Postgres:
    name = "PostgreSQL"

    def __init__(self, work: Path):
        self.db = f"kobo_bench_billing_{os.getpid()}_{int(time.time())}"
        self.admin = PG_URL + "/postgres"
        self.url = f"{PG_URL}/{self.db}"
        self.dbs: list[str] = []
        self.create(self.db)

    @staticmethod
    def psql(url: str, sql: str | None = None, script: str | None = None) -> str:
        args = ["psql", url, "-v", "ON_ERROR_STOP=1", "-qAt", "-F", "\t"]
        args += ["-c", sql] if sql is not None else ["-f", "-"]
        return subprocess.run(args, input=script, capture_output=True, text=True, check=True).stdout

    def create(self, name: str, template: str | None = None) -> None:
        tpl = f" TEMPLATE {template}" if template else ""
        self.psql(self.admin, f"CREATE DATABASE {name}{tpl}")
        self.dbs.append(name)

    def rows(self, sql: str, url: str | None = None) -> list[tuple]:
        out = self.psql(url or self.url, sql)
        return [tuple(line.split("\t")) for line in out.splitlines() if line]

    def template(self, table: str, where: str) -> dict:
        out = self.psql(self.url, f"SELECT row_to_json(t) FROM {table} t WHERE {where}")
        return json.loads(out.splitlines()[0])

    def copy_script(self, table: str, rs: list[dict]) -> str:
        cols = list(rs[0])
        body = "\n".join("\t".join(pg_copy_value(r[k]) for k in cols) for r in rs)
        return f"COPY {table} ({', '.join(cols)}) FROM STDIN;\n{body}\n\\.\n"

    def seed(self, rows: dict[str, list[dict]], borgs: list[dict], slots: list[dict]) -> float:
        t0 = time.monotonic()
        script = ["BEGIN;\n"]
        for table, rs in rows.items():
            if rs:
                script.append(self.copy_script(table, rs))
        script.append("CREATE TABLE bench_orgs (idx BIGINT PRIMARY KEY, org_id TEXT, workspace_id TEXT, key_id TEXT);\n")
        script.append("CREATE TABLE bench_slots (slot BIGINT PRIMARY KEY, idx BIGINT);\n")
        script.append(self.copy_script("bench_orgs", borgs))
        script.append(self.copy_script("bench_slots", slots))
        script.append("COMMIT;\nANALYZE bench_orgs;\nANALYZE bench_slots;\n")
        self.psql(self.url, script="".join(script))
        kb.log(f"PostgreSQL: {len(borgs):,} organizations after {time.monotonic() - t0:.0f} s")
        self.psql(self.url, records_sql("postgres", RECORDS, len(slots)))
        kb.log(f"PostgreSQL: {RECORDS:,} usage records after {time.monotonic() - t0:.0f} s")
        self.psql(self.url, ROLLUPS_SQL)
        self.psql(self.url, "DROP TABLE bench_orgs; DROP TABLE bench_slots")
        # What autovacuum would have done by itself on a live database.
        for t in ("usage_records", "usage_daily", "organizations", "users", "memberships",
                  "workspaces", "api_keys", "subscriptions", "payments"):
            self.psql(self.url, f"VACUUM (ANALYZE) {t}")
        return time.monotonic() - t0

    def size_mib(self) -> float:
        return int(self.psql(self.url, f"SELECT pg_database_size('{self.db}')").strip()) / 2**20

    def fresh_copy(self, run_dir: Path) -> tuple[Path, str | None]:
        name = f"{self.db}_r{run_dir.name.rsplit('-', 1)[-1]}"
        self.create(name, template=self.db)
        data = run_dir / "data"
        data.mkdir(parents=True)
        return data, f"{PG_URL}/{name}"

    def run_rows(self, run_dir: Path, sql: str) -> list[tuple]:
        name = f"{self.db}_r{run_dir.name.rsplit('-', 1)[-1]}"
        return self.rows(sql, f"{PG_URL}/{name}")

    def drop_copy(self, run_dir: Path) -> None:
        name = f"{self.db}_r{run_dir.name.rsplit('-', 1)[-1]}"
        self.psql(self.admin, f"DROP DATABASE IF EXISTS {name}")
        self.dbs.remove(name)
        shutil.rmtree(run_dir, ignore_errors=True)

    def drop(self) -> None:
        for name in reversed(self.dbs):
            try:
                self.psql(self.admin, f"DROP DATABASE IF EXISTS {name}")
            except subprocess.CalledProcessError as e:
                kb.log(f"could not drop {name}: {e.stderr.strip()}")
        self.dbs = []


# --- processes ----------------------------------------------------------------------


def kobo_env(data: Path, db_url: str | None, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KOBO_") and k != "RUST_LOG"}
    env.update(KOBO_DATA_DIR=str(data), KOBO_SESSION_TTL_SECS="86400", **extra)
    if db_url:
        env["KOBO_DATABASE_URL"] = db_url
    return env


def start_kobo(bin_dir: Path, work: Path, data: Path, db_url: str | None, port: int) -> subprocess.Popen:
    env = kobo_env(data, db_url, KOBO_LISTEN=f"127.0.0.1:{port}", KOBO_TEST_NOW=SIGNUP_NOW)
    proc = subprocess.Popen(
        [str(bin_dir / "kobo"), "serve"], cwd=work, env=env,
        stdout=subprocess.DEVNULL, stderr=open(work / "kobo-serve.log", "ab"),
    )
    kb.wait_http(f"http://127.0.0.1:{port}/health", proc=proc, timeout_s=120)
    return proc


def start_sim(bin_dir: Path, log: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [str(bin_dir / "kobo-paystack-sim"), "--listen", "127.0.0.1:0",
         "--webhook-url", "http://127.0.0.1:9/x", "--paystack-secret", SIM_PAYSTACK_SECRET,
         "--flutterwave-secret", SIM_FLW_SECRET, "--flutterwave-hash", SIM_FLW_HASH],
        stdout=subprocess.PIPE, stderr=open(log, "ab"), text=True,
    )
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        kb.stop(proc)
        raise RuntimeError(f"kobo-paystack-sim did not start: {line!r}")
    # Keep draining its stdout so it never blocks on a full pipe.
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc, line.removeprefix("listening on ")


def billing_run(bin_dir: Path, run_dir: Path, data: Path, db_url: str | None, sim: str) -> dict:
    """`kobo billing run --period P`, timed; peak RSS and CPU from wait4's rusage."""
    env = kobo_env(
        data, db_url,
        KOBO_TEST_NOW=NOW,
        KOBO_PUBLIC_URL="http://127.0.0.1:9",
        KOBO_PAYSTACK_SECRET_KEY=SIM_PAYSTACK_SECRET,
        KOBO_PAYSTACK_BASE_URL=f"http://{sim}",
        KOBO_FLUTTERWAVE_SECRET_KEY=SIM_FLW_SECRET,
        KOBO_FLUTTERWAVE_SECRET_HASH=SIM_FLW_HASH,
        KOBO_FLUTTERWAVE_BASE_URL=f"http://{sim}/flw/v3",
    )
    out_path, err_path = run_dir / "billing-run.out", run_dir / "billing-run.log"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(bin_dir / "kobo"), "billing", "run", "--period", PERIOD],
                                cwd=run_dir, env=env, stdout=out, stderr=err)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = rc = os.waitstatus_to_exitcode(status)
    stdout = out_path.read_text()
    if rc != 0:
        tail = err_path.read_text()[-3000:]
        raise RuntimeError(f"kobo billing run exited with {rc}\nstdout: {stdout[-2000:]}\nstderr (tail): {tail}")
    report = json.loads(stdout[stdout.index("{"):])
    # Warnings other than the notice that KOBO_TEST_NOW moves the clock.
    warns = [line for line in err_path.read_text().splitlines()
             if '"level":"WARN"' in line and "KOBO_TEST_NOW" not in line]
    return {"wall_s": wall, "peak_rss_mib": ru.ru_maxrss / 1024, "cpu_s": ru.ru_utime + ru.ru_stime,
            "report": report, "warnings": len(warns), "warning_lines": warns[:5]}


# --- what must have come out --------------------------------------------------------


def expected_invoices(orgs: list[dict], tokens: dict[str, int]) -> dict[str, dict]:
    """What each organization owes for the month, computed here from the seed."""
    out = {}
    for o in orgs:
        p = PLANS[o["plan"]]
        lines, paid = [], 0
        if o["kind"] in ("paystack_card", "flutterwave_card"):
            lines.append(p["price"])  # November's renewal, paid
            paid = p["price"]
        elif p["price"] > 0:
            lines.append(p["price"])  # granted plan, billed in arrears
        used, overage = tokens.get(o["org"], 0), 0
        if p["overage"] is not None and used > p["included"]:
            overage = half_up((used - p["included"]) * p["overage"], 1000)
            if overage > 0:
                lines.append(overage)
        if not lines:
            continue
        subtotal = sum(lines)
        total = subtotal + half_up(subtotal * VAT_BP, 10_000)
        if total == 0:
            continue
        out[o["org"]] = {"total": total, "paid": paid, "due": max(0, total - paid),
                         "plan": o["plan"], "kind": o["kind"], "overage": overage}
    return out


def verify(db, run_dir: Path, data: Path, orgs: list[dict], expected: dict[str, dict], report: dict) -> dict:
    rows = db.run_rows(run_dir, INVOICES_SQL)
    invs: dict[str, list[tuple]] = {}
    for r in rows:
        invs.setdefault(r[0], []).append(r)
    problems = []
    if len(rows) != report["issued"]:
        problems.append(f"{len(rows)} invoices in the database, the report says {report['issued']} issued")
    if report["organizations"] != len(orgs):
        problems.append(f"the report counts {report['organizations']} organizations, not {len(orgs)}")
    if report["errors"] or report["skipped"] or report["already_invoiced"] or report["not_yet_customers"]:
        problems.append(f"unexpected outcomes in the report: {report}")
    paid_plan = [o for o in orgs if o["plan"] != "free"]
    not_one = [o["org"] for o in paid_plan if len(invs.get(o["org"], [])) != 1]
    if not_one:
        problems.append(f"{len(not_one)} paid-plan organizations without exactly one invoice, e.g. {not_one[:3]}")
    missing = sorted(set(expected) - set(invs))
    extra = sorted(set(invs) - set(expected))
    if missing:
        problems.append(f"{len(missing)} organizations owe something but got no invoice, e.g. {missing[:3]}")
    if extra:
        problems.append(f"{len(extra)} organizations got an invoice they do not owe, e.g. {extra[:3]}")
    wrong, statuses, links, charged = [], {}, 0, 0
    for org, rs in invs.items():
        if len(rs) != 1:
            problems.append(f"{org} has {len(rs)} invoices")
            continue
        (_, kind, number, seq, period, status, total, paid, due, bp, has_link, _) = rs[0]
        statuses[status] = statuses.get(status, 0) + 1
        links += int(has_link)
        e = expected.get(org)
        if e is None:
            continue
        got = (kind, int(seq), period, int(total), int(paid), int(due), int(bp))
        want = ("invoice", 1, PERIOD, e["total"], e["paid"], e["due"], VAT_BP)
        if got != want or not str(number).endswith(f"-{INVOICE_DATE.year}-0001"):
            wrong.append((org, number, got, want))
        if e["due"] > 0 and e["kind"] == "paystack_card":
            charged += 1
            if status != "paid":
                wrong.append((org, number, f"status {status}", "paid with the saved card"))
        elif e["due"] > 0 and (status != "pending" or not int(has_link)):
            wrong.append((org, number, f"status {status}, link {bool(int(has_link))}",
                          "pending with a payment link"))
    if wrong:
        problems.append(f"{len(wrong)} invoices differ from the expected figures, e.g. {wrong[:3]}")
    pdfs = sum(1 for _ in (data / "invoices").rglob("*.pdf")) if (data / "invoices").exists() else 0
    if pdfs != len(rows):
        problems.append(f"{pdfs} PDFs written for {len(rows)} invoices")
    return {"invoices": len(rows), "statuses": statuses, "payment_links": links,
            "charged_saved_card": charged, "pdfs": pdfs, "problems": problems}


# --- the benchmark ------------------------------------------------------------------


def main() -> None:
    backend = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    if backend not in ("sqlite", "postgres"):
        raise SystemExit("usage: billing_run.py sqlite|postgres")
    if ORGS < 20 or RECORDS < 1:
        raise SystemExit("BENCH_ORGS must be at least 20 and BENCH_RECORDS at least 1")
    bin_dir = kb.target_dir() / "release"
    for b in ("kobo", "kobo-paystack-sim"):
        if not (bin_dir / b).exists():
            raise SystemExit(f"{bin_dir / b} is missing: run `cargo build --release --bins` first")
    m = kb.machine()
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=kb.REPO,
                            capture_output=True, text=True).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix=f"kobo-bench-billing-{backend}-", dir=TMP_PARENT))
    db = Sqlite(work) if backend == "sqlite" else Postgres(work)
    seed_data = db.seed_data if backend == "sqlite" else work / "seed" / "data"
    seed_data.mkdir(parents=True, exist_ok=True)
    port = kb.free_port()
    base = f"http://127.0.0.1:{port}"
    kobo = sim = None
    runs: list[dict] = []
    ok = False
    try:
        # 1. Kobo creates the schema and the plan catalog; the template tenant signs up.
        kobo = start_kobo(bin_dir, work, seed_data, db.url, port)
        s, _ = kb.http_json("POST", base + "/api/v1/auth/signup",
                            {"email": TEMPLATE_EMAIL, "password": TEMPLATE_PASSWORD,
                             "organization_name": "Bench Organization 00000"})
        key, _ = kb.http_json("POST", f"{base}/api/v1/workspaces/{s['workspace_id']}/api-keys",
                              {"name": "bench-0"}, token=s["access_token"])
        kb.stop(kobo)
        kobo = None
        org0, user0 = s["organization_id"], s["user_id"]
        tpl = {
            "users": db.template("users", f"id = '{user0}'"),
            "organizations": db.template("organizations", f"id = '{org0}'"),
            "workspaces": db.template("workspaces", f"org_id = '{org0}'"),
            "memberships": db.template("memberships", f"org_id = '{org0}'"),
            "api_keys": db.template("api_keys", f"id = '{key['id']}'"),
        }
        plans = {r[0]: json.loads(r[1]) for r in db.rows("SELECT id, definition FROM plans")}
        for pid, p in PLANS.items():
            got = plans.get(pid) or {}
            if (got.get("price_kobo"), got.get("included_tokens"), got.get("overage_per_1k_kobo")) != (
                    p["price"], p["included"], p["overage"]):
                raise RuntimeError(f"the plan catalog changed ({pid}: {got}); update PLANS in this script")

        # 2. The seed.
        orgs = layout(ORGS)
        orgs[0].update(org=org0, user=user0, workspace=s["workspace_id"], key=key["id"],
                       email=TEMPLATE_EMAIL)
        rows = seed_rows(orgs, tpl)
        borgs, slots = helper_rows(orgs)
        seed_s = db.seed(rows, borgs, slots)
        size = db.size_mib()
        kb.log(f"{db.name}: seeded in {seed_s:.0f} s, {size:,.0f} MiB")
        tokens = {r[0]: int(r[1]) for r in db.rows(TOKENS_SQL)}
        n_records = int(db.rows("SELECT count(*) FROM usage_records")[0][0])
        n_rollups = int(db.rows("SELECT count(*) FROM usage_daily")[0][0])
        if n_records != RECORDS:
            raise RuntimeError(f"{n_records} usage records seeded, not {RECORDS}")
        expected = expected_invoices(orgs, tokens)
        mix = {}
        for o in orgs:
            k = f"{o['plan']}/{o['kind']}"
            mix[k] = mix.get(k, 0) + 1
        kb.log(f"{len(expected):,} invoices expected; mix {mix}")

        # 3. The runs, each on a fresh copy.
        for i in range(RUNS):
            run_dir = work / f"run-{i}"
            data, url = db.fresh_copy(run_dir)
            load = kb.wait_for_quiet()
            sim, addr = start_sim(bin_dir, run_dir / "paystack-sim.log")
            try:
                r = billing_run(bin_dir, run_dir, data, url, addr)
            finally:
                kb.stop(sim)
                sim = None
            r["load_before"] = load
            r["verify"] = verify(db, run_dir, data, orgs, expected, r["report"])
            r["invoices_per_s"] = r["report"]["issued"] / r["wall_s"]
            runs.append(r)
            kb.log(f"{db.name} run {i + 1}/{RUNS}: {r['wall_s']:.2f} s, peak RSS {r['peak_rss_mib']:.0f} MiB, "
                   f"{r['report']['issued']} issued, {r['invoices_per_s']:.0f}/s; {r['verify']}")
            if r["verify"]["problems"]:
                kb.log(f"kept for inspection: {run_dir}")
                raise RuntimeError("the billing run's result is wrong: " + "; ".join(r["verify"]["problems"]))
            db.drop_copy(run_dir)
        ok = True
    finally:
        kb.stop(kobo)
        kb.stop(sim)
        db.drop()
        if runs:
            raw = {"machine": m, "commit": commit, "backend": backend, "orgs": ORGS, "records": RECORDS,
                   "period": PERIOD, "now": NOW, "runs": runs, "complete": ok}
            if ok:
                raw.update(seed_s=seed_s, size_mib=size, rollup_rows=n_rollups, mix=mix,
                           expected_invoices=len(expected))
            kb.log(f"raw results: {kb.save_raw('billing-' + backend, raw)}")
    text = report_text(m, commit, db.name, seed_s, size, n_rollups, mix, expected, runs)
    print(text)
    if os.environ.get("BENCH_NO_DOC") != "1":
        kb.replace_block(f"billing-{backend}", text)
    shutil.rmtree(work, ignore_errors=True)


def report_text(m, commit, name, seed_s, size, n_rollups, mix, expected, runs) -> str:
    med = lambda key: kb.median([r[key] for r in runs])  # noqa: E731
    issued = runs[0]["report"]["issued"]
    v = runs[0]["verify"]
    paid_orgs = sum(n for k, n in mix.items() if not k.startswith("free"))
    free_orgs = ORGS - paid_orgs
    free_inv = sum(1 for e in expected.values() if e["plan"] == "free")
    over = {}
    for e in expected.values():
        if e["overage"]:
            over[e["plan"]] = over.get(e["plan"], 0) + 1
    over_text = ", ".join(f"{n:,} {p}" for p, n in over.items()) or "none"
    lines = [
        f"**{name}** — measured {kb.BENCH_DATE} on {kb.machine_line(m)}; Kobo `{commit}`, release "
        f"build. `kobo billing run --period {PERIOD}` (clock {NOW}) over {ORGS:,} organizations "
        f"({free_orgs:,} free, {paid_orgs:,} on paid plans) and {RECORDS:,} usage records of the month "
        f"({n_rollups:,} daily rollup rows), in one database of {size:,.0f} MiB seeded in {seed_s:.0f} s. "
        f"Median of {len(runs)} runs, each on a fresh copy of the seeded database with its own "
        f"`kobo-paystack-sim`; wall time from start to exit of the command, peak RSS is `ru_maxrss` "
        f"(VmHWM) of the process.",
        "",
        "| organizations | usage records | invoices issued | wall time (s) | invoices / s | peak RSS (MiB) | CPU time (s) |",
        "|--:|--:|--:|--:|--:|--:|--:|",
        f"| {ORGS:,} | {RECORDS:,} | {issued:,} | **{med('wall_s'):.2f}** "
        f"({min(r['wall_s'] for r in runs):.2f}–{max(r['wall_s'] for r in runs):.2f}) | "
        f"{med('invoices_per_s'):,.0f} | **{med('peak_rss_mib'):.0f}** | {med('cpu_s'):.2f} |",
        "",
        f"Checked after every run: the database holds exactly the {issued:,} invoices the report "
        f"counts — every paid-plan organization has one, and {free_inv:,} of the {free_orgs:,} free "
        f"ones (those beyond their allowance); each with the total this script computes from the seed, "
        f"numbered `…-{INVOICE_DATE.year}-0001`, and its PDF. "
        f"{v['charged_saved_card']:,} were paid with the saved card (a charge at the simulator) and "
        f"{v['payment_links']:,} got a payment link (Paystack or Flutterwave checkout at the simulator). "
        f"Invoices with an overage line: {over_text}. Warnings logged by the run: {runs[0]['warnings']}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
