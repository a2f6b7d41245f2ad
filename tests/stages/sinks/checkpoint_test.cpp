// The checkpoint sink: file names, keep_last, best.pth by validation PSNR in both orders.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/errors.h"
#include "runtime/outputs/checkpoint.h"
#include "stages/sinks/checkpoint.h"
#include "stages/train/messages.h"
#include "tests/stages/harness.h"
#include "tests/support/temp_dir.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using testing::fresh_dir;

// A snapshot whose single weight holds the step number, so a file tells which step it saved.
std::shared_ptr<const ModelSnapshot> snapshot(std::int64_t step, bool checkpoint, bool validate) {
  auto s = std::make_shared<ModelSnapshot>();
  s->step = step;
  s->total_steps = 100;
  s->checkpoint = checkpoint;
  s->validate = validate;
  s->base_channels = 4;
  s->num_blocks = 1;
  s->model = {{"conv.weight", at::full({2, 2}, static_cast<double>(step))},
              {"conv.bias", at::zeros({2})}};
  s->optimizer_state = {{"state.0.exp_avg", at::ones({2, 2})}};
  s->param_names = {"conv.weight", "conv.bias"};
  s->optimizer_type = "adamw";
  s->learning_rate = 1e-4;
  return s;
}

std::shared_ptr<const ValResult> result(std::int64_t step, double psnr) {
  auto r = std::make_shared<ValResult>();
  r->step = step;
  r->psnr = psnr;
  r->psnr_y = psnr + 1;
  r->ssim = 0.8;
  r->bicubic_psnr = 20;
  r->images = 2;
  return r;
}

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

double saved_step_value(const fs::path& file) {
  return load_checkpoint(file).model.at(0).second.flatten()[0].item<double>();
}

class CheckpointStageTest : public ::testing::Test {
 protected:
  void start(const fs::path& dir, int keep_last = 0) {
    stage_ = testing::make_stage(
        "checkpoint", {{"dir", dir.string()}, {"keep_last", keep_last}, {"config_text", "a: 1"}});
    stage_->open();
  }
  void send(std::shared_ptr<const ModelSnapshot> s) {
    stage_->process(0, Message::of<ModelSnapshot>(std::move(s)), out_);
  }
  void send(std::shared_ptr<const ValResult> r) {
    stage_->process(1, Message::of<ValResult>(std::move(r)), out_);
  }

  std::unique_ptr<Stage> stage_;
  testing::CapturingEmitter out_;
};

TEST_F(CheckpointStageTest, WritesSixDigitNamesOnCheckpointStepsOnly) {
  const fs::path dir = fresh_dir("vsr_ckpt_stage_names");
  start(dir);
  send(snapshot(5, /*checkpoint=*/true, /*validate=*/false));
  send(snapshot(6, /*checkpoint=*/false, /*validate=*/false));
  send(snapshot(1234567, /*checkpoint=*/true, /*validate=*/false));
  stage_->close(true);
  EXPECT_THAT(files_in(dir),
              ElementsAre("checkpoint_step_000005.pth", "checkpoint_step_1234567.pth"));
  const CheckpointData c = load_checkpoint(dir / "checkpoint_step_000005.pth");
  EXPECT_EQ(c.step, 5);
  EXPECT_EQ(c.config, "a: 1");
  EXPECT_EQ(c.base_channels, 4);
  EXPECT_EQ(c.optimizer_type, "adamw");
  EXPECT_EQ(c.param_names.size(), 2u);
  ASSERT_EQ(c.optimizer_state.size(), 1u);
  EXPECT_EQ(c.optimizer_state[0].first, "state.0.exp_avg");
  EXPECT_DOUBLE_EQ(saved_step_value(dir / "checkpoint_step_000005.pth"), 5);
  EXPECT_TRUE(out_.messages.empty());  // a sink
}

TEST_F(CheckpointStageTest, KeepLastDeletesOlderCheckpointsButNeverBest) {
  const fs::path dir = fresh_dir("vsr_ckpt_stage_keep");
  start(dir, /*keep_last=*/2);
  std::ofstream(dir / "notes.txt") << "mine";
  send(snapshot(10, true, true));
  send(result(10, 30.0));  // best.pth from step 10
  for (int step = 20; step <= 50; step += 10) send(snapshot(step, true, false));
  EXPECT_THAT(files_in(dir), ElementsAre("best.json", "best.pth", "checkpoint_step_000040.pth",
                                         "checkpoint_step_000050.pth", "notes.txt"));
  EXPECT_DOUBLE_EQ(saved_step_value(dir / "best.pth"), 10);
}

