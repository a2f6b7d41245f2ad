#include "stages/data/scan.h"

#include "common/errors.h"
#include "graph/registry.h"
#include "stages/data/dataset_params.h"
#include "stages/data/messages.h"

namespace vsr {

namespace fs = std::filesystem;

namespace {

// validate's own check of the folder, as text ("" when it is fine).
std::string val_dir_problem(const fs::path& dir, std::vector<fs::path>* images) {
  try {
    *images = list_validation_images(dir);
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

StageSchema ScanStage::schema() {
  StageSchema s("scan");
  s.doc(
       "source visiting every GT/LR pair of a dataset once (format by format, files in name "
       "order), then optionally every validation GT image; one SampleRequest per credit")
      .output<SampleRequest>("out", "one request per pair, in seq order");
  dataset_params(s).optional(
      "val_dir", ParamType::kString, "",
      "validation GT folder to visit after the pairs (requests of format \"val\"); "
      "empty: none");
  return s;
}

ScanStage::ScanStage(const StageContext& ctx)
    : ctx_(ctx),
      formats_(ctx.param<std::vector<std::string>>("formats")),
      scale_(ctx.param<int>("scale")),
      val_dir_(ctx.param<std::string>("val_dir")) {}

void ScanStage::open() {
  std::string problems;
  try {
    index_ = scan_dataset(ctx_.param<std::string>("data_root"), ctx_.param<std::string>("category"),
                          ctx_.param<std::string>("lr_version"), formats_);
  } catch (const DataError& e) {
    problems = e.what();
  }
  if (!val_dir_.empty()) {
    const std::string val = val_dir_problem(val_dir_, &val_images_);
    if (!val.empty()) problems += (problems.empty() ? "" : "\nand ") + val;
  }
  if (!problems.empty()) throw DataError(problems);
  format_ = 0;
  file_ = 0;
  seq_ = 0;
}

bool ScanStage::produce(Emitter& out) {
  while (format_ < index_.formats.size() && file_ >= index_.formats[format_].size()) {
    ++format_;
    file_ = 0;
  }
  auto r = std::make_shared<SampleRequest>();
  r->seq = seq_;
  r->scale = scale_;
  if (format_ < index_.formats.size()) {
    const FormatIndex& fmt = index_.formats[format_];
    r->format = fmt.format.name;
    r->format_index = static_cast<int>(format_);
    r->gt_size = cv::Size(fmt.format.width, fmt.format.height);
    r->frames = index_.lr_version.frames;
    r->gt_path = fmt.gt_path(file_);
    r->lr_path = fmt.lr_path(file_);
  } else if (file_ < val_images_.size()) {
    r->format = kValFormat;
    r->format_index = static_cast<int>(index_.formats.size());
    r->gt_size = cv::Size(0, 0);
    r->frames = 0;
    r->gt_path = val_images_[file_];
  } else {
    return false;
  }
  ++file_;
  ++seq_;
  out.emit<SampleRequest>(0, std::move(r));
  return true;
}

VSR_REGISTER_STAGE(ScanStage);

}  // namespace vsr
