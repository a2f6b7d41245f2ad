// frames: a source that reads a clip, a video file or a folder of frames (ClipReader,
// runtime/data/video.h), decoding each frame once, and emits per credit the window of one
// output frame: its index, its name and the `frames` decoded frames centred on it (shared
// cv::Mats, not copies). Neighbours are clamped to the centre's shot: at the ends of the clip
// the first and last frames repeat (frame 0 with T = 5 holds 0, 0, 0, 1, 2), and at a scene
// cut (SceneCutDetector, cut_threshold; 0: off) the frames next to the cut repeat in the same
// way, so no window mixes two shots. It reads T/2 frames ahead of the window it emits and
// keeps T frames (memory: T frames plus those of the windows in flight). open() fails naming
// the clip when it is missing, unreadable or empty, or a folder holds two files with one stem
// (their outputs would collide); a frame of another size fails the job naming the frame.
//
//   {"name": "frames", "type": "frames", "max_in_flight": 4,
//    "params": {"dir": "/footage/episode01.mp4", "frames": 7, "cut_threshold": 30}}
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "graph/stage.h"
#include "runtime/data/video.h"

namespace vsr {

class FramesStage : public Stage {
 public:
  static StageSchema schema();
  explicit FramesStage(const StageContext& ctx);
  ~FramesStage() override;
  void open() override;
  bool produce(Emitter& out) override;
  void close(bool completed) override;

  // Frames decoded so far (each frame of the clip once); for tests.
  std::int64_t frames_decoded() const;
  // The clip indices of the frames that start a new shot, so far.
  const std::vector<std::int64_t>& cuts() const { return cuts_; }

 private:
  struct Buffered {
    std::int64_t index = 0;
    std::int64_t shot = 0;
    std::string name;
    cv::Mat frame;
  };
  // Reads until frame `index` is buffered or the clip ends.
  void read_up_to(std::int64_t index);
  const Buffered* buffered(std::int64_t index) const;

  std::filesystem::path input_;
  int frames_;
  double cut_threshold_;
  std::unique_ptr<ClipReader> reader_;
  SceneCutDetector detector_;
  std::deque<Buffered> buffer_;  // consecutive frames, oldest first
  bool ended_ = false;
  std::int64_t shot_ = 0;
  std::int64_t next_ = 0;  // the next window's centre
  std::vector<std::int64_t> cuts_;
};

}  // namespace vsr
