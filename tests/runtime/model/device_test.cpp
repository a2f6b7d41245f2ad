#include "runtime/model/device.h"

#include <ATen/Parallel.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>

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

TEST(DeviceTest, AutoPrecisionIsBf16WhereItPaysAndNeverFp16) {
  auto expect = [](const PrecisionChoice& c, Precision p, const std::string& why) {
    EXPECT_EQ(c.precision, p) << why;
    EXPECT_EQ(c.why, why);
  };
  expect(auto_precision(false, 0, 0, "", ""), Precision::kOff,
         "this CPU has neither AVX512-BF16 nor AMX-BF16");
  expect(auto_precision(false, 0, 0, "AVX512-BF16", ""), Precision::kOff,
         "this CPU has AVX512-BF16 but not AMX-BF16, where bf16 runs slower than float32");
  expect(auto_precision(false, 0, 0, "AMX-BF16", ""), Precision::kBf16, "this CPU has AMX-BF16");
  expect(auto_precision(false, 0, 0, "AVX512-BF16, AMX-BF16", ""), Precision::kBf16,
         "this CPU has AVX512-BF16, AMX-BF16");
  expect(auto_precision(false, 0, 0, "AVX512-BF16, AMX-BF16", "ONEDNN_MAX_CPU_ISA=AVX2"),
         Precision::kOff,
         "this CPU has AVX512-BF16, AMX-BF16, but ONEDNN_MAX_CPU_ISA=AVX2 keeps oneDNN off AMX, "
         "where bf16 runs slower than float32");
  expect(auto_precision(true, 7, 5, "AVX512-BF16, AMX-BF16"), Precision::kOff,  // Turing
         "compute capability 7.5: bf16 is native from 8.0 (Ampere) on");
  expect(auto_precision(true, 8, 6, ""), Precision::kBf16,  // Ampere
         "compute capability 8.6: bf16 is native");
  expect(auto_precision(true, 9, 0, ""), Precision::kBf16,
         "compute capability 9.0: bf16 is native");

  std::string why = "stale";
  EXPECT_EQ(resolve_precision("bf16", c10::Device(c10::kCPU), why), Precision::kBf16);
  EXPECT_EQ(why, "");
  EXPECT_EQ(resolve_precision("off", c10::Device(c10::kCPU), why), Precision::kOff);
  EXPECT_THROW(resolve_precision("fp8", c10::Device(c10::kCPU), why), ConfigError);
  const PrecisionChoice here = auto_precision(false, 0, 0, cpu_native_bf16());
  EXPECT_EQ(resolve_precision("auto", c10::Device(c10::kCPU), why), here.precision);
  EXPECT_EQ(why, here.why);
}

TEST(DeviceTest, Bf16ByNameWarnsOnlyOnACpuWhereAutoWouldNotPickIt) {
  const c10::Device cpu(c10::kCPU);
  EXPECT_EQ(slow_cpu_bf16(cpu, Precision::kBf16, "AMX-BF16", ""), "");
  EXPECT_EQ(slow_cpu_bf16(cpu, Precision::kOff, "", ""), "");
  EXPECT_EQ(slow_cpu_bf16(c10::Device(c10::kCUDA, 0), Precision::kBf16, "", ""), "");
  EXPECT_THAT(slow_cpu_bf16(cpu, Precision::kBf16, "AMX-BF16", "DNNL_MAX_CPU_ISA=avx512_core"),
              testing::HasSubstr("but DNNL_MAX_CPU_ISA=avx512_core keeps oneDNN off AMX"));
  EXPECT_EQ(slow_cpu_bf16(cpu, Precision::kBf16, "AVX512-BF16", ""),
            "here (this CPU has AVX512-BF16 but not AMX-BF16, where bf16 "
            "runs slower than float32): expect it slower than float32, or without AVX-512 a "
            "failing convolution; auto picks float32 here");
  EXPECT_THAT(slow_cpu_bf16(cpu, Precision::kBf16, "", ""),
              testing::HasSubstr("(this CPU has neither AVX512-BF16 nor AMX-BF16)"));
}

