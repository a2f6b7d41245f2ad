// check_pair: checks one request of `scan` the way training would read it, without failing
// the run: reads the GT and the LR stack (read_image_bgr, as decode does) and runs split's
// size checks (check_gt_size, split_stack). Every DataError or OpenCV error becomes a
// PairProblem of the PairCheck it emits, so one pass finds every bad file. Problem kinds:
// "unreadable" (missing, corrupt, not PNG/JPEG), "bit_depth" (neither 8 nor 16 bit),
// "gt_size", "lr_stack" (wrong frame count or LR size). For a validation image (a request
// without lr_path) it checks what validate needs: readable and at least 11 + 2 x scale
// pixels a side ("val_size"); sides not divisible by scale are a note (validate crops them).
// Stateless, so it runs with concurrency = DATA.num_workers.
//
//   {"name": "check", "type": "check_pair", "concurrency": 4}
#pragma once

#include "graph/stage.h"

namespace vsr {

class CheckPairStage : public Stage {
 public:
  static StageSchema schema();
  explicit CheckPairStage(const StageContext&) {}
  void process(std::size_t port, const Message& in, Emitter& out) override;
};

}  // namespace vsr
