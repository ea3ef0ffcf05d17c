#!/usr/bin/env bash
# Billing-run benchmark: `kobo billing run` over 10,000 organizations and 10,000,000 usage
# records, time and peak memory: `bench/billing.sh sqlite` (default), `bench/billing.sh
# postgres`, or `bench/billing.sh all`. Writes the "billing-<backend>" blocks of
# docs/BENCHMARKS.md. Needs the release build (cargo build --release --bins).
set -euo pipefail
cd "$(dirname "$0")/.."
backends=("${1:-sqlite}")
[[ "${1:-}" == "all" ]] && backends=(sqlite postgres)
for b in "${backends[@]}"; do
  case "$b" in
    sqlite) ;;
    postgres)
      pg_isready -h 127.0.0.1 -p 5432 -q || { echo "PostgreSQL does not answer on 127.0.0.1:5432" >&2; exit 1; } ;;
    *) echo "usage: bench/billing.sh [sqlite|postgres|all]" >&2; exit 2 ;;
  esac
  python3 bench/billing_run.py "$b"
done
