#!/bin/sh
# Sets up, builds and runs every test, in this order (docs/testing.md says how long each
# part takes):
#   1. the suite (unit, then integration and end-to-end tests)      build/
#   b. the dashboard in a real browser (Chromium, tests/browser/)   build/browser-screenshots/
#   2. the whole suite under AddressSanitizer + LeakSanitizer + UBSan build-asan/
#   3. the proxy, runtime and deploy tests under ThreadSanitizer    build-tsan/
#   4. every libFuzzer target for FUZZ_SECONDS (default 30) each     build-fuzz/
#   5. the lock annotations checked by clang -Wthread-safety         build-clang/
#   6. a Release build (-O3) of the gravity binary, warnings fatal  build-release/
# Any failure, sanitizer report or fuzzer crash fails the run.
#
#   GRAVITY_TEST_PARTS="suite asan"  runs only the parts named (suite browser asan tsan fuzz
#                                    locks release)
#   arguments                        go to ctest in parts 1-3 (e.g. -R Proxy)
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
parts=${GRAVITY_TEST_PARTS:-suite browser asan tsan fuzz locks release}
timings=""
run_part() {
  name=$1
  shift
  case " $parts " in *" $name "*) ;; *) return 0 ;; esac
  echo "==== test.sh: $name"
  t0=$(date +%s)
  "$@"
  timings="$timings $name=$(($(date +%s) - t0))s"
}
suite() {
  ./scripts/build.sh
  (cd "${BUILD_DIR:-build}" && ctest --output-on-failure -j 2 "$@")
}
run_part suite suite "$@"
browser() {
  ./scripts/build.sh --target gravity
  GRAVITY_BUILD_DIR="$PWD/${BUILD_DIR:-build}" tests/browser/run.sh
}
run_part browser browser
run_part asan ./scripts/sanitize.sh asan "$@"
run_part tsan ./scripts/sanitize.sh tsan "$@"
run_part fuzz ./scripts/fuzz.sh
run_part locks ./scripts/check-thread-safety.sh
release() { BUILD_DIR=build-release BUILD_TYPE=Release ./scripts/build.sh --target gravity; }
run_part release release
echo "test.sh: all passed:$timings"
