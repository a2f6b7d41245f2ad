// train_step: the serial training stage. Consumes micro-batches in order, runs forward and
// backward (autocast per mixed_precision), steps the optimizer after the format's
// gradient_accumulation micro-batches (loss scaled by 1/accumulation, so 2 x batch 2 gives
// the gradient of 1 x batch 4), then emits a StepEvent, and a ModelSnapshot on validation
// and checkpoint steps and on the last step.
//
//   {"name": "train_step", "type": "train_step",
//    "params": {"model": {"base_channels": 64, "num_blocks": 10, "use_checkpointing": true,
//                         "flow_lr_mult": 0.25, "flow_freeze_steps": 0, "pretrained": ""},
//               "optim": {"optimizer": "adam", "learning_rate": 1e-4, "betas": [0.9, 0.99],
//                         "weight_decay": 0, "warmup_steps": 1000, "schedule": "cosine",
//                         "min_lr_ratio": 0.001, "grad_clip": 0, "loss": "charbonnier",
//                         "ema_decay": 0.999},
//               "mixed_precision": "bf16", "val_interval": 500, "checkpoint_interval": 5000}}
//
// with scale, frames, total_steps, seed, device and threads in the spec's "shared" values (or
// in params).
#pragma once

#include <memory>

#include "graph/stage.h"

namespace vsr {

class TrainStepStage : public Stage {
 public:
  static StageSchema schema();
  explicit TrainStepStage(const StageContext& ctx);
  ~TrainStepStage() override;
  void open() override;
  void process(std::size_t port, const Message& in, Emitter& out) override;

 private:
  struct State;  // torch lives in the .cpp
  std::unique_ptr<State> s_;
};

}  // namespace vsr
