#!/usr/bin/env bash
# Limiter micro-benchmark (criterion, crates/limits/benches/limiter.rs), run several times.
# Writes the "limiter" block of docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 bench/limiter.py
