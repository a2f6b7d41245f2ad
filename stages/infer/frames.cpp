#include "stages/infer/frames.h"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>
#include <system_error>

#include "common/errors.h"
#include "graph/registry.h"
#include "runtime/data/dataset.h"
#include "stages/infer/messages.h"
#include "stages/params.h"

namespace vsr {

namespace fs = std::filesystem;

StageSchema FramesStage::schema() {
  StageSchema s("frames");
  s.doc(
       "source walking a folder of video frames in name order; per credit, one FrameWindow: "
       "the `frames` paths centred on the next frame, clamped at both ends")
      .output<FrameWindow>("out", "one window per frame of the folder, in name order")
      .required("dir", ParamType::kString, "folder of LR frames (PNG or JPEG, e.g. 0000.png)")
      .non_empty()
      .existing_dir("frame folder");
  return frames_param(s, "frames per window (odd; the model's frames)");
}

FramesStage::FramesStage(const StageContext& ctx)
    : dir_(ctx.param<std::string>("dir")), frames_(ctx.param<int>("frames")) {}

void FramesStage::open() {
  const std::string contents =
      "it should hold the video's frames as PNG or JPEG files whose names sort in frame order "
      "(e.g. 0000.png, 0001.png, ...)";
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) {
    throw DataError("frame folder " + dir_.string() + " does not exist; " + contents);
  }
  files_ = list_images(dir_);
  if (files_.empty())
    throw DataError("frame folder " + dir_.string() + " has no images; " + contents);
  std::map<std::string, fs::path> stems;
  for (const auto& f : files_) {
    auto [it, fresh] = stems.emplace(f.stem().string(), f);
    if (!fresh) {
      throw DataError("frame folder " + dir_.string() + " holds " + it->second.filename().string() +
                      " and " + f.filename().string() +
                      ": one name, two files (both would be written as " + it->first +
                      ".png); keep one of them");
    }
  }
  next_ = 0;
}

bool FramesStage::produce(Emitter& out) {
  if (next_ >= files_.size()) return false;
  auto w = std::make_shared<FrameWindow>();
  const auto i = static_cast<std::int64_t>(next_);
  const auto last = static_cast<std::int64_t>(files_.size()) - 1;
  w->index = i;
  w->name = files_[next_].stem().string();
  for (std::int64_t k = i - frames_ / 2; k <= i + frames_ / 2; ++k) {
    w->paths.push_back(files_[static_cast<std::size_t>(std::clamp<std::int64_t>(k, 0, last))]);
  }
  ++next_;
  out.emit<FrameWindow>(0, std::move(w));
  return true;
}

VSR_REGISTER_STAGE(FramesStage);

}  // namespace vsr
