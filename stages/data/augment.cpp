#include "stages/data/augment.h"

#include "graph/registry.h"
#include "runtime/rng.h"
#include "stages/data/messages.h"

namespace vsr {

StageSchema AugmentStage::schema() {
  return StageSchema("augment")
      .doc("random crop, flips, rot90 (square only), temporal reverse; same for GT and frames")
      .input<FrameSample>("in")
      .output<FrameSample>("out")
      .concurrent()
      .optional("crop", ParamType::kInt, 0,
                "GT crop size in pixels (a multiple of scale); 0 keeps the whole patch")
      .at_least(0)
      .optional("hflip", ParamType::kFloat, 0.5, "probability of a horizontal flip")
      .range(0, 1)
      .optional("vflip", ParamType::kFloat, 0.5, "probability of a vertical flip")
      .range(0, 1)
      .optional("rot90", ParamType::kFloat, 0.5, "probability of a 90/180/270 rotation")
      .range(0, 1)
      .optional("reverse", ParamType::kFloat, 0.5, "probability of reversing frame order")
      .range(0, 1);
}

AugmentStage::AugmentStage(const StageContext& ctx) : crop_(ctx.param<int>("crop")) {
  probs_.hflip = ctx.param<double>("hflip");
  probs_.vflip = ctx.param<double>("vflip");
  probs_.rot90 = ctx.param<double>("rot90");
  probs_.reverse = ctx.param<double>("reverse");
}

void AugmentStage::process(std::size_t, const Message& in, Emitter& out) {
  auto src = in.as<FrameSample>();
  const SampleRequest& r = *src->request;
  auto sample = std::make_shared<FrameSample>();
  sample->request = src->request;
  sample->gt = src->gt;
  sample->frames = src->frames;
  if (crop_ > 0) {
    if (crop_ % r.scale != 0 || crop_ > std::min(r.gt_size.width, r.gt_size.height)) {
      throw std::invalid_argument("params.crop " + std::to_string(crop_) +
                                  " must be a multiple of the scale (" + std::to_string(r.scale) +
                                  ") and at most the patch size " +
                                  std::to_string(r.gt_size.width) + "x" +
                                  std::to_string(r.gt_size.height) + " of " + r.format);
    }
    const int lr_crop = crop_ / r.scale;
    const int lr_w = r.gt_size.width / r.scale, lr_h = r.gt_size.height / r.scale;
    Rng rng(hash_values(r.seed, 0xC809u));
    const int x = static_cast<int>(rng.next() % static_cast<std::uint64_t>(lr_w - lr_crop + 1));
    const int y = static_cast<int>(rng.next() % static_cast<std::uint64_t>(lr_h - lr_crop + 1));
    sample->gt = sample->gt(cv::Rect(x * r.scale, y * r.scale, crop_, crop_));
    for (auto& f : sample->frames) f = f(cv::Rect(x, y, lr_crop, lr_crop));
  }
  const bool square = sample->gt.cols == sample->gt.rows;
  apply_augmentation(draw_augmentation(r.seed, probs_, square), sample->gt, sample->frames);
  out.emit<FrameSample>(0, std::move(sample));
}

VSR_REGISTER_STAGE(AugmentStage);

}  // namespace vsr
