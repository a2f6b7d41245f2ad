#include "runtime/model/model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <torch/torch.h>
#include <tuple>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "common/errors.h"
#include "runtime/model/checkpoint_grad.h"
#include "runtime/model/device.h"
#include "runtime/model/optim.h"

namespace vsr {
namespace {

namespace F = torch::nn::functional;

VSRNetOptions tiny(int64_t frames, int64_t scale, bool checkpointing = false) {
  return VSRNetOptions()
      .base_channels(4)
      .num_blocks(1)
      .scale(scale)
      .frames(frames)
      .use_checkpointing(checkpointing);
}

// Moves every weight off its initial value, so gradients reach every parameter (the
// zero-initialised last convs otherwise block them).
void perturb(VSRNet& model) {
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.05);
}

torch::Tensor bicubic_centre(const torch::Tensor& lr, int64_t scale) {
  const auto centre = lr.select(1, lr.size(1) / 2);
  return F::interpolate(centre,
                        F::InterpolateFuncOptions()
                            .size(std::vector<int64_t>{lr.size(3) * scale, lr.size(4) * scale})
                            .mode(torch::kBicubic)
                            .align_corners(false));
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

TEST(ModelTest, OutputShapesForFramesAndScales) {
  torch::manual_seed(0);
  struct Case {
    int64_t frames, scale, h, w;
  };
  for (const Case& c :
       {Case{5, 3, 12, 12}, Case{7, 3, 12, 12}, Case{5, 2, 12, 12}, Case{7, 2, 12, 12},
        Case{5, 4, 12, 12}, Case{7, 4, 12, 12}, Case{5, 3, 15, 16}, Case{3, 3, 9, 7}}) {
    VSRNet model(tiny(c.frames, c.scale));
    const auto out = model(torch::rand({2, c.frames, 3, c.h, c.w}));
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 3, c.h * c.scale, c.w * c.scale}))
        << "T=" << c.frames << " scale=" << c.scale << " " << c.h << "x" << c.w;
  }
}

TEST(ModelTest, UntrainedOutputIsBicubicOfCentre) {
  torch::manual_seed(1);
  for (int64_t frames : {5, 7}) {
    VSRNet model(tiny(frames, 3));
    const auto lr = torch::rand({2, frames, 3, 12, 12});
    EXPECT_LT(max_abs_diff(model(lr), bicubic_centre(lr, 3)), 1e-5);
  }
  VSRNet odd(tiny(5, 3));
  const auto lr = torch::rand({1, 5, 3, 15, 16});
  EXPECT_LT(max_abs_diff(odd(lr), bicubic_centre(lr, 3)), 1e-5);
}

TEST(ModelTest, OddSizeTrainsThroughPaddedFlow) {
  torch::manual_seed(2);
  VSRNet model(tiny(5, 3));
  perturb(model);
  const auto lr = torch::rand({1, 5, 3, 15, 16});
  const auto out = model(lr);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{1, 3, 45, 48}));
  charbonnier_loss(out, torch::rand_like(out)).backward();
  for (const auto& p : model->flow_parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());
  }
}

TEST(ModelTest, StateDictNamesAreStable) {
  VSRNet model(tiny(5, 3).num_blocks(2));
  std::set<std::string> names;
  for (const auto& item : model->named_parameters()) names.insert(item.key());
  for (const char* expected :
       {"feat.conv.weight", "feat.blocks.0.conv1.weight", "feat.blocks.1.conv2.bias",
        "flow.level.0.conv1.weight", "flow.level.2.conv4.bias", "backward.fuse.weight",
        "backward.blocks.1.conv1.weight", "forward.fuse.bias", "forward.blocks.0.conv2.weight",
        "recon.fuse.weight", "recon.blocks.1.conv2.weight", "upsample.conv.weight",
        "upsample.last.weight", "upsample.last.bias"}) {
    EXPECT_EQ(names.count(expected), 1u) << expected;
  }
  for (const auto& name : names) {
    EXPECT_THAT(name,
                testing::MatchesRegex("(feat|flow|backward|forward|recon|upsample)\\.[a-z0-9.]+"));
  }
  EXPECT_TRUE(model->named_buffers().is_empty());
  const auto flow = model->flow_parameters();
  const auto other = model->other_parameters();
  EXPECT_EQ(flow.size() + other.size(), model->parameters().size());
  EXPECT_EQ(flow.size(), static_cast<size_t>(kFlowLevels * 4 * 2));
}

