#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (VSR_FUZZ=ON: clang, ASan + UBSan) into build-fuzz/
# and runs each for SECONDS_PER_TARGET seconds, starting from its seed corpus
# tests/fuzz/corpus/<name>/. Fails on the first crash, leak, timeout or out-of-memory; the input
# that caused it is left in build-fuzz/fuzz-artifacts/<name>/ (reproduce it with
# build-fuzz/tests/fuzz/<name>_fuzz FILE). New inputs the fuzzer finds collect in
# build-fuzz/fuzz-corpus/<name>/, so a later run goes on from there.
#   scripts/fuzz.sh                  # every target, 12 s each: about a minute of fuzzing
#   scripts/fuzz.sh 3600 png config  # only these, an hour each
#   JOBS=4 BUILD_DIR=build-fuzz CXX=clang++-14 scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-12}
shift $(($# > 0 ? 1 : 0))
build=${BUILD_DIR:-build-fuzz}
jobs=${JOBS:-2}
cxx=${CXX:-$(command -v clang++-14 || command -v clang++ || true)}
if [[ -z $cxx || $($cxx --version) != *clang* ]]; then
  echo "fuzz: needs clang++ (Debian: apt-get install clang-14 libclang-rt-14-dev; scripts/setup.sh)" >&2
  exit 2
fi

cmake -S . -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DVSR_FUZZ=ON -DVSR_BUILD_TESTS=OFF -DVSR_WARNINGS_AS_ERRORS=ON >/dev/null
cmake --build "$build" -j"$jobs" --target fuzzers

names=("$@")
if ((${#names[@]} == 0)); then
  # Every target tests/fuzz/CMakeLists.txt declares, in its order.
  mapfile -t names < <(sed -n 's/^vsr_add_fuzzer(\([A-Za-z0-9_]*\).*/\1/p' tests/fuzz/CMakeLists.txt)
fi

# Leaks count as failures; any UBSan report aborts (the build has -fno-sanitize-recover).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for name in "${names[@]}"; do
  binary=$build/tests/fuzz/${name}_fuzz
  seeds=tests/fuzz/corpus/$name
  corpus=$build/fuzz-corpus/$name
  artifacts=$build/fuzz-artifacts/$name
  [[ -x $binary ]] || { echo "fuzz: no target $binary (see tests/fuzz/CMakeLists.txt)" >&2; exit 2; }
  mkdir -p "$corpus" "$artifacts"
  echo "== fuzz $name: ${seconds} s"
  start=$(date +%s)
  # -timeout: seconds per input (a hang); -rss_limit_mb: also caps single allocations;
  # -max_len: inputs up to 64 KB, enough for every limit's boundary (nesting, alias chains,
  # headers) and fast to run.
  "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 "$corpus" "$seeds" 2>"$build/fuzz-$name.log" || {
    tail -n 60 "$build/fuzz-$name.log" >&2
    echo "fuzz: $name failed; the input is in $artifacts/" >&2
    exit 1
  }
  grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$build/fuzz-$name.log" | tr '\n' ' '
  echo "($(($(date +%s) - start)) s)"
done
echo "fuzz: ${#names[@]} target(s), no crash, leak, timeout or out-of-memory"
