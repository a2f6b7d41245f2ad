#include "stages/data/split.h"

#include "graph/registry.h"
#include "runtime/data/image.h"
#include "stages/data/messages.h"

namespace vsr {

StageSchema SplitStage::schema() {
  return StageSchema("split")
      .doc("splits the vertically stacked LR image into T frames; checks every size exactly")
      .input<DecodedSample>("in")
      .output<FrameSample>("out")
      .concurrent();
}

void SplitStage::process(std::size_t, const Message& in, Emitter& out) {
  auto decoded = in.as<DecodedSample>();
  const SampleRequest& r = *decoded->request;
  check_gt_size(decoded->gt, r.gt_size, r.gt_path.string());
  const cv::Size lr_frame(r.gt_size.width / r.scale, r.gt_size.height / r.scale);
  auto sample = std::make_shared<FrameSample>();
  sample->request = decoded->request;
  sample->gt = decoded->gt;
  sample->frames = split_stack(decoded->lr_stack, r.frames, lr_frame, r.lr_path.string());
  out.emit<FrameSample>(0, std::move(sample));
}

VSR_REGISTER_STAGE(SplitStage);

}  // namespace vsr
