#!/bin/sh
# Builds the libFuzzer targets (fuzz/, clang, ASan + UBSan) in build-fuzz and runs each
# for FUZZ_SECONDS (default 30) from its seed corpus fuzz/corpus/<target>/.
#
#   scripts/fuzz.sh                 every target
#   scripts/fuzz.sh http1_chunked   the targets whose name contains the word
#
# New inputs are kept in build-fuzz/corpus/<target>/ (reused by the next run); the seeds
# in the repository are only read. A crash leaves its input in build-fuzz/crashes/ and
# fails the run: turn it into a unit test beside the code, then fix the code.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
CXX_CLANG=${FUZZ_CXX:-clang++-14}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
    -DCMAKE_CXX_COMPILER="$CXX_CLANG" -DGRAVITY_WERROR=ON -DGRAVITY_FUZZ=ON >/dev/null
fi
cmake --build "$BUILD_DIR" -j "${JOBS:-2}" --target fuzzers

seconds=${FUZZ_SECONDS:-30}
mkdir -p "$BUILD_DIR/crashes"
failed=""
for seeds in fuzz/corpus/*/; do
  target=$(basename "$seeds")
  case "$target" in *"${1:-}"*) ;; *) continue ;; esac
  work="$BUILD_DIR/corpus/$target"
  mkdir -p "$work"
  log="$BUILD_DIR/fuzz-$target.log"
  # -timeout: an input slower than 10 s is a hang; -rss_limit_mb: 2 GB is a leak or a bomb.
  if "$BUILD_DIR/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$ROOT/$BUILD_DIR/crashes/$target-" \
      "$work" "$seeds" >"$log" 2>&1; then
    # The last status line: executions, coverage (cov: edges, ft: features), corpus.
    line=$(grep -E '^#[0-9]+' "$log" | tail -1)
    rate=$(grep -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}')
    echo "fuzz: $target: ok, ${rate:-?} exec/s; $line"
  else
    echo "fuzz: $target: FAILED — see $log" >&2
    grep -E 'ERROR|property violated|Test unit written' "$log" >&2 || tail -20 "$log" >&2
    failed="$failed $target"
  fi
done
[ -z "$failed" ] || { echo "fuzz: failed:$failed" >&2; exit 1; }