TEST(ModelTest, RejectsBadOptionsAndInputs) {
  EXPECT_THROW(VSRNet(tiny(4, 3)), ConfigError);
  EXPECT_THROW(VSRNet(tiny(1, 3)), ConfigError);
  EXPECT_THROW(VSRNet(tiny(5, 5)), ConfigError);
  VSRNet model(tiny(5, 3));
  EXPECT_THROW(model(torch::rand({1, 7, 3, 12, 12})), std::invalid_argument);
  EXPECT_THROW(model(torch::rand({5, 3, 12, 12})), std::invalid_argument);
}

TEST(ModelTest, FlowWarpShiftsByThePixelFlow) {
  const auto x = torch::arange(48, torch::kFloat).view({1, 1, 6, 8});
  EXPECT_LT(max_abs_diff(flow_warp(x, torch::zeros({1, 2, 6, 8})), x), 1e-5);
  auto flow = torch::zeros({1, 2, 6, 8});
  flow.select(1, 0).fill_(1.0);  // sample one pixel to the right
  const auto warped = flow_warp(x, flow);
  using torch::indexing::Slice;
  EXPECT_LT(max_abs_diff(warped.index({Slice(), Slice(), Slice(), Slice(0, 7)}),
                         x.index({Slice(), Slice(), Slice(), Slice(1, 8)})),
            1e-5);
}

TEST(ModelTest, GradientAccumulationMatchesOneBatch) {
  torch::manual_seed(3);
  VSRNet model(tiny(5, 3));
  perturb(model);
  const auto lr = torch::rand({4, 5, 3, 12, 12});
  const auto gt = torch::rand({4, 3, 36, 36});
  using torch::indexing::Slice;

  charbonnier_loss(model(lr), gt).backward();
  std::vector<torch::Tensor> full;
  for (auto& p : model->parameters()) {
    full.push_back(p.grad().clone());
    p.mutable_grad() = torch::Tensor();
  }
  const int accumulation = 2;
  for (int m = 0; m < accumulation; ++m) {
    const auto part = Slice(2 * m, 2 * m + 2);
    (charbonnier_loss(model(lr.index({part})), gt.index({part})) / accumulation).backward();
  }
  const auto params = model->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_LT(max_abs_diff(params[i].grad(), full[i]), 1e-5) << i;
  }
}

// Copies `from`'s weights into `to` (same architecture).
void copy_weights(VSRNet& from, VSRNet& to) {
  torch::NoGradGuard no_grad;
  const auto src = from->named_parameters();
  for (auto& item : to->named_parameters()) item.value().copy_(src[item.key()]);
}

// Counts the checkpoint nodes in the autograd graph behind `t`.
int count_checkpoint_nodes(const torch::Tensor& t) {
  std::set<torch::autograd::Node*> seen;
  std::vector<torch::autograd::Node*> todo{t.grad_fn().get()};
  int count = 0;
  while (!todo.empty()) {
    auto* node = todo.back();
    todo.pop_back();
    if (node == nullptr || !seen.insert(node).second) continue;
    if (node->name().find("CheckpointFunction") != std::string::npos) ++count;
    for (const auto& edge : node->next_edges()) todo.push_back(edge.function.get());
  }
  return count;
}

TEST(ModelTest, Bf16AutocastForwardBackwardRunsOnCpu) {
  torch::manual_seed(4);
  VSRNet plain(tiny(5, 3).base_channels(8));
  perturb(plain);
  VSRNet ckpt(tiny(5, 3, /*checkpointing=*/true).base_channels(8));
  copy_weights(plain, ckpt);
  const auto lr = torch::rand({2, 5, 3, 12, 12});
  const auto gt = torch::rand({2, 3, 36, 36});
  for (VSRNet* model : {&plain, &ckpt}) {
    torch::Tensor loss;
    {
      AutocastGuard autocast(torch::kCPU, Precision::kBf16);
      EXPECT_TRUE(current_autocast_state().cpu_enabled);
      const auto out = (*model)(lr);
      EXPECT_EQ(out.scalar_type(), torch::kFloat);
      loss = charbonnier_loss(out, gt);
    }
    EXPECT_FALSE(current_autocast_state().cpu_enabled);
    loss.backward();  // outside autocast, as in training
    EXPECT_TRUE(std::isfinite(loss.item<double>()));
    for (const auto& p : (*model)->parameters()) {
      ASSERT_TRUE(p.grad().defined());
      EXPECT_EQ(p.grad().scalar_type(), torch::kFloat);
      EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());
    }
  }
  // The recomputation in backward runs under the forward's bf16 autocast, so the
  // checkpointed gradients match the plain bf16 ones (an fp32 recompute would not).
  const auto a = plain->named_parameters();
  for (const auto& item : ckpt->named_parameters()) {
    EXPECT_LT(max_abs_diff(item.value().grad(), a[item.key()].grad()), 1e-5) << item.key();
  }
}

