#!/usr/bin/env bash
# Every benchmark, in turn (about 40 minutes on 2 cores, most of it the 10-million-record
# seeds). Each writes its own block of docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins
bench/limiter.sh
bench/gateway.sh
bench/usage.sh all
bench/billing.sh all
