#include "stages/convert/stack.h"

#include <vector>

#include "graph/registry.h"
#include "runtime/data/formats.h"
#include "runtime/data/image.h"
#include "stages/convert/messages.h"

namespace vsr {

StageSchema StackStage::schema() {
  return StageSchema("stack")
      .doc("stacks the LR frames vertically: LR_7frames from all 7, LR_5frames from the middle 5")
      .input<PatchPair>("in")
      .output<PatchStacks>("out")
      .concurrent();
}

void StackStage::process(std::size_t, const Message& in, Emitter& out) {
  auto pair = in.as<PatchPair>();
  auto s = std::make_shared<PatchStacks>();
  s->patch = pair->patch;
  s->gt = pair->gt;
  s->degradation = pair->degradation;
  const auto& lr = pair->lr;
  const int seven = lr_version_for_frames(7).frames, five = lr_version_for_frames(5).frames;
  const auto skip = static_cast<std::ptrdiff_t>((seven - five) / 2);
  s->lr7 = stack_frames(lr);
  s->lr5 = stack_frames(std::vector<cv::Mat>(lr.begin() + skip, lr.begin() + skip + five));
  out.emit<PatchStacks>(0, std::move(s));
}

VSR_REGISTER_STAGE(StackStage);

}  // namespace vsr
