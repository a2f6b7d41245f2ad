// batch: collects the samples of each micro-batch, restores request order (micro-batches
// leave in the order sample made them, slots in slot order, whatever order the workers
// finished in) and collates them, in one of two forms (runtime/data/pixels.h):
//   float: lr [B,T,3,h,w], gt [B,3,H,W], float32 RGB in [0,1], converted here (the CPU's form);
//   raw:   lr [B,T,h,w,3], gt [B,H,W,3], the decoded BGR pixels, uint8 or int16 (16-bit), a
//          quarter or half of the bytes, in pinned memory when the device is CUDA; train_step
//          copies them to the device and converts them there.
// `pixels: auto` (the default) picks raw for a CUDA device, else float. Host blocks come from a
// pool: when the consumer drops a micro-batch its memory goes
// back to the pool (at most a few blocks per size are kept), so a long run neither allocates
// nor page-faults 10-100 MB per micro-batch, and memory stays bounded by the prefetch.
//
//   {"name": "batch", "type": "batch", "params": {"pixels": "auto", "device": "cuda"}}
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/stage.h"
#include "runtime/data/pixels.h"

namespace vsr {

class BlockPool;
struct MicroBatch;

class BatchStage : public Stage {
 public:
  static StageSchema schema();
  explicit BatchStage(const StageContext&);
  void open() override;
  void process(std::size_t port, const Message& in, Emitter& out) override;
  void close(bool completed) override;

 private:
  struct Pending {
    std::vector<Message> slots;
    int filled = 0;
  };
  std::map<std::int64_t, Pending> pending_;  // by seq
  std::int64_t next_seq_ = 0;
  std::shared_ptr<const MicroBatch> collate(const std::vector<Message>& slots);

  std::shared_ptr<BlockPool> pool_;
  std::string pixels_;  // auto | float | raw
  std::string device_;
  PixelForm form_ = PixelForm::kFloat;
  bool pinned_ = false;
};

}  // namespace vsr
