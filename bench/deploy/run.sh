#!/usr/bin/env bash
# bench/deploy/run.sh — red/black deploy overhead and rollback to warm instances.
# Runs build/gravity-bench-deploy (see deploy_bench.cpp); extra arguments are passed on,
# e.g. `bench/deploy/run.sh --deploys 20 --health-interval 50ms`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
BIN=$BUILD_DIR/gravity-bench-deploy
[ -x "$BIN" ] || { echo "missing $BIN: build first (./scripts/build.sh)" >&2; exit 1; }
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ)  cpus=$(nproc)  load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$BIN" "$@"
