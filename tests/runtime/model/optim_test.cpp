#include "runtime/model/optim.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <vector>

#include "common/errors.h"

namespace vsr {
namespace {

TEST(OptimLossTest, CharbonnierAndL1) {
  const auto a = torch::tensor({0.0f, 1.0f, 2.0f, 3.0f});
  const auto b = torch::tensor({0.0f, 1.0f, 4.0f, 0.0f});
  EXPECT_NEAR(charbonnier_loss(a, a).item<double>(), 1e-3, 1e-9);
  const double expected = (2 * 1e-3 + std::sqrt(4.0 + 1e-6) + std::sqrt(9.0 + 1e-6)) / 4.0;
  EXPECT_NEAR(charbonnier_loss(a, b).item<double>(), expected, 1e-6);
  EXPECT_NEAR(vsr::l1_loss(a, b).item<double>(), 5.0 / 4.0, 1e-6);
  EXPECT_NEAR(compute_loss(LossKind::kL1, a, b).item<double>(), 1.25, 1e-6);
  EXPECT_EQ(parse_loss("charbonnier"), LossKind::kCharbonnier);
  EXPECT_EQ(parse_loss("L1"), LossKind::kL1);
  try {
    parse_loss("l2");
    FAIL() << "no throw";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), testing::HasSubstr("expected charbonnier or l1, found 'l2'"));
  }
  const auto bf = a.to(torch::kBFloat16);
  EXPECT_EQ(charbonnier_loss(bf, b).scalar_type(), torch::kFloat);
}

TEST(OptimScheduleTest, WarmupThenCosineToFloor) {
  LrSchedule s;
  s.lr = 1e-3;
  s.warmup_steps = 10;
  s.total_steps = 110;
  s.min_lr_ratio = 0.1;
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 0), 1e-4);
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 4), 5e-4);
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 9), 1e-3);
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 10), 1e-3);
  EXPECT_NEAR(learning_rate_at(s, 60), 5.5e-4, 1e-12);
  EXPECT_NEAR(learning_rate_at(s, 35), 1e-4 + 9e-4 * 0.5 * (1 + std::cos(M_PI / 4)), 1e-12);
  EXPECT_NEAR(learning_rate_at(s, 110), 1e-4, 1e-12);
  EXPECT_NEAR(learning_rate_at(s, 500), 1e-4, 1e-12);
  for (int64_t step = 10; step < 110; ++step) {
    EXPECT_GE(learning_rate_at(s, step), learning_rate_at(s, step + 1)) << step;
  }
  s.warmup_steps = 0;
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 0), 1e-3);
}

TEST(OptimScheduleTest, ATimeBudgetDecaysByWhicheverLimitComesFirst) {
  LrSchedule s;
  s.lr = 1e-3;
  s.warmup_steps = 10;
  s.total_steps = 1010;
  s.min_lr_ratio = 0.1;
  s.time_budget_s = 600;
  // Warm-up counts steps whatever the clock says.
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 4, 500.0), 5e-4);
  // Time ahead of the steps: half the budget gone after a tenth of the steps is mid-decay.
  EXPECT_NEAR(learning_rate_at(s, 110, 300.0), 5.5e-4, 1e-12);
  EXPECT_NEAR(learning_rate_at(s, 110, 600.0), 1e-4, 1e-12);
  EXPECT_NEAR(learning_rate_at(s, 110, 9000.0), 1e-4, 1e-12);
  // Steps ahead of the time: the step count decides, as without a budget.
  EXPECT_NEAR(learning_rate_at(s, 510, 60.0), 5.5e-4, 1e-12);
  EXPECT_NEAR(learning_rate_at(s, 510, 60.0), learning_rate_at(s, 510), 1e-15);
  // No budget: the clock is ignored.
  s.time_budget_s = 0;
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 110, 600.0), learning_rate_at(s, 110));
  // Constant stays constant.
  s.time_budget_s = 600;
  s.kind = ScheduleKind::kConstant;
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 110, 599.0), 1e-3);
}

TEST(OptimScheduleTest, ConstantKeepsLrAfterWarmup) {
  LrSchedule s;
  s.lr = 2e-4;
  s.warmup_steps = 4;
  s.total_steps = 100;
  s.min_lr_ratio = 0.5;
  s.kind = parse_schedule("constant");
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 1), 1e-4);
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 3), 2e-4);
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 99), 2e-4);
  EXPECT_DOUBLE_EQ(learning_rate_at(s, 1000), 2e-4);
  EXPECT_EQ(parse_schedule("cosine"), ScheduleKind::kCosine);
  EXPECT_THROW(parse_schedule("step"), ConfigError);
}

