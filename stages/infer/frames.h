// frames: a source that walks a folder of video frames (PNG or JPEG, name order, e.g.
// 0000.png, 0001.png, ...) and emits, per credit, the window of one output frame: its index,
// its name (the file's stem) and the `frames` paths centred on it, indices clamped to the
// folder so the first and last frames repeat at the ends (frame 0 with T = 5 reads
// 0, 0, 0, 1, 2). open() fails naming the folder when it is missing, empty, or holds two
// files with one stem (their outputs would collide).
//
//   {"name": "frames", "type": "frames", "max_in_flight": 4,
//    "params": {"dir": "/footage/episode01_lr", "frames": 7}}
#pragma once

#include <cstddef>
#include <filesystem>
#include <vector>

#include "graph/stage.h"

namespace vsr {

class FramesStage : public Stage {
 public:
  static StageSchema schema();
  explicit FramesStage(const StageContext& ctx);
  void open() override;
  bool produce(Emitter& out) override;

 private:
  std::filesystem::path dir_;
  int frames_;
  std::vector<std::filesystem::path> files_;
  std::size_t next_ = 0;
};

}  // namespace vsr
