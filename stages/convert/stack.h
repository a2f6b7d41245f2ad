// stack: stacks a patch's LR frames vertically as the dataset stores them (the inverse of
// split, stack_frames in runtime/data/image.h): LR_7frames from all 7, LR_5frames from the
// middle five, one GT (the centre frame) for both.
//
//   {"name": "stack", "type": "stack"}
#pragma once

#include "graph/stage.h"

namespace vsr {

class StackStage : public Stage {
 public:
  static StageSchema schema();
  explicit StackStage(const StageContext&) {}
  void process(std::size_t port, const Message& in, Emitter& out) override;
};

}  // namespace vsr
