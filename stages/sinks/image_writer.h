// image_writer: writes each ValImages message as <dir>/step_NNNNNN/<name>.png (8-bit RGB,
// six-digit step), each file through a temporary name and a rename (write_png_atomic). A sink
// on its own graph node, so PNG encoding runs off the training thread; its input queue is
// bounded by the graph's credits, so nothing is dropped.
//
//   {"name": "image_writer", "type": "image_writer",
//    "params": {"dir": "/experiments/general_fresh_7frames/validation_images"}}
#pragma once

#include <filesystem>

#include "graph/stage.h"

namespace vsr {

class ImageWriterStage : public Stage {
 public:
  static StageSchema schema();
  explicit ImageWriterStage(const StageContext& ctx);
  void process(std::size_t port, const Message& in, Emitter& out) override;

  // <dir>/step_000500 for step 500.
  static std::filesystem::path step_dir(const std::filesystem::path& dir, long long step);

 private:
  std::filesystem::path dir_;
};

}  // namespace vsr
