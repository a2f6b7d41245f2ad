// checkpoint: saves the snapshots of checkpoint steps as <dir>/checkpoint_step_005000.pth
// (six-digit step, format in runtime/outputs/checkpoint.h), keeps only the newest `keep_last` of
// them when keep_last > 0, and writes <dir>/best.pth (+ best.json: step and metrics) from the
// snapshot of the validation step with the highest PSNR so far.
//
// With `resume` (vsr_flow run --resume) the best-so-far comes from that checkpoint (or
// best.json, when it is of a step at or before it); without it, a folder that already holds
// checkpoints is refused before the run. A world check also wants room for a few checkpoints
// (`min_free_bytes`, estimated by the CLI from the model size).
//
// A validation step's snapshot and its ValResult come by different branches, in either
// order: whichever arrives first waits here (at most a few of each; they are dropped once
// matched, and the oldest are dropped beyond the bound, e.g. when nothing validates).
//
//   {"name": "checkpoint", "type": "checkpoint",
//    "params": {"dir": "experiments/x/checkpoints", "keep_last": 3, "config_text": "..."}}
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <string>

#include "graph/stage.h"
#include "stages/train/messages.h"

namespace vsr {

class CheckpointStage : public Stage {
 public:
  static StageSchema schema();
  explicit CheckpointStage(const StageContext& ctx);
  void open() override;
  void process(std::size_t port, const Message& in, Emitter& out) override;

  // Validation snapshots (or results) kept waiting for their other half, at most.
  static constexpr std::size_t kMaxWaiting = 4;

 private:
  void on_snapshot(std::shared_ptr<const ModelSnapshot> snapshot);
  void on_result(std::shared_ptr<const ValResult> result);
  void resolve(const ModelSnapshot& snapshot, const ValResult& result);
  void prune();
  CheckpointData to_checkpoint(const ModelSnapshot& s) const;

  std::filesystem::path dir_;
  int keep_last_;
  std::string config_text_;
  std::string resume_;
  std::string run_params_;
  std::int64_t best_step_ = 0;
  double best_psnr_ = -std::numeric_limits<double>::infinity();
  std::map<std::int64_t, std::shared_ptr<const ModelSnapshot>> waiting_snapshots_;
  std::map<std::int64_t, std::shared_ptr<const ValResult>> waiting_results_;
};

}  // namespace vsr
