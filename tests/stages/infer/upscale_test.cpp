// The upscale stage, with tiny untrained checkpoints (an untrained VSRNet outputs exactly
// bicubic upscaling of the centre frame), tiled or whole, model or EMA weights, float or bf16.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "common/errors.h"
#include "runtime/data/image.h"
#include "tests/stages/harness.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::InferStagesTest;
using testing::max_abs_diff;

cv::Mat clamp01(const cv::Mat& img) {
  cv::Mat out;
  cv::min(img, 1.0, out);
  cv::max(out, 0.0, out);
  return out;
}

TEST_F(InferStagesTest, UntrainedModelIsBicubicTiledOrNot) {
  const fs::path ckpt = write_checkpoint(3, /*with_ema=*/true);
  const auto whole = upscale_all(
      {{"checkpoint", ckpt.string()}, {"frames", 3}, {"device", "cpu"}, {"threads", 1}}, 3);
  const auto tiled = upscale_all({{"checkpoint", ckpt.string()},
                                  {"frames", 3},
                                  {"tile", 20},
                                  {"tile_overlap", 8},
                                  {"device", "cpu"},
                                  {"threads", 1}},
                                 3);
  ASSERT_EQ(whole.size(), 5u);
  ASSERT_EQ(tiled.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    const cv::Mat expected = clamp01(bicubic_upscale(read_image_rgb(frame_path(i)), kScale));
    EXPECT_EQ(whole[i].size(), cv::Size(80, 64));
    EXPECT_LT(max_abs_diff(whole[i], expected), 1e-4) << i;
    EXPECT_LT(max_abs_diff(tiled[i], whole[i]), 1e-4) << i;
  }
}

TEST_F(InferStagesTest, Bf16AutocastRunsOnTheCpuAndStaysCloseToFloat) {
  const fs::path ckpt = write_checkpoint(3, /*with_ema=*/true);
  const json params = {
      {"checkpoint", ckpt.string()}, {"frames", 3}, {"device", "cpu"}, {"threads", 1}};
  json bf16 = params;
  bf16["precision"] = "bf16";
  const auto exact = upscale_all(params, 3);
  const auto half = upscale_all(bf16, 3);
  ASSERT_EQ(half.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(half[i].size(), cv::Size(80, 64));
    EXPECT_LT(max_abs_diff(half[i], exact[i]), 0.05) << i;  // bf16 keeps 8 bits of mantissa
  }
}

TEST_F(InferStagesTest, Fp16OnTheCpuIsRejectedBeforeAnythingRuns) {
  const fs::path ckpt = write_checkpoint(3, /*with_ema=*/true);
  try {
    testing::make_stage(
        "upscale",
        {{"checkpoint", ckpt.string()}, {"frames", 3}, {"precision", "fp16"}, {"device", "cpu"}});
    FAIL() << "expected SpecError";
  } catch (const SpecError& e) {
    EXPECT_THAT(e.what(), HasSubstr("params.precision: precision fp16 needs a CUDA device; use "
                                    "bf16 (or off) on the CPU"));
  }
}

TEST_F(InferStagesTest, ModelWeightsWithoutEmaWork) {
  const fs::path ckpt = write_checkpoint(3, /*with_ema=*/false);
  for (const char* weights : {"ema", "model"}) {
    const auto out = upscale_all(
        {{"checkpoint", ckpt.string()}, {"frames", 3}, {"weights", weights}, {"device", "cpu"}}, 3);
    ASSERT_EQ(out.size(), 5u) << weights;
  }
}

TEST_F(InferStagesTest, FrameCountMismatchWithTheCheckpointIsAClearError) {
  const fs::path ckpt = write_checkpoint(3, true);
  auto stage = testing::make_stage("upscale", {{"checkpoint", ckpt.string()}, {"frames", 5}});
  try {
    stage->open();
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr(ckpt.string() + " is a 3-frame model"));
    EXPECT_THAT(e.what(), HasSubstr("params.frames is 5"));
  }
}

TEST_F(InferStagesTest, MissingCheckpointIsNamed) {
  auto stage =
      testing::make_stage("upscale", {{"checkpoint", (root_ / "no.pth").string()}, {"frames", 3}});
  try {
    stage->open();
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr((root_ / "no.pth").string()));
  }
}

}  // namespace
}  // namespace vsr
