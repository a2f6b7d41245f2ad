// clip_source: the source of the conversion job. Expands `sources` (video files, frame
// folders, globs of either; runtime/data/video.h) into clips and emits their frames one per
// credit, clip after clip, each frame once decoded. Clips named by `val_clips` (names or
// globs) and a seeded `val_fraction` of the rest are held out: their frames are marked for
// Val/GT and never become training patches. `val_tail` holds out frames instead of clips: the
// last fraction of every other clip's frames (a time split, so no validation frame is also in
// a training window).
//
//   {"name": "clips", "type": "clip_source",
//    "params": {"sources": ["footage/*.mp4", "frames/shot_a"], "val_clips": ["shot_a"],
//               "val_fraction": 0, "val_tail": 0.2}}
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "graph/stage.h"

namespace vsr {

class ClipReader;

class ClipSourceStage : public Stage {
 public:
  static StageSchema schema();
  explicit ClipSourceStage(const StageContext& ctx);
  ~ClipSourceStage() override;
  void open() override;
  bool produce(Emitter& out) override;

 private:
  struct Clip {
    std::filesystem::path path;
    std::string name;
    bool held_out = false;
    std::int64_t val_from = -1;  // frames from this index on are held out (val_tail); -1: none
  };
  void open_reader(Clip& clip);
  std::vector<std::string> patterns_;
  std::vector<std::string> val_patterns_;
  double val_fraction_ = 0;
  double val_tail_ = 0;
  std::uint64_t seed_ = 0;
  std::vector<Clip> clips_;
  std::size_t next_clip_ = 0;
  std::unique_ptr<ClipReader> reader_;
  cv::Mat ahead_;  // the clip's next frame, read one ahead
  std::int64_t ahead_index_ = 0;
};

}  // namespace vsr
