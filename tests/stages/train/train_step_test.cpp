// The train_step stage, driven by hand with a tiny VSRNet (8 channels, 1 block, x2, 3 frames)
// on 8x8 LR micro-batches: gradient accumulation, non-finite steps, what a snapshot carries,
// the order of micro-batches.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "common/errors.h"
#include "runtime/data/pixels.h"
#include "runtime/model/model.h"
#include "runtime/model/optim.h"
#include "runtime/outputs/checkpoint.h"
#include "stages/data/messages.h"
#include "stages/train/messages.h"
#include "stages/train/train_step.h"
#include "tests/stages/harness.h"
#include "tests/support/temp_dir.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr int kFrames = 3;
constexpr int kScale = 2;
constexpr int kLr = 8;  // LR side; GT is kLr * kScale
constexpr int kSeed = 3;

// A tiny model's params; `extra` is merged in (nested groups member by member).
json train_params(const json& extra = json::object()) {
  json p = {{"model", {{"base_channels", 8}, {"num_blocks", 1}}},
            {"optim", {{"learning_rate", 1e-4}}},
            {"scale", kScale},
            {"frames", kFrames},
            {"total_steps", 3},
            {"device", "cpu"},
            {"threads", 1},
            {"seed", kSeed},
            {"val_interval", 1000},
            {"checkpoint_interval", 1000}};
  p.merge_patch(extra);
  return p;
}

// `samples` LR stacks [samples, T, 3, 8, 8] and their GT [samples, 3, 16, 16], from `seed`.
struct Samples {
  at::Tensor lr, gt;
};
Samples samples(int samples, std::uint64_t seed) {
  torch::manual_seed(seed);
  Samples s;
  s.lr = torch::rand({samples, kFrames, 3, kLr, kLr});
  s.gt = torch::rand({samples, 3, kLr * kScale, kLr * kScale});
  return s;
}

Message micro_batch(std::int64_t seq, std::int64_t step, int micro, int accum, at::Tensor lr,
                    at::Tensor gt) {
  auto mb = std::make_shared<MicroBatch>();
  mb->seq = seq;
  mb->step = step;
  mb->micro = micro;
  mb->accum = accum;
  mb->format = "small_540";
  mb->lr = std::move(lr);
  mb->gt = std::move(gt);
  return Message::of<MicroBatch>(mb);
}

// What the stage emitted, by port.
struct Emitted {
  std::vector<std::shared_ptr<const StepEvent>> events;
  std::vector<std::shared_ptr<const ModelSnapshot>> snapshots;
};
Emitted split_ports(const testing::CapturingEmitter& out) {
  Emitted e;
  for (const auto& [port, m] : out.messages) {
    if (port == 0) e.events.push_back(m.as<StepEvent>());
    if (port == 1) e.snapshots.push_back(m.as<ModelSnapshot>());
  }
  return e;
}

// Expects b to hold a's names and shapes, each tensor close to a's: elementwise
// |b - a| <= rtol |a| + atol, or, with atol < 0, in norm: ||b - a|| <= rtol ||a||.
void expect_close(const NamedTensors& a, const NamedTensors& b, double rtol, double atol) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto& [name, expected] = a[i];
    ASSERT_EQ(b[i].first, name);
    ASSERT_EQ(b[i].second.sizes(), expected.sizes()) << name;
    const at::Tensor diff = b[i].second - expected;
    if (atol < 0) {
      EXPECT_LE(diff.norm().item<double>(), rtol * expected.norm().item<double>()) << name;
    } else {
      EXPECT_TRUE(at::allclose(b[i].second, expected, rtol, atol))
          << name << ": max |diff| " << diff.abs().max().item<double>();
    }
  }
}

// The largest elementwise |a - b| over lists of the same names and shapes.
double largest_difference(const NamedTensors& a, const NamedTensors& b) {
  EXPECT_EQ(a.size(), b.size());
  double out = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    out = std::max(out, (a[i].second - b[i].second).abs().max().item<double>());
  }
  return out;
}

std::vector<std::string> names_of(const NamedTensors& tensors) {
  std::vector<std::string> out;
  for (const auto& [name, t] : tensors) out.push_back(name);
  return out;
}

// The stage's network as its open() builds it: the same seed, the same initial weights.
VSRNet initial_net() {
  torch::manual_seed(kSeed);
  return VSRNet(VSRNetOptions().base_channels(8).num_blocks(1).scale(kScale).frames(kFrames));
}

