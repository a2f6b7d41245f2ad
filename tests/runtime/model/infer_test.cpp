// The shared tiled forward pass of runtime/model/infer.h.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "runtime/data/mock_data.h"
#include "runtime/model/infer.h"

namespace vsr {
namespace {

using ::testing::HasSubstr;

TEST(Infer, TileStartsCoverTheAxisWithWholeTiles) {
  EXPECT_EQ(tile_starts(32, 0, 8), (std::vector<std::int64_t>{0}));
  EXPECT_EQ(tile_starts(32, 40, 8), (std::vector<std::int64_t>{0}));
  EXPECT_EQ(tile_starts(32, 20, 8), (std::vector<std::int64_t>{0, 12}));
  EXPECT_EQ(tile_starts(50, 20, 4), (std::vector<std::int64_t>{0, 16, 30}));
}

TEST(Infer, FramesRoundTripThroughTensors) {
  const cv::Mat a = make_mock_image(cv::Size(12, 10), 1), b = make_mock_image(cv::Size(12, 10), 2);
  const torch::Tensor t = frames_to_tensor({a, b});
  EXPECT_EQ(t.sizes(), (std::vector<std::int64_t>{1, 2, 3, 10, 12}));
  EXPECT_EQ(cv::norm(tensor_to_image(t[0][1]), b, cv::NORM_INF), 0.0);
}

TEST(Infer, TiledUntrainedModelIsWholeImageBicubic) {
  torch::manual_seed(3);
  VSRNet net(VSRNetOptions().base_channels(4).num_blocks(1).scale(3).frames(3));
  net->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor lr = torch::rand({1, 3, 3, 30, 26});
  const torch::Tensor whole = upscale_tiled(*net, lr, {0, 16}, c10::Device(c10::kCPU));
  const torch::Tensor tiled = upscale_tiled(*net, lr, {16, 6}, c10::Device(c10::kCPU));
  EXPECT_EQ(whole.sizes(), (std::vector<std::int64_t>{3, 90, 78}));
  EXPECT_LT((whole - tiled).abs().max().item<float>(), 1e-4);
  try {
    upscale_tiled(*net, lr, {16, 8}, c10::Device(c10::kCPU));
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("less than half of params.tile (16)"));
  }
}

}  // namespace
}  // namespace vsr
