#!/usr/bin/env bash
# Builds the whole project with Debian's clang (installed if missing) in its
# own build dir, so CI catches what only one of gcc and clang refuses.
# Compiles everything, tests included; RUN_TESTS=1 also runs ctest there.
#   scripts/build-clang.sh               # build dir: build-clang/
#   BUILD_DIR=out RUN_TESTS=1 scripts/build-clang.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
install_deps
install_deps "${TRAINYARD_CLANG_DEPS[@]}"
BUILD_DIR=${BUILD_DIR:-build-clang}
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # Paths relative to the checkout, so another clone of the same tree (CI's)
  # hits the same cache entries.
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
fi
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  "${launcher[@]}" ${CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j "$(nproc)"
if [ "${RUN_TESTS:-0}" = 1 ]; then
  cd "$BUILD_DIR"
  ctest --output-on-failure -j "$(nproc)" --timeout 900
fi
