#!/bin/sh
# Builds and runs the pipeline benchmark: 40 sleep-based test files of known durations,
# 1 vs 4 workers, without and with per-file history. Prints a table.
set -eu
cd "$(dirname "$0")/../.."
./scripts/build.sh --target gravity-bench-pipeline >/dev/null
BUILD_DIR=${BUILD_DIR:-build}
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ)  cpus=$(nproc)  load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$BUILD_DIR/gravity-bench-pipeline"