TEST(DeviceTest, AnIsaCapOfOneDnnBelowAmxKeepsAutoOffAmx) {
  auto with = [](const char* onednn, const char* dnnl) {
    for (auto [name, value] :
         {std::pair{"ONEDNN_MAX_CPU_ISA", onednn}, std::pair{"DNNL_MAX_CPU_ISA", dnnl}}) {
      if (value == nullptr) {
        unsetenv(name);
      } else {
        setenv(name, value, 1);
      }
    }
    return onednn_amx_cap();
  };
  const char* saved_onednn = std::getenv("ONEDNN_MAX_CPU_ISA");
  const char* saved_dnnl = std::getenv("DNNL_MAX_CPU_ISA");
  const std::string keep_onednn = saved_onednn ? saved_onednn : "";
  const std::string keep_dnnl = saved_dnnl ? saved_dnnl : "";
  EXPECT_EQ(with(nullptr, nullptr), "");
  EXPECT_EQ(with("AVX512_CORE_BF16", nullptr), "ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16");
  EXPECT_EQ(with(nullptr, "avx2"), "DNNL_MAX_CPU_ISA=avx2");
  EXPECT_EQ(with("avx512_core_amx", "AVX2"), "");  // ONEDNN_ first, as oneDNN reads them
  EXPECT_EQ(with("ALL", nullptr), "");
  EXPECT_EQ(with("default", nullptr), "");
  EXPECT_EQ(with("", "AVX512_CORE"), "DNNL_MAX_CPU_ISA=AVX512_CORE");
  // resolve_precision reads it: with the cap, auto is off even on an AMX CPU.
  with("AVX512_CORE_BF16", nullptr);
  std::string why;
  EXPECT_EQ(resolve_precision("auto", c10::Device(c10::kCPU), why), Precision::kOff);
  with(saved_onednn ? keep_onednn.c_str() : nullptr, saved_dnnl ? keep_dnnl.c_str() : nullptr);
}

// The kernel lists a CPU feature in /proc/cpuinfo only when it also enables its registers, so
// its flags are an independent reading of what CPUID and XCR0 say.
TEST(DeviceTest, NativeBf16IsWhatTheKernelReportsForThisCpu) {
#if defined(__x86_64__) || defined(__i386__)
  std::ifstream cpuinfo("/proc/cpuinfo");
  ASSERT_TRUE(cpuinfo) << "cannot read /proc/cpuinfo";
  std::string line;
  std::set<std::string> flags;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string w; words >> w;) flags.insert(w);
    break;
  }
  ASSERT_FALSE(flags.empty()) << "no flags line in /proc/cpuinfo";
  std::string expected;
  if (flags.count("avx512f") && flags.count("avx512_bf16")) expected = "AVX512-BF16";
  if (flags.count("amx_bf16")) expected += expected.empty() ? "AMX-BF16" : ", AMX-BF16";
  EXPECT_EQ(cpu_native_bf16(), expected);
#else
  EXPECT_EQ(cpu_native_bf16(), "");  // x86's CPUID features only
#endif
}

TEST(DeviceTest, AnUploadToTheCpuHandsOverTheTensorsThemselves) {
  const at::Tensor a = at::ones({2, 3}), b = at::zeros({4}, at::kByte);
  DeviceUpload upload({a, b}, c10::Device(c10::kCPU));
  const std::vector<at::Tensor> out = upload.wait();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].is_same(a));
  EXPECT_TRUE(out[1].is_same(b));
}

TEST(DeviceTest, PeakMemoryOfTheCpuIsThePeakResidentSet) {
  const c10::Device cpu(c10::kCPU);
  reset_peak_memory(cpu);
  const std::int64_t before = peak_memory_bytes(cpu);
  EXPECT_GT(before, 1 << 20);
  {
    at::Tensor big = at::ones({64 << 20}, at::kByte);  // 64 MiB, touched
    EXPECT_GE(peak_memory_bytes(cpu), before + (60 << 20));
  }
}

TEST(DeviceTest, TellsOutOfMemoryErrorsFromOthers) {
  EXPECT_FALSE(is_out_of_memory(std::runtime_error("out of memory")));
  try {
    TORCH_CHECK_WITH(OutOfMemoryError, false, "CUDA out of memory. Tried to allocate 2.00 GiB");
  } catch (const std::exception& e) {
    EXPECT_TRUE(is_out_of_memory(e));
  }
  try {
    at::empty({std::int64_t{1} << 50}, at::kByte);  // a petabyte: the allocator refuses it
    ADD_FAILURE() << "a petabyte was allocated";
  } catch (const std::exception& e) {
    EXPECT_TRUE(is_out_of_memory(e)) << e.what();
  }
  try {
    TORCH_CHECK(false, "shapes do not match");
  } catch (const std::exception& e) {
    EXPECT_FALSE(is_out_of_memory(e));
    EXPECT_EQ(error_first_line(e), "shapes do not match");  // no backtrace
  }
  EXPECT_EQ(error_first_line(std::runtime_error("one\ntwo")), "one");
}

}  // namespace
}  // namespace vsr
