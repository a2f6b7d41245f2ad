#include "stages/data/batch.h"

#include <ATen/ATen.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>

#include "graph/registry.h"
#include "runtime/data/pixels.h"
#include "runtime/model/device.h"
#include "stages/data/messages.h"
#include "stages/params.h"

namespace vsr {

StageSchema BatchStage::schema() {
  StageSchema s("batch");
  s.doc(
       "restores request order and collates one micro-batch: lr [B,T,3,h,w], gt [B,3,H,W] "
       "float RGB, or raw 8/16-bit BGR [B,T,h,w,3] for a GPU")
      .input<FrameSample>("in")
      .output<MicroBatch>("out")
      .concurrent()
      .optional("pixels", ParamType::kString, "auto",
                "float: RGB in [0, 1] made here; raw: the decoded 8/16-bit BGR pixels, in "
                "pinned memory on CUDA, converted on the device; auto: raw when the device "
                "is CUDA, else float")
      .choices({"auto", "float", "raw"});
  return device_param(s);
}

// Host blocks for micro-batch tensors, recycled by size. A tensor made by take() gives its
// block back when its last reference dies, wherever that is (the train step, a test); the
// pool outlives the stage for as long as such a tensor does.
class BlockPool : public std::enable_shared_from_this<BlockPool> {
 public:
  // Free blocks kept per size: the prefetch bound keeps fewer than this in flight in practice,
  // and more are released to the allocator rather than hoarded.
  static constexpr std::size_t kKeepPerSize = 8;

  ~BlockPool() {
    for (auto& [bytes, blocks] : free_) {
      for (void* b : blocks) std::free(b);
    }
  }

  at::Tensor take(at::IntArrayRef sizes, c10::ScalarType dtype) {
    std::size_t bytes = c10::elementSize(dtype);
    for (const auto s : sizes) bytes *= static_cast<std::size_t>(s);
    void* block = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(bytes);
      if (it != free_.end() && !it->second.empty()) {
        block = it->second.back();
        it->second.pop_back();
      }
    }
    if (block == nullptr) {
      // 64-byte aligned, as LibTorch's own CPU allocator aligns.
      block = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
      if (block == nullptr) throw std::bad_alloc();
    }
    return at::from_blob(
        block, sizes, [pool = shared_from_this(), bytes](void* b) { pool->give_back(b, bytes); },
        at::TensorOptions().dtype(dtype));
  }

 private:
  void give_back(void* block, std::size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto& blocks = free_[bytes];
      if (blocks.size() < kKeepPerSize) {
        blocks.push_back(block);
        return;
      }
    }
    std::free(block);
  }

  std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
};

void BatchStage::make_blocks(Pending& p, const FrameSample& first) {
  const auto B = static_cast<std::int64_t>(p.slots.size());
  const auto T = static_cast<std::int64_t>(first.frames.size());
  const cv::Size lr = first.frames.at(0).size();
  const cv::Size gt = first.gt.size();
  auto block = [&](std::vector<std::int64_t> sizes) {
    if (form_ == PixelForm::kFloat) return pool_->take(sizes, at::kFloat);
    const c10::ScalarType dtype = raw_pixel_dtype(first.gt.type());
    return pinned_ ? empty_pinned(sizes, dtype) : pool_->take(sizes, dtype);
  };
  p.lr = form_ == PixelForm::kFloat ? block({B, T, 3, lr.height, lr.width})
                                    : block({B, T, lr.height, lr.width, 3});
  p.gt = form_ == PixelForm::kFloat ? block({B, 3, gt.height, gt.width})
                                    : block({B, gt.height, gt.width, 3});
}

