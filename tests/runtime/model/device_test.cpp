#include "runtime/model/device.h"

#include <ATen/Parallel.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/errors.h"

namespace vsr {
namespace {

TEST(DeviceTest, PicksCpuAndRejectsMissingCuda) {
  EXPECT_EQ(pick_device("cpu"), torch::Device(torch::kCPU));
  EXPECT_EQ(pick_device("auto").is_cuda(), cuda_available());
  if (!cuda_available()) {
    try {
      pick_device("cuda");
      FAIL() << "no throw";
    } catch (const ConfigError& e) {
      EXPECT_THAT(e.what(), testing::HasSubstr("device: 'cuda' requested"));
    }
  }
  EXPECT_THROW(pick_device("tpu"), ConfigError);
}

TEST(DeviceTest, SetsThreads) {
  const int before = at::get_num_threads();
  EXPECT_EQ(set_threads(1), 1);
  EXPECT_EQ(at::get_num_threads(), 1);
  EXPECT_GE(set_threads(0), 1);
  EXPECT_THROW(set_threads(-1), ConfigError);
  set_threads(before);
}

TEST(DeviceTest, AutocastGuardSetsAndRestores) {
  EXPECT_EQ(parse_precision("bf16"), Precision::kBf16);
  EXPECT_THROW(parse_precision("fp8"), ConfigError);
  auto conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, /*kernel_size=*/3));
  const auto x = torch::rand({1, 3, 8, 8});
  {
    AutocastGuard off(torch::kCPU, Precision::kOff);
    EXPECT_FALSE(current_autocast_state().cpu_enabled);
  }
  {
    AutocastGuard bf16(torch::kCPU, Precision::kBf16);
    EXPECT_TRUE(current_autocast_state().cpu_enabled);
    EXPECT_EQ(current_autocast_state().cpu_dtype, torch::kBFloat16);
    EXPECT_EQ(conv->forward(x).scalar_type(), torch::kBFloat16);
  }
  EXPECT_FALSE(current_autocast_state().cpu_enabled);
  EXPECT_EQ(conv->forward(x).scalar_type(), torch::kFloat);
  try {
    AutocastGuard fp16(torch::kCPU, Precision::kFp16);
    FAIL() << "no throw";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), testing::HasSubstr("fp16 needs a CUDA device"));
  }
  EXPECT_FALSE(current_autocast_state().cpu_enabled);
}

}  // namespace
}  // namespace vsr
