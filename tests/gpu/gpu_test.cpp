// Tests that need a CUDA device (ctest label `gpu`; scripts/gpu-check.sh runs them). Without
// one each test is skipped and says why. They compare the CUDA paths with the CPU's: forward
// and backward, bf16 and fp16 autocast (fp16 with the loss scaler), gradient checkpointing,
// the raw-pixel conversion on the device, the side-stream upload, pinned micro-batches, peak
// memory and out-of-memory errors, and a 50-step run of the demo config.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "runtime/data/pixels.h"
#include "runtime/model/device.h"
#include "runtime/model/model.h"
#include "runtime/model/optim.h"
#include "stages/data/messages.h"
#include "stages/train/messages.h"
#include "tests/stages/harness.h"
#include "tests/support/command.h"
#include "tests/support/mock_dataset.h"

namespace vsr {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

constexpr int kFrames = 3;
constexpr int kScale = 2;
constexpr int kLr = 16;

// Skips the test, saying why, when there is no CUDA device to run it on.
class Cuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!built_with_cuda()) {
      GTEST_SKIP() << "needs a CUDA device: this build's LibTorch has no CUDA (build against "
                      "pip's torch 2.x: scripts/setup-libtorch2.sh, or run scripts/gpu-check.sh)";
    }
    if (!cuda_available()) {
      GTEST_SKIP() << "needs a CUDA device: this LibTorch has CUDA but sees no GPU (driver, "
                      "CUDA_VISIBLE_DEVICES?)";
    }
    allow_tf32(false);  // compare with the CPU at float32 precision
  }
  void TearDown() override {
    if (cuda_available()) allow_tf32(true);
  }
  const c10::Device cuda{c10::kCUDA, 0};
  const c10::Device cpu{c10::kCPU};
};

VSRNet tiny_net(bool checkpointing = false) {
  torch::manual_seed(11);
  return VSRNet(VSRNetOptions()
                    .base_channels(16)
                    .num_blocks(2)
                    .scale(kScale)
                    .frames(kFrames)
                    .use_checkpointing(checkpointing));
}

// Copies b's parameters from a (same architecture).
void copy_weights(VSRNet& from, VSRNet& to) {
  torch::NoGradGuard no_grad;
  auto dst = to->named_parameters();
  for (const auto& p : from->named_parameters()) dst[p.key()].copy_(p.value());
}

// The loss's gradients of `net` on `device`, per parameter name, as CPU tensors.
std::map<std::string, at::Tensor> gradients(VSRNet& net, const at::Tensor& lr, const at::Tensor& gt,
                                            const c10::Device& device, at::Tensor* out) {
  net->to(device);
  net->zero_grad();
  const at::Tensor pred = net->forward(lr.to(device));
  compute_loss(LossKind::kCharbonnier, pred, gt.to(device)).backward();
  if (out) *out = pred.detach().cpu();
  std::map<std::string, at::Tensor> g;
  for (const auto& p : net->named_parameters()) {
    if (p.value().grad().defined()) g[p.key()] = p.value().grad().cpu();
  }
  return g;
}

void expect_close(const std::map<std::string, at::Tensor>& a,
                  const std::map<std::string, at::Tensor>& b, double rtol) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    const at::Tensor& u = b.at(name);
    EXPECT_LE((t - u).norm().item<double>(), rtol * t.norm().item<double>() + 1e-9) << name;
  }
}

TEST_F(Cuda, ForwardAndBackwardEqualTheCpu) {
  torch::manual_seed(3);
  const at::Tensor lr = torch::rand({2, kFrames, 3, kLr, kLr});
  const at::Tensor gt = torch::rand({2, 3, kLr * kScale, kLr * kScale});
  VSRNet on_cpu = tiny_net(), on_cuda = tiny_net();
  // Train the last conv a little first: it starts at zero, which would hide the residual path.
  {
    torch::NoGradGuard no_grad;
    for (auto& p : on_cpu->parameters()) p.add_(torch::randn_like(p) * 1e-2);
  }
  copy_weights(on_cpu, on_cuda);
  at::Tensor pred_cpu, pred_cuda;
  const auto g_cpu = gradients(on_cpu, lr, gt, cpu, &pred_cpu);
  const auto g_cuda = gradients(on_cuda, lr, gt, cuda, &pred_cuda);
  EXPECT_TRUE(at::allclose(pred_cuda, pred_cpu, 1e-4, 1e-5))
      << "max |diff| " << (pred_cuda - pred_cpu).abs().max().item<double>();
  expect_close(g_cpu, g_cuda, 1e-3);
}

