#include "stages/convert/make_lr.h"

#include <cmath>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "graph/registry.h"
#include "runtime/data/image.h"
#include "runtime/data/rng.h"
#include "stages/convert/messages.h"
#include "stages/params.h"

namespace vsr {

namespace {

// A [min, max] range param: two numbers in `range`, min <= max.
StageSchema& range_param(StageSchema& s, const std::string& name, ParamType type, Range range,
                         const std::string& doc) {
  s.optional(name, type, json::array({0, 0}), doc).length(2).in(range);
  return s.check(name + " is [min, max]", [name](const json& p, ParamProblems& out) {
    if (p.at(name).at(0).get<double>() > p.at(name).at(1).get<double>()) {
      out.add(name, name + " must be [min, max] with min <= max, found " + p.at(name).dump());
    }
  });
}

double draw(Rng& rng, const double (&range)[2]) {
  return range[1] > range[0] ? rng.uniform(range[0], range[1]) : range[0];
}

}  // namespace

StageSchema MakeLrStage::schema() {
  StageSchema s("make_lr");
  s.doc(
       "crops a patch from every frame of its window and makes the LR frames: optional blur, "
       "downscale by the scale, optional noise and JPEG")
      .input<PatchSample>("in")
      .output<PatchPair>("out")
      .concurrent()
      .optional("downscale", ParamType::kString, "area", "area (as validation's LR) or bicubic")
      .choices({"area", "bicubic"})
      .optional("seed", ParamType::kInt, 0, "seed of the degradations")
      .shared();
  range_param(s, "blur", ParamType::kFloatList, Range::closed(0, 10),
              "Gaussian blur sigma before the downscale, GT pixels: [min, max]; [0, 0] off");
  range_param(s, "noise", ParamType::kFloatList, Range::closed(0, 50),
              "Gaussian noise sigma after the downscale, 0..255: [min, max]; [0, 0] off");
  range_param(s, "jpeg_quality", ParamType::kIntList, Range::closed(0, 100),
              "JPEG quality of each LR frame: [min, max]; [0, 0] off");
  return scale_param(s);
}

MakeLrStage::MakeLrStage(const StageContext& ctx)
    : scale_(ctx.param<int>("scale")),
      seed_(ctx.param<std::uint64_t>("seed")),
      bicubic_(ctx.param<std::string>("downscale") == "bicubic") {
  for (int i = 0; i < 2; ++i) {
    blur_[i] = ctx.params.at("blur").at(i).get<double>();
    noise_[i] = ctx.params.at("noise").at(i).get<double>();
    jpeg_[i] = ctx.params.at("jpeg_quality").at(i).get<int>();
  }
}

void MakeLrStage::process(std::size_t, const Message& in, Emitter& out) {
  auto patch = in.as<PatchSample>();
  Rng rng(hash_values(seed_, hash_string(patch->window->clip), patch->window->centre,
                      patch->format_index, patch->n, 0x4c52));
  auto pair = std::make_shared<PatchPair>();
  pair->patch = patch;
  Degradation& d = pair->degradation;
  d.blur_sigma = draw(rng, blur_);
  d.noise_sigma = draw(rng, noise_);
  if (jpeg_[1] > 0) {
    d.jpeg_quality =
        jpeg_[0] + static_cast<int>(rng.below(static_cast<std::uint64_t>(jpeg_[1] - jpeg_[0]) + 1));
  }
  const cv::Size lr_size(patch->crop.width / scale_, patch->crop.height / scale_);
  for (std::size_t t = 0; t < patch->window->frames.size(); ++t) {
    const cv::Mat crop = patch->window->frames[t](patch->crop);
    if (t == patch->window->frames.size() / 2) pair->gt = crop.clone();
    cv::Mat src = crop;
    if (d.blur_sigma > 0) cv::GaussianBlur(crop, src, cv::Size(0, 0), d.blur_sigma);
    cv::Mat lr;
    if (bicubic_) {
      cv::resize(src, lr, lr_size, 0, 0, cv::INTER_CUBIC);
    } else {
      lr = downscale(src, scale_);
    }
    if (d.noise_sigma > 0) {
      const double top = lr.depth() == CV_16U ? 65535.0 : 255.0;
      cv::Mat noisy;
      lr.convertTo(noisy, CV_32F);
      cv::Mat noise(noisy.size(), noisy.type());
      cv::RNG frame_rng(hash_values(rng.next(), t));  // per frame: independent noise
      frame_rng.fill(noise, cv::RNG::NORMAL, 0.0, d.noise_sigma * top / 255.0);
      noisy += noise;
      noisy.convertTo(lr, lr.depth());  // saturating, rounding
    }
    if (d.jpeg_quality > 0) {
      cv::Mat bytes = lr;
      if (lr.depth() == CV_16U) lr.convertTo(bytes, CV_8U, 255.0 / 65535.0);
      std::vector<uchar> encoded;
      cv::imencode(".jpg", bytes, encoded, {cv::IMWRITE_JPEG_QUALITY, d.jpeg_quality});
      cv::Mat decoded = cv::imdecode(encoded, cv::IMREAD_COLOR);
      if (lr.depth() == CV_16U) {
        decoded.convertTo(lr, CV_16U, 65535.0 / 255.0);
      } else {
        lr = decoded;
      }
    }
    pair->lr.push_back(lr);
  }
  out.emit<PatchPair>(0, std::move(pair));
}

VSR_REGISTER_STAGE(MakeLrStage);

}  // namespace vsr
