#!/usr/bin/env bash
# Builds our code with sanitizers (GCC; LibTorch and OpenCV stay the system's uninstrumented
# libraries, so does oneTBB but for the tsan job, see below) and runs the tests under them; any
# sanitizer report fails the test.
#   asan: AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/, the whole CPU suite
#   tsan: ThreadSanitizer into build-tsan/, the graph engine's tests (graph_tests), the data
#         stages' tests (the suites of tests/stages/data in stages_tests) and the compute
#         thread's (runtime_tests)
#   scripts/sanitize.sh [asan|tsan|all]    # default all
#   JOBS=4 scripts/sanitize.sh asan        # build and ctest parallelism (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}
jobs=${JOBS:-2}
case $mode in
  asan | tsan | all) ;;
  *)
    echo "usage: scripts/sanitize.sh [asan|tsan|all]" >&2
    exit 2
    ;;
esac
root=$PWD

# The options, also in force while building: gtest_discover_tests runs each test binary to list
# its tests.
# ASan: stop at the first report (halt_on_error) with SIGABRT (abort_on_error), so ctest counts
# the test as failed even where a test harness would catch a plain exit. Leak checking stays on
# (LeakSanitizer at exit; LibTorch's and OpenCV's one-time allocations are still reachable then).
# allocator_may_return_null: DeviceTest.TellsOutOfMemoryErrorsFromOthers asks LibTorch for 1 PB
# on purpose, which must fail as malloc does (null, then c10::OutOfMemoryError), not as
# an ASan abort.
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:allocator_may_return_null=1
# UBSan: the build already aborts on any report (-fno-sanitize-recover=all, CMakeLists.txt);
# these say so for checks that recover anyway and print the stack of the report. ubsan.supp
# holds the one report of oneTBB's own headers, explained there.
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:suppressions=$root/tests/sanitizers/ubsan.supp"
# TSan: stop at the first report; tsan.supp holds what is left of uninstrumented libraries,
# each entry explained there.
export TSAN_OPTIONS="halt_on_error=1:abort_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/sanitizers/tsan.supp"

# -O1 keeps the stacks of reports readable and the sanitized tests fast enough; warnings are not
# errors here: GCC warns falsely under -fsanitize (e.g. -Wmaybe-uninitialized), and
# scripts/test.sh enforces them on the normal build.
configure() {
  cmake -S . -B "$1" -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g -DNDEBUG" \
    -DVSR_SANITIZE="$2" -DVSR_WARNINGS_AS_ERRORS=OFF >/dev/null
}

