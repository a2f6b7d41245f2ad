#include "stages/data/decode.h"

#include "graph/registry.h"
#include "runtime/data/image.h"
#include "stages/data/messages.h"

namespace vsr {

StageSchema DecodeStage::schema() {
  return StageSchema("decode")
      .doc("reads GT and LR stack (PNG/JPEG, 8/16-bit, alpha dropped) as decoded: BGR, 8/16-bit")
      .input<SampleRequest>("in")
      .output<DecodedSample>("out")
      .concurrent();
}

void DecodeStage::process(std::size_t, const Message& in, Emitter& out) {
  auto request = in.as<SampleRequest>();
  auto sample = std::make_shared<DecodedSample>();
  sample->request = request;
  sample->gt = read_image_bgr(request->gt_path);
  sample->lr_stack = read_image_bgr(request->lr_path);
  out.emit<DecodedSample>(0, std::move(sample));
}

VSR_REGISTER_STAGE(DecodeStage);

}  // namespace vsr