// The loss of the initial network, computed outside the stage.
double initial_loss(const at::Tensor& lr, const at::Tensor& gt) {
  VSRNet net = initial_net();
  torch::NoGradGuard no_grad;
  return compute_loss(LossKind::kCharbonnier, net->forward(lr), gt).item<double>();
}

TEST(TrainStepStage, TwoMicroBatchesOfTwoStepLikeOneOfFour) {
  // Three steps, so that every weight has had a gradient (the last upsampling conv starts at
  // zero: in the first step only it gets one).
  std::vector<Samples> data;
  for (int step = 0; step < 3; ++step) data.push_back(samples(4, 10 + step));
  auto whole = testing::make_stage("train_step", train_params());
  auto halves = testing::make_stage("train_step", train_params());
  testing::CapturingEmitter whole_out, halves_out;
  whole->open();
  for (int step = 0; step < 3; ++step) {
    whole->process(0, micro_batch(step, step, 0, 1, data[step].lr, data[step].gt), whole_out);
  }
  halves->open();
  for (int step = 0; step < 3; ++step) {
    for (int micro = 0; micro < 2; ++micro) {
      const auto part = torch::indexing::Slice(2 * micro, 2 * micro + 2);
      halves->process(0,
                      micro_batch(2 * step + micro, step, micro, 2, data[step].lr.index({part}),
                                  data[step].gt.index({part})),
                      halves_out);
    }
  }
  const Emitted a = split_ports(whole_out), b = split_ports(halves_out);
  ASSERT_EQ(a.events.size(), 3u);
  ASSERT_EQ(b.events.size(), 3u);  // one per step, not per micro-batch
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE("step " + std::to_string(i + 1));
    EXPECT_EQ(b.events[i]->step, i + 1);
    EXPECT_EQ(b.events[i]->samples, 4);
    EXPECT_FALSE(b.events[i]->skipped);
    EXPECT_NEAR(b.events[i]->loss, a.events[i]->loss, 1e-6 * a.events[i]->loss);
    // The gradient itself, not only its direction: each half's loss was divided by 2.
    EXPECT_NEAR(b.events[i]->grad_norm, a.events[i]->grad_norm, 1e-4 * a.events[i]->grad_norm);
    EXPECT_GT(a.events[i]->grad_norm, 0);
    EXPECT_DOUBLE_EQ(b.events[i]->lr, a.events[i]->lr);
  }
  // The first step's loss is the mean of the halves' losses under the initial weights.
  const auto first = torch::indexing::Slice(0, 2), second = torch::indexing::Slice(2, 4);
  const double half1 = initial_loss(data[0].lr.index({first}), data[0].gt.index({first}));
  const double half2 = initial_loss(data[0].lr.index({second}), data[0].gt.index({second}));
  EXPECT_NE(half1, half2);
  EXPECT_NEAR(b.events[0]->loss, (half1 + half2) / 2, 1e-6 * half1);
  EXPECT_NEAR(a.events[0]->loss, initial_loss(data[0].lr, data[0].gt), 1e-6 * half1);

  ASSERT_EQ(a.snapshots.size(), 1u);  // the last step
  ASSERT_EQ(b.snapshots.size(), 1u);
  // Weights to 1e-5 relative, or 1e-7 absolute (a thousandth of one step's move at lr 1e-4:
  // Adam divides gradients near zero by their own size, so their rounding shows); Adam's
  // moments, which scale with the gradient, to 1e-5 in norm.
  expect_close(a.snapshots[0]->model, b.snapshots[0]->model, 1e-5, /*atol=*/1e-7);
  expect_close(a.snapshots[0]->optimizer_state, b.snapshots[0]->optimizer_state, 1e-5,
               /*atol=*/-1);
  // And training moved the weights, so the comparison above means something.
  NamedTensors start;
  for (const auto& p : initial_net()->named_parameters()) start.emplace_back(p.key(), p.value());
  EXPECT_GT(largest_difference(a.snapshots[0]->model, start), 1e-4);
}

