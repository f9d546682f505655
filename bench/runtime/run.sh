#!/usr/bin/env bash
# bench/runtime/run.sh — instance start time (sandboxed vs not, median of N) and PSS per
# instance. Runs build/gravity-bench-runtime (see runtime_bench.cpp); arguments are passed
# on, e.g. `bench/runtime/run.sh --starts 50 --pss-instances 10`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
BIN=$BUILD_DIR/gravity-bench-runtime
[ -x "$BIN" ] || { echo "missing $BIN: build first (./scripts/build.sh)" >&2; exit 1; }
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ)  cpus=$(nproc)  load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$BIN" "$@"
