#!/bin/sh
# Builds Gravity with sanitizers and runs tests under them; any report fails the run.
#
#   scripts/sanitize.sh asan [ctest args]   AddressSanitizer + LeakSanitizer + UBSan
#                                           (build-asan): the whole suite
#   scripts/sanitize.sh tsan [ctest args]   ThreadSanitizer (build-tsan): the proxy,
#                                           runtime, deploy and API tests
#
# Every program of these builds halts on its first report and writes it to
# <build dir>/sanitizer-reports/ (tests/sanitizers/defaults.cpp); this script empties that
# directory first and prints and fails on whatever is in it afterwards, so a report from a
# child process (the proxy, the daemon, an instance) counts even when its test passed.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
mode=${1:-}
[ $# -gt 0 ] && shift
case "$mode" in
  asan) dir=build-asan; sanitize=address ;;
  tsan) dir=build-tsan; sanitize=thread ;;
  *) echo "usage: scripts/sanitize.sh asan|tsan [ctest args]" >&2; exit 2 ;;
esac
BUILD_DIR=${SANITIZE_BUILD_DIR:-$dir}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  # -O1 keeps the suite fast enough; Debug keeps assertions on.
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
    -DGRAVITY_WERROR=ON -DGRAVITY_SANITIZE="$sanitize" >/dev/null
fi
cmake --build "$BUILD_DIR" -j "${JOBS:-2}" --target gravity gravity-testapp gravity_unit_tests \
  gravity_integration_tests

reports="$ROOT/$BUILD_DIR/sanitizer-reports"
rm -rf "$reports"
mkdir -p "$reports"
status=0
cd "$BUILD_DIR"
if [ "$mode" = asan ]; then
  ctest --output-on-failure -j 2 "$@" || status=$?
else
  # The proxy, runtime, deploy and API areas: every suite of their unit tests (src/) and
  # integration tests (tests/), found in the sources so a new suite is included.
  suites=$(cd "$ROOT" && grep -ho '^TEST[_FP]*( *[A-Za-z0-9_]*' \
      src/proxy/*_test.cpp src/runtime/*_test.cpp src/deploy/*_test.cpp src/api/*_test.cpp \
      tests/proxy/*_test.cpp tests/runtime/*_test.cpp tests/deploy/*_test.cpp |
    sed 's/.*( *//' | sort -u | paste -sd'|' -)
  ctest --output-on-failure -j 2 -R "(^|/)($suites)\\." "$@" || status=$?
fi
if [ -n "$(ls -A "$reports")" ]; then
  for f in "$reports"/*; do
    echo "==== sanitizer report $f"
    cat "$f"
  done
  echo "sanitize: $(ls "$reports" | wc -l) sanitizer report(s) in $reports" >&2
  exit 1
fi
[ "$status" -eq 0 ] || { echo "sanitize: tests failed under $mode" >&2; exit "$status"; }
echo "sanitize: $mode: all tests passed, 0 sanitizer reports"
