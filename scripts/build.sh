#!/bin/sh
# Configures and builds Gravity into ${BUILD_DIR:-build} (-j2, ccache), warnings fatal.
# BUILD_TYPE (default RelWithDebInfo) and CMAKE_ARGS apply when the directory is first
# configured; arguments go to `cmake --build` (e.g. --target gravity).
set -eu
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  # shellcheck disable=SC2086 # CMAKE_ARGS is a list of arguments
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
    -DGRAVITY_WERROR=ON ${CMAKE_ARGS:-} >/dev/null
fi
cmake --build "$BUILD_DIR" -j "${JOBS:-2}" "$@"
