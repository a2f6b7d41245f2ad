#!/usr/bin/env bash
# Builds vsr_flow against a Python's torch 2.x with CUDA and runs the GPU checks on a machine
# with an NVIDIA GPU: the ctest label gpu (tests/gpu) and train_bench on cuda.
#
#   scripts/gpu-check.sh                # skip, build, test, bench; results in a short file
#   scripts/gpu-check.sh --check-deps   # only the build's requirements: found / missing;
#                                       # exit 0 when all are found, else 2
#
# Python: $PYTHON, else .venv-torch/bin/python (scripts/setup-libtorch2.sh), else python3. Its
# torch's package folder (os.path.dirname(torch.__file__), not cmake_prefix_path: see
# setup-libtorch2.sh) is CMAKE_PREFIX_PATH. Without a GPU that torch can use (no CUDA build of
# torch 2.x, torch.cuda.is_available() False; nvidia-smi is only recorded, as containers may
# lack it) it prints "gpu-check: skipped: ..." and exits 0 within seconds. A missing
# requirement (tools, -dev headers, the CUDA toolkit's nvcc: $CUDACXX, nvcc on PATH or
# /usr/local/cuda/bin/nvcc, which Torch's CMake package needs) is reported, all of them at once
# with their Debian packages, before anything builds: exit 2.
#
# Then: configure $BUILD_DIR (default build-gpu/; a relative one is taken from the caller's
# folder) as Release with the g++ found first on PATH (also nvcc's host compiler), build
# vsr_flow gpu_tests train_bench with -j$(nproc), run ctest -L gpu (no test with the label
# fails too; tests that GTEST_SKIP themselves pass in ctest, so they are named as a warning) and
# train_bench --device cuda --steps 30 --warmup 5. Each phase runs under timeout
# (GPU_CHECK_{CONFIGURE,BUILD,TEST,BENCH}_TIMEOUT, default 60/230/100/50 s: with the torch and
# nvidia-smi probes, 30 and 10 s at most, 8 minutes in all at most); the phase that runs out is
# named. Results: $OUT/gpu-check-results.txt when $OUT is set (the device runner collects $OUT),
# else gpu-check-results.txt at the repository root (date, host, GPU, driver, torch and CUDA,
# phase times, ctest summary and failures, train_bench's lines, status: passed|failed|skipped);
# the phases' full logs in $OUT/gpu-check-logs/, else in the build folder's gpu-check-logs/.
# Exit 1 when configure, build, a gpu test or the bench fails.
#
# Air-gapped nodes: VSR_DEPS_ROOT=DIR, a folder holding usr/... that scripts/gpu-deps-bundle.sh
# unpacked the Debian packages into on a connected machine (dpkg -x). Its usr/bin goes first on
# PATH; its usr/lib/x86_64-linux-gnu, usr/lib and lib/x86_64-linux-gnu (Debian 12 packages still
# put some libraries in /lib) first on LD_LIBRARY_PATH and LIBRARY_PATH; usr/include,
# usr/include/opencv4 and usr/include/x86_64-linux-gnu on CPATH and, as -idirafter, in
# CXXFLAGS/CUDAFLAGS (CPATH alone puts them ahead of libstdc++'s own headers, whose
# #include_next <stdlib.h> then misses glibc's where only the bundle has libc6-dev; GCC drops
# the CPATH copy of a directory it also has as -idirafter); DIR/usr goes on CMAKE_PREFIX_PATH
# after the torch folder and in the environment's CMAKE_PREFIX_PATH too (the top CMakeLists.txt
# looks Protobuf up with CMAKE_FIND_USE_CMAKE_PATH off, so as not to meet the wheel's copy).
# CMake config files of Debian's -dev packages locate themselves, so they work from DIR; .pc
# files do not (prefix=/usr), and pkg-config's --define-prefix (PKG_CONFIG_ARGN) is no cure:
# for a multiarch .pc in usr/lib/x86_64-linux-gnu/pkgconfig it makes prefix usr/lib
# (-I.../usr/lib/include/libpng16). So DIR's pkgconfig folders go on PKG_CONFIG_PATH and CMake
# gets, as PKG_CONFIG_EXECUTABLE, a small wrapper (written into the build folder) that runs
# pkg-config and turns each /usr/... path it prints that this machine lacks but DIR holds into
# DIR/usr/...; standard folders (-I/usr/include) pkg-config leaves out anyway.
set -euo pipefail
here=$PWD
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

mode=full
case ${1:-} in
  "") ;;
  --check-deps) mode=deps ;;
  -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: scripts/gpu-check.sh [--check-deps]" >&2; exit 2 ;;
