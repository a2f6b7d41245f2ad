#!/usr/bin/env bash
# The demo: installs what is missing, builds vsr_flow, writes a small mock dataset and trains
# configs/demo.yaml on CPU (a few minutes), then prints where the outputs are and the last
# validation PSNR next to the bicubic baseline.
#   scripts/demo.sh                 # build dir: build/, data: demo_data/, outputs: experiments/demo
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target vsr_flow -j"${JOBS:-2}"
if [[ ! -d demo_data/Universal/Mastermodell/Learn/Patches/LR_7frames ]]; then
  "$build/vsr_flow" mock-data --root demo_data --categories general --formats small_540 \
    --lr-versions 7 --count 24 --val-count 2 --seed 1
fi
# A fresh run each time: the previous demo run's outputs go (a run never mixes into a folder
# with checkpoints; `--resume auto` would continue it instead).
if [[ -d experiments/demo ]]; then
  echo "demo: removing the previous demo run, experiments/demo"
  rm -rf experiments/demo
fi
"$build/vsr_flow" run configs/demo.yaml "$@"