TEST_F(Cuda, GradientCheckpointingGivesEqualGradients) {
  torch::manual_seed(4);
  const at::Tensor lr = torch::rand({2, kFrames, 3, kLr, kLr});
  const at::Tensor gt = torch::rand({2, 3, kLr * kScale, kLr * kScale});
  VSRNet plain = tiny_net(false), ckpt = tiny_net(true);
  copy_weights(plain, ckpt);
  expect_close(gradients(plain, lr, gt, cuda, nullptr), gradients(ckpt, lr, gt, cuda, nullptr),
               1e-5);
}

// train_step on CUDA with `precision`, 8 steps on fixed data; the StepEvents.
std::vector<std::shared_ptr<const StepEvent>> train_on_cuda(const std::string& precision) {
  json params = {{"model", {{"base_channels", 16}, {"num_blocks", 2}}},
                 {"optim", {{"learning_rate", 1e-3}}},
                 {"scale", kScale},
                 {"frames", kFrames},
                 {"total_steps", 8},
                 {"device", "cuda"},
                 {"threads", 1},
                 {"seed", 5},
                 {"mixed_precision", precision},
                 {"val_interval", 1000},
                 {"checkpoint_interval", 1000}};
  auto stage = testing::make_stage("train_step", params);
  testing::CapturingEmitter out;
  stage->open();
  torch::manual_seed(6);
  const at::Tensor lr = torch::rand({2, kFrames, 3, kLr, kLr});
  const at::Tensor gt = torch::rand({2, 3, kLr * kScale, kLr * kScale});
  for (int step = 0; step < 8; ++step) {
    auto mb = std::make_shared<MicroBatch>();
    mb->seq = step;
    mb->step = step;
    mb->format = "small_540";
    mb->lr = lr;
    mb->gt = gt;
    stage->process(0, Message::of<MicroBatch>(mb), out);
  }
  stage->close(true);
  std::vector<std::shared_ptr<const StepEvent>> events;
  for (const auto& [port, m] : out.messages) {
    if (port == 0) events.push_back(m.as<StepEvent>());
  }
  return events;
}

TEST_F(Cuda, Bf16AndFp16WithTheLossScalerTrainLikeFloat32) {
  const auto f32 = train_on_cuda("off");
  ASSERT_EQ(f32.size(), 8u);  // one ahead: the last micro-batch is computed too
  EXPECT_LT(f32.back()->loss, f32.front()->loss);
  for (const std::string& precision : {std::string("bf16"), std::string("fp16")}) {
    SCOPED_TRACE(precision);
    const auto mixed = train_on_cuda(precision);
    ASSERT_EQ(mixed.size(), 8u);
    for (std::size_t i = 0; i < mixed.size(); ++i) {
      if (mixed[i]->skipped) continue;  // fp16: the scaler's first probes may overflow
      EXPECT_NEAR(mixed[i]->loss, f32[i]->loss, 0.05 * f32[i]->loss) << "step " << i + 1;
    }
    EXPECT_LT(mixed.back()->loss, mixed.front()->loss);
    // The loss scaler runs for fp16 only (its scale starts at 65536).
    EXPECT_EQ(mixed.back()->loss_scale != 1.0, precision == "fp16");
    EXPECT_TRUE(mixed.back()->memory_on_device);
    EXPECT_GT(mixed.back()->peak_memory_bytes, 0);
  }
}

TEST_F(Cuda, RawPixelsConvertOnTheDeviceExactlyAsOnTheCpu) {
  for (const auto dtype : {at::kByte, at::kShort}) {
    const at::Tensor raw = (dtype == at::kByte ? torch::randint(0, 256, {2, 3, 9, 7, 3})
                                               : torch::randint(-32768, 32768, {2, 3, 9, 7, 3}))
                               .to(dtype);
    const at::Tensor on_cpu = raw_to_float_rgb(raw);
    const at::Tensor on_cuda = raw_to_float_rgb(raw.to(cuda)).cpu();
    EXPECT_TRUE(at::equal(on_cpu.view(at::kInt), on_cuda.view(at::kInt))) << dtype;
  }
}

