// The augment stage: one crop, flip, rotation and time reversal for GT and every frame.
#include <gtest/gtest.h>

#include <opencv2/core.hpp>

#include "runtime/data/image.h"
#include "runtime/data/mock_data.h"
#include "stages/data/messages.h"
#include "tests/stages/harness.h"

namespace vsr {
namespace {

using testing::DataStages;

TEST_F(DataStages, AugmentTransformsGtAndEveryFrameIdentically) {
  // A sample whose LR frames are exactly the downscaled GT: after any augmentation each frame
  // must still be the downscaled (augmented) GT.
  const cv::Mat gt = make_mock_image(cv::Size(540, 540), 5);
  const cv::Mat lr = downscale(gt, 3);
  auto stage = testing::make_stage(
      "augment", {{"crop", 270}, {"hflip", 0.5}, {"vflip", 0.5}, {"rot90", 0.5}, {"reverse", 0.5}});
  int changed = 0, flipped = 0;
  for (std::uint64_t seed = 0; seed < 24; ++seed) {
    auto req = std::make_shared<SampleRequest>();
    req->seed = seed;
    req->gt_size = gt.size();
    req->scale = 3;
    req->frames = 7;
    auto in = std::make_shared<FrameSample>();
    in->request = req;
    in->gt = gt;
    for (int t = 0; t < 7; ++t) in->frames.push_back(lr);
    testing::CapturingEmitter out;
    stage->process(0, Message::of<FrameSample>(in), out);
    ASSERT_EQ(out.messages.size(), 1u);
    auto res = out.messages[0].second.as<FrameSample>();
    ASSERT_EQ(res->gt.size(), cv::Size(270, 270));
    // The images as they are meant: with the flips augment left to the reader (batch).
    const cv::Mat res_gt = apply_flips(res->gt, res->flips);
    const cv::Mat expect = downscale(res_gt, 3);
    for (const auto& f : res->frames) {
      ASSERT_EQ(f.size(), cv::Size(90, 90));
      EXPECT_LT(cv::norm(apply_flips(f, res->flips), expect, cv::NORM_INF), 1e-5)
          << "seed " << seed;
    }
    changed += cv::norm(res_gt, gt(cv::Rect(0, 0, 270, 270)), cv::NORM_INF) > 0;
    flipped += res->flips.x || res->flips.y;
  }
  EXPECT_GT(changed, 12);  // the transforms really happened
  EXPECT_GT(flipped, 3);   // and some were left to the reader
}

}  // namespace
}  // namespace vsr