TEST(TrainStepStage, NonFiniteStepsAreSkippedAndTenInARowStopTheRun) {
  auto stage = testing::make_stage(
      "train_step",
      train_params({{"total_steps", 100}, {"val_interval", 1}, {"optim", {{"ema_decay", 0.5}}}}));
  stage->open();
  testing::CapturingEmitter out;
  const Samples good = samples(2, 1);
  // A NaN in the GT: the loss and every gradient are NaN.
  Samples bad = samples(2, 2);
  bad.gt.index_put_({0, 1, 2, 3}, std::nan(""));
  // A NaN in the LR stack goes through the flow network into the sampling grid, which crashed
  // LibTorch 1.13's CPU grid_sample backward (pytorch/pytorch#24823) until flow_warp guarded
  // its grid: the later bad steps use such a stack.
  Samples bad_lr = samples(2, 3);
  bad_lr.lr.index_put_({0, 0, 0, 1, 1}, std::nan(""));
  stage->process(0, micro_batch(0, 0, 0, 1, good.lr, good.gt), out);
  stage->process(0, micro_batch(1, 1, 0, 1, bad.lr, bad.gt), out);
  const Emitted first = split_ports(out);
  ASSERT_EQ(first.events.size(), 2u);
  ASSERT_EQ(first.snapshots.size(), 2u);  // val_interval 1: before and after the bad step
  EXPECT_FALSE(first.events[0]->skipped);
  EXPECT_TRUE(first.events[1]->skipped);
  EXPECT_EQ(first.events[1]->step, 2);
  EXPECT_TRUE(std::isnan(first.events[1]->loss));
  const ModelSnapshot& before = *first.snapshots[0];
  const ModelSnapshot& after = *first.snapshots[1];
  ASSERT_EQ(after.model.size(), before.model.size());
  for (std::size_t i = 0; i < before.model.size(); ++i) {
    EXPECT_TRUE(at::equal(after.model[i].second, before.model[i].second)) << before.model[i].first;
    EXPECT_TRUE(at::equal(after.ema[i].second, before.ema[i].second)) << before.ema[i].first;
  }
  ASSERT_EQ(after.optimizer_state.size(), before.optimizer_state.size());
  for (std::size_t i = 0; i < before.optimizer_state.size(); ++i) {
    EXPECT_TRUE(at::equal(after.optimizer_state[i].second, before.optimizer_state[i].second))
        << before.optimizer_state[i].first;
  }

  // Steps 2..10 are skipped; the tenth non-finite step in a row (step 11) ends the run: its
  // snapshot is a checkpoint of the last good weights, later input is dropped, and close()
  // (once the graph has drained, so the checkpoint is written) throws the advice.
  for (std::int64_t seq = 2; seq <= 9; ++seq) {
    stage->process(0, micro_batch(seq, seq, 0, 1, bad_lr.lr, bad_lr.gt), out);
  }
  EXPECT_TRUE(split_ports(out).events.back()->skipped);
  EXPECT_EQ(split_ports(out).events.back()->step, 10);
  stage->process(0, micro_batch(10, 10, 0, 1, bad_lr.lr, bad_lr.gt), out);
  const Emitted last = split_ports(out);
  const ModelSnapshot& saved = *last.snapshots.back();
  EXPECT_EQ(saved.step, 11);
  EXPECT_TRUE(saved.checkpoint);
  EXPECT_FALSE(saved.validate);
  EXPECT_EQ(saved.nonfinite_streak, 0);  // a resumed run starts a new count
  for (std::size_t i = 0; i < before.model.size(); ++i) {
    EXPECT_TRUE(at::equal(saved.model[i].second, before.model[i].second)) << before.model[i].first;
  }
  const std::size_t events = last.events.size();
  stage->process(0, micro_batch(11, 11, 0, 1, good.lr, good.gt), out);
  EXPECT_EQ(split_ports(out).events.size(), events);  // dropped
  try {
    stage->close(true);
    FAIL() << "expected RunError";
  } catch (const RunError& e) {
    EXPECT_THAT(e.what(), HasSubstr("not finite for 10 steps in a row (steps 2-11)"));
    EXPECT_THAT(e.what(), HasSubstr("the last good state is saved as checkpoint_step_000011.pth"));
    EXPECT_THAT(e.what(), HasSubstr("TRAINING.learning_rate"));
    EXPECT_THAT(e.what(), HasSubstr("--resume"));
  }
}

void expect_same_tensors(const CheckpointData::Named& a, const CheckpointData::Named& b,
                         const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first) << what;
    EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << what << " " << a[i].first;
  }
}

