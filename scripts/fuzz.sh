#!/usr/bin/env bash
# Runs the libFuzzer harnesses of tests/fuzz/ (the clang ASan+UBSan build of
# scripts/build-clang.sh): every harness for FUZZ_SECONDS (default 20) one
# after the other, or one harness for as long as asked.
#   scripts/fuzz.sh                 # all harnesses, 20 s each (what CI runs)
#   scripts/fuzz.sh csv 3600        # one harness for an hour
#   FUZZ_SECONDS=60 scripts/fuzz.sh
#   FUZZ_BUILD=0 scripts/fuzz.sh    # no build step: the binaries as they are
# Each harness keeps a growing corpus in ~/.cache/trainyard-fuzz/<name>
# (FUZZ_CORPUS_ROOT), read together with the committed text seeds
# (tests/fuzz/corpus/<name>) and the generated binary ones (make_seeds), so a
# long run continues where the last one stopped. Exits non-zero when any
# harness finds a crash, a leak or a timeout, printing the input that caused
# it (written under build-clang/fuzz-artifacts/<name>/); reproduce it with
#   build-clang/tests/fuzz/<name>_fuzz <that file>
set -euo pipefail
cd "$(dirname "$0")/.."
export BUILD_DIR=${BUILD_DIR:-build-clang}
seconds=${FUZZ_SECONDS:-20}
only=""
if [ $# -ge 1 ]; then only=$1; fi
if [ $# -ge 2 ]; then seconds=$2; fi
if [ $# -gt 2 ]; then
  echo "usage: scripts/fuzz.sh [harness [seconds]]" >&2
  exit 2
fi

# Builds only what fuzzing needs when the full sanitizer build has not run;
# FUZZ_BUILD=0 uses the binaries as they are.
if [ "${FUZZ_BUILD:-1}" != 0 ]; then
  TARGETS=fuzzers bash scripts/build-clang.sh
fi

names=()
for src in tests/fuzz/*_fuzz.cc; do
  name=$(basename "$src" _fuzz.cc)
  if [ -z "$only" ] || [ "$only" = "$name" ]; then names+=("$name"); fi
done
if [ ${#names[@]} -eq 0 ]; then
  echo "fuzz.sh: no harness named '$only' (have: $(cd tests/fuzz && ls *_fuzz.cc | sed 's/_fuzz.cc//' | tr '\n' ' '))" >&2
  exit 2
fi

seeds="$BUILD_DIR/fuzz-seeds"
rm -rf "$seeds"
"$BUILD_DIR/tests/fuzz/make_seeds" "$seeds"
corpus_root=${FUZZ_CORPUS_ROOT:-$HOME/.cache/trainyard-fuzz}
artifacts_root="$BUILD_DIR/fuzz-artifacts"
logs="$BUILD_DIR/fuzz-logs"
mkdir -p "$logs"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

failed=()
summary=()
for name in "${names[@]}"; do
  corpus="$corpus_root/$name"
  artifacts="$artifacts_root/$name"
  mkdir -p "$corpus" "$artifacts"
  dirs=("$corpus")
  for extra in "tests/fuzz/corpus/$name" "$seeds/$name"; do
    [ -d "$extra" ] && dirs+=("$extra")
  done
  dict="tests/fuzz/$name.dict"
  [ "$name" = model_build ] && dict=tests/fuzz/spec_json.dict  # the same JSON keys
  dict_arg=()
  [ -f "$dict" ] && dict_arg=("-dict=$dict")
  log="$logs/$name.log"
  echo "== fuzz $name for ${seconds}s (corpus $corpus)"
  status=0
  # -timeout: an input slower than 25 s is a finding (a hang), not a wait.
  "$BUILD_DIR/tests/fuzz/${name}_fuzz" -max_total_time="$seconds" -timeout=25 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict_arg[@]}" \
    "${dirs[@]}" >"$log" 2>&1 || status=$?
  # A run that crashes early has no stats or coverage line: no match is fine.
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 || true)
  corpus_size=$(find "$corpus" -type f | wc -l)
  summary+=("$(printf '%-12s %10s execs %7s exec/s  %-22s corpus %s files' \
    "$name" "${execs:-?}" "${rate:-?}" "${cov:-cov: ?}" "$corpus_size")")
  if [ "$status" -ne 0 ]; then
    failed+=("$name")
    tail -n 60 "$log"
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    echo "fuzz.sh: $name FAILED (exit $status); input: ${crash:-see $log}" >&2
  fi
done

echo "== fuzz summary ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p'))"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz.sh: findings in: ${failed[*]} (logs in $logs)" >&2
  exit 1
fi
