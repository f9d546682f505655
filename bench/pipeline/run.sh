#!/usr/bin/env bash
# Builds and runs the pipeline benchmark: 40 sleep-based test files of known durations,
# 1 vs 4 workers, without and with per-file history. Prints a table.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
cd "$ROOT"
bench_build gravity-bench-pipeline
bench_header
exec "$BUILD_DIR/gravity-bench-pipeline"
