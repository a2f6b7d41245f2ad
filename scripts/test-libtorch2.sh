#!/usr/bin/env bash
# The second build: vsr_flow against LibTorch 2.15 with CUDA, as pip's torch==2.15.0 wheel
# carries it (scripts/setup-libtorch2.sh installs it into .venv-torch/). Installs what is
# missing, configures build-torch2/, builds (every CUDA code path compiles and links, zero
# warnings) and runs the whole test suite; without a GPU the tests run on the CPU and the
# `gpu` tests skip, saying why.
#   scripts/test-libtorch2.sh            # build dir: build-torch2/
#   BUILD_DIR=build-x JOBS=8 scripts/test-libtorch2.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
prefix=$(scripts/setup-libtorch2.sh)
build=${BUILD_DIR:-build-torch2}
jobs=${JOBS:-2}
cuda_args=()
# Torch's CMake package needs nvcc: on the PATH, or the toolkit's default place.
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  cuda_args=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DVSR_WARNINGS_AS_ERRORS=ON \
  -DCMAKE_PREFIX_PATH="$prefix" "${cuda_args[@]}"
cmake --build "$build" -j"$jobs"
ctest --test-dir "$build" --output-on-failure -j"$jobs"
