#!/usr/bin/env bash
# Builds the whole project with Debian's clang (installed if missing) in its
# own build dir, so CI catches what only one of gcc and clang refuses. This is
# the sanitizer build: ASan + UBSan on every target (TRAINYARD_SANITIZE) and
# the libFuzzer harnesses of tests/fuzz/ (TRAINYARD_FUZZ) that scripts/fuzz.sh
# runs. Compiles everything, tests included; RUN_TESTS=1 also runs ctest
# there (the full suite under the sanitizers).
#   scripts/build-clang.sh               # build dir: build-clang/
#   BUILD_DIR=out RUN_TESTS=1 scripts/build-clang.sh
#   SANITIZE= FUZZ=OFF scripts/build-clang.sh   # a plain clang build
#   CTEST_ARGS="-R '^(idx|dataset)_'" RUN_TESTS=1 scripts/build-clang.sh
#   TARGETS=fuzzers scripts/build-clang.sh     # only the fuzz harnesses
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
install_deps
install_deps "${TRAINYARD_CLANG_DEPS[@]}"
BUILD_DIR=${BUILD_DIR:-build-clang}
SANITIZE=${SANITIZE-address,undefined}
FUZZ=${FUZZ:-ON}
[ -n "$SANITIZE" ] || FUZZ=OFF  # the fuzz build needs ASan (CMakeLists.txt)
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # Paths relative to the checkout, so another clone of the same tree (CI's)
  # hits the same cache entries.
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
fi
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  "-DTRAINYARD_SANITIZE=$SANITIZE" "-DTRAINYARD_FUZZ=$FUZZ" \
  "${launcher[@]}" ${CMAKE_ARGS:-}
# TARGETS narrows the build (scripts/fuzz.sh builds only "fuzzers").
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}" ${TARGETS:+--target $TARGETS}
if [ "${RUN_TESTS:-0}" = 1 ]; then
  cd "$BUILD_DIR"
  start=$SECONDS
  # CTEST_ARGS (word-split on purpose) narrows the run, e.g. -R '^idx_'.
  eval "ctest --output-on-failure -j $(nproc) --timeout 3600 ${CTEST_ARGS:-}"
  echo "build-clang.sh: ctest took $((SECONDS - start)) s"
fi
