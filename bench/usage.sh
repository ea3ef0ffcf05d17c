#!/usr/bin/env bash
# Usage-query benchmark over 10,000,000 records: `bench/usage.sh sqlite` (default),
# `bench/usage.sh postgres`, or `bench/usage.sh all`. Writes the "usage-<backend>" blocks
# of docs/BENCHMARKS.md. Needs the release build (cargo build --release --bins).
set -euo pipefail
cd "$(dirname "$0")/.."
backends=("${1:-sqlite}")
[[ "${1:-}" == "all" ]] && backends=(sqlite postgres)
for b in "${backends[@]}"; do
  if [[ "$b" == postgres ]]; then
    pg_isready -h 127.0.0.1 -p 5432 -q || { echo "PostgreSQL does not answer on 127.0.0.1:5432" >&2; exit 1; }
  fi
  python3 bench/usage_query.py "$b"
done
