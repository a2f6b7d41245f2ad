#include "stages/sinks/image_writer.h"

#include <cstdio>

#include "graph/registry.h"
#include "runtime/data/image.h"
#include "runtime/io/fileio.h"
#include "stages/train/messages.h"

namespace vsr {

StageSchema ImageWriterStage::schema() {
  return StageSchema("image_writer")
      .doc("writes validation images as <dir>/step_NNNNNN/<name>.png, atomically")
      .input<ValImages>("in")
      .required("dir", ParamType::kString, "output folder (the run's validation_images/)")
      .non_empty()
      .creatable_dir();
}

ImageWriterStage::ImageWriterStage(const StageContext& ctx) : dir_(ctx.param<std::string>("dir")) {}

std::filesystem::path ImageWriterStage::step_dir(const std::filesystem::path& dir, long long step) {
  char name[32];
  std::snprintf(name, sizeof(name), "step_%06lld", step);
  return dir / name;
}

void ImageWriterStage::process(std::size_t, const Message& in, Emitter&) {
  auto batch = in.as<ValImages>();
  const std::filesystem::path folder = step_dir(dir_, static_cast<long long>(batch->step));
  for (const auto& [name, img] : batch->images) write_png_atomic(folder / (name + ".png"), img);
  if (!batch->metrics_json.empty()) {
    std::filesystem::create_directories(folder);
    write_file_atomic((folder / "metrics.json").string(), batch->metrics_json);
  }
}

VSR_REGISTER_STAGE(ImageWriterStage);

}  // namespace vsr
