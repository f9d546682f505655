#!/usr/bin/env bash
# bench/deploy/run.sh — red/black deploy overhead and rollback to warm instances.
# Runs build/gravity-bench-deploy (see deploy_bench.cpp); extra arguments are passed on,
# e.g. `bench/deploy/run.sh --deploys 20 --health-interval 50ms`.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
BIN=$BUILD_DIR/gravity-bench-deploy
need_bin "$BIN"
bench_header
exec "$BIN" "$@"
