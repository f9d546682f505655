#!/bin/sh
# Builds the Debian package gravity_<version>_amd64.deb into ${BUILD_DIR:-build-package}
# (a Release build of the `gravity` target only) and prints its path.
# Install it with: apt install ./gravity_<version>_amd64.deb
set -eu
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-package}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} >/dev/null
fi
cmake --build "$BUILD_DIR" -j "${JOBS:-2}" --target gravity
(cd "$BUILD_DIR" && cpack -G DEB >/dev/null)
ls "$BUILD_DIR"/gravity_*_amd64.deb
