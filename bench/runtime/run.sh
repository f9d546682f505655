#!/usr/bin/env bash
# bench/runtime/run.sh — instance start time (sandboxed vs not, median of N) and PSS per
# instance. Runs build/gravity-bench-runtime (see runtime_bench.cpp); arguments are passed
# on, e.g. `bench/runtime/run.sh --starts 50 --pss-instances 10`.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
BIN=$BUILD_DIR/gravity-bench-runtime
need_bin "$BIN"
bench_header
exec "$BIN" "$@"