TEST(TrainStepStage, ResumedFromAStepCheckpointItTrainsBitForBitLikeTheStraightRun) {
  const json params = train_params({{"total_steps", 5},
                                    {"checkpoint_interval", 2},
                                    {"optim", {{"ema_decay", 0.9}, {"warmup_steps", 2}}}});
  auto feed = [](Stage& stage, testing::CapturingEmitter& out, int from, int to) {
    for (int step = from, seq = 0; step < to; ++step, ++seq) {
      const Samples s = samples(2, 40 + step);  // the same data for a step in both runs
      stage.process(0, micro_batch(seq, step, 0, 1, s.lr, s.gt), out);
    }
  };
  auto straight = testing::make_stage("train_step", params);
  straight->open();
  testing::CapturingEmitter a;
  feed(*straight, a, 0, 5);
  const Emitted ea = split_ports(a);
  ASSERT_EQ(ea.snapshots.front()->step, 2);
  const fs::path file = fs::path(::testing::TempDir()) / "resume_unit_step2.pth";
  save_checkpoint(file, *ea.snapshots.front());

  json resumed_params = params;
  resumed_params["model"]["resume"] = file.string();
  auto resumed = testing::make_stage("train_step", resumed_params);
  resumed->open();
  testing::CapturingEmitter b;
  feed(*resumed, b, 2, 5);
  const Emitted eb = split_ports(b);
  ASSERT_EQ(eb.events.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(eb.events[i]->step, ea.events[i + 2]->step);
    EXPECT_EQ(eb.events[i]->loss, ea.events[i + 2]->loss) << "step " << eb.events[i]->step;
    EXPECT_EQ(eb.events[i]->lr, ea.events[i + 2]->lr);
  }
  const ModelSnapshot& x = *ea.snapshots.back();
  const ModelSnapshot& y = *eb.snapshots.back();
  ASSERT_EQ(y.step, 5);
  expect_same_tensors(x.model, y.model, "model");
  expect_same_tensors(x.ema, y.ema, "ema");
  expect_same_tensors(x.optimizer_state, y.optimizer_state, "optimizer");

  // A run whose first micro-batch is not the checkpoint's next step is refused.
  auto wrong = testing::make_stage("train_step", resumed_params);
  wrong->open();
  testing::CapturingEmitter c;
  try {
    feed(*wrong, c, 0, 1);
    FAIL() << "expected RunError";
  } catch (const RunError& e) {
    EXPECT_THAT(e.what(), HasSubstr("continues from step 2"));
  }
}

TEST(TrainStepStage, AStopRequestSavesTheStepThatFinishesAndDropsTheRest) {
  std::atomic<bool> stop{false};
  testing::CapturingEmitter out;
  auto stage = testing::make_stage("train_step", train_params({{"total_steps", 100}}), &stop);
  stage->open();
  const Samples s = samples(2, 7);
  stage->process(0, micro_batch(0, 0, 0, 2, s.lr, s.gt), out);
  stop = true;  // between the two micro-batches of step 1
  stage->process(0, micro_batch(1, 0, 1, 2, s.lr, s.gt), out);
  stage->process(0, micro_batch(2, 1, 0, 2, s.lr, s.gt), out);
  stage->process(0, micro_batch(3, 1, 1, 2, s.lr, s.gt), out);
  const Emitted e = split_ports(out);
  ASSERT_EQ(e.events.size(), 1u);  // step 2 was dropped
  ASSERT_EQ(e.snapshots.size(), 1u);
  EXPECT_EQ(e.snapshots[0]->step, 1);
  EXPECT_TRUE(e.snapshots[0]->checkpoint);
  EXPECT_FALSE(e.snapshots[0]->validate);
  EXPECT_FALSE(e.snapshots[0]->final);
  EXPECT_NO_THROW(stage->close(true));
}

