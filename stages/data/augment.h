// augment: random GT crop (aligned to the LR grid), horizontal/vertical flip, 90-degree
// rotation (square crops only) and temporal reversal, each with its probability. GT and every
// frame get the same transform; all randomness comes from the request's seed, so the result
// does not depend on which worker ran it. The crop is a view; a transform that is a pair of
// flips (4 of the 8 symmetries: no net quarter turn) is not applied here but recorded in
// FrameSample::flips, and batch applies it while it copies the pixels into the micro-batch
// (reading rows backwards costs nothing); a rotation is made here (cv::transpose/flip).
//
//   {"name": "augment", "type": "augment", "concurrency": 2,
//    "params": {"crop": 192, "hflip": 0.5, "vflip": 0.5, "rot90": 0.5, "reverse": 0.5}}
#pragma once

#include "graph/stage.h"
#include "runtime/data/image.h"

namespace vsr {

class AugmentStage : public Stage {
 public:
  static StageSchema schema();
  explicit AugmentStage(const StageContext& ctx);
  void process(std::size_t port, const Message& in, Emitter& out) override;

 private:
  int crop_;
  AugmentProbs probs_;
};

}  // namespace vsr
