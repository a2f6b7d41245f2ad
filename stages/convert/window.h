// window: turns each training clip's frames into windows of 7 consecutive frames, one every
// `stride` frames (the 5-frame stack is a window's middle five, so both LR versions come from
// one window with the same GT, its centre frame), never across a scene cut: cuts are found
// with SceneCutDetector (runtime/data/video.h; mean absolute luma difference of 64x36
// thumbnails above `cut_threshold`), and windows that would span one are dropped and counted.
// Held-out clips give a whole frame every `val_stride` frames (at most `val_max_per_clip`) on
// the "val" port instead. A training clip shorter than 7 frames is an error. At the end it
// prints what it made and dropped.
//
//   {"name": "window", "type": "window",
//    "params": {"stride": 10, "cut_threshold": 30, "val_stride": 30, "val_max_per_clip": 10}}
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "graph/stage.h"
#include "runtime/data/video.h"
#include "stages/convert/messages.h"

namespace vsr {

struct ClipFrame;

class WindowStage : public Stage {
 public:
  static constexpr int kFrames = kTrainWindowFrames;
  static StageSchema schema();
  explicit WindowStage(const StageContext& ctx);
  void process(std::size_t port, const Message& in, Emitter& out) override;
  void close(bool completed) override;

 private:
  struct Held {
    std::shared_ptr<const ClipFrame> frame;
    std::int64_t shot = 0;  // scene cuts seen in the clip before this frame
  };
  std::string name_;
  std::int64_t stride_;
  double cut_threshold_;
  std::int64_t val_stride_;
  std::int64_t val_max_;
  SceneCutDetector cuts_;
  int clip_ = -1;
  std::int64_t shot_ = 0;
  std::int64_t val_written_ = 0;
  std::deque<Held> recent_;  // the last kFrames frames of the clip
  // Totals, printed by close().
  std::int64_t windows_ = 0;
  std::int64_t dropped_ = 0;
  std::int64_t cut_count_ = 0;
  std::int64_t val_frames_ = 0;
  std::int64_t clips_ = 0;
};

}  // namespace vsr