esac
abs() { if [[ $1 == /* ]]; then echo "$1"; else echo "$here/$1"; fi; }
build=$(abs "${BUILD_DIR:-$root/build-gpu}")
if [[ -n ${OUT:-} ]]; then
  results="$(abs "$OUT")/gpu-check-results.txt"
  logs="$(abs "$OUT")/gpu-check-logs"
else
  results="$root/gpu-check-results.txt"
  logs="$build/gpu-check-logs"
fi
t_configure=${GPU_CHECK_CONFIGURE_TIMEOUT:-60}
t_build=${GPU_CHECK_BUILD_TIMEOUT:-230}
t_test=${GPU_CHECK_TEST_TIMEOUT:-100}
t_bench=${GPU_CHECK_BENCH_TIMEOUT:-50}
arch=x86_64-linux-gnu

# ---- What results holds; written at every exit path of the full run.
gpu="-" driver="-" smi="-" torch_version="-" torch_cuda="-" torch_dir="-" python="-" nvcc="-"
phases=() took=0 build_time="-" ctest_summary="" bench_lines="" reason=""
write_results() {  # STATUS
  mkdir -p "$(dirname "$results")"
  {
    echo "gpu-check results"
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "host: $(hostname 2>/dev/null || uname -n)"
    echo "gpu: $gpu"
    echo "driver: $driver"
    echo "nvidia-smi: $smi"
    echo "torch: $torch_version (CUDA $torch_cuda) from ${python:-no Python}"
    echo "nvcc: $nvcc"
    [[ -z ${VSR_DEPS_ROOT:-} ]] || echo "deps root: $VSR_DEPS_ROOT"
    echo "build dir: $build"
    echo "phases: ${phases[*]:-none}"
    echo "build time: $build_time"
    if [[ -n $ctest_summary ]]; then
      echo "ctest -L gpu:"
      sed 's/^/  /' <<<"$ctest_summary"
    fi
    if [[ -n $bench_lines ]]; then
      echo "train_bench --device cuda --steps 30 --warmup 5:"
      sed 's/^/  /' <<<"$bench_lines"
    fi
    [[ -z $reason ]] || echo "reason: $reason"
    echo "status: $1"
  } >"$results"
  echo "gpu-check: results in $results"
}

# ---- The GPU, as the Python's torch sees it (before VSR_DEPS_ROOT's LD_LIBRARY_PATH).
probe_gpu() {
  python=${PYTHON:-}
  if [[ -z $python ]]; then
    if [[ -x $root/.venv-torch/bin/python ]]; then
      python=$root/.venv-torch/bin/python
    else
      python=$(command -v python3 || true)
    fi
  fi
  local have_smi=0
  if command -v nvidia-smi >/dev/null; then
    have_smi=1
    smi=$(timeout 10 nvidia-smi --query-gpu=name,memory.total,driver_version \
            --format=csv,noheader 2>&1 | paste -sd'|' -) || true
    smi=${smi:-"(no output)"}
    driver=$(awk -F', ' 'NR == 1 && NF >= 3 { print $3 }' <<<"${smi%%|*}")
    driver=${driver:-unknown}
  else
    smi="not found"
    driver="unknown (no nvidia-smi)"
  fi
  local smi_note="no nvidia-smi on PATH"
  ((have_smi == 0)) || smi_note="nvidia-smi says: $smi"
  if [[ -z $python ]] || ! command -v "$python" >/dev/null; then
    reason="no Python found (PYTHON=${PYTHON:-unset}, no .venv-torch, no python3): set PYTHON"
    reason+=" to a Python with torch 2.x (CUDA build), or run scripts/setup-libtorch2.sh"
    return 1
  fi
  local out
  out=$(timeout 30 "$python" - 2>/dev/null <<'PY'
import os, sys
try:
    import torch
except Exception as e:
    print("error=%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
    sys.exit(0)
print("version=" + torch.__version__)
print("cuda=" + str(torch.version.cuda))
print("dir=" + os.path.dirname(torch.__file__))
ok = torch.version.cuda is not None and torch.cuda.is_available()
print("available=%d" % ok)
if ok:
    print("gpu=%s (%d device(s))" % (torch.cuda.get_device_name(0), torch.cuda.device_count()))
PY
  ) || true
  local key val error="" available=0
  while IFS='=' read -r key val; do
    case $key in
      error) error=$val ;;
      version) torch_version=$val ;;
      cuda) torch_cuda=$val ;;
      dir) torch_dir=$val ;;
      available) available=$val ;;
      gpu) gpu=$val ;;
    esac
  done <<<"$out"
  local fix="set PYTHON to a Python with a CUDA build of torch 2.x, or run scripts/setup-libtorch2.sh"
  if [[ -n $error ]]; then
    reason="$python cannot import torch ($error): $fix"
  elif [[ $torch_version == - ]]; then
    reason="$python did not answer within 30 s (import torch): $fix"
  elif [[ ! ${torch_version%%.*} =~ ^[0-9]+$ ]] || ((${torch_version%%.*} < 2)); then
    reason="torch $torch_version in $python is not 2.x: $fix"
  elif [[ $torch_cuda == None ]]; then
    reason="torch $torch_version in $python is a CPU-only build (torch.version.cuda is None): $fix"
  elif ((available != 1)); then
    reason="no visible CUDA GPU: torch.cuda.is_available() is False (torch $torch_version,"
    reason+=" CUDA $torch_cuda) and $smi_note"
    if ((have_smi)); then
      reason+=" — check that the driver supports CUDA $torch_cuda and CUDA_VISIBLE_DEVICES"
    else
      reason+=" — run this on a machine with an NVIDIA GPU and its driver"
    fi
  else
    return 0
  fi
  return 1
}

# ---- VSR_DEPS_ROOT: Debian packages unpacked with dpkg -x (see the header).
prepend() {  # VAR DIR...: DIR... before VAR's entries, in that order
  local var=$1 joined
  shift
  joined=$(IFS=:; echo "$*")
  export "$var=$joined${!var:+:${!var}}"
}
setup_deps_root() {
  [[ -n ${VSR_DEPS_ROOT:-} ]] || return 0
  VSR_DEPS_ROOT=$(abs "$VSR_DEPS_ROOT")
  local d=$VSR_DEPS_ROOT
  if [[ ! -d $d/usr ]]; then
    echo "gpu-check: warning: VSR_DEPS_ROOT=$d has no usr/ folder: give the root/ folder that" \
         "scripts/gpu-deps-bundle.sh made" >&2
  fi
  prepend PATH "$d/usr/bin"
  prepend LD_LIBRARY_PATH "$d/usr/lib/$arch" "$d/usr/lib" "$d/lib/$arch"
  prepend LIBRARY_PATH "$d/usr/lib/$arch" "$d/usr/lib" "$d/lib/$arch"
  prepend CPATH "$d/usr/include" "$d/usr/include/opencv4" "$d/usr/include/$arch"
  prepend PKG_CONFIG_PATH "$d/usr/lib/$arch/pkgconfig" "$d/usr/share/pkgconfig" \
    "$d/usr/lib/pkgconfig"
  prepend CMAKE_PREFIX_PATH "$d/usr"
  local after="-idirafter $d/usr/include/$arch -idirafter $d/usr/include"
  after+=" -idirafter $d/usr/include/opencv4"
  export CXXFLAGS="$after${CXXFLAGS:+ $CXXFLAGS}"
  export CUDAFLAGS="-Xcompiler=${after// /,}${CUDAFLAGS:+ $CUDAFLAGS}"
}

# ---- The build's requirements. check_deps VERBOSE: fills missing[]; with VERBOSE=1 prints a
# line for each one, found or not.
tools=(cmake:cmake g++:g++ make:make pkg-config:pkg-config protoc:protobuf-compiler)
headers=(
  tbb/tbb.h:libtbb-dev opencv4/opencv2/core.hpp:libopencv-dev yaml-cpp/yaml.h:libyaml-cpp-dev
  nlohmann/json.hpp:nlohmann-json3-dev gtest/gtest.h:libgtest-dev gmock/gmock.h:libgmock-dev
  google/protobuf/message.h:libprotobuf-dev libdeflate.h:libdeflate-dev png.h:libpng-dev
)
missing=() debian_missing=()
cxx="" cmake_bin=""
check_deps() {
  local verbose=$1 entry name pkg path ver dirs=() d found
  say() { ((verbose == 0)) || echo "gpu-check: $*"; }
  lack() {  # WHAT PACKAGE-OR-EMPTY NOTE
    missing+=("$1 ($3)")
    [[ -z $2 ]] || debian_missing+=("$2")
    say "missing $1 ($3)"
  }
  missing=() debian_missing=()
  for entry in "${tools[@]}"; do
    name=${entry%%:*} pkg=${entry#*:}
    if ! path=$(command -v "$name"); then
      lack "$name" "$pkg" "Debian package $pkg"
      continue
    fi
    case $name in
      cmake)
        if ! ver=$("$path" --version 2>&1); then
          lack cmake cmake "Debian package cmake: $path does not run: ${ver%%$'\n'*}"
          continue
        fi
        ver=${ver%%$'\n'*} ver=${ver##* }
        if [[ $(printf '%s\n' 3.24 "$ver" | sort -V | head -1) != 3.24 ]]; then
          lack "cmake >= 3.24" cmake "found $ver at $path; Debian 12's package cmake is 3.25"
          continue
        fi
        cmake_bin=$path
        say "found   cmake $ver ($path)" ;;
      protoc|pkg-config)
        if ! ver=$("$path" --version 2>&1); then
          lack "$name" "$pkg" "Debian package $pkg: $path does not run: ${ver%%$'\n'*}"
          continue
        fi
        ver=${ver%%$'\n'*}
        say "found   $name ${ver#libprotoc } ($path)" ;;
      g++) cxx=$path; say "found   g++ ($path)" ;;
      *) say "found   $name ($path)" ;;
    esac
  done
  IFS=: read -ra dirs <<<"${CPATH:-}"
  dirs+=(/usr/local/include /usr/include "/usr/include/$arch")
  for entry in "${headers[@]}"; do
    name=${entry%%:*} pkg=${entry#*:} found=""
    for d in "${dirs[@]}"; do
      if [[ -n $d && -f $d/$name ]]; then found=$d/$name; break; fi
    done
    if [[ -n $found ]]; then
      say "found   $name ($found)"
    else
      lack "$name" "$pkg" "Debian package $pkg"
    fi
  done
  nvcc=""
  if [[ -n ${CUDACXX:-} ]]; then
    if [[ -x $CUDACXX ]]; then nvcc=$CUDACXX; else
      lack nvcc "" "CUDACXX=$CUDACXX is not an executable; Torch's CMake package needs the CUDA toolkit's nvcc"
    fi
  else
    for d in "$(command -v nvcc || true)" "${CUDA_HOME:+$CUDA_HOME/bin/nvcc}" \
             /usr/local/cuda/bin/nvcc; do
      if [[ -n $d && -x $d ]]; then nvcc=$d; break; fi
    done
    [[ -n $nvcc ]] || lack nvcc "" "the CUDA toolkit, which Torch's CMake package needs: not on PATH nor in /usr/local/cuda/bin; install it or set CUDACXX; it is not in the bundle"
  fi
  if [[ -n $nvcc ]]; then
    say "found   nvcc $("$nvcc" --version 2>/dev/null | sed -n 's/.*release \([^,]*\),.*/\1/p') ($nvcc)"
  fi
  ((${#missing[@]} == 0))
}
report_missing() {
  local line
  line=$(printf '%s; ' "${missing[@]}")
  line="gpu-check: missing: ${line%; }"
  if ((${#debian_missing[@]})); then
    line+=" — install them (apt-get install ${debian_missing[*]}), or unpack them with"
    line+=" scripts/gpu-deps-bundle.sh on a connected machine and set VSR_DEPS_ROOT"
  fi
  echo "$line" >&2
}

# ---- A phase: NAME TIMEOUT CMD...; its output on the terminal and in gpu-check-logs/NAME.log.
phase() {
  local name=$1 limit=$2 t0=$SECONDS rc
  shift 2
  mkdir -p "$logs"
  echo "gpu-check: $name (timeout $limit s): $*"
  set +e
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$logs/$name.log"
  rc=${PIPESTATUS[0]}
  set -e
  took=$((SECONDS - t0))
  phases+=("$name ${took}s")
  echo "gpu-check: $name: $took s (exit $rc)"
  if ((rc == 124 || rc == 137)); then
    echo "gpu-check: $name timed out after $limit s" >&2
    reason="$name timed out after $limit s"
  elif ((rc != 0)); then
    reason="$name failed (exit $rc); see $logs/$name.log"
  fi
  return "$rc"
}
fail() {
  write_results failed
  echo "gpu-check: failed: $reason (${SECONDS}s in all)" >&2
  exit 1
}

if [[ $mode == deps ]]; then
  setup_deps_root
  if check_deps 1; then
    echo "gpu-check: all requirements found"
    exit 0
  fi
  report_missing
  exit 2
fi

if ! probe_gpu; then
  echo "gpu-check: skipped: $reason"
  write_results skipped
  exit 0
fi
echo "gpu-check: $gpu; torch $torch_version (CUDA $torch_cuda); driver $driver"
setup_deps_root
if ! check_deps 0; then
  report_missing
  reason=$(printf '%s; ' "${missing[@]}")
  reason="missing requirements: ${reason%; }"
  write_results failed
  exit 2
fi
nvcc_bin=$nvcc
nvcc_version=$("$nvcc_bin" --version 2>/dev/null | sed -n 's/.*release \([^,]*\),.*/\1/p')
nvcc="$nvcc_bin (release ${nvcc_version:-?})"

prefix=$torch_dir
cmake_args=(-S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$cxx"
            -DCMAKE_CUDA_COMPILER="$nvcc_bin" -DCMAKE_CUDA_HOST_COMPILER="$cxx")
if [[ -n ${VSR_DEPS_ROOT:-} ]]; then
  prefix+=";$VSR_DEPS_ROOT/usr"
  mkdir -p "$build"
  wrapper="$build/vsr-deps-pkg-config"
  real_pkg_config=$(command -v pkg-config)
  cat >"$wrapper" <<EOF
#!/usr/bin/env bash
# Written by scripts/gpu-check.sh: pkg-config for .pc files unpacked into VSR_DEPS_ROOT, whose
# paths say /usr: each path it prints that this machine lacks but the root holds is the root's.
root=$(printf %q "$VSR_DEPS_ROOT")
out=\$($(printf %q "$real_pkg_config") "\$@") || exit \$?
while IFS= read -r line; do
  words=()
  read -ra ws <<<"\$line"
  for w in "\${ws[@]}"; do
    flag=
    case \$w in -I/*|-L/*) flag=\${w:0:2}; w=\${w:2} ;; esac
    if [[ \$w == /* && \$w != "\$root"/* && ! -e \$w && -e \$root\$w ]]; then w=\$root\$w; fi
    words+=("\$flag\$w")
  done
  echo "\${words[*]}"
done <<<"\$out"
EOF
  chmod +x "$wrapper"
  cmake_args+=(-DPKG_CONFIG_EXECUTABLE="$wrapper")
fi
cmake_args+=(-DCMAKE_PREFIX_PATH="$prefix")

phase configure "$t_configure" "$cmake_bin" "${cmake_args[@]}" || fail
configure_took=$took
phase build "$t_build" "$cmake_bin" --build "$build" --target vsr_flow gpu_tests train_bench \
  -j"$(nproc)" || { build_time="failed after $took s"; fail; }
build_time="$((configure_took + took)) s (configure $configure_took s + build $took s)"

ctest_bin="$(dirname "$cmake_bin")/ctest"
[[ -x $ctest_bin ]] || ctest_bin=ctest
tests_ok=1
phase tests "$t_test" "$ctest_bin" --test-dir "$build" -L gpu --output-on-failure \
  --no-tests=error || tests_ok=0
ctest_summary=$(awk '
  /tests passed|tests failed|No tests were found|Total Test time/ { print; next }
  /^The following tests (FAILED|did not run):/ { print; block = 1; next }
  block && /^[[:space:]]+[0-9]+ - / { print; next }
  { block = 0 }' "$logs/tests.log")
[[ -n $ctest_summary ]] || ctest_summary="(no summary: see $logs/tests.log)"
# A GTEST_SKIP passes in ctest: name those (the C++ side saw no device while torch did).
skipped=$(grep -ohE '^\[  SKIPPED \] [A-Za-z_][A-Za-z0-9_/]*\.[A-Za-z0-9_/]+' \
            "$build/Testing/Temporary/LastTest.log" 2>/dev/null | sort -u | sed 's/^\[  SKIPPED \] //') || true
if [[ -n $skipped ]]; then
  ctest_summary+=$'\n'"warning: $(wc -l <<<"$skipped") gpu test(s) skipped themselves (GTEST_SKIP; see LastTest.log):"
  ctest_summary+=$'\n'"$(sed 's/^/  /' <<<"$skipped")"
  echo "gpu-check: warning: gpu tests skipped themselves: $(paste -sd' ' - <<<"$skipped")" >&2
fi
test_reason=$reason
reason=""

bench_ok=1
phase bench "$t_bench" "$build/tests/bench/train_bench" --device cuda --steps 30 --warmup 5 || bench_ok=0
bench_lines=$(tail -n 40 "$logs/bench.log")
bench_reason=$reason

reason="$test_reason${test_reason:+${bench_reason:+; }}$bench_reason"
echo "gpu-check: phases: ${phases[*]} (${SECONDS}s in all)"
if ((tests_ok && bench_ok)); then
  write_results passed
  echo "gpu-check: passed"
  exit 0
fi
fail