TEST_F(Cuda, UploadsOnASideStreamArriveIntact) {
  const at::Tensor host = empty_pinned({4, 1 << 20}, at::kByte);
  EXPECT_TRUE(host.is_pinned());
  host.copy_(torch::randint(0, 256, host.sizes()).to(at::kByte));
  DeviceUpload upload({host}, cuda);
  // Work queued on the current stream meanwhile.
  const at::Tensor busy = torch::rand({2048, 2048}, torch::TensorOptions().device(cuda));
  const at::Tensor product = busy.mm(busy);
  const std::vector<at::Tensor> out = upload.wait();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].is_cuda());
  EXPECT_TRUE(at::equal(out[0].cpu(), host));
  EXPECT_TRUE(product.isfinite().all().item<bool>());
}

TEST_F(Cuda, BatchMakesPinnedRawMicroBatchesForCuda) {
  auto stage = testing::make_stage("batch", {{"device", "cuda"}});  // pixels: auto
  stage->open();
  auto req = std::make_shared<SampleRequest>();
  auto sample = std::make_shared<FrameSample>();
  sample->request = req;
  sample->gt = cv::Mat(12, 12, CV_8UC3, cv::Scalar(1, 2, 3));
  sample->frames.assign(kFrames, cv::Mat(6, 6, CV_8UC3, cv::Scalar(4, 5, 6)));
  testing::CapturingEmitter out;
  stage->process(0, Message::of<FrameSample>(sample), out);
  ASSERT_EQ(out.messages.size(), 1u);
  const auto mb = out.messages[0].second.as<MicroBatch>();
  EXPECT_EQ(mb->lr.scalar_type(), at::kByte);
  EXPECT_TRUE(mb->lr.is_pinned());
  EXPECT_TRUE(mb->gt.is_pinned());
  EXPECT_EQ(mb->lr.sizes(), (std::vector<std::int64_t>{1, kFrames, 6, 6, 3}));
}

TEST_F(Cuda, PeakMemoryAndOutOfMemory) {
  reset_peak_memory(cuda);
  {
    const at::Tensor block =
        at::empty({256 << 20}, at::TensorOptions().dtype(at::kByte).device(cuda));
    EXPECT_GE(peak_memory_bytes(cuda), 256 << 20);
  }
  try {
    at::empty({std::int64_t{1} << 50}, at::TensorOptions().dtype(at::kByte).device(cuda));
    ADD_FAILURE() << "a petabyte was allocated";
  } catch (const std::exception& e) {
    EXPECT_TRUE(is_out_of_memory(e)) << e.what();
  }
}

// The demo config on CUDA for 50 steps, through the binary, on a small mock dataset.
TEST_F(Cuda, FiftyStepsOfTheDemoConfig) {
  testing::MockDataset data("vsr_gpu_demo", {{"small_540"},
                                             {7},
                                             /*count=*/4,
                                             /*val_count=*/1,
                                             /*seed=*/2});
  const fs::path experiments = data.root() / "experiments";
  std::string cmd = std::string(VSR_BINARY) + " run " + VSR_SOURCE_DIR + "/configs/demo.yaml";
  for (const std::string& set :
       {"DATA.data_root=" + data.root().string(), "OUTPUT.experiments_root=" + experiments.string(),
        std::string("OUTPUT.experiment_name=gpu"), std::string("TRAINING.total_steps=50"),
        std::string("TRAINING.device=cuda"), std::string("VALIDATION.val_interval=50"),
        std::string("VALIDATION.num_images=1"), std::string("CHECKPOINT.checkpoint_interval=50"),
        std::string("LOGGING.log_interval=10")}) {
    cmd += " --set " + set;
  }
  const testing::CommandResult r = testing::run_command(cmd + " 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("step 50/50"));
  // The demo's mixed_precision auto decides from the device's compute capability.
  EXPECT_THAT(r.out, HasSubstr("train_step: mixed_precision auto: "));
  EXPECT_THAT(r.out, HasSubstr(" (compute capability "));
  EXPECT_THAT(r.out,
              ::testing::Not(HasSubstr("compute capability 0.")));  // the device's, not a default
  EXPECT_THAT(r.out, HasSubstr("peak mem "));
  EXPECT_THAT(r.out, HasSubstr("last validation (step 50): PSNR"));
  EXPECT_TRUE(fs::exists(experiments / "gpu/checkpoints/checkpoint_step_000050.pth"));
}

}  // namespace
}  // namespace vsr
