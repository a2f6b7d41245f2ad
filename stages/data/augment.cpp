#include "stages/data/augment.h"

#include <algorithm>

#include "graph/registry.h"
#include "runtime/data/formats.h"
#include "runtime/data/rng.h"
#include "stages/data/dataset_params.h"
#include "stages/data/messages.h"
#include "stages/params.h"

namespace vsr {

StageSchema AugmentStage::schema() {
  StageSchema s("augment");
  s.doc(
       "random crop, flips, rot90 (square only), temporal reverse; same for GT and frames (flips "
       "without a rotation are left to batch, which applies them while it copies)")
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
  scale_param(s);
  return formats_param(s, "formats the samples come in (the crop must fit each); [] = unchecked",
                       /*required=*/false)
      .check("crop is a multiple of the scale and fits every format", [](const json& p,
                                                                         ParamProblems& out) {
        const int crop = p.at("crop").get<int>();
        const int scale = p.at("scale").get<int>();
        if (crop == 0) return;
        if (crop % scale != 0) {
          out.add("crop", "crop " + std::to_string(crop) + " must be a multiple of the scale (" +
                              std::to_string(scale) + "), e.g. " +
                              std::to_string(crop - crop % scale));
        }
        for (const auto& name : p.at("formats")) {
          const FormatInfo& f = format_info(name.get<std::string>());
          if (crop <= std::min(f.width, f.height)) continue;
          out.add("crop", "crop " + std::to_string(crop) + " is larger than the patch size " +
                              std::to_string(f.width) + "x" + std::to_string(f.height) + " of " +
                              f.name + "; use at most " +
                              std::to_string(std::min(f.width, f.height)));
        }
      });
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
      // Only when the spec did not give augment the formats and scale of its samples.
      throw RunError("crop " + std::to_string(crop_) + " must be a multiple of the scale (" +
                     std::to_string(r.scale) + ") and at most the patch size " +
                     std::to_string(r.gt_size.width) + "x" + std::to_string(r.gt_size.height) +
                     " of " + r.format + "; give augment the formats and scale of its samples");
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
  const Augmentation aug = draw_augmentation(r.seed, probs_, square);
  // Flips are left to batch, which applies them while it converts (no copy here); rotations
  // (a transpose) are made here.
  Flips flips;
  if (geometry_as_flips(aug, &flips)) {
    sample->flips = flips;
    if (aug.reverse) std::reverse(sample->frames.begin(), sample->frames.end());
  } else {
    apply_augmentation(aug, sample->gt, sample->frames);
  }
  out.emit<FrameSample>(0, std::move(sample));
}

VSR_REGISTER_STAGE(AugmentStage);

}  // namespace vsr
