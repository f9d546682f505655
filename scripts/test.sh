#!/bin/sh
# Sets up, builds and runs every test: unit tests, then integration and end-to-end tests.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j 2 "$@"
