#!/usr/bin/env bash
# bench/logs/run.sh — the log store's ingest rate and a request-id query against grep -F.
# Runs build/gravity-bench-logs (logs_bench.cpp); arguments are passed on, e.g.
#   bench/logs/run.sh ingest --lines 2000000 --instances 4
#   bench/logs/run.sh query --lines 10000000
# DIR (default: a temp dir, removed afterwards) holds the files and the store.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
BIN=$BUILD_DIR/gravity-bench-logs
need_bin "$BIN"
bench_header
exec "$BIN" "$@"