TEST(TrainStepStage, ASpentTimeBudgetEndsTheRunAtThatStepAsTheLastOne) {
  std::atomic<bool> stop{false}, finish{false};
  testing::CapturingEmitter out;
  // Budget 0.3 s, cosine over it (floor 0.1 x lr): the first step sees almost the full rate;
  // after 0.35 s the step ends the run, validated and saved as the last, at the floor.
  auto stage = testing::make_stage(
      "train_step",
      train_params({{"total_steps", 100},
                    {"time_budget_minutes", 0.3 / 60},
                    {"optim", {{"learning_rate", 1e-3}, {"min_lr_ratio", 0.1}}}}),
      &stop, &finish);
  stage->open();
  const Samples s = samples(2, 7);
  stage->process(0, micro_batch(0, 0, 0, 1, s.lr, s.gt), out);
  EXPECT_FALSE(finish);
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  stage->process(0, micro_batch(1, 1, 0, 1, s.lr, s.gt), out);
  EXPECT_TRUE(finish);
  EXPECT_FALSE(stop);  // the end of the run, not a stop: the run exits 0
  stage->process(0, micro_batch(2, 2, 0, 1, s.lr, s.gt), out);  // made ahead: dropped
  const Emitted e = split_ports(out);
  ASSERT_EQ(e.events.size(), 2u);
  EXPECT_GT(e.events[0]->lr, 9e-4);
  EXPECT_GT(e.events[0]->time_left_s, 0.1);
  EXPECT_FALSE(e.events[0]->final);
  EXPECT_NEAR(e.events[1]->lr, 1e-4, 1e-12);
  EXPECT_EQ(e.events[1]->time_left_s, 0);
  EXPECT_TRUE(e.events[1]->final);
  ASSERT_EQ(e.snapshots.size(), 1u);
  EXPECT_EQ(e.snapshots[0]->step, 2);
  EXPECT_TRUE(e.snapshots[0]->final);
  EXPECT_TRUE(e.snapshots[0]->validate);
  EXPECT_TRUE(e.snapshots[0]->checkpoint);
  EXPECT_GE(e.snapshots[0]->train_time_s, 0.35);
  EXPECT_LT(e.snapshots[0]->train_time_s, 30);
  EXPECT_NO_THROW(stage->close(true));
}

TEST(TrainStepStage, AResumedRunContinuesItsTimeBudget) {
  const fs::path dir = testing::fresh_dir("vsr_train_step_budget");
  const Samples s = samples(2, 7);
  CheckpointData c;
  {
    testing::CapturingEmitter out;
    auto stage = testing::make_stage("train_step", train_params({{"total_steps", 1}}));
    stage->open();
    stage->process(0, micro_batch(0, 0, 0, 1, s.lr, s.gt), out);
    c = *split_ports(out).snapshots.at(0);
  }
  c.train_time_s = 100;  // as if step 1 had taken 100 s
  save_checkpoint(dir / "ckpt.pth", c);
  EXPECT_DOUBLE_EQ(load_checkpoint(dir / "ckpt.pth").train_time_s, 100);
  // Budget 100.3 s with 100 s spent: the first step resumed is 99.7% through the schedule, the
  // one 0.35 s later ends the run.
  testing::CapturingEmitter out;
  auto stage = testing::make_stage(
      "train_step", train_params({{"total_steps", 100},
                                  {"time_budget_minutes", 100.3 / 60},
                                  {"model", {{"resume", (dir / "ckpt.pth").string()}}}}));
  stage->open();
  stage->process(0, micro_batch(0, 1, 0, 1, s.lr, s.gt), out);
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  stage->process(0, micro_batch(1, 2, 0, 1, s.lr, s.gt), out);
  const Emitted e = split_ports(out);
  ASSERT_EQ(e.events.size(), 2u);
  EXPECT_FALSE(e.events[0]->final);
  EXPECT_GT(e.events[0]->time_left_s, 0.05);
  EXPECT_LT(e.events[0]->time_left_s, 0.3);
  EXPECT_TRUE(e.events[1]->final);
  ASSERT_EQ(e.snapshots.size(), 1u);
  EXPECT_EQ(e.snapshots[0]->step, 3);
  EXPECT_GE(e.snapshots[0]->train_time_s, 100.3);
  // A checkpoint that has used the whole budget has nothing left to train.
  c.train_time_s = 200;
  save_checkpoint(dir / "spent.pth", c);
  auto spent = testing::make_stage(
      "train_step", train_params({{"total_steps", 100},
                                  {"time_budget_minutes", 2.5},
                                  {"model", {{"resume", (dir / "spent.pth").string()}}}}));
  try {
    spent->open();
    FAIL() << "expected an error";
  } catch (const std::exception& err) {
    EXPECT_THAT(err.what(), HasSubstr("the checkpoint has trained 3.3 min and the run's time "
                                      "budget is 2.5 min: nothing left to train"));
  }
}

