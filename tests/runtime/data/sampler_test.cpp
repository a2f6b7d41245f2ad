#include "runtime/data/sampler.h"

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "common/errors.h"

namespace vsr {
namespace {

bool same_plan(const StepPlan& a, const StepPlan& b) {
  if (a.step != b.step || a.format != b.format || a.picks.size() != b.picks.size()) return false;
  for (std::size_t m = 0; m < a.picks.size(); ++m) {
    if (a.picks[m].size() != b.picks[m].size()) return false;
    for (std::size_t s = 0; s < a.picks[m].size(); ++s) {
      if (a.picks[m][s].file != b.picks[m][s].file || a.picks[m][s].seed != b.picks[m][s].seed) {
        return false;
      }
    }
  }
  return true;
}

StepSampler three_formats(std::uint64_t seed) {
  return StepSampler({50, 20, 7}, {0.5, 0.3, 0.2}, {4, 2, 1}, {1, 2, 4}, seed);
}

TEST(SamplerPlan, SameSeedSamePlan) {
  StepSampler a = three_formats(42), b = three_formats(42);
  for (std::int64_t s = 0; s < 500; ++s) ASSERT_TRUE(same_plan(a.plan(s), b.plan(s))) << s;
}

TEST(SamplerPlan, DifferentSeedsDiffer) {
  StepSampler a = three_formats(1), b = three_formats(2);
  int format_diff = 0, file_diff = 0, seed_diff = 0;
  for (std::int64_t s = 0; s < 200; ++s) {
    const StepPlan pa = a.plan(s), pb = b.plan(s);
    format_diff += pa.format != pb.format;
    file_diff += pa.picks[0][0].file != pb.picks[0][0].file;
    seed_diff += pa.picks[0][0].seed != pb.picks[0][0].seed;
  }
  EXPECT_GT(format_diff, 40);
  EXPECT_GT(file_diff, 100);
  EXPECT_EQ(seed_diff, 200);
}

TEST(SamplerPlan, ShapesFollowTheFormat) {
  StepSampler sampler = three_formats(3);
  const int batch[] = {4, 2, 1}, accum[] = {1, 2, 4};
  for (std::int64_t s = 0; s < 100; ++s) {
    const StepPlan p = sampler.plan(s);
    EXPECT_EQ(p.step, s);
    EXPECT_EQ(p.format, sampler.format_of(s));
    EXPECT_EQ(p.batch_size, batch[p.format]);
    EXPECT_EQ(p.accum, accum[p.format]);
    ASSERT_EQ(p.picks.size(), static_cast<std::size_t>(accum[p.format]));
    std::set<std::uint64_t> seeds;
    for (const auto& micro : p.picks) {
      ASSERT_EQ(micro.size(), static_cast<std::size_t>(batch[p.format]));
      for (const auto& pick : micro) seeds.insert(pick.seed);
    }
    EXPECT_EQ(seeds.size(), static_cast<std::size_t>(batch[p.format] * accum[p.format]));
  }
}

// plan(s) depends only on the seed and s: random access (including going back) replays.
TEST(SamplerPlan, RandomAccessEqualsSequential) {
  StepSampler sequential = three_formats(9);
  std::vector<StepPlan> expected;
  for (std::int64_t s = 0; s < 300; ++s) expected.push_back(sequential.plan(s));
  StepSampler jumping = three_formats(9);
  for (std::int64_t s : {250, 3, 299, 0, 120, 121, 122, 7, 7}) {
    EXPECT_TRUE(same_plan(jumping.plan(s), expected[s])) << s;
  }
}

// Every file exactly once per pass, a fresh order each pass, batches straddling passes.
TEST(SamplerPlan, WithoutReplacementWithinEachPass) {
  const std::size_t n = 7;
  StepSampler sampler({n}, {1.0}, {3}, {2}, 5);
  std::vector<std::size_t> stream;
  for (std::int64_t s = 0; s < 35; ++s) {  // 35 x 6 = 210 = 30 passes
    for (const auto& micro : sampler.plan(s).picks) {
      for (const auto& pick : micro) stream.push_back(pick.file);
    }
  }
  ASSERT_EQ(stream.size(), 30 * n);
  std::set<std::vector<std::size_t>> orders;
  for (std::size_t pass = 0; pass < 30; ++pass) {
    std::vector<std::size_t> order(stream.begin() + pass * n, stream.begin() + (pass + 1) * n);
    orders.insert(order);
    std::vector<std::size_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(sorted[i], i) << "pass " << pass;
  }
  EXPECT_GT(orders.size(), 20u);  // reshuffled each pass
}

TEST(SamplerPlan, WithoutReplacementPerFormatWhenMixed) {
  const std::vector<std::size_t> sizes = {13, 5};
  StepSampler sampler(sizes, {0.5, 0.5}, {2, 3}, {1, 1}, 11);
  std::vector<std::vector<std::size_t>> streams(2);
  for (std::int64_t s = 0; s < 400; ++s) {
    const StepPlan p = sampler.plan(s);
    for (const auto& pick : p.picks[0]) streams[p.format].push_back(pick.file);
  }
  for (int f = 0; f < 2; ++f) {
    const std::size_t n = sizes[f];
    for (std::size_t pass = 0; (pass + 1) * n <= streams[f].size(); ++pass) {
      std::set<std::size_t> seen(streams[f].begin() + pass * n,
                                 streams[f].begin() + (pass + 1) * n);
      ASSERT_EQ(seen.size(), n) << "format " << f << " pass " << pass;
    }
  }
}

TEST(SamplerPlan, FormatFrequenciesMatchWeights) {
  StepSampler sampler({10, 10, 10}, {3.0, 1.5, 0.5}, {1, 1, 1}, {1, 1, 1}, 2024);
  EXPECT_NEAR(sampler.weights()[0], 0.6, 1e-12);
  EXPECT_NEAR(sampler.weights()[2], 0.1, 1e-12);
  const int steps = 20000;
  std::vector<int> counts(3, 0);
  for (std::int64_t s = 0; s < steps; ++s) ++counts[sampler.plan(s).format];
  // Binomial standard deviation at p = 0.6 over 20000 steps is 0.0035.
  EXPECT_NEAR(counts[0] / double(steps), 0.6, 0.015);
  EXPECT_NEAR(counts[1] / double(steps), 0.3, 0.015);
  EXPECT_NEAR(counts[2] / double(steps), 0.1, 0.015);
}

TEST(SamplerPlan, ZeroWeightIsNeverChosen) {
  StepSampler sampler({4, 4, 4}, {0.0, 1.0, 0.0}, {1, 1, 1}, {1, 1, 1}, 0);
  for (std::int64_t s = 0; s < 2000; ++s) ASSERT_EQ(sampler.format_of(s), 1);
}

TEST(SamplerPlan, PassPermutationIsAPermutation) {
  const auto perm = pass_permutation(1, 0, 0, 1000);
  std::vector<std::uint32_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  for (std::uint32_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_NE(perm, pass_permutation(1, 0, 1, 1000));
  EXPECT_NE(perm, pass_permutation(1, 1, 0, 1000));
  EXPECT_EQ(perm, pass_permutation(1, 0, 0, 1000));
}

TEST(SamplerPlan, RejectsBadArguments) {
  EXPECT_THROW(StepSampler({0}, {1.0}, {1}, {1}, 0), DataError);
  EXPECT_THROW(StepSampler({3, 3}, {1.0}, {1, 1}, {1, 1}, 0), std::invalid_argument);
  EXPECT_THROW(StepSampler({3}, {0.0}, {1}, {1}, 0), std::invalid_argument);
  EXPECT_THROW(StepSampler({3}, {-1.0}, {1}, {1}, 0), std::invalid_argument);
  EXPECT_THROW(StepSampler({3}, {1.0}, {0}, {1}, 0), std::invalid_argument);
  EXPECT_THROW(StepSampler({}, {}, {}, {}, 0), std::invalid_argument);
  StepSampler ok({3}, {1.0}, {1}, {1}, 0);
  EXPECT_THROW(ok.plan(-1), std::invalid_argument);
}

}  // namespace
}  // namespace vsr