TEST(OptimOptimizerTest, TwoGroupsWithFlowMultiplier) {
  torch::manual_seed(0);
  auto a = torch::randn({3}, torch::requires_grad());
  auto f = torch::randn({2}, torch::requires_grad());
  OptimizerConfig config;
  config.kind = parse_optimizer("AdamW");
  config.lr = 1e-2;
  config.flow_lr_mult = 0.25;
  config.weight_decay = 0.01;
  auto opt = make_optimizer(config, {a}, {f});
  EXPECT_NE(dynamic_cast<torch::optim::AdamW*>(opt.get()), nullptr);
  ASSERT_EQ(opt->param_groups().size(), 2u);
  EXPECT_DOUBLE_EQ(learning_rate(*opt, 0), 1e-2);
  EXPECT_DOUBLE_EQ(learning_rate(*opt, 1), 2.5e-3);
  const auto& o = static_cast<const torch::optim::AdamWOptions&>(opt->param_groups()[1].options());
  EXPECT_DOUBLE_EQ(std::get<1>(o.betas()), 0.99);
  EXPECT_DOUBLE_EQ(o.weight_decay(), 0.01);
  set_learning_rate(*opt, 4e-3, 0.5);
  EXPECT_DOUBLE_EQ(learning_rate(*opt, 0), 4e-3);
  EXPECT_DOUBLE_EQ(learning_rate(*opt, 1), 2e-3);

  // Adam's first step moves every coordinate by lr (sign of the gradient).
  config.kind = OptimizerKind::kAdam;
  config.weight_decay = 0.0;
  auto adam = make_optimizer(config, {a}, {f});
  EXPECT_NE(dynamic_cast<torch::optim::Adam*>(adam.get()), nullptr);
  const auto a0 = a.detach().clone(), f0 = f.detach().clone();
  (a.sum() + f.sum()).backward();
  adam->step();
  EXPECT_TRUE(torch::allclose(a0 - a.detach(), torch::full({3}, 1e-2), 1e-4, 1e-7));
  EXPECT_TRUE(torch::allclose(f0 - f.detach(), torch::full({2}, 2.5e-3), 1e-4, 1e-7));
  EXPECT_THROW(parse_optimizer("sgd"), ConfigError);
}

TEST(OptimOptimizerTest, FrozenParametersDoNotMove) {
  auto a = torch::ones({2}, torch::requires_grad());
  auto f = torch::ones({2}, torch::requires_grad());
  auto opt = make_optimizer({}, {a}, {f});
  set_frozen({f}, true);
  EXPECT_FALSE(f.requires_grad());
  (a * 2).sum().backward();
  opt->step();
  EXPECT_TRUE(torch::equal(f, torch::ones({2})));
  EXPECT_FALSE(torch::equal(a.detach(), torch::ones({2})));
  set_frozen({f}, false);
  EXPECT_TRUE(f.requires_grad());
}

TEST(OptimClipTest, ReturnsTotalNormAndClips) {
  auto a = torch::zeros({2}, torch::requires_grad());
  auto b = torch::zeros({1}, torch::requires_grad());
  auto unused = torch::zeros({1}, torch::requires_grad());
  a.mutable_grad() = torch::tensor({3.0f, 0.0f});
  b.mutable_grad() = torch::tensor({4.0f});
  EXPECT_NEAR(clip_grad_norm({a, b, unused}, 0.0), 5.0, 1e-6);
  EXPECT_TRUE(torch::equal(a.grad(), torch::tensor({3.0f, 0.0f})));
  EXPECT_NEAR(clip_grad_norm({a, b, unused}, 10.0), 5.0, 1e-6);
  EXPECT_NEAR(clip_grad_norm({a, b, unused}, 1.0), 5.0, 1e-6);
  EXPECT_NEAR(a.grad()[0].item<double>(), 0.6, 1e-5);
  EXPECT_NEAR(b.grad()[0].item<double>(), 0.8, 1e-5);
  b.mutable_grad() = torch::tensor({std::numeric_limits<float>::infinity()});
  EXPECT_TRUE(std::isinf(clip_grad_norm({a, b}, 1.0)));
  EXPECT_NEAR(a.grad()[0].item<double>(), 0.6, 1e-5);
  EXPECT_EQ(clip_grad_norm({unused}, 1.0), 0.0);
}

