// The batch stage: collation into pooled blocks that come back only when a batch is dropped.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include <opencv2/core.hpp>

#include "runtime/data/pixels.h"
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

// A FrameSample of random pixels of `type` (CV_8UC3 or CV_16UC3): slot `slot` of a
// micro-batch of two, 3 LR frames of 6x5 and a 18x15 GT.
Message random_sample(int type, int slot, int seed) {
  auto req = std::make_shared<SampleRequest>();
  req->batch_size = 2;
  req->slot = slot;
  auto s = std::make_shared<FrameSample>();
  s->request = req;
  cv::RNG rng(seed);
  const int top = type == CV_8UC3 ? 256 : 65536;
  s->gt = cv::Mat(15, 18, type);
  rng.fill(s->gt, cv::RNG::UNIFORM, 0, top);
  for (int t = 0; t < 3; ++t) {
    cv::Mat f(5, 6, type);
    rng.fill(f, cv::RNG::UNIFORM, 0, top);
    s->frames.push_back(f);
  }
  return Message::of<FrameSample>(s);
}

std::shared_ptr<const MicroBatch> collate_with(const std::string& pixels, int type) {
  auto stage = testing::make_stage("batch", {{"pixels", pixels}, {"device", "cpu"}});
  stage->open();
  testing::CapturingEmitter out;
  stage->process(0, random_sample(type, 1, 11), out);
  stage->process(0, random_sample(type, 0, 10), out);
  EXPECT_EQ(out.messages.size(), 1u);
  return out.messages.at(0).second.as<MicroBatch>();
}

bool bitwise_equal(const at::Tensor& a, const at::Tensor& b) {
  return a.sizes() == b.sizes() && a.scalar_type() == b.scalar_type() &&
         at::equal(a.contiguous().view(at::kInt), b.contiguous().view(at::kInt));
}

class BatchPixels : public ::testing::TestWithParam<int> {};

// What a GPU gets (raw, converted on the device) is what the CPU path makes, bit for bit.
TEST_P(BatchPixels, RawMicroBatchesConvertToTheFloatOnesExactly) {
  const int type = GetParam();
  const auto as_float = collate_with("float", type);
  const auto raw = collate_with("raw", type);
  EXPECT_EQ(as_float->lr.sizes(), (std::vector<std::int64_t>{2, 3, 3, 5, 6}));
  EXPECT_EQ(raw->lr.sizes(), (std::vector<std::int64_t>{2, 3, 5, 6, 3}));
  EXPECT_EQ(raw->gt.sizes(), (std::vector<std::int64_t>{2, 15, 18, 3}));
  EXPECT_EQ(raw->lr.scalar_type(), type == CV_8UC3 ? at::kByte : at::kShort);
  EXPECT_FALSE(raw->lr.is_pinned());  // pinned only for a CUDA device
  EXPECT_EQ(raw->lr.nbytes() * (type == CV_8UC3 ? 4 : 2), as_float->lr.nbytes());
  EXPECT_TRUE(bitwise_equal(raw_to_float_rgb(raw->lr), as_float->lr));
  EXPECT_TRUE(bitwise_equal(raw_to_float_rgb(raw->gt), as_float->gt));
}

INSTANTIATE_TEST_SUITE_P(Depths, BatchPixels, ::testing::Values(CV_8UC3, CV_16UC3),
                         [](const auto& info) { return info.param == CV_8UC3 ? "8bit" : "16bit"; });

TEST(BatchStage, AutoPixelsAreFloatOnTheCpu) {
  EXPECT_EQ(collate_with("auto", CV_8UC3)->lr.scalar_type(), at::kFloat);
}

TEST(BatchStage, AMicroBatchMixingBitDepthsIsAnError) {
  auto stage = testing::make_stage("batch", {{"pixels", "raw"}, {"device", "cpu"}});
  stage->open();
  testing::CapturingEmitter out;
  stage->process(0, random_sample(CV_8UC3, 0, 1), out);
  EXPECT_THAT([&] { stage->process(0, random_sample(CV_16UC3, 1, 2), out); },
              ::testing::ThrowsMessage<std::runtime_error>(
                  ::testing::HasSubstr("mixes sizes or bit depths")));
}

// Slot `slot` of micro-batch `seq` (batch size 3), pixels from (seq, slot).
Message slot_sample(std::int64_t seq, int slot) {
  auto req = std::make_shared<SampleRequest>();
  req->seq = seq;
  req->step = seq;
  req->batch_size = 3;
  req->slot = slot;
  auto s = std::make_shared<FrameSample>();
  s->request = req;
  cv::RNG rng(static_cast<std::uint64_t>(seq * 10 + slot + 1));
  s->gt = cv::Mat(15, 18, CV_8UC3);
  rng.fill(s->gt, cv::RNG::UNIFORM, 0, 256);
  for (int t = 0; t < 3; ++t) {
    cv::Mat f(5, 6, CV_8UC3);
    rng.fill(f, cv::RNG::UNIFORM, 0, 256);
    s->frames.push_back(f);
  }
  return Message::of<FrameSample>(s);
}

// Samples arriving shuffled on four threads at once (as batch runs at concurrency
// num_workers): the micro-batches leave in order, each slot holding its own sample, exactly as
// one thread collating them in order makes them.
TEST(BatchStage, WorkersCollatingAtOnceKeepMicroBatchOrderAndSlots) {
  constexpr int kBatches = 40;
  std::vector<Message> in;
  for (int seq = 0; seq < kBatches; ++seq) {
    for (int slot = 0; slot < 3; ++slot) in.push_back(slot_sample(seq, slot));
  }
  auto serial = testing::make_stage("batch", {{"pixels", "float"}, {"device", "cpu"}});
  serial->open();
  testing::CapturingEmitter expected;
  for (const auto& m : in) serial->process(0, m, expected);
  ASSERT_EQ(expected.messages.size(), static_cast<std::size_t>(kBatches));

  // Shuffled within windows of 4 micro-batches (what a prefetch of 4 allows).
  std::mt19937 rng(5);
  for (std::size_t i = 0; i < in.size(); i += 12) {
    std::shuffle(in.begin() + i, in.begin() + std::min(in.size(), i + 12), rng);
  }
  auto stage = testing::make_stage("batch", {{"pixels", "float"}, {"device", "cpu"}});
  stage->open();
  testing::CapturingEmitter out;
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      for (std::size_t i = next++; i < in.size(); i = next++) stage->process(0, in[i], out);
    });
  }
  for (auto& w : workers) w.join();
  ASSERT_EQ(out.messages.size(), static_cast<std::size_t>(kBatches));
  for (int seq = 0; seq < kBatches; ++seq) {
    const auto got = out.messages[seq].second.as<MicroBatch>();
    const auto want = expected.messages[seq].second.as<MicroBatch>();
    EXPECT_EQ(got->seq, seq);
    EXPECT_TRUE(at::equal(got->lr, want->lr)) << seq;
    EXPECT_TRUE(at::equal(got->gt, want->gt)) << seq;
  }
}

}  // namespace
}  // namespace vsr
