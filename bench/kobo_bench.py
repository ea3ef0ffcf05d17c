"""Shared helpers for Kobo's benchmark scripts (Python 3.11, standard library only).

Machine description, process start and stop, a small JSON HTTP client, statistics and
the code that replaces one generated block of docs/BENCHMARKS.md, leaving the
hand-written text around it alone.
"""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "BENCHMARKS.md"
BENCH_DATE = os.environ.get("BENCH_DATE", "2026-12-04")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- the machine -------------------------------------------------------------------


def _lscpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def _mem_total_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _hypervisor() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return ""
    for line in out.splitlines():
        if line.startswith("Hypervisor vendor:"):
            return line.split(":", 1)[1].strip()
    return ""


def machine() -> dict:
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    os_name = ""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "nproc": nproc,
        "cpu": _lscpu_model(),
        "hypervisor": _hypervisor(),
        "ram_gib": round(_mem_total_gib(), 1),
        "kernel": platform.release(),
        "os": os_name,
        "rustc": rustc,
    }


def machine_line(m: dict) -> str:
    hv = f" ({m['hypervisor']} guest)" if m.get("hypervisor") else ""
    return (
        f"{m['nproc']} cores (`nproc`), {m['cpu']}{hv}, {m['ram_gib']} GiB RAM, "
        f"Linux {m['kernel']}, {m['os']}, {m['rustc']}"
    )


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def wait_for_quiet() -> float:
    """Waits (bounded) for the 1-minute load average to drop below BENCH_QUIET_LOAD (0.7),
    at most BENCH_QUIET_WAIT (300) seconds: the machine may be shared, and a compile next
    to a benchmark ruins it. Returns the load when it stops waiting."""
    limit = float(os.environ.get("BENCH_QUIET_LOAD", "0.7"))
    max_wait_s = float(os.environ.get("BENCH_QUIET_WAIT", "300"))
    deadline = time.monotonic() + max_wait_s
    load = loadavg()
    while load >= limit and time.monotonic() < deadline:
        log(f"load average {load:.2f} >= {limit}; waiting for the machine to be quiet")
        time.sleep(15)
        load = loadavg()
    return load


# --- CPU accounting -----------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_s() -> float:
    """CPU seconds all cores spent busy since boot (everything but idle and iowait)."""
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    vals = [int(x) for x in parts[:8]]
    idle = vals[3] + vals[4]
    return (sum(vals) - idle) / CLK_TCK


def proc_status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


# --- processes ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def target_dir() -> Path:
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return Path(json.loads(out)["target_directory"])


def stop(proc: subprocess.Popen | None, timeout: float = 15.0) -> None:
    """Stops one process this script started (by its own pid): SIGTERM, then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_http(url: str, timeout_s: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout_s} s")


# --- HTTP ---------------------------------------------------------------------------


def http_json(
    method: str,
    url: str,
    body: dict | None = None,
    token: str | None = None,
    expect: tuple[int, ...] = (200, 201),
) -> tuple[dict, dict]:
    """One JSON request; returns (parsed body, headers). Raises on an unexpected status."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, raw, headers = r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        status, raw, headers = e.code, e.read(), dict(e.headers)
    if status not in expect:
        raise RuntimeError(f"{method} {url} answered {status}: {raw[:500]!r}")
    return (json.loads(raw) if raw else {}), headers


# --- statistics ---------------------------------------------------------------------


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def percentile(sorted_xs: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_xs:
        return float("nan")
    k = max(0, min(len(sorted_xs) - 1, round(p / 100 * len(sorted_xs) + 0.5) - 1))
    return sorted_xs[k]


def spread(xs: list[float], fmt: str = "{:.0f}") -> str:
    """`median (min–max)` of a list, for tables."""
    if not xs:
        return "–"
    return f"{fmt.format(median(xs))} ({fmt.format(min(xs))}–{fmt.format(max(xs))})"


# --- the document -------------------------------------------------------------------


def replace_block(name: str, content: str, doc: Path = DOC) -> None:
    """Replaces the text between `<!-- BEGIN name -->` and `<!-- END name -->` in the
    document (creating the markers at the end when missing)."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    text = doc.read_text() if doc.exists() else "# Kobo benchmarks\n"
    block = f"{begin}\n{content.rstrip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)


def save_raw(name: str, data: dict) -> Path:
    """Raw results next to the scripts (bench/results/, not committed)."""
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(data, indent=2))
    return path