# Reports also go to files (log_path, one per process), so that one in a child process a test
# only expects to fail (a vsr_flow run asserted to exit non-zero) is not taken for that
# failure: after the tests, any report in those files fails the job and is printed. (ASan's
# "failed to allocate" warnings of the tests that ask for too much memory on purpose are not
# reports.)
logs_to() {
  rm -rf "$1"
  mkdir -p "$1"
  export ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$1/asan"
  export UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$1/ubsan"
  export TSAN_OPTIONS="$TSAN_OPTIONS:log_path=$1/tsan"
}
check_logs() {
  local found
  found=$(grep -l -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|WARNING: ThreadSanitizer" \
    "$1"/* 2>/dev/null || true)
  if [[ -n $found ]]; then
    echo "sanitize: reports in $(wc -l <<<"$found") process logs under $1:" >&2
    while read -r f; do
      echo "== $f" >&2
      head -40 "$f" >&2
    done <<<"$found"
    status=1
  fi
}

status=0
if [[ $mode == asan || $mode == all ]]; then
  echo "== asan: AddressSanitizer + UndefinedBehaviorSanitizer, build-asan/"
  start=$(date +%s)
  configure build-asan address,undefined
  cmake --build build-asan -j"$jobs"
  built=$(date +%s)
  (
    logs_to "$root/build-asan/sanitizer-logs"
    ctest --test-dir build-asan -L cpu --output-on-failure -j"$jobs"
  ) || status=1
  check_logs "$root/build-asan/sanitizer-logs"
  echo "== asan: build $((built - start)) s, tests $(($(date +%s) - built)) s"
fi

# ThreadSanitizer sees only the synchronisation of instrumented code, and the flow graph hands
# every message from thread to thread through oneTBB's task queues, inside libtbb.so: with
# Debian's libtbb every message would be a reported race. So the tsan job builds the same
# oneTBB release as the system's headers (libtbb only; its allocator then falls back to malloc,
# which TSan intercepts) with -fsanitize=thread into build-tsan/onetbb/, and every user of
# libtbb.so.12 (our tests, OpenCV, LibTorch) loads that one through LD_LIBRARY_PATH. Its
# source: TBB_SOURCE_DIR (a oneTBB source tree of that release), else Debian's source package
# (`apt-get source onetbb`, which needs a deb-src line for Debian's archive).
tsan_tbb() {
  local version
  version=$(awk '/define TBB_VERSION_(MAJOR|MINOR|PATCH) /{v = v (v == "" ? "" : ".") $3} END {print v}' \
    /usr/include/oneapi/tbb/version.h)
  local src=${TBB_SOURCE_DIR:-build-tsan/onetbb-src}
  if [[ ! -f $src/CMakeLists.txt && -z ${TBB_SOURCE_DIR:-} ]]; then
    mkdir -p build-tsan/onetbb-pkg
    if (cd build-tsan/onetbb-pkg && apt-get source -qq "onetbb=$version*" >/dev/null 2>&1); then
      ln -sfn "$(find "$PWD/build-tsan/onetbb-pkg" -maxdepth 1 -type d -name 'onetbb-*' -print -quit)" "$src"
    fi
  fi
  if [[ ! -f $src/CMakeLists.txt ]]; then
    echo "sanitize: tsan needs the oneTBB $version source (the system's release, built with" \
      "-fsanitize=thread): set TBB_SOURCE_DIR to a oneTBB $version source tree, or add a" \
      "deb-src line for Debian's archive so that 'apt-get source onetbb' works" >&2
    exit 2
  fi
  cmake -S "$src" -B build-tsan/onetbb -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g -DNDEBUG" -DTBB_SANITIZE=thread -DTBB_TEST=OFF \
    -DTBBMALLOC_BUILD=OFF -DTBB_STRICT=OFF -DTBB_EXAMPLES=OFF >/dev/null
  cmake --build build-tsan/onetbb -j"$jobs" --target tbb
  tbb_lib=$(dirname "$(find "$PWD/build-tsan/onetbb" -name 'libtbb*.so.12' -print -quit)")
}

if [[ $mode == tsan || $mode == all ]]; then
  echo "== tsan: ThreadSanitizer, build-tsan/ (with an instrumented oneTBB)"
  start=$(date +%s)
  tsan_tbb
  export LD_LIBRARY_PATH=$tbb_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  configure build-tsan thread
  cmake --build build-tsan -j"$jobs" --target graph_tests stages_tests runtime_tests
  built=$(date +%s)
  # The suites of tests/stages/data (harness.h: DataStages, CheckDataStages; decode_test.cpp,
  # batch_test.cpp), and the compute thread every LibTorch call of a graph goes through
  # (runtime/model/compute_thread.h; its tests make no parallel LibTorch calls, whose OpenMP
  # pool TSan cannot see).
  data_suites='DataStages.*:CheckDataStages.*:DecodeStageTest.*:BatchStage.*:*/BatchPixels.*'
  (
    logs_to "$root/build-tsan/sanitizer-logs"
    build-tsan/tests/graph_tests && build-tsan/tests/stages_tests --gtest_filter="$data_suites" &&
      build-tsan/tests/runtime_tests --gtest_filter='ComputeThread.*'
  ) || status=1
  check_logs "$root/build-tsan/sanitizer-logs"
  echo "== tsan: build $((built - start)) s, tests $(($(date +%s) - built)) s"
fi
exit $status
