#include "stages/infer/frame_writer.h"

#include <stdexcept>

#include "graph/registry.h"
#include "runtime/data/image.h"
#include "stages/infer/messages.h"

namespace vsr {

StageSchema FrameWriterStage::schema() {
  return StageSchema("frame_writer")
      .doc("writes upscaled frames as <dir>/<name>.png, atomically")
      .input<UpscaledFrame>("in")
      .required("dir", ParamType::kString, "output folder (created when missing)")
      .non_empty()
      .creatable_dir();
}

FrameWriterStage::FrameWriterStage(const StageContext& ctx) : dir_(ctx.param<std::string>("dir")) {}

void FrameWriterStage::process(std::size_t, const Message& in, Emitter&) {
  auto frame = in.as<UpscaledFrame>();
  write_png_atomic(dir_ / (frame->name + ".png"), frame->image);
}

VSR_REGISTER_STAGE(FrameWriterStage);

}  // namespace vsr
