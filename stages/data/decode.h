// decode: reads a request's GT and LR stack with OpenCV (PNG or JPEG, 8- or 16-bit, alpha
// dropped) as OpenCV decodes them: BGR, 8- or 16-bit (batch converts to float RGB, so the
// stages between move a quarter of the bytes). Stateless, so it runs with concurrency =
// DATA.num_workers; a file that cannot be read fails the run with its path.
//
//   {"name": "decode", "type": "decode", "concurrency": 4}
#pragma once

#include "graph/stage.h"

namespace vsr {

class DecodeStage : public Stage {
 public:
  static StageSchema schema();
  explicit DecodeStage(const StageContext&) {}
  void process(std::size_t port, const Message& in, Emitter& out) override;
};

}  // namespace vsr
