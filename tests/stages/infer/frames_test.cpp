// The frames source: a window of neighbouring frames per frame, clamped at both ends of the clip.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/errors.h"
#include "stages/infer/messages.h"
#include "tests/stages/harness.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::InferStagesTest;

TEST_F(InferStagesTest, FramesClampsTheWindowAtBothEnds) {
  const auto p = [&](int i) { return frame_path(i); };
  using Paths = std::vector<fs::path>;
  const auto w3 = windows(3);
  ASSERT_EQ(w3.size(), 5u);
  EXPECT_EQ(w3[0]->paths, (Paths{p(0), p(0), p(1)}));
  EXPECT_EQ(w3[1]->paths, (Paths{p(0), p(1), p(2)}));
  EXPECT_EQ(w3[2]->paths, (Paths{p(1), p(2), p(3)}));
  EXPECT_EQ(w3[3]->paths, (Paths{p(2), p(3), p(4)}));
  EXPECT_EQ(w3[4]->paths, (Paths{p(3), p(4), p(4)}));
  const auto w5 = windows(5);
  ASSERT_EQ(w5.size(), 5u);
  EXPECT_EQ(w5[0]->paths, (Paths{p(0), p(0), p(0), p(1), p(2)}));
  EXPECT_EQ(w5[1]->paths, (Paths{p(0), p(0), p(1), p(2), p(3)}));
  EXPECT_EQ(w5[2]->paths, (Paths{p(0), p(1), p(2), p(3), p(4)}));
  EXPECT_EQ(w5[3]->paths, (Paths{p(1), p(2), p(3), p(4), p(4)}));
  EXPECT_EQ(w5[4]->paths, (Paths{p(2), p(3), p(4), p(4), p(4)}));
  for (std::size_t i = 0; i < w5.size(); ++i) {
    EXPECT_EQ(w5[i]->index, static_cast<std::int64_t>(i));
    EXPECT_EQ(w5[i]->name, "000" + std::to_string(i));
  }
}

TEST_F(InferStagesTest, FramesNamesAMissingOrEmptyFolder) {
  auto missing = testing::make_stage("frames", {{"dir", (root_ / "nope").string()}, {"frames", 3}});
  try {
    missing->open();
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr((root_ / "nope").string() + " does not exist"));
    EXPECT_THAT(e.what(), HasSubstr("PNG or JPEG"));
  }
  fs::create_directories(root_ / "empty");
  auto empty = testing::make_stage("frames", {{"dir", (root_ / "empty").string()}, {"frames", 3}});
  try {
    empty->open();
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr((root_ / "empty").string() + " has no images"));
  }
  EXPECT_THROW(testing::make_stage("frames", {{"dir", "x"}, {"frames", 4}}), std::exception);
}

}  // namespace
}  // namespace vsr
