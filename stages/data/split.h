// split: an LR stack -> T frames. The stack must be exactly T x LR height (the spec's "Wrong
// Frame Count") and the GT exactly the format's size = scale x the LR frame; errors name the
// file, what was expected and what was found.
//
//   {"name": "split", "type": "split"}
#pragma once

#include "graph/stage.h"

namespace vsr {

class SplitStage : public Stage {
 public:
  static StageSchema schema();
  explicit SplitStage(const StageContext&) {}
  void process(std::size_t port, const Message& in, Emitter& out) override;
};

}  // namespace vsr
