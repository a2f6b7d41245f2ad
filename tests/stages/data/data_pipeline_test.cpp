// The data half of the training graph as the spec compiler wires it: sample -> decode ->
// split -> augment -> batch.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>

#include "graph/pipeline.h"
#include "stages/data/messages.h"
#include "tests/stages/harness.h"

namespace vsr {
namespace {

using testing::DataStages;

TEST_F(DataStages, BatchesHaveTheFormatsShapesInRequestOrder) {
  const auto batches = run_batches(training_data_spec(data_config(2, 12)));
  std::int64_t seq = 0;
  std::map<std::int64_t, int> micro_per_step;
  for (const auto& b : batches) {
    EXPECT_EQ(b->seq, seq++);  // restored order
    ++micro_per_step[b->step];
    const int B = b->format == "small_540" ? 2 : 1;
    EXPECT_EQ(b->accum, b->format == "small_540" ? 1 : 2);
    // crop 90 at x3: GT 90x90, LR frames 30x30.
    EXPECT_EQ(b->lr.sizes(), (std::vector<std::int64_t>{B, 7, 3, 30, 30}));
    EXPECT_EQ(b->gt.sizes(), (std::vector<std::int64_t>{B, 3, 90, 90}));
    EXPECT_EQ(b->lr.scalar_type(), at::kFloat);
    EXPECT_GE(b->lr.min().item<float>(), 0.0f);
    EXPECT_LE(b->gt.max().item<float>(), 1.0f);
    EXPECT_GT(b->gt.std().item<float>(), 0.01f);  // real content, not flat
  }
  ASSERT_EQ(micro_per_step.size(), 12u);
  for (const auto& [step, n] : micro_per_step) {
    EXPECT_EQ(n, batches[0]->step == step ? batches[0]->accum : n);
  }
}

TEST_F(DataStages, SameSeedGivesIdenticalBatchesWithOneOrTwoWorkers) {
  const auto one = run_batches(training_data_spec(data_config(1, 10)));
  const auto two = run_batches(training_data_spec(data_config(2, 10)));
  ASSERT_EQ(one.size(), two.size());
  for (std::size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(one[i]->format, two[i]->format);
    EXPECT_TRUE(at::equal(one[i]->lr, two[i]->lr)) << "micro-batch " << i;
    EXPECT_TRUE(at::equal(one[i]->gt, two[i]->gt)) << "micro-batch " << i;
  }
}

TEST_F(DataStages, PrefetchBoundHoldsWithASlowConsumer) {
  std::vector<StageStats> stats;
  const auto batches = run_batches(
      training_data_spec(data_config(2, 10, /*prefetch=*/2), /*sink_delay_ms=*/20), &stats);
  EXPECT_GE(batches.size(), 10u);
  EXPECT_EQ(stats[0].name, "sample");
  EXPECT_EQ(stats[0].max_in_flight, 2);
  EXPECT_EQ(stats[0].peak_in_flight, 2);  // reached, never exceeded
  EXPECT_GT(stats[0].blocked_s, 0.05);    // the source waited for the slow consumer
}

}  // namespace
}  // namespace vsr
