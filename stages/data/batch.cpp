#include "stages/data/batch.h"

#include <ATen/ATen.h>

#include "graph/registry.h"
#include "stages/data/messages.h"

namespace vsr {

StageSchema BatchStage::schema() {
  return StageSchema("batch")
      .doc("restores request order and collates one micro-batch: lr [B,T,3,h,w], gt [B,3,H,W]")
      .input<FrameSample>("in")
      .output<MicroBatch>("out");
}

namespace {

// Copies an HxWx3 float image into `dst` (a [H,W,3] contiguous float tensor).
void copy_into(const cv::Mat& img, const at::Tensor& dst) {
  cv::Mat view(static_cast<int>(dst.size(0)), static_cast<int>(dst.size(1)), CV_32FC3,
               dst.data_ptr<float>());
  img.copyTo(view);
}

std::shared_ptr<const MicroBatch> collate(const std::vector<Message>& slots) {
  auto first = slots[0].as<FrameSample>();
  const SampleRequest& r = *first->request;
  const auto B = static_cast<std::int64_t>(slots.size());
  const auto T = static_cast<std::int64_t>(first->frames.size());
  const cv::Size lr = first->frames[0].size();
  const cv::Size gt = first->gt.size();
  auto opts = at::TensorOptions().dtype(at::kFloat);
  at::Tensor lr_t = at::empty({B, T, lr.height, lr.width, 3}, opts);
  at::Tensor gt_t = at::empty({B, gt.height, gt.width, 3}, opts);
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
  mb->lr = lr_t.permute({0, 1, 4, 2, 3}).contiguous();
  mb->gt = gt_t.permute({0, 3, 1, 2}).contiguous();
  return mb;
}

}  // namespace

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
    Message m = Message::of<MicroBatch>(collate(it->second.slots));
    m.set_ticket(it->second.slots[0].ticket());  // it counts against its own credit
    out.emit(0, std::move(m));
  }
}

void BatchStage::close(bool) { pending_.clear(); }

VSR_REGISTER_STAGE(BatchStage);

}  // namespace vsr