TEST(TrainStepStage, SnapshotsCarryTheStepItsPurposeTheArchitectureAndTheTrainingState) {
  // total_steps 4, val_interval 2, checkpoint_interval 3: snapshots after steps 2 (validate),
  // 3 (checkpoint) and 4 (the last: both, and final).
  auto stage = testing::make_stage("train_step", train_params({{"total_steps", 4},
                                                               {"val_interval", 2},
                                                               {"checkpoint_interval", 3},
                                                               {"optim", {{"ema_decay", 0.9}}}}));
  stage->open();
  testing::CapturingEmitter out;
  for (int step = 0; step < 4; ++step) {
    const Samples s = samples(2, 20 + step);
    stage->process(0, micro_batch(step, step, 0, 1, s.lr, s.gt), out);
  }
  const Emitted e = split_ports(out);
  ASSERT_EQ(e.events.size(), 4u);
  ASSERT_EQ(e.snapshots.size(), 3u);
  struct Expected {
    std::int64_t step;
    bool validate, checkpoint, final;
  };
  const Expected expected[] = {
      {2, true, false, false}, {3, false, true, false}, {4, true, true, true}};
  const auto params = initial_net()->named_parameters();
  for (std::size_t k = 0; k < 3; ++k) {
    const ModelSnapshot& s = *e.snapshots[k];
    SCOPED_TRACE("snapshot of step " + std::to_string(s.step));
    EXPECT_EQ(s.step, expected[k].step);
    EXPECT_EQ(s.total_steps, 4);
    EXPECT_EQ(s.validate, expected[k].validate);
    EXPECT_EQ(s.checkpoint, expected[k].checkpoint);
    EXPECT_EQ(s.final, expected[k].final);
    EXPECT_EQ(s.base_channels, 8);
    EXPECT_EQ(s.num_blocks, 1);
    EXPECT_EQ(s.scale, kScale);
    EXPECT_EQ(s.frames, kFrames);
    EXPECT_EQ(s.optimizer_type, "adam");
    EXPECT_DOUBLE_EQ(s.learning_rate, e.events[s.step - 1]->lr);
    // The network's names and shapes, in its order, for the model and the EMA.
    ASSERT_EQ(s.model.size(), params.size());
    ASSERT_EQ(s.ema.size(), params.size());
    for (std::size_t i = 0; i < params.size(); ++i) {
      EXPECT_EQ(s.model[i].first, params[i].key());
      EXPECT_EQ(s.model[i].second.sizes(), params[i].value().sizes()) << params[i].key();
      EXPECT_EQ(s.ema[i].first, params[i].key());
      EXPECT_EQ(s.ema[i].second.sizes(), params[i].value().sizes()) << params[i].key();
    }
    EXPECT_EQ(s.param_names, names_of(s.model));
    // Adam's state of every parameter, by index: moments of its shape and the step count.
    std::map<std::string, at::Tensor> state(s.optimizer_state.begin(), s.optimizer_state.end());
    EXPECT_EQ(state.size(), 3 * params.size());
    for (std::size_t i = 0; i < params.size(); ++i) {
      const std::string prefix = "state." + std::to_string(i) + ".";
      ASSERT_TRUE(state.count(prefix + "exp_avg")) << prefix;
      ASSERT_TRUE(state.count(prefix + "exp_avg_sq")) << prefix;
      ASSERT_TRUE(state.count(prefix + "step")) << prefix;
      EXPECT_EQ(state[prefix + "exp_avg"].sizes(), params[i].value().sizes());
      EXPECT_EQ(state[prefix + "exp_avg_sq"].sizes(), params[i].value().sizes());
      EXPECT_EQ(state[prefix + "step"].item<double>(), static_cast<double>(s.step));
    }
  }
  // The EMA trails the weights: after four steps it is not the model.
  EXPECT_GT(largest_difference(e.snapshots[2]->ema, e.snapshots[2]->model), 1e-5);
}

