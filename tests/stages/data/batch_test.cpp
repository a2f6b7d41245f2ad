// The batch stage: collation into pooled blocks that come back only when a batch is dropped.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <opencv2/core.hpp>

#include "stages/data/messages.h"
#include "tests/stages/harness.h"

namespace vsr {
namespace {

// A FrameSample of one 8-bit frame pair filled with `value`, for micro-batch `seq`.
Message constant_sample(std::int64_t seq, int value) {
  auto req = std::make_shared<SampleRequest>();
  req->seq = seq;
  req->batch_size = 1;
  auto s = std::make_shared<FrameSample>();
  s->request = req;
  s->gt = cv::Mat(12, 12, CV_8UC3, cv::Scalar::all(value));
  s->frames = {cv::Mat(4, 4, CV_8UC3, cv::Scalar::all(value)),
               cv::Mat(4, 4, CV_8UC3, cv::Scalar::all(value))};
  return Message::of<FrameSample>(s);
}

TEST(BatchStage, RecyclesTheBlocksOfDroppedMicroBatchesOnly) {
  auto stage = testing::make_stage("batch");
  auto next = [&](std::int64_t seq, int value) {
    testing::CapturingEmitter out;
    stage->process(0, constant_sample(seq, value), out);
    EXPECT_EQ(out.messages.size(), 1u);
    return out.messages.at(0).second.as<MicroBatch>();
  };
  auto first = next(0, 51);
  const void* first_gt = first->gt.data_ptr();
  EXPECT_FLOAT_EQ(first->gt.max().item<float>(), 51 / 255.0f);
  first.reset();  // the consumer is done with it: its blocks go back to the pool
  auto second = next(1, 102);
  EXPECT_EQ(second->gt.data_ptr(), first_gt);  // reused, not allocated again
  auto third = next(2, 204);                   // second is still alive: a new block
  EXPECT_NE(third->gt.data_ptr(), second->gt.data_ptr());
  EXPECT_NE(third->lr.data_ptr(), second->lr.data_ptr());
  // Neither live batch was overwritten by the other.
  EXPECT_FLOAT_EQ(second->gt.min().item<float>(), 102 / 255.0f);
  EXPECT_FLOAT_EQ(second->lr.max().item<float>(), 102 / 255.0f);
  EXPECT_FLOAT_EQ(third->gt.min().item<float>(), 204 / 255.0f);
  // Micro-batches outlive the stage (and its pool's owner) intact.
  stage.reset();
  EXPECT_FLOAT_EQ(third->lr.min().item<float>(), 204 / 255.0f);
  EXPECT_EQ(third->lr.sizes(), (std::vector<std::int64_t>{1, 2, 3, 4, 4}));
}

}  // namespace
}  // namespace vsr
