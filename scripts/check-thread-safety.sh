#!/bin/sh
# Compiles the libraries whose locked state is annotated (common/thread_annotations.h) with
# Clang and -Wthread-safety (warnings are errors) into ${BUILD_DIR:-build-clang}.
# Only their object files are built: the rest of the tree need not compile with Clang.
set -eu
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-clang}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja \
    -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} -DGRAVITY_WERROR=ON >/dev/null
fi
objects=$(ninja -C "$BUILD_DIR" -t targets all |
  grep -oE 'src/(deploy|runtime|pipeline|daemon|api|store|certs|logs)/CMakeFiles/[^:]*\.cpp\.o' | sort -u)
# shellcheck disable=SC2086
ninja -C "$BUILD_DIR" -j "${JOBS:-2}" $objects