TEST(TrainStepStage, SnapshotsHaveNoEmaWithoutItAndStateOnlyForTrainedParams) {
  // adamw, EMA off, the flow network frozen for the whole (one-step) run.
  auto stage = testing::make_stage(
      "train_step", train_params({{"total_steps", 1},
                                  {"model", {{"flow_freeze_steps", 1}}},
                                  {"optim", {{"optimizer", "adamw"}, {"ema_decay", 0.0}}}}));
  stage->open();
  testing::CapturingEmitter out;
  const Samples s = samples(2, 5);
  stage->process(0, micro_batch(0, 0, 0, 1, s.lr, s.gt), out);
  const Emitted e = split_ports(out);
  ASSERT_EQ(e.snapshots.size(), 1u);
  const ModelSnapshot& snap = *e.snapshots[0];
  EXPECT_TRUE(snap.final);
  EXPECT_TRUE(snap.validate);
  EXPECT_TRUE(snap.checkpoint);
  EXPECT_EQ(snap.optimizer_type, "adamw");
  EXPECT_TRUE(snap.ema.empty());
  ASSERT_FALSE(snap.model.empty());
  EXPECT_EQ(snap.param_names, names_of(snap.model));
  std::map<std::string, at::Tensor> state(snap.optimizer_state.begin(), snap.optimizer_state.end());
  std::size_t flow = 0;
  for (std::size_t i = 0; i < snap.param_names.size(); ++i) {
    const std::string prefix = "state." + std::to_string(i) + ".";
    const bool frozen = snap.param_names[i].rfind("flow.", 0) == 0;
    flow += frozen;
    for (const char* entry : {"exp_avg", "exp_avg_sq", "step"}) {
      EXPECT_EQ(state.count(prefix + entry), frozen ? 0u : 1u)
          << snap.param_names[i] << " " << entry;
    }
  }
  EXPECT_GT(flow, 0u);
  EXPECT_EQ(state.size(), 3 * (snap.param_names.size() - flow));
}

TEST(TrainStepStage, MicroBatchesOutOfOrderNameTheExpectedSeq) {
  auto stage = testing::make_stage("train_step", train_params());
  stage->open();
  testing::CapturingEmitter out;
  const Samples s = samples(1, 7);
  stage->process(0, micro_batch(0, 0, 0, 2, s.lr, s.gt), out);
  try {
    stage->process(0, micro_batch(2, 1, 0, 2, s.lr, s.gt), out);
    FAIL() << "expected RunError";
  } catch (const RunError& e) {
    EXPECT_THAT(e.what(), HasSubstr("micro-batch 2 arrived, expected 1"));
    EXPECT_THAT(e.what(), HasSubstr("in order"));
  }
  EXPECT_TRUE(out.messages.empty());  // the step was never completed

  auto fresh = testing::make_stage("train_step", train_params());
  fresh->open();
  try {
    fresh->process(0, micro_batch(1, 0, 0, 1, s.lr, s.gt), out);
    FAIL() << "expected RunError";
  } catch (const RunError& e) {
    EXPECT_THAT(e.what(), HasSubstr("micro-batch 1 arrived, expected 0"));
  }
}

// Trains `steps` steps of one micro-batch each from `lr`/`gt` ([steps * 2, ...]) and returns
// what the stage emitted.
Emitted train(json extra, const at::Tensor& lr, const at::Tensor& gt, int steps) {
  auto stage = testing::make_stage("train_step", train_params(extra));
  testing::CapturingEmitter out;
  stage->open();
  for (int step = 0; step < steps; ++step) {
    const auto part = torch::indexing::Slice(2 * step, 2 * step + 2);
    stage->process(0, micro_batch(step, step, 0, 1, lr.index({part}), gt.index({part})), out);
  }
  return split_ports(out);
}

// The GPU data path on the CPU: raw 8-bit BGR micro-batches, converted inside train_step,
// train exactly as the float ones the CPU path gets.
TEST(TrainStepStage, RawPixelMicroBatchesTrainExactlyLikeFloatOnes) {
  torch::manual_seed(5);
  const at::Tensor lr_raw = torch::randint(0, 256, {6, kFrames, kLr, kLr, 3}).to(at::kByte);
  const at::Tensor gt_raw =
      torch::randint(0, 256, {6, kLr * kScale, kLr * kScale, 3}).to(at::kByte);
  const Emitted raw = train(json::object(), lr_raw, gt_raw, 3);
  const Emitted as_float =
      train(json::object(), raw_to_float_rgb(lr_raw), raw_to_float_rgb(gt_raw), 3);
  ASSERT_EQ(raw.events.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(raw.events[i]->loss, as_float.events[i]->loss) << "step " << i + 1;
    EXPECT_EQ(raw.events[i]->grad_norm, as_float.events[i]->grad_norm) << "step " << i + 1;
  }
  ASSERT_EQ(raw.snapshots.size(), 1u);
  EXPECT_EQ(largest_difference(raw.snapshots[0]->model, as_float.snapshots[0]->model), 0.0);
}

