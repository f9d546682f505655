#!/usr/bin/env bash
# bench/logs/run.sh — the log store's ingest rate and a request-id query against grep -F.
# Runs build/gravity-bench-logs (logs_bench.cpp); arguments are passed on, e.g.
#   bench/logs/run.sh ingest --lines 2000000 --instances 4
#   bench/logs/run.sh query --lines 10000000
# DIR (default: a temp dir, removed afterwards) holds the files and the store.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
BIN=$BUILD_DIR/gravity-bench-logs
[ -x "$BIN" ] || { echo "missing $BIN: build first (./scripts/build.sh)" >&2; exit 1; }
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ)  cpus=$(nproc)  load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$BIN" "$@"