// Two bf16 training steps; the recompute in a checkpointed backward must not leave stale
// bf16 weight casts behind for the next step's forward.
std::vector<double> bf16_losses(bool checkpointing) {
  torch::manual_seed(8);
  VSRNet model(tiny(5, 3, checkpointing).base_channels(8));
  perturb(model);
  OptimizerConfig config;
  config.lr = 1e-2;
  auto optimizer = make_optimizer(config, model->other_parameters(), model->flow_parameters());
  const auto lr = torch::rand({2, 5, 3, 12, 12});
  const auto gt = torch::rand({2, 3, 36, 36});
  std::vector<double> losses;
  for (int step = 0; step < 3; ++step) {
    optimizer->zero_grad();
    torch::Tensor loss;
    {
      AutocastGuard autocast(torch::kCPU, Precision::kBf16);
      loss = charbonnier_loss(model(lr), gt);
    }
    loss.backward();
    optimizer->step();
    losses.push_back(loss.item<double>());
  }
  return losses;
}

TEST(CheckpointTest, Bf16TrainingMatchesPlainOverSteps) {
  const auto plain = bf16_losses(false);
  const auto ckpt = bf16_losses(true);
  // Not bit-identical: plain autograd sums a reused block's bf16 weight gradients in bf16,
  // the checkpointed path per use in fp32. Stale casts showed up as differences of 1e-2.
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_NEAR(plain[i], ckpt[i], 1e-4) << i;
}

TEST(ModelTest, TinyModelOverfitsOneBatch) {
  torch::manual_seed(5);
  VSRNet model(VSRNetOptions().base_channels(8).num_blocks(1).scale(2).frames(5));
  // A smooth HR target with more contrast than its LR frames: bicubic alone misses it.
  const auto hr = F::interpolate(torch::rand({2, 3, 6, 6}), F::InterpolateFuncOptions()
                                                                .size(std::vector<int64_t>{24, 24})
                                                                .mode(torch::kBilinear)
                                                                .align_corners(false));
  const auto gt = 1.5 * hr - 0.25;
  const auto frame = F::avg_pool2d(hr, F::AvgPool2dFuncOptions(2));
  const auto lr = frame.unsqueeze(1).expand({2, 5, 3, 12, 12}).contiguous();
  OptimizerConfig config;
  config.lr = 5e-3;
  auto optimizer = make_optimizer(config, model->other_parameters(), model->flow_parameters());
  double first = 0.0, last = 0.0;
  int steps = 0;
  for (; steps < 500; ++steps) {
    optimizer->zero_grad();
    auto loss = charbonnier_loss(model(lr), gt);
    loss.backward();
    optimizer->step();
    last = loss.item<double>();
    if (steps == 0) first = last;
    if (last < first / 10.0) break;
  }
  EXPECT_LT(last, first / 10.0) << "after " << steps << " steps, first loss " << first;
  RecordProperty("steps_to_10x", steps);
}

std::vector<double> train_losses(uint64_t seed) {
  torch::manual_seed(seed);
  VSRNet model(tiny(5, 3));
  auto optimizer = make_optimizer({}, model->other_parameters(), model->flow_parameters());
  std::vector<double> losses;
  for (int step = 0; step < 4; ++step) {
    const auto lr = torch::rand({2, 5, 3, 12, 12});
    const auto gt = torch::rand({2, 3, 36, 36});
    optimizer->zero_grad();
    auto loss = charbonnier_loss(model(lr), gt);
    loss.backward();
    clip_grad_norm(model->parameters(), 1.0);
    optimizer->step();
    losses.push_back(loss.item<double>());
  }
  return losses;
}

TEST(ModelTest, ParameterCountIsThatOfTheBuiltNetwork) {
  for (const auto& [c, n, s] :
       std::vector<std::tuple<int, int, int>>{{8, 1, 2}, {16, 2, 3}, {24, 0, 4}}) {
    VSRNet net(VSRNetOptions().base_channels(c).num_blocks(n).scale(s).frames(5));
    std::int64_t built = 0;
    for (const auto& p : net->parameters()) built += p.numel();
    EXPECT_EQ(parameter_count(net->options()), built) << c << " " << n << " " << s;
  }
  // The demo's model.
  EXPECT_EQ(parameter_count(VSRNetOptions().base_channels(16).num_blocks(2).scale(3)), 212105);
}

TEST(ModelTest, SameSeedSameLosses) {
  const auto a = train_losses(42);
  EXPECT_EQ(a, train_losses(42));
  EXPECT_NE(a, train_losses(43));
}

