#include "stages/convert/clip_source.h"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include <opencv2/core.hpp>

#include "common/errors.h"
#include "common/validation.h"
#include "graph/registry.h"
#include "runtime/data/rng.h"
#include "runtime/data/video.h"
#include "stages/convert/messages.h"

namespace vsr {

StageSchema ClipSourceStage::schema() {
  StageSchema s("clip_source");
  s.doc(
       "reads video files and frame folders (paths or globs), one frame per credit, clip after "
       "clip; marks the held-out clips for Val/GT")
      .output<ClipFrame>("out", "every frame of every clip, in order")
      .required("sources", ParamType::kStringList,
                "video files (mp4, mkv, mov, avi, webm), folders of numbered frames, or globs")
      .non_empty()
      .optional("val_clips", ParamType::kStringList, json::array(),
                "clips (names or globs of names) held out for Val/GT")
      .optional("val_fraction", ParamType::kFloat, 0.0,
                "also hold out this fraction of the other clips (seeded pick)")
      .in(Range::closed_open(0, 1))
      .optional("val_tail", ParamType::kFloat, 0.0,
                "also hold out the last fraction of every other clip's frames")
      .in(Range::closed_open(0, 1))
      .optional("seed", ParamType::kInt, 0, "seed of the held-out pick")
      .shared()
      .world_check("every source names a clip", [](const json& p, ParamProblems& out) {
        for (const auto& pattern : p.at("sources")) {
          try {
            expand_clip_sources({pattern.get<std::string>()});
          } catch (const std::exception& e) {
            out.add("sources", e.what());
          }
        }
      });
  return s;
}

ClipSourceStage::ClipSourceStage(const StageContext& ctx)
    : patterns_(ctx.param<std::vector<std::string>>("sources")),
      val_patterns_(ctx.param<std::vector<std::string>>("val_clips")),
      val_fraction_(ctx.param<double>("val_fraction")),
      val_tail_(ctx.param<double>("val_tail")),
      seed_(ctx.param<std::uint64_t>("seed")) {}

ClipSourceStage::~ClipSourceStage() = default;

void ClipSourceStage::open() {
  clips_.clear();
  std::map<std::string, std::filesystem::path> names;
  for (const auto& path : expand_clip_sources(patterns_)) {
    std::filesystem::path p = path.lexically_normal();
    if (p.filename().empty()) p = p.parent_path();  // "frames/shot_a/"
    Clip clip{path, std::filesystem::is_directory(p) ? p.filename().string() : p.stem().string()};
    auto [it, fresh] = names.emplace(clip.name, path);
    if (!fresh) {
      throw DataError("clips " + it->second.string() + " and " + path.string() +
                      " have one name, " + clip.name +
                      ", and output files are named after clips; rename one of them");
    }
    clips_.push_back(std::move(clip));
  }
  std::vector<std::size_t> others;
  for (std::size_t i = 0; i < clips_.size(); ++i) {
    for (const auto& pattern : val_patterns_) {
      if (fnmatch(pattern.c_str(), clips_[i].name.c_str(), 0) == 0) clips_[i].held_out = true;
    }
    if (!clips_[i].held_out) others.push_back(i);
  }
  for (const auto& pattern : val_patterns_) {
    const bool matched = std::any_of(clips_.begin(), clips_.end(), [&](const Clip& c) {
      return fnmatch(pattern.c_str(), c.name.c_str(), 0) == 0;
    });
    if (!matched) {
      std::string known;
      for (const auto& c : clips_) known += (known.empty() ? "" : ", ") + c.name;
      throw DataError("val_clips: '" + pattern + "' names no clip; the clips are " + known);
    }
  }
  if (val_fraction_ > 0) {
    // A seeded shuffle of the other clips; the first round(fraction x n) are held out.
    std::vector<std::pair<std::uint64_t, std::size_t>> order;
    for (const auto i : others) {
      order.emplace_back(hash_values(seed_, hash_string(clips_[i].name)), i);
    }
    std::sort(order.begin(), order.end());
    const auto n =
        static_cast<std::size_t>(std::lround(val_fraction_ * static_cast<double>(others.size())));
    for (std::size_t k = 0; k < std::max<std::size_t>(n, 1) && k < order.size(); ++k) {
      clips_[order[k].second].held_out = true;
    }
  }
  if (std::all_of(clips_.begin(), clips_.end(), [](const Clip& c) { return c.held_out; })) {
    throw DataError(
        "every clip is held out for validation (val_clips, val_fraction), so no "
        "training patches would be made; hold out fewer clips");
  }
  next_clip_ = 0;
  reader_.reset();
}

// Opens the clip and, with val_tail, fixes where its held-out tail starts: from the frame count
// (exact for frame folders; a video's container count, or a counting pass when it has none).
// An estimate off by some frames moves the split, never lets a frame be both: every frame from
// the split on is held out.
void ClipSourceStage::open_reader(Clip& clip) {
  reader_ = std::make_unique<ClipReader>(clip.path);
  ahead_ = cv::Mat();
  if (!reader_->read(ahead_)) throw DataError("clip " + clip.path.string() + " has no frames");
  ahead_index_ = 0;
  if (clip.held_out || val_tail_ <= 0) return;
  std::int64_t count = reader_->frame_count();
  if (count < 0) {
    ClipReader counter(clip.path);
    cv::Mat frame;
    count = 0;
    while (counter.read(frame)) ++count;
  }
  const auto training =
      static_cast<std::int64_t>(std::floor((1.0 - val_tail_) * static_cast<double>(count)));
  if (training < kTrainWindowFrames) {
    throw DataError(
        "clip " + clip.path.string() + " has " + std::to_string(count) + " frames: with val_tail " +
            number_text(val_tail_) + ", " + std::to_string(training) +
            " would be left for training and " + std::to_string(count - training) +
            " held out, but a training window needs " + std::to_string(kTrainWindowFrames) +
            " consecutive frames; lower val_tail, or hold the clip out whole "
            "(val_clips)",
        clip.path.string());
  }
  clip.val_from = training;
}

bool ClipSourceStage::produce(Emitter& out) {
  if (next_clip_ >= clips_.size()) return false;
  Clip& clip = clips_[next_clip_];
  if (!reader_) open_reader(clip);
  auto f = std::make_shared<ClipFrame>();
  f->source = clip.path;
  f->clip = clip.name;
  f->clip_index = static_cast<int>(next_clip_);
  f->index = ahead_index_;
  f->frame = ahead_;
  f->held_out = clip.held_out || (clip.val_from >= 0 && ahead_index_ >= clip.val_from);
  // One frame ahead, into a fresh Mat (a reader may reuse the buffer it is given), to know
  // whether this one is the clip's last.
  cv::Mat next;
  f->last = !reader_->read(next);
  ahead_ = next;
  ++ahead_index_;
  if (f->last) {
    reader_.reset();
    ++next_clip_;
  }
  out.emit<ClipFrame>(0, std::move(f));
  return true;
}

VSR_REGISTER_STAGE(ClipSourceStage);

}  // namespace vsr
