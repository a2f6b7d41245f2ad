#include "stages/convert/patches.h"

#include <cmath>
#include <iostream>

#include <opencv2/imgproc.hpp>

#include "common/validation.h"
#include "graph/registry.h"
#include "runtime/data/formats.h"
#include "runtime/data/image.h"
#include "runtime/data/rng.h"
#include "stages/convert/messages.h"
#include "stages/data/dataset_params.h"
#include "stages/params.h"

namespace vsr {

std::string PatchSample::name() const {
  return window->clip + "_" + zero_padded(window->centre, 6) + "_" + std::to_string(n);
}

StageSchema PatchesStage::schema() {
  StageSchema s("patches");
  s.doc(
       "per window and format, crops of the format's GT size at seeded random or grid "
       "positions, the same in every frame; flat crops are rejected")
      .input<TrainWindow>("in")
      .output<PatchSample>("out")
      .concurrent()
      .optional("patches_per_window", ParamType::kInt, 4, "crops per window and format")
      .range(1, 1000)
      .optional("placement", ParamType::kString, "random", "random (seeded) or grid")
      .choices({"random", "grid"})
      .optional("min_detail", ParamType::kFloat, 6.0,
                "least standard deviation of the crop's luma (0..255); 0 keeps every crop")
      .at_least(0)
      .optional("seed", ParamType::kInt, 0, "seed of the crop positions")
      .shared();
  formats_param(s, "patch formats to cut (their GT sizes)");
  scale_param(s);
  return scaled_formats_check(s);
}

PatchesStage::PatchesStage(const StageContext& ctx)
    : name_(ctx.name),
      formats_(ctx.param<std::vector<std::string>>("formats")),
      scale_(ctx.param<int>("scale")),
      seed_(ctx.param<std::uint64_t>("seed")),
      per_window_(ctx.param<int>("patches_per_window")),
      grid_(ctx.param<std::string>("placement") == "grid"),
      min_detail_(ctx.param<double>("min_detail")) {}

namespace {

// The standard deviation of the luma of `crop` (BGR, 8 or 16 bit) on a 0..255 scale.
double detail(const cv::Mat& crop) {
  cv::Mat gray;
  cv::cvtColor(crop, gray, cv::COLOR_BGR2GRAY);
  cv::Scalar mean, stddev;
  cv::meanStdDev(gray, mean, stddev);
  return stddev[0] * (crop.depth() == CV_16U ? 255.0 / 65535.0 : 1.0);
}

// Position n of `count` on a grid over the free range [0, free] of one axis, `cells` cells.
int grid_position(int n, int cells, int free, int align) {
  if (cells <= 1) return free / 2 / align * align;
  return static_cast<int>(std::lround(static_cast<double>(free) * n / (cells - 1))) / align * align;
}

}  // namespace

void PatchesStage::process(std::size_t, const Message& in, Emitter& out) {
  auto window = in.as<TrainWindow>();
  const cv::Size frame = window->frames[3].size();
  for (std::size_t fi = 0; fi < formats_.size(); ++fi) {
    const FormatInfo& format = format_info(formats_[fi]);
    if (format.width > frame.width || format.height > frame.height) {
      std::lock_guard<std::mutex> lock(mutex_);
      notes_.insert("format " + format.name + " (" + std::to_string(format.width) + "x" +
                    std::to_string(format.height) + ") skipped for clip " + window->clip + " (" +
                    size_text(frame) + "): its frames are smaller");
      continue;
    }
    const int free_x = frame.width - format.width, free_y = frame.height - format.height;
    const int cols = static_cast<int>(std::ceil(std::sqrt(per_window_)));
    const int rows = (per_window_ + cols - 1) / cols;
    for (int n = 0; n < per_window_; ++n) {
      cv::Point at;
      if (grid_) {
        at = {grid_position(n % cols, cols, free_x, scale_),
              grid_position(n / cols, rows, free_y, scale_)};
      } else {
        Rng rng(hash_values(seed_, hash_string(window->clip), window->centre, fi, n));
        // Aligned to the LR grid, so LR pixels map to whole GT blocks.
        at.x =
            static_cast<int>(rng.below(static_cast<std::uint64_t>(free_x / scale_) + 1)) * scale_;
        at.y =
            static_cast<int>(rng.below(static_cast<std::uint64_t>(free_y / scale_) + 1)) * scale_;
      }
      const cv::Rect crop(at, cv::Size(format.width, format.height));
      if (min_detail_ > 0 && detail(window->frames[3](crop)) < min_detail_) {
        ++flat_;
        continue;
      }
      auto p = std::make_shared<PatchSample>();
      p->window = window;
      p->format = format.name;
      p->format_index = static_cast<int>(fi);
      p->n = n;
      p->crop = crop;
      out.emit<PatchSample>(0, std::move(p));
      ++kept_;
    }
  }
}

void PatchesStage::close(bool) {
  std::cerr << name_ << ": " << kept_.load() << " patches, " << flat_.load()
            << " rejected as flat (luma standard deviation below " << min_detail_ << ")\n";
  for (const auto& note : notes_) std::cerr << name_ << ": " << note << "\n";
}

VSR_REGISTER_STAGE(PatchesStage);

}  // namespace vsr
