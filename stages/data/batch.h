// batch: collects the samples of each micro-batch, restores request order (micro-batches
// leave in the order sample made them, slots in slot order, whatever order the workers
// finished in) and collates them: lr [B,T,3,h,w], gt [B,3,H,W], float in [0,1], RGB.
// The float blocks come from a pool: when the consumer drops a micro-batch its memory goes
// back to the pool (at most a few blocks per size are kept), so a long run neither allocates
// nor page-faults 10-100 MB per micro-batch, and memory stays bounded by the prefetch.
//
//   {"name": "batch", "type": "batch"}
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "graph/stage.h"

namespace vsr {

class BlockPool;

class BatchStage : public Stage {
 public:
  static StageSchema schema();
  explicit BatchStage(const StageContext&);
  void process(std::size_t port, const Message& in, Emitter& out) override;
  void close(bool completed) override;

 private:
  struct Pending {
    std::vector<Message> slots;
    int filled = 0;
  };
  std::map<std::int64_t, Pending> pending_;  // by seq
  std::int64_t next_seq_ = 0;
  std::shared_ptr<BlockPool> pool_;
};

}  // namespace vsr
