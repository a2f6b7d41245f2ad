#include "stages/convert/window.h"

#include <iostream>

#include "common/errors.h"
#include "graph/registry.h"
#include "stages/convert/messages.h"

namespace vsr {

StageSchema WindowStage::schema() {
  return StageSchema("window")
      .doc(
          "7-frame windows of each training clip every `stride` frames, never across a scene "
          "cut; whole frames of held-out clips for Val/GT")
      .input<ClipFrame>("in", "frames in clip order")
      .output<TrainWindow>("windows", "7 consecutive frames of one shot")
      .output<ValFrame>("val", "frames of held-out clips")
      .optional("stride", ParamType::kInt, 10, "frames between the starts of two windows")
      .at_least(1)
      .optional("cut_threshold", ParamType::kFloat, 30.0,
                "scene cut: mean absolute luma difference (0..255, 64x36 thumbnails) above "
                "this; 0: no cut detection")
      .at_least(0)
      .optional("val_stride", ParamType::kInt, 30, "frames between two Val/GT frames")
      .at_least(1)
      .optional("val_max_per_clip", ParamType::kInt, 10, "Val/GT frames per held-out clip")
      .at_least(1);
}

WindowStage::WindowStage(const StageContext& ctx)
    : name_(ctx.name),
      stride_(ctx.param<std::int64_t>("stride")),
      cut_threshold_(ctx.param<double>("cut_threshold")),
      val_stride_(ctx.param<std::int64_t>("val_stride")),
      val_max_(ctx.param<std::int64_t>("val_max_per_clip")),
      cuts_(ctx.param<double>("cut_threshold")) {}

void WindowStage::process(std::size_t, const Message& in, Emitter& out) {
  auto f = in.as<ClipFrame>();
  if (f->clip_index != clip_) {
    clip_ = f->clip_index;
    shot_ = 0;
    val_written_ = 0;
    recent_.clear();
    cuts_.reset();
    ++clips_;
  }
  if (f->held_out) {
    if (f->index % val_stride_ == 0 && val_written_ < val_max_) {
      auto v = std::make_shared<ValFrame>();
      v->source = f->source;
      v->clip = f->clip;
      v->index = f->index;
      v->frame = f->frame;
      out.emit<ValFrame>(1, std::move(v));
      ++val_written_;
      ++val_frames_;
    }
    return;
  }
  if (cut_threshold_ > 0 && cuts_.is_cut(f->frame)) {
    ++shot_;
    ++cut_count_;
  }
  recent_.push_back({f, shot_});
  if (recent_.size() > static_cast<std::size_t>(kFrames)) recent_.pop_front();
  const std::int64_t start = f->index - (kFrames - 1);
  if (recent_.size() == static_cast<std::size_t>(kFrames) && start % stride_ == 0) {
    if (recent_.front().shot != recent_.back().shot) {
      ++dropped_;
    } else {
      auto w = std::make_shared<TrainWindow>();
      w->source = f->source;
      w->clip = f->clip;
      w->clip_index = f->clip_index;
      w->centre = start + kFrames / 2;
      for (const auto& h : recent_) w->frames.push_back(h.frame->frame);
      out.emit<TrainWindow>(0, std::move(w));
      ++windows_;
    }
  }
  if (f->last && f->index + 1 < kFrames) {
    throw DataError("clip " + f->source.string() + " has " + std::to_string(f->index + 1) +
                    " frames; a training window needs " + std::to_string(kFrames) +
                    " consecutive frames: remove it from the sources or hold it out for "
                    "validation (val_clips)");
  }
}

void WindowStage::close(bool) {
  std::cerr << name_ << ": " << clips_ << " clips, " << windows_ << " windows of " << kFrames
            << " frames, " << dropped_ << " dropped across " << cut_count_ << " scene cuts, "
            << val_frames_ << " validation frames\n";
}

VSR_REGISTER_STAGE(WindowStage);

}  // namespace vsr
