#include "stages/data/check_pair.h"

#include <opencv2/core.hpp>

#include "common/errors.h"
#include "graph/registry.h"
#include "runtime/data/image.h"
#include "stages/data/messages.h"

namespace vsr {

namespace {

int bits_of(const cv::Mat& m) {
  switch (m.depth()) {
    case CV_8U:
      return 8;
    case CV_16U:
      return 16;
    default:
      return static_cast<int>(8 * m.elemSize1());
  }
}

class Checker {
 public:
  explicit Checker(PairCheck& check) : check_(check) {}

  // Runs f; a DataError or an OpenCV error becomes a problem of `kind`. False when it threw.
  template <class F>
  bool attempt(const char* kind, const std::string& file, F&& f) {
    try {
      f();
      return true;
    } catch (const DataError& e) {
      add(kind, e.what());
    } catch (const cv::Exception& e) {
      add(kind, "cannot check " + file + ": " + e.what());
    }
    return false;
  }
  void add(const char* kind, std::string message) {
    check_.problems.push_back({kind, std::move(message)});
  }

  // Reads `path` as decode does; an empty Mat when it cannot be used.
  cv::Mat read(const std::filesystem::path& path) {
    cv::Mat img;
    if (!attempt("unreadable", path.string(), [&] { img = read_image_bgr(path); })) return {};
    const int bits = bits_of(img);
    if (bits != 8 && bits != 16) {
      add("bit_depth", path.string() + " decodes as " + std::to_string(bits) +
                           "-bit samples; training reads 8- or 16-bit PNG or JPEG");
    }
    return img;
  }

 private:
  PairCheck& check_;
};

void check_training_pair(const SampleRequest& r, PairCheck& check) {
  Checker c(check);
  const cv::Mat gt = c.read(r.gt_path);
  const cv::Mat lr = c.read(r.lr_path);
  if (!gt.empty()) {
    check.gt_size = gt.size();
    check.gt_bits = bits_of(gt);
    check.channels = gt.channels();
    c.attempt("gt_size", r.gt_path.string(),
              [&] { check_gt_size(gt, r.gt_size, r.gt_path.string()); });
  }
  if (!lr.empty()) {
    check.lr_size = lr.size();
    check.lr_bits = bits_of(lr);
    check.channels = lr.channels();
    const cv::Size lr_frame(r.gt_size.width / r.scale, r.gt_size.height / r.scale);
    c.attempt("lr_stack", r.lr_path.string(),
              [&] { split_stack(lr, r.frames, lr_frame, r.lr_path.string()); });
  }
}

void check_validation_image(const SampleRequest& r, PairCheck& check) {
  Checker c(check);
  const cv::Mat gt = c.read(r.gt_path);
  if (gt.empty()) return;
  check.gt_size = gt.size();
  check.gt_bits = bits_of(gt);
  check.channels = gt.channels();
  if (!c.attempt("val_size", r.gt_path.string(),
                 [&] { check_val_image_size(gt.size(), r.scale, r.gt_path.string()); })) {
    return;
  }
  if (gt.cols % r.scale != 0 || gt.rows % r.scale != 0) {
    const cv::Size used(gt.cols - gt.cols % r.scale, gt.rows - gt.rows % r.scale);
    check.notes.push_back("validation image " + r.gt_path.string() + " is " + size_text(gt.size()) +
                          ", not divisible by scale " + std::to_string(r.scale) +
                          ": validation uses its top-left " + size_text(used));
  }
}

}  // namespace

StageSchema CheckPairStage::schema() {
  return StageSchema("check_pair")
      .doc(
          "reads a request's GT and LR stack and runs split's size checks; every problem goes "
          "into the PairCheck instead of failing the run")
      .input<SampleRequest>("in", "from scan (a pair, or a validation image without lr_path)")
      .output<PairCheck>("out")
      .concurrent();
}

void CheckPairStage::process(std::size_t, const Message& in, Emitter& out) {
  auto request = in.as<SampleRequest>();
  auto check = std::make_shared<PairCheck>();
  check->request = request;
  if (request->lr_path.empty()) {
    check_validation_image(*request, *check);
  } else {
    check_training_pair(*request, *check);
  }
  out.emit<PairCheck>(0, std::move(check));
}

VSR_REGISTER_STAGE(CheckPairStage);

}  // namespace vsr