void BatchStage::copy_into(const FrameSample& s, const FrameSample& first, const at::Tensor& lr,
                           const at::Tensor& gt) const {
  const SampleRequest& r = *first.request;
  const std::int64_t b = s.request->slot;
  const auto T = static_cast<std::int64_t>(first.frames.size());
  if (s.gt.size() != first.gt.size() || static_cast<std::int64_t>(s.frames.size()) != T ||
      s.gt.type() != first.gt.type()) {
    throw std::runtime_error("micro-batch " + std::to_string(r.seq) +
                             " mixes sizes or bit depths: " + s.request->gt_path.string() +
                             " differs from " + r.gt_path.string());
  }
  const auto copy = form_ == PixelForm::kFloat ? &copy_float_rgb : &copy_raw;
  copy(s.gt, gt[b], s.flips);
  for (std::int64_t t = 0; t < T; ++t) {
    if (s.frames[t].size() != first.frames[0].size() || s.frames[t].type() != s.gt.type()) {
      throw std::runtime_error("frame " + std::to_string(t) + " of " + s.request->lr_path.string() +
                               " has another size or bit depth than its GT");
    }
    copy(s.frames[t], lr[b][t], s.flips);
  }
}

BatchStage::BatchStage(const StageContext& ctx)
    : pool_(std::make_shared<BlockPool>()),
      pixels_(ctx.param<std::string>("pixels")),
      device_(ctx.param<std::string>("device")) {}

void BatchStage::open() {
  const bool cuda = pick_device(device_).is_cuda();
  form_ = pixels_ == "raw" || (pixels_ == "auto" && cuda) ? PixelForm::kRaw : PixelForm::kFloat;
  pinned_ = form_ == PixelForm::kRaw && cuda;
}

void BatchStage::process(std::size_t, const Message& in, Emitter& out) {
  auto sample = in.as<FrameSample>();
  const SampleRequest& r = *sample->request;
  at::Tensor lr, gt;
  std::shared_ptr<const FrameSample> first;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (r.seq < next_seq_) {
      throw std::runtime_error("sample for micro-batch " + std::to_string(r.seq) +
                               " arrived after that micro-batch was emitted");
    }
    Pending& p = pending_[r.seq];
    if (p.slots.empty()) p.slots.resize(r.batch_size);
    if (r.slot < 0 || r.slot >= static_cast<int>(p.slots.size()) || p.slots[r.slot]) {
      throw std::runtime_error("micro-batch " + std::to_string(r.seq) + ": slot " +
                               std::to_string(r.slot) + " is out of range or arrived twice");
    }
    if (!p.first) {
      // The micro-batch's first sample to arrive sets its sizes; the blocks are made once.
      p.first = sample;
      make_blocks(p, *sample);
    }
    p.slots[r.slot] = in;
    lr = p.lr;
    gt = p.gt;
    first = p.first;
  }
  // The copy, the bulk of the work, runs on this worker while others fill other slots.
  copy_into(*sample, *first, lr, gt);
  std::lock_guard<std::mutex> lock(mutex_);
  ++pending_.at(r.seq).filled;
  // Emit every complete micro-batch that is next in order (under the lock: in order).
  for (auto it = pending_.begin(); it != pending_.end() && it->first == next_seq_ &&
                                   it->second.filled == static_cast<int>(it->second.slots.size());
       it = pending_.erase(it), ++next_seq_) {
    const SampleRequest& q = *it->second.first->request;
    auto mb = std::make_shared<MicroBatch>();
    mb->seq = q.seq;
    mb->step = q.step;
    mb->micro = q.micro;
    mb->accum = q.accum;
    mb->format = q.format;
    mb->format_index = q.format_index;
    mb->lr = it->second.lr;
    mb->gt = it->second.gt;
    Message m = Message::of<MicroBatch>(std::move(mb));
    m.set_ticket(it->second.slots[0].ticket());  // it counts against its own credit
    out.emit(0, std::move(m));
  }
}

void BatchStage::close(bool) {
  std::lock_guard<std::mutex> lock(mutex_);
  pending_.clear();
}

VSR_REGISTER_STAGE(BatchStage);

}  // namespace vsr
