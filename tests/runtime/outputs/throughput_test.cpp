#include "runtime/outputs/throughput.h"

#include <gtest/gtest.h>

namespace vsr {
namespace {

TEST(IntervalThroughput, RatesOverTheInterval) {
  IntervalThroughput t;
  EXPECT_FALSE(t.has_time());
  EXPECT_EQ(t.samples_per_s(), 0);
  EXPECT_EQ(t.wait_fraction(), 0);
  EXPECT_EQ(t.seconds_per_step(), 0);
  t.add(4, 0.5, 1.5);  // 4 samples in 2 s, a quarter of it waiting
  t.add(4, 0.0, 2.0);
  EXPECT_EQ(t.steps(), 2);
  EXPECT_DOUBLE_EQ(t.busy_s(), 4.0);
  EXPECT_DOUBLE_EQ(t.samples_per_s(), 2.0);
  EXPECT_DOUBLE_EQ(t.wait_fraction(), 0.125);
  EXPECT_DOUBLE_EQ(t.seconds_per_step(), 2.0);
  t.reset();
  EXPECT_EQ(t.steps(), 0);
  EXPECT_FALSE(t.has_time());
  t.add(3, 0, 0);  // a step with no recorded time gives no rate rather than a division by 0
  EXPECT_EQ(t.samples_per_s(), 0);
  EXPECT_EQ(t.seconds_per_step(), 0);
}

}  // namespace
}  // namespace vsr
