// batch: collates the samples of each micro-batch and restores request order (micro-batches
// leave in the order sample made them, slots in slot order, whatever order the workers
// finished in). Concurrent: each sample is copied into its slot of its micro-batch's block on
// the worker that brought it (the blocks are made when the micro-batch's first sample arrives);
// only the bookkeeping and the in-order emission are serial. The copy applies the sample's
// FrameSample::flips (left by augment). Two forms (runtime/data/pixels.h):
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
#include <mutex>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "graph/stage.h"
#include "runtime/data/pixels.h"

namespace vsr {

class BlockPool;
struct FrameSample;
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
    std::vector<Message> slots;                // claimed as samples arrive, copied or being copied
    int filled = 0;                            // slots copied
    std::shared_ptr<const FrameSample> first;  // the first to arrive: sizes and bit depth
    at::Tensor lr, gt;                         // the micro-batch's blocks
  };
  void make_blocks(Pending& p, const FrameSample& first);
  // Copies `s` into its slot of `lr` and `gt`; throws when it does not match `first`.
  void copy_into(const FrameSample& s, const FrameSample& first, const at::Tensor& lr,
                 const at::Tensor& gt) const;

  std::mutex mutex_;                         // pending_ and next_seq_
  std::map<std::int64_t, Pending> pending_;  // by seq
  std::int64_t next_seq_ = 0;

  std::shared_ptr<BlockPool> pool_;
  std::string pixels_;  // auto | float | raw
  std::string device_;
  PixelForm form_ = PixelForm::kFloat;
  bool pinned_ = false;
};

}  // namespace vsr
