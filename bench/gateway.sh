#!/usr/bin/env bash
# Gateway load benchmark: Kobo in front of the mock upstream vs the mock alone, with wrk.
# Writes the "gateway" block of docs/BENCHMARKS.md. Settings: see bench/gateway.py.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
  echo "wrk is missing; installing it from Debian's packages."
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
if [[ " ${BENCH_CONFIGS:-redis} " == *redis* ]]; then
  redis-cli -u "${BENCH_REDIS_URL:-redis://127.0.0.1:6379}" ping | grep -q PONG \
    || { echo "Redis does not answer at ${BENCH_REDIS_URL:-redis://127.0.0.1:6379}" >&2; exit 1; }
fi

target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
if [[ ! -x "$target/release/kobo" || ! -x "$target/release/kobo-mock-upstream" ]]; then
  echo "Building the release binaries (cargo build --release --bins)."
  cargo build --release --bins
fi

exec python3 bench/gateway.py
