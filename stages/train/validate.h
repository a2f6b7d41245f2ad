// validate: measures a ModelSnapshot on every image of Val/GT. LR frames are made once, in
// open(), as the spec says (frame i = GT shifted horizontally by shifts[i] pixels, then
// downscaled by scale; GT cropped to a multiple of scale). For each snapshot with
// validate=true it rebuilds the network from the snapshot's architecture (once), loads the
// EMA weights when present, else the model weights, and upscales every image without
// gradients; with `tile` > 0 in overlapping LR tiles (feathered blend, edges cropped) so
// memory stays bounded. Emits the mean PSNR, PSNR-Y and SSIM-Y (border = scale, predictions
// clamped to [0, 1]) with the same metrics of bicubic upscaling of the centre frame
// (ValResult), and pred_000/gt_000, ... for the first num_images images (ValImages).
// Snapshots with validate=false are ignored.
//
//   {"name": "validate", "type": "validate",
//    "params": {"val_dir": "/data/Universal/Mastermodell/Learn/Val/GT", "frames": 7, "scale": 3,
//               "shifts": [-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5], "num_images": 10,
//               "tile": 128, "tile_overlap": 16, "device": "auto", "threads": 0}}
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <opencv2/core/types.hpp>

#include "graph/stage.h"

namespace vsr {

class ValidateStage : public Stage {
 public:
  static StageSchema schema();
  explicit ValidateStage(const StageContext& ctx);
  ~ValidateStage() override;
  void open() override;
  void process(std::size_t port, const Message& in, Emitter& out) override;
  void close(bool completed) override;

 private:
  struct Impl;  // keeps LibTorch out of this header
  std::unique_ptr<Impl> impl_;
};

// What an out-of-memory error while validating is answered with: the device, the step, the
// image and its size, LibTorch's first line, and the VALIDATION.tile to set.
std::string validation_out_of_memory_message(const std::string& device, std::int64_t step,
                                             int image, cv::Size gt_size, int tile,
                                             const std::string& error);

}  // namespace vsr
