#!/usr/bin/env bash
# Data-parallel training on one machine: the step rate of N ranks x T/N threads (`run --nproc
# N`, Gloo) against one process x T threads, for the same effective batch, and the time of the
# gradient all-reduce per step. The demo's model (16 channels, 2 blocks, 96-pixel crops).
#   tests/bench/distributed_bench.sh [BUILD_DIR] [STEPS]     # defaults: build, 120
#   RANKS=2 THREADS=2 BATCH=4 tests/bench/distributed_bench.sh
# Prints, for each layout, samples/s and steps/s over the second half of the run (the progress
# line at the last step, log_interval = STEPS/2, so start-up and warm-up are left out).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
steps=${2:-120}
ranks=${RANKS:-2}
threads=${THREADS:-2}
batch=${BATCH:-4}
if ((batch % ranks)); then
  echo "distributed_bench: BATCH ($batch) must divide by RANKS ($ranks)" >&2
  exit 2
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/vsr_dist_bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$build/vsr_flow" mock-data --root "$work/data" --categories general --formats small_540 \
  --lr-versions 7 --count 24 --val-count 1 --seed 1 >/dev/null
common=(--set "DATA.data_root=$work/data" --set "OUTPUT.experiments_root=$work/exp"
  --set "TRAINING.total_steps=$steps" --set "LOGGING.log_interval=$((steps / 2))"
  --set "VALIDATION.val_interval=1000000" --set "CHECKPOINT.checkpoint_interval=1000000"
  --set "DATA.num_workers=1")
run() {  # name, extra args...
  local name=$1
  shift
  "$build/vsr_flow" run configs/demo.yaml "${common[@]}" --set "OUTPUT.experiment_name=$name" "$@" \
    >"$work/$name.log" 2>&1 || {
    cat "$work/$name.log" >&2
    exit 1
  }
  grep "^step $steps/$steps" "$work/$name.log" | sed -E 's/.*\| ([0-9.]+) samples\/s.*/\1/'
}
one=$(run single --set "TRAINING.threads=$threads" --set "TRAINING.batch_size.small_540=$batch")
many=$(run ranks --set "TRAINING.threads=$((threads / ranks > 0 ? threads / ranks : 1))" \
  --set "TRAINING.batch_size.small_540=$((batch / ranks))" --nproc "$ranks")
allreduce=$(grep -o "gradient all-reduce [0-9.]* ms per step, [0-9.]*%" "$work/ranks.log" || true)
awk -v one="$one" -v many="$many" -v b="$batch" -v r="$ranks" -v t="$threads" -v ar="$allreduce" 'BEGIN {
  printf "1 process x %d threads, batch %d:        %7.2f samples/s  %6.3f steps/s\n", t, b, one, one / b
  printf "%d ranks x %d thread(s), batch %d each:   %7.2f samples/s  %6.3f steps/s  (%.2fx)\n", r, (t / r > 0 ? t / r : 1), b / r, many, many / b, many / one
  printf "%s of the step (rank 0)\n", ar
}'