TEST(CheckpointTest, CheckpointedModelHasSameGradients) {
  torch::manual_seed(6);
  VSRNet plain(tiny(7, 3).num_blocks(2));
  perturb(plain);
  VSRNet ckpt(tiny(7, 3, /*checkpointing=*/true).num_blocks(2));
  copy_weights(plain, ckpt);
  const auto lr = torch::rand({2, 7, 3, 12, 12});
  const auto gt = torch::rand({2, 3, 36, 36});
  const auto out_plain = plain(lr);
  const auto out_ckpt = ckpt(lr);
  EXPECT_LT(max_abs_diff(out_plain, out_ckpt), 1e-6);
  // Feat frame by frame (7), the flow estimator, the 3 + 3 propagation steps and recon.
  EXPECT_EQ(count_checkpoint_nodes(out_ckpt), 15);
  EXPECT_EQ(count_checkpoint_nodes(out_plain), 0);
  charbonnier_loss(out_plain, gt).backward();
  charbonnier_loss(out_ckpt, gt).backward();
  const auto a = plain->named_parameters();
  for (const auto& item : ckpt->named_parameters()) {
    ASSERT_TRUE(item.value().grad().defined()) << item.key();
    EXPECT_LT(max_abs_diff(item.value().grad(), a[item.key()].grad()), 1e-5) << item.key();
  }
}

TEST(CheckpointTest, AFrozenFlowEstimatorGetsNoGradientsWhenCheckpointed) {
  torch::manual_seed(8);
  VSRNet plain(tiny(5, 2).num_blocks(1));
  perturb(plain);
  VSRNet ckpt(tiny(5, 2, /*checkpointing=*/true).num_blocks(1));
  copy_weights(plain, ckpt);
  const auto lr = torch::rand({1, 5, 3, 10, 9});
  const auto gt = torch::rand({1, 3, 20, 18});
  for (VSRNet* model : {&plain, &ckpt}) {
    set_frozen((*model)->flow_parameters(), true);
    charbonnier_loss((*model)(lr), gt).backward();
    for (const auto& p : (*model)->flow_parameters()) EXPECT_FALSE(p.grad().defined());
  }
  const auto a = plain->named_parameters();
  for (const auto& item : ckpt->named_parameters()) {
    if (item.key().rfind("flow.", 0) == 0) continue;
    ASSERT_TRUE(item.value().grad().defined()) << item.key();
    EXPECT_LT(max_abs_diff(item.value().grad(), a[item.key()].grad()), 1e-5) << item.key();
  }
}

TEST(CheckpointTest, FunctionReturnsInputGradAndAccumulatesParamGrads) {
  torch::manual_seed(7);
  auto w = torch::randn({4, 4}, torch::requires_grad());
  const BlockFn block = [w](const torch::Tensor& t) { return torch::tanh(t.matmul(w)).pow(2); };
  auto x1 = torch::randn({3, 4}, torch::requires_grad());
  auto x2 = x1.detach().clone().requires_grad_(true);

  block(x1).sum().backward();
  const auto w_grad = w.grad().clone();
  w.mutable_grad() = torch::Tensor();
  auto y = checkpoint(block, x2);
  EXPECT_TRUE(y.requires_grad());
  y.sum().backward();
  EXPECT_LT(max_abs_diff(x1.grad(), x2.grad()), 1e-6);
  EXPECT_LT(max_abs_diff(w_grad, w.grad()), 1e-6);

  torch::NoGradGuard no_grad;  // no graph: a plain call
  EXPECT_FALSE(checkpoint(block, x2).requires_grad());
}

}  // namespace
}  // namespace vsr

namespace vsr {
namespace {

TEST(ModelTest, LoadNamedWeightsChecksNamesAndShapes) {
  torch::nn::Linear a(3, 2), b(3, 2);
  std::vector<std::pair<std::string, torch::Tensor>> w;
  for (const auto& p : a->named_parameters()) w.emplace_back(p.key(), p.value().detach());
  w.emplace_back("extra", torch::zeros({1}));
  load_named_weights(*b, w, "ctx:", /*allow_unknown=*/true);
  EXPECT_TRUE(torch::equal(a->weight, b->weight));
  try {
    load_named_weights(*b, w, "ctx:");
    FAIL() << "an unknown name must be an error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("ctx: unknown extra;"));
  }
  w = {{"weight", torch::zeros({2, 4})}};
  try {
    load_named_weights(*b, w, "ctx:");
    FAIL() << "a missing and a misshapen name must be errors";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("missing bias;"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("wrong shape weight (model [2, 3], given [2, 4])"));
  }
}

}  // namespace
}  // namespace vsr