TEST(OptimEmaTest, MovingAverageMath) {
  torch::nn::Linear model(torch::nn::LinearOptions(1, 1));
  {
    torch::NoGradGuard no_grad;
    model->weight.fill_(0.0);
    model->bias.fill_(2.0);
  }
  Ema ema(*model, 0.9);
  EXPECT_EQ(ema.state().size(), 2u);
  {
    torch::NoGradGuard no_grad;
    model->weight.fill_(1.0);
  }
  ema.update(*model);
  EXPECT_NEAR(ema.state()["weight"].item<double>(), 0.1, 1e-7);
  ema.update(*model);
  EXPECT_NEAR(ema.state()["weight"].item<double>(), 0.19, 1e-7);
  EXPECT_NEAR(ema.state()["bias"].item<double>(), 2.0, 1e-7);
  EXPECT_EQ(ema.num_updates(), 2);

  torch::nn::Linear copy(torch::nn::LinearOptions(1, 1));
  ema.copy_to(*copy);
  EXPECT_NEAR(copy->weight.item<double>(), 0.19, 1e-7);
  EXPECT_NEAR(copy->bias.item<double>(), 2.0, 1e-7);
  EXPECT_NEAR(model->weight.item<double>(), 1.0, 1e-7);  // the live model is untouched

  auto state = ema.state();
  state["weight"] = torch::full({1, 1}, 0.5);
  ema.load(state);
  EXPECT_NEAR(ema.state()["weight"].item<double>(), 0.5, 1e-7);
  state["weight"] = torch::zeros({2});
  EXPECT_THROW(ema.load(state), std::invalid_argument);
  EXPECT_THROW(Ema(*model, 1.0), ConfigError);
}

TEST(OptimLossScalerTest, SkipsAndBacksOffOnInfThenGrows) {
  auto p = torch::zeros({2}, torch::requires_grad());
  auto opt = make_optimizer({}, {p}, {});
  LossScalerOptions options;
  options.init_scale = 8.0;
  options.growth_interval = 2;
  LossScaler scaler(options);
  EXPECT_DOUBLE_EQ(scaler.scale(torch::tensor(1.5)).item<double>(), 12.0);

  // Step 1: an inf gradient (injected) -> skipped, parameters untouched, scale halves.
  p.mutable_grad() = torch::tensor({1.0f, std::numeric_limits<float>::infinity()});
  EXPECT_FALSE(scaler.unscale({p}));
  EXPECT_TRUE(scaler.found_inf());
  EXPECT_FALSE(scaler.step(*opt));
  EXPECT_TRUE(torch::equal(p.detach(), torch::zeros({2})));
  scaler.update();
  EXPECT_DOUBLE_EQ(scaler.current_scale(), 4.0);
  EXPECT_EQ(scaler.growth_tracker(), 0);

  // Step 2: NaN through step() without an explicit unscale -> skipped too.
  p.mutable_grad() = torch::tensor({std::nanf(""), 1.0f});
  EXPECT_FALSE(scaler.step(*opt));
  scaler.update();
  EXPECT_DOUBLE_EQ(scaler.current_scale(), 2.0);

  // Steps 3 and 4: finite -> unscaled gradients, stepped; growth after 2 clean steps.
  for (int i = 0; i < 2; ++i) {
    p.mutable_grad() = torch::tensor({2.0f, -2.0f}) * scaler.current_scale();
    EXPECT_TRUE(scaler.unscale({p}));
    EXPECT_TRUE(scaler.unscale({p}));  // idempotent until update()
    EXPECT_TRUE(torch::allclose(p.grad(), torch::tensor({2.0f, -2.0f})));
    EXPECT_TRUE(scaler.step(*opt));
    scaler.update();
  }
  EXPECT_DOUBLE_EQ(scaler.current_scale(), 4.0);
  EXPECT_FALSE(torch::equal(p.detach(), torch::zeros({2})));

  LossScalerOptions off;
  off.enabled = false;
  LossScaler disabled(off);
  EXPECT_DOUBLE_EQ(disabled.current_scale(), 1.0);
  EXPECT_DOUBLE_EQ(disabled.scale(torch::tensor(1.5)).item<double>(), 1.5);
  p.mutable_grad() = torch::tensor({1.0f, 1.0f});
  EXPECT_TRUE(disabled.step(*opt));
  disabled.update();
  EXPECT_DOUBLE_EQ(disabled.current_scale(), 1.0);
}

TEST(OptimLossScalerTest, UnscaleBeforeClipSeesTrueGradients) {
  auto p = torch::zeros({2}, torch::requires_grad());
  LossScaler scaler;
  (scaler.scale(p.sum() * 0.5)).backward();  // true gradient 0.5 each
  EXPECT_TRUE(scaler.unscale({p}));
  EXPECT_NEAR(clip_grad_norm({p}, 0.0), std::sqrt(0.5), 1e-6);
}

}  // namespace
}  // namespace vsr
