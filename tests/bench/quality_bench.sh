#!/usr/bin/env bash
# Time to quality on real footage (issue 16): builds a dataset from Debian's opencv-doc videos
# with the conversion job (small_540 patches of vtest.avi, 768x576, street footage, from its
# first 80% of frames; its last 20% held out by SOURCES.val_tail, and tree.avi held out whole,
# for validation; Megamind.avi, 720x528, is smaller than a small_540 patch), trains
# configs/demo.yaml on it for a wall-clock budget (TRAINING.time_budget_minutes), and prints the
# best validation gain over bicubic (RGB and Y) reached by 2.5, 5 and 10 minutes (or the
# fractions 1/4, 1/2, 1 of another budget), read from the run's TensorBoard file with the
# tensorboard package (.venv-test), and the same step's gain per validation clip (from its
# metrics.json): vtest's held-out frames (in domain, a later stretch of the same camera) and
# tree.avi (foliage, another camera).
#   tests/bench/quality_bench.sh [BUILD_DIR] [MINUTES] [--set KEY=VALUE]...   # build, 10
# The dataset is kept in $QUALITY_DATA (default ${TMPDIR:-/tmp}/vsr_quality_data) for the next
# run with the same conversion config; the run itself in a temporary folder. Extra --set
# arguments change the recipe, e.g.
#   tests/bench/quality_bench.sh build 10 --set TRAINING.learning_rate=0.001
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
minutes=${2:-10}
shift $(($# < 2 ? $# : 2))
data=${QUALITY_DATA:-${TMPDIR:-/tmp}/vsr_quality_data}
footage=/usr/share/doc/opencv-doc/examples/data
work=$(mktemp -d "${TMPDIR:-/tmp}/vsr_quality_bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

cat >"$work/convert.yaml" <<YAML
SOURCES:
  inputs: ["$footage/vtest.avi", "$footage/tree.avi"]
  val_clips: [tree]
  val_tail: 0.2
OUTPUT:
  output_root: "$data"
  category: "general"
DATASET:
  formats: ["small_540"]
  scale: 3
  stride: 5
  patches_per_window: 4
  placement: "random"
  min_detail: 6.0
  cut_threshold: 30
  val_stride: 30
  val_max_per_clip: 4
LR:
  downscale: "area"
RUN:
  seed: 0
  num_workers: 2
YAML
if ! cmp -s "$work/convert.yaml" "$data/.complete"; then
  rm -rf "$data"
  echo "quality_bench: converting opencv-doc footage into $data"
  "$build/vsr_flow" convert "$work/convert.yaml" >"$work/convert.log" 2>&1 || {
    cat "$work/convert.log" >&2
    exit 1
  }
  cp "$work/convert.yaml" "$data/.complete"
fi
samples=$(find "$data" -path "*Patches/GT*" -name "*.png" | wc -l)
vals=$(find "$data" -path "*Val/GT*" -name "*.png" | wc -l)
echo "quality_bench: $samples training samples, $vals validation frames (vtest.avi's last 20%, tree.avi), budget $minutes min"

budget=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 }')
# The run ends itself by its time budget (TRAINING.time_budget_minutes: the cosine decays to fit
# it, and the last step is validated), 20 s short of the bench's budget for the start-up; a run
# still going 2 minutes after the budget is stopped.
train_minutes=$(awk -v m="$minutes" 'BEGIN { printf "%.3f", m - 20 / 60 }')
"$build/vsr_flow" run configs/demo.yaml --set "DATA.data_root=$data" \
  --set "OUTPUT.experiments_root=$work/exp" --set OUTPUT.experiment_name=quality \
  --set TRAINING.total_steps=1000000 --set "TRAINING.time_budget_minutes=$train_minutes" \
  --set VALIDATION.val_interval=500 --set VALIDATION.num_images=0 \
  --set CHECKPOINT.checkpoint_interval=1000000 --set LOGGING.log_interval=100 "$@" \
  >"$work/train.log" 2>&1 &
pid=$!
for ((t = 0; t < budget + 120; t += 5)); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 5
done
kill -INT "$pid" 2>/dev/null || true
wait "$pid" || true
grep -E "^val step" "$work/train.log" || true
grep -E "^step " "$work/train.log" | tail -1 || true

.venv-test/bin/python - "$work/exp/quality" "$minutes" <<'PY'
import json, os, sys
from tensorboard.backend.event_processing import event_accumulator as ea

run = sys.argv[1]
acc = ea.EventAccumulator(os.path.join(run, "tensorboard"), size_guidance={ea.SCALARS: 0})
acc.Reload()
minutes = float(sys.argv[2])
series = {t: {e.step: (e.wall_time, e.value) for e in acc.Scalars(t)}
          for t in ("val/psnr", "val/bicubic_psnr", "val/psnr_y", "val/bicubic_psnr_y")
          if t in acc.Tags()["scalars"]}
if "val/psnr" not in series:
    print("quality_bench: no validation within the budget (VALIDATION.val_interval 500)")
    series["val/psnr"] = {}
# Time from the run's first event (the file_version event written when the run opens).
first = acc.FirstEventTimestamp()


def per_clip(step):
    """Mean gain over bicubic per validation clip (RGB, Y) of one validation's metrics.json."""
    path = os.path.join(run, "validation_images", f"step_{step:06d}", "metrics.json")
    if not os.path.exists(path):
        return ""
    clips = {}
    for image in json.load(open(path))["images"]:
        clip = os.path.basename(image["file"]).rsplit("_", 1)[0]
        clips.setdefault(clip, []).append((image["psnr"] - image["bicubic_psnr"],
                                           image["psnr_y"] - image["bicubic_psnr_y"]))
    return "  ".join(f"{clip} {sum(g for g, _ in v) / len(v):+.2f}/{sum(y for _, y in v) / len(v):+.2f}"
                     for clip, v in sorted(clips.items()))


print(f"{'by':>8} {'steps':>6} {'gain RGB':>9} {'gain Y':>8}   (best validation so far; per clip RGB/Y)")
for frac in (0.25, 0.5, 1.0):
    limit = first + frac * minutes * 60
    best = None
    for step, (wall, psnr) in series["val/psnr"].items():
        if wall > limit:
            continue
        g = psnr - series["val/bicubic_psnr"][step][1]
        gy = series["val/psnr_y"][step][1] - series["val/bicubic_psnr_y"][step][1]
        if best is None or g > best[1]:
            best = (step, g, gy)
    label = f"{frac * minutes:g} min"
    if best is None:
        print(f"{label:>8} {'-':>6} {'-':>9} {'-':>8}")
    else:
        print(f"{label:>8} {best[0]:>6} {best[1]:>+8.2f}  {best[2]:>+7.2f}   {per_clip(best[0])}")
PY
