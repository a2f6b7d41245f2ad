#include "stages/data/batch.h"

#include <ATen/ATen.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>

#include "graph/registry.h"
#include "stages/data/messages.h"

namespace vsr {

StageSchema BatchStage::schema() {
  return StageSchema("batch")
      .doc("restores request order and collates one micro-batch: lr [B,T,3,h,w], gt [B,3,H,W]")
      .input<FrameSample>("in")
      .output<MicroBatch>("out");
}

// Float blocks for micro-batch tensors, recycled by size. A tensor made by take() gives its
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

  at::Tensor take(at::IntArrayRef sizes) {
    std::size_t bytes = sizeof(float);
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
        at::TensorOptions().dtype(at::kFloat));
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

namespace {

// Writes an 8- or 16-bit BGR image into `dst`, a contiguous [3,H,W] float block, as RGB in
// [0, 1]: one pass that converts, swaps channels and transposes HWC to CHW.
template <class T>
void bgr_to_chw(const cv::Mat& img, float* dst, float scale) {
  const std::size_t plane = static_cast<std::size_t>(img.rows) * img.cols;
  for (int y = 0; y < img.rows; ++y) {
    const T* src = img.ptr<T>(y);
    float* r = dst + static_cast<std::size_t>(y) * img.cols;
    float* g = r + plane;
    float* b = g + plane;
    for (int x = 0; x < img.cols; ++x, src += 3) {
      b[x] = src[0] * scale;
      g[x] = src[1] * scale;
      r[x] = src[2] * scale;
    }
  }
}

void copy_into(const cv::Mat& img, const at::Tensor& dst) {
  float* out = dst.data_ptr<float>();
  switch (img.type()) {
    case CV_8UC3:
      return bgr_to_chw<std::uint8_t>(img, out, 1.0f / 255.0f);
    case CV_16UC3:
      return bgr_to_chw<std::uint16_t>(img, out, 1.0f / 65535.0f);
    default:
      throw std::runtime_error(
          "batch takes 8- or 16-bit BGR images as decode makes them, found "
          "OpenCV type " +
          std::to_string(img.type()));
  }
}

std::shared_ptr<const MicroBatch> collate(const std::vector<Message>& slots, BlockPool& pool) {
  auto first = slots[0].as<FrameSample>();
  const SampleRequest& r = *first->request;
  const auto B = static_cast<std::int64_t>(slots.size());
  const auto T = static_cast<std::int64_t>(first->frames.size());
  const cv::Size lr = first->frames[0].size();
  const cv::Size gt = first->gt.size();
  at::Tensor lr_t = pool.take({B, T, 3, lr.height, lr.width});
  at::Tensor gt_t = pool.take({B, 3, gt.height, gt.width});
  for (std::int64_t b = 0; b < B; ++b) {
    auto s = slots[b].as<FrameSample>();
    if (s->gt.size() != gt || static_cast<std::int64_t>(s->frames.size()) != T) {
      throw std::runtime_error("micro-batch " + std::to_string(r.seq) +
                               " mixes sizes: " + s->request->gt_path.string() + " differs from " +
                               r.gt_path.string());
    }
    copy_into(s->gt, gt_t[b]);
    for (std::int64_t t = 0; t < T; ++t) {
      if (s->frames[t].size() != lr) {
        throw std::runtime_error("frame " + std::to_string(t) + " of " +
                                 s->request->lr_path.string() + " has another size than frame 0");
      }
      copy_into(s->frames[t], lr_t[b][t]);
    }
  }
  auto mb = std::make_shared<MicroBatch>();
  mb->seq = r.seq;
  mb->step = r.step;
  mb->micro = r.micro;
  mb->accum = r.accum;
  mb->format = r.format;
  mb->format_index = r.format_index;
  mb->lr = lr_t;
  mb->gt = gt_t;
  return mb;
}

}  // namespace

BatchStage::BatchStage(const StageContext&) : pool_(std::make_shared<BlockPool>()) {}

void BatchStage::process(std::size_t, const Message& in, Emitter& out) {
  const SampleRequest& r = *in.as<FrameSample>()->request;
  if (r.seq < next_seq_) {
    throw std::runtime_error("sample for micro-batch " + std::to_string(r.seq) +
                             " arrived after that micro-batch was emitted");
  }
  Pending& p = pending_[r.seq];
  if (p.slots.empty()) p.slots.resize(r.batch_size);
  if (r.slot < 0 || r.slot >= r.batch_size || p.slots[r.slot]) {
    throw std::runtime_error("micro-batch " + std::to_string(r.seq) + ": slot " +
                             std::to_string(r.slot) + " is out of range or arrived twice");
  }
  p.slots[r.slot] = in;
  ++p.filled;
  // Emit every complete micro-batch that is next in order.
  for (auto it = pending_.begin(); it != pending_.end() && it->first == next_seq_ &&
                                   it->second.filled == static_cast<int>(it->second.slots.size());
       it = pending_.erase(it), ++next_seq_) {
    Message m = Message::of<MicroBatch>(collate(it->second.slots, *pool_));
    m.set_ticket(it->second.slots[0].ticket());  // it counts against its own credit
    out.emit(0, std::move(m));
  }
}

void BatchStage::close(bool) { pending_.clear(); }

VSR_REGISTER_STAGE(BatchStage);

}  // namespace vsr
