// train_step: the serial training stage. Consumes micro-batches in order, runs forward and
// backward (autocast per mixed_precision), steps the optimizer after the format's
// gradient_accumulation micro-batches (loss scaled by 1/accumulation, so 2 x batch 2 gives
// the gradient of 1 x batch 4), then emits a StepEvent, and a ModelSnapshot on validation
// and checkpoint steps and on the last step.
//
// On CUDA it keeps one micro-batch ahead: each arriving micro-batch starts its copy to the
// device on a side stream (runtime/model/device.h DeviceUpload) and waits while the previous
// one computes; raw 8/16-bit pixels from batch are converted to float on the device. Also on
// CUDA: channels_last weights (model.channels_last: auto) and cuDNN's autotuner. A LibTorch
// out-of-memory error ends the run with out_of_memory_message().
//
//   {"name": "train_step", "type": "train_step",
//    "params": {"model": {"base_channels": 64, "num_blocks": 10, "use_checkpointing": true,
//                         "channels_last": "auto",
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

#include <cstdint>
#include <memory>
#include <string>

#include "graph/stage.h"

namespace vsr {

class DeviceUpload;
struct MicroBatch;

// What an out-of-memory error during a training step is answered with.
struct OutOfMemoryContext {
  std::int64_t step = 0;  // 1-based
  std::string format;
  std::int64_t batch_size = 0;
  int accum = 1;
  bool use_checkpointing = false;
  std::string device;
  std::string error;  // the first line of LibTorch's message
};
// The step, the format, its batch size and what to change in the config, one per line (the
// spec's "Out of Memory" advice: batch_size, gradient_accumulation, use_checkpointing, tile).
std::string out_of_memory_message(const OutOfMemoryContext& context);

// Steps in a row with a non-finite loss or gradient after which a run stops (saving the last
// good state first).
inline constexpr int kMaxNonfiniteSteps = 10;

class TrainStepStage : public Stage {
 public:
  static StageSchema schema();
  explicit TrainStepStage(const StageContext& ctx);
  ~TrainStepStage() override;
  void open() override;
  void process(std::size_t port, const Message& in, Emitter& out) override;
  void close(bool completed) override;

 private:
  void run(const MicroBatch& mb, DeviceUpload upload, Emitter& out);
  void train_micro_batch(const MicroBatch& mb, DeviceUpload upload, Emitter& out);

  struct State;  // torch lives in the .cpp
  std::unique_ptr<State> s_;
};

}  // namespace vsr