// channels_last changes the layout, not the numbers; snapshots stay contiguous (NCHW).
TEST(TrainStepStage, ChannelsLastTrainsLikeTheDefaultLayout) {
  const Samples data = samples(6, 21);
  const Emitted nhwc = train({{"model", {{"channels_last", "on"}}}}, data.lr, data.gt, 3);
  const Emitted nchw = train({{"model", {{"channels_last", "off"}}}}, data.lr, data.gt, 3);
  ASSERT_EQ(nhwc.events.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(nhwc.events[i]->loss, nchw.events[i]->loss, 1e-5 * nchw.events[i]->loss);
  }
  ASSERT_EQ(nhwc.snapshots.size(), 1u);
  expect_close(nchw.snapshots[0]->model, nhwc.snapshots[0]->model, 1e-4, /*atol=*/1e-6);
  for (const auto& [name, t] : nhwc.snapshots[0]->model) EXPECT_TRUE(t.is_contiguous()) << name;
  for (const auto& [name, t] : nhwc.snapshots[0]->optimizer_state) {
    EXPECT_TRUE(t.is_contiguous()) << name;
  }
}

TEST(TrainStepStage, StepEventsCarryThePeakMemory) {
  const Samples data = samples(2, 4);
  const Emitted e = train(json::object(), data.lr, data.gt, 1);
  ASSERT_EQ(e.events.size(), 1u);
  EXPECT_FALSE(e.events[0]->memory_on_device);  // the CPU: the process' peak resident set
  EXPECT_GT(e.events[0]->peak_memory_bytes, 10 << 20);
}

// A micro-batch far too large for memory (a view: it costs nothing until the model copies it)
// ends the run with the advice, not LibTorch's allocator message alone.
TEST(TrainStepStage, AnOutOfMemoryErrorEndsTheRunWithAdvice) {
  auto stage = testing::make_stage("train_step", train_params());
  testing::CapturingEmitter out;
  stage->open();
  const std::int64_t huge = std::int64_t{1} << 32;
  const at::Tensor lr = at::zeros({1, kFrames, 3, kLr, kLr}).expand({huge, kFrames, 3, kLr, kLr});
  const at::Tensor gt = at::zeros({1, 3, 2 * kLr, 2 * kLr}).expand({huge, 3, 2 * kLr, 2 * kLr});
  try {
    stage->process(0, micro_batch(0, 0, 0, 1, lr, gt), out);
    ADD_FAILURE() << "no error";
  } catch (const RunError& e) {
    EXPECT_THAT(e.what(), HasSubstr("out of memory on cpu at step 1, format small_540 "
                                    "(batch_size " +
                                    std::to_string(huge) + ", gradient_accumulation 1): "));
    EXPECT_THAT(e.what(), HasSubstr("DefaultCPUAllocator"));  // LibTorch's first line
    EXPECT_THAT(e.what(), ::testing::Not(HasSubstr("Exception raised from")));
    EXPECT_THAT(e.what(), HasSubstr("MODEL.use_checkpointing: true"));
  }
}

TEST(TrainStepStage, OutOfMemoryIsAnsweredWithTheStepTheFormatAndWhatToChange) {
  const std::string text = out_of_memory_message(
      {12, "small_540", 4, 1, false, "cuda:0", "CUDA out of memory. Tried to allocate 2.00 GiB"});
  EXPECT_THAT(text, HasSubstr("out of memory on cuda:0 at step 12, format small_540 (batch_size "
                              "4, gradient_accumulation 1): CUDA out of memory. Tried to "
                              "allocate 2.00 GiB"));
  EXPECT_THAT(text, HasSubstr("lower TRAINING.batch_size.small_540 (now 4, e.g. 2) and raise "
                              "TRAINING.gradient_accumulation.small_540 (now 1, e.g. 2)"));
  EXPECT_THAT(text, HasSubstr("set MODEL.use_checkpointing: true"));
  EXPECT_THAT(text, HasSubstr("lower VALIDATION.tile"));
  EXPECT_THAT(text, HasSubstr("Checkpoints written so far are intact."));
  const std::string at_one =
      out_of_memory_message({3, "large_720", 1, 4, true, "cuda:1", "out of memory"});
  EXPECT_THAT(at_one, HasSubstr("TRAINING.batch_size.large_720 is already 1"));
  EXPECT_THAT(at_one, ::testing::Not(HasSubstr("use_checkpointing")));
}

}  // namespace
}  // namespace vsr