TEST_F(CheckpointStageTest, BestIsTheHighestPsnrWhicheverArrivesFirst) {
  const fs::path dir = fresh_dir("vsr_ckpt_stage_best");
  start(dir);
  // Snapshot first, then its result.
  send(snapshot(2, false, true));
  EXPECT_FALSE(fs::exists(dir / "best.pth"));
  send(result(2, 20.0));
  EXPECT_DOUBLE_EQ(saved_step_value(dir / "best.pth"), 2);
  // Result first, then the snapshot: better, so best.pth moves to step 4.
  send(result(4, 25.0));
  EXPECT_DOUBLE_EQ(saved_step_value(dir / "best.pth"), 2);
  send(snapshot(4, true, true));
  EXPECT_DOUBLE_EQ(saved_step_value(dir / "best.pth"), 4);
  // Worse: best.pth stays at step 4, in both orders.
  send(snapshot(6, false, true));
  send(result(6, 22.0));
  send(result(8, 24.9));
  send(snapshot(8, false, true));
  EXPECT_DOUBLE_EQ(saved_step_value(dir / "best.pth"), 4);
  stage_->close(true);

  EXPECT_THAT(files_in(dir),
              ElementsAre("best.json", "best.pth", "checkpoint_step_000004.pth"));  // no temps
  std::ifstream in(dir / "best.json");
  const auto best = nlohmann::json::parse(in);
  EXPECT_EQ(best.at("step"), 4);
  EXPECT_DOUBLE_EQ(best.at("psnr").get<double>(), 25.0);
  EXPECT_DOUBLE_EQ(best.at("psnr_y").get<double>(), 26.0);
  EXPECT_DOUBLE_EQ(best.at("bicubic_psnr").get<double>(), 20.0);
  EXPECT_EQ(load_checkpoint(dir / "best.pth").step, 4);
}

TEST_F(CheckpointStageTest, HeldSnapshotsAreReleasedAndBounded) {
  const fs::path dir = fresh_dir("vsr_ckpt_stage_bounded");
  start(dir);
  std::vector<std::weak_ptr<const ModelSnapshot>> sent;
  auto send_kept = [&](std::int64_t step) {
    auto s = snapshot(step, false, true);
    sent.push_back(s);
    send(std::move(s));
  };
  send_kept(1);
  EXPECT_FALSE(sent[0].expired());  // waits for its result
  send(result(1, 10.0));
  EXPECT_TRUE(sent[0].expired());  // matched, then dropped

  // Nothing validates: the stage keeps at most kMaxWaiting snapshots, the newest.
  for (int step = 2; step <= 11; ++step) send_kept(step);
  std::size_t alive = 0;
  for (const auto& w : sent) alive += !w.expired();
  EXPECT_EQ(alive, CheckpointStage::kMaxWaiting);
  EXPECT_FALSE(sent.back().expired());
}

TEST_F(CheckpointStageTest, AResumedRunKeepsTheBestSoFarAndStoresTheRunParams) {
  const fs::path dir = fresh_dir("vsr_ckpt_stage_resume");
  fs::create_directories(dir);
  // The earlier run: best 30 dB at step 4, its checkpoint of step 6.
  CheckpointData earlier = *snapshot(6, true, false);
  earlier.best_step = 4;
  earlier.best_psnr = 30.0;
  save_checkpoint(dir / "checkpoint_step_000006.pth", earlier);
  stage_ =
      testing::make_stage("checkpoint", {{"dir", dir.string()},
                                         {"resume", (dir / "checkpoint_step_000006.pth").string()},
                                         {"run_params", "{\"stages\": {}}"}});
  stage_->open();
  send(snapshot(8, true, true));
  send(result(8, 29.0));  // worse than the earlier run's best: no best.pth
  EXPECT_FALSE(fs::exists(dir / "best.pth"));
  const CheckpointData eight = load_checkpoint(dir / "checkpoint_step_000008.pth");
  EXPECT_EQ(eight.best_step, 4);
  EXPECT_DOUBLE_EQ(eight.best_psnr, 30.0);
  EXPECT_EQ(eight.run_params, "{\"stages\": {}}");
  send(snapshot(10, false, true));
  send(result(10, 31.0));
  EXPECT_EQ(load_checkpoint(dir / "best.pth").step, 10);
}

TEST(CheckpointStageSchema, AFolderWithCheckpointsOrWithoutRoomIsRefusedBeforeTheRun) {
  const fs::path dir = fresh_dir("vsr_ckpt_stage_world");
  auto problems = [&](const json& params) {
    const json doc = {{"version", 1},
                      {"stages", {{{"name", "c"}, {"type", "checkpoint"}, {"params", params}}}},
                      {"edges", json::array()}};
    std::string text;
    for (const auto& p : check_spec(doc, Registry::global(), nullptr)) {
      if (p.world) text += p.message + "\n";
    }
    return text;
  };
  EXPECT_EQ(problems({{"dir", dir.string()}, {"min_free_bytes", 1 << 20}}), "");
  EXPECT_THAT(problems({{"dir", dir.string()}, {"min_free_bytes", std::int64_t{1} << 60}}),
              HasSubstr("free, and a few checkpoints of this model need 1073741824.00 GiB; free "
                        "some space or train into another folder"));
  fs::create_directories(dir);
  save_checkpoint(dir / "checkpoint_step_000010.pth", *snapshot(10, true, false));
  EXPECT_THAT(problems({{"dir", dir.string()}}),
              HasSubstr("already holds checkpoints of an earlier run (1, the newest "
                        "checkpoint_step_000010.pth); continue that run with --resume auto"));
  EXPECT_EQ(
      problems({{"dir", dir.string()}, {"resume", (dir / "checkpoint_step_000010.pth").string()}}),
      "");
}

TEST(CheckpointStageSchema, DirIsRequired) {
  try {
    testing::make_stage("checkpoint", {{"keep_last", 1}});
    FAIL() << "expected SpecError";
  } catch (const SpecError& e) {
    EXPECT_THAT(e.what(), HasSubstr("dir"));
  }
}

}  // namespace
}  // namespace vsr
