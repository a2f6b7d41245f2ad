// frame_writer: writes each UpscaledFrame as <dir>/<name>.png (8-bit RGB), through a
// temporary name and a rename (write_png_atomic), so an interrupted job leaves whole files
// only; creates dir. A failed write fails the job, naming the file.
//
//   {"name": "frame_writer", "type": "frame_writer",
//    "params": {"dir": "/footage/episode01_x3"}}
#pragma once

#include <filesystem>

#include "graph/stage.h"

namespace vsr {

class FrameWriterStage : public Stage {
 public:
  static StageSchema schema();
  explicit FrameWriterStage(const StageContext& ctx);
  void process(std::size_t port, const Message& in, Emitter& out) override;

 private:
  std::filesystem::path dir_;
};

}  // namespace vsr
