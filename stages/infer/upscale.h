// upscale: runs a trained checkpoint on each FrameWindow. open() loads the checkpoint
// (runtime/outputs/checkpoint.h), rebuilds VSRNet from its architecture, checks that params.frames
// is the model's frame count, and loads the EMA weights (weights: "ema", the default; the model
// weights when the checkpoint has no EMA) or the model weights (weights: "model"). process()
// takes the window's decoded frames (8- or 16-bit BGR, converted to float RGB in [0, 1] as
// training does), checks that they all have the centre frame's size, and upscales without
// gradients, under autocast when precision is bf16 or fp16 (fp16: CUDA only, rejected before
// anything runs on the CPU), in overlapping feathered LR tiles when tile > 0
// (runtime/model/infer.h). Emits the centre frame upscaled by the model's scale as float RGB
// in [0, 1]. Serial: one model, one window at a time.
//
//   {"name": "upscale", "type": "upscale",
//    "params": {"checkpoint":
//    "/experiments/general_fresh_7frames/checkpoints/checkpoint_step_100000.pth",
//               "weights": "ema", "frames": 7, "precision": "off", "tile": 128,
//               "tile_overlap": 16, "device": "auto", "threads": 0}}
#pragma once

#include <cstddef>
#include <memory>

#include "graph/stage.h"

namespace vsr {

class UpscaleStage : public Stage {
 public:
  static StageSchema schema();
  explicit UpscaleStage(const StageContext& ctx);
  ~UpscaleStage() override;
  void open() override;
  void process(std::size_t port, const Message& in, Emitter& out) override;
  void close(bool completed) override;

 private:
  struct Impl;  // keeps LibTorch out of this header
  std::unique_ptr<Impl> impl_;
};

}  // namespace vsr
