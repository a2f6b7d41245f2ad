// make_lr: crops each frame of a patch's window and makes its LR frame: optionally blurred
// (Gaussian, sigma drawn from `blur`), downscaled by `scale` (area, the code that makes
// validation's LR on the fly; or bicubic), optionally noised (Gaussian, sigma on 0..255 drawn
// from `noise`) and JPEG-compressed (quality drawn from `jpeg_quality`). Each range is
// [min, max]; [0, 0] (the default) is off. The draws are seeded by the sample alone (seed,
// clip, window, format, patch), the same for the sample's 7 frames except the noise itself.
//
//   {"name": "lr", "type": "make_lr", "concurrency": 4,
//    "params": {"downscale": "area", "blur": [0, 1.5], "noise": [0, 5], "jpeg_quality": [60, 95]}}
#pragma once

#include <cstdint>
#include <string>

#include "graph/stage.h"

namespace vsr {

class MakeLrStage : public Stage {
 public:
  static StageSchema schema();
  explicit MakeLrStage(const StageContext& ctx);
  void process(std::size_t port, const Message& in, Emitter& out) override;

 private:
  int scale_;
  std::uint64_t seed_;
  bool bicubic_;
  double blur_[2];
  double noise_[2];
  int jpeg_[2];
};

}  // namespace vsr
