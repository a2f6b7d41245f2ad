// A whole training run through the vsr_flow binary: the experiment tree, checkpoints that
// load, validation images, TensorBoard events, the console log; and a clean stop on SIGINT.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "runtime/model/device.h"
#include "runtime/model/model.h"
#include "runtime/outputs/checkpoint.h"
#include "runtime/outputs/tensorboard.h"
#include "tests/support/command.h"
#include "tests/support/mock_dataset.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

// The dataset at root_, the experiments and the logs next to it.
class TrainRun : public testing::MockDatasetSuite<TrainRun> {
 public:
  static constexpr const char* kDatasetName = "vsr_e2e_train";
  static testing::MockDatasetOptions dataset_options() {
    return {{"small_540"}, {7}, /*count=*/4, /*val_count=*/2, /*seed=*/9};
  }

 protected:
  // The demo config, shrunk to seconds.
  static std::string args(const std::string& name, int steps,
                          const std::vector<std::string>& extra = {}) {
    std::string a = std::string(VSR_SOURCE_DIR) + "/configs/demo.yaml";
    for (const std::string& set :
         {"DATA.data_root=" + root_.string(),
          "OUTPUT.experiments_root=" + (root_ / "experiments").string(),
          "OUTPUT.experiment_name=" + name, "TRAINING.total_steps=" + std::to_string(steps),
          std::string("TRAINING.batch_size.small_540=2"), std::string("TRAINING.warmup_steps=2"),
          std::string("DATA.augmentation.crop=48"), std::string("MODEL.base_channels=8"),
          std::string("MODEL.num_blocks=1"), std::string("VALIDATION.val_interval=4"),
          std::string("VALIDATION.num_images=1"), std::string("CHECKPOINT.checkpoint_interval=4"),
          std::string("CHECKPOINT.keep_last=2"), std::string("LOGGING.log_interval=2"),
          std::string("TRAINING.ema_decay=0.9")}) {
      a += " --set " + set;
    }
    for (const auto& set : extra) a += " --set " + set;
    return a;
  }
  // args() for the resume tests: validation (which does not change training) only every 12
  // steps, to keep them short.
  static std::string resume_args(const std::string& name, int steps,
                                 std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), "VALIDATION.val_interval=12");
    return args(name, steps, extra);
  }
  static fs::path checkpoints(const std::string& name) {
    return root_ / "experiments" / name / "checkpoints";
  }
  // A run of kSteps straight through, checkpoints every 4 steps, none removed: what resumed
  // runs are compared with. Run once for the suite.
  static constexpr int kSteps = 24;
  static const fs::path& straight() {
    static const fs::path dir = [] {
      // Per process: ctest runs each test in a process of its own, two at a time.
      const std::string name = "straight_" + std::to_string(::getpid());
      const testing::CommandResult r =
          testing::run_command(std::string(VSR_BINARY) + " run " +
                               resume_args(name, kSteps, {"CHECKPOINT.keep_last=0"}) + " 2>&1");
      EXPECT_EQ(r.code, 0) << r.out;
      return checkpoints(name);
    }();
    return dir;
  }
};

// The run's logged losses by step, from its TensorBoard files (the newest file wins a step).
std::map<std::int64_t, float> logged_losses(const fs::path& experiment) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(experiment / "tensorboard"))
    files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::map<std::int64_t, float> out;
  for (const auto& f : files) {
    for (const auto& r : read_event_file(f)) {
      if (r.tag == "train/loss") out[r.step] = r.scalar;
    }
  }
  return out;
}

void expect_same_weights(const fs::path& a, const fs::path& b) {
  const CheckpointData x = load_checkpoint(a), y = load_checkpoint(b);
  EXPECT_EQ(x.step, y.step);
  for (const auto* pair : {&x.model, &x.ema, &x.optimizer_state}) {
    const auto& other = pair == &x.model ? y.model : pair == &x.ema ? y.ema : y.optimizer_state;
    ASSERT_EQ(pair->size(), other.size());
    ASSERT_FALSE(pair->empty());
    for (std::size_t i = 0; i < pair->size(); ++i) {
      EXPECT_EQ((*pair)[i].first, other[i].first);
      EXPECT_TRUE(at::equal((*pair)[i].second, other[i].second))
          << (*pair)[i].first << " differs between " << a << " and " << b;
    }
  }
}

std::string file_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every checkpoint file of `dir` loads, and none under a final name is partial.
void expect_every_checkpoint_loads(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".pth") continue;
    EXPECT_NO_THROW(load_checkpoint(e.path())) << e.path();
  }
}

int run_binary(const std::string& args, std::string* output) {
  const testing::CommandResult r =
      testing::run_command(std::string(VSR_BINARY) + " " + args + " 2>&1");
  *output += r.out;
  return r.code;
}

TEST_F(TrainRun, WritesTheWholeExperimentTree) {
  std::string out;
  ASSERT_EQ(run_binary("run " + args("tiny", 12), &out), 0) << out;
  const fs::path dir = root_ / "experiments" / "tiny";
  EXPECT_THAT(out, HasSubstr("step 12/12"));
  EXPECT_THAT(out, HasSubstr("last validation (step 12): PSNR"));

  // Checkpoints: six-digit names, keep_last 2, best.pth; they load and fit the model.
  EXPECT_FALSE(fs::exists(dir / "checkpoints/checkpoint_step_000004.pth"));
  EXPECT_TRUE(fs::exists(dir / "checkpoints/checkpoint_step_000008.pth"));
  ASSERT_TRUE(fs::exists(dir / "checkpoints/checkpoint_step_000012.pth"));
  EXPECT_TRUE(fs::exists(dir / "checkpoints/best.pth"));
  for (const auto& e : fs::directory_iterator(dir / "checkpoints")) {
    EXPECT_THAT(e.path().filename().string(), ::testing::Not(HasSubstr(".tmp")));
  }
  const CheckpointData ckpt = load_checkpoint(dir / "checkpoints/checkpoint_step_000012.pth");
  EXPECT_EQ(ckpt.step, 12);
  EXPECT_THAT(ckpt.config, HasSubstr("base_channels: 16"));  // the YAML as written
  VSRNet net(VSRNetOptions().base_channels(8).num_blocks(1).frames(7).scale(3));
  const auto params = net->named_parameters();
  ASSERT_EQ(ckpt.model.size(), params.size());
  ASSERT_EQ(ckpt.ema.size(), params.size());
  for (const auto& [name, tensor] : ckpt.model) {
    ASSERT_NE(params.find(name), nullptr) << name;
    EXPECT_EQ(tensor.sizes(), params[name].sizes()) << name;
  }
  EXPECT_FALSE(ckpt.optimizer_state.empty());

  // Validation images at steps 4, 8 and 12: one pair each, the size of the Val/GT images.
  for (const char* step : {"step_000004", "step_000008", "step_000012"}) {
    const cv::Mat pred = cv::imread((dir / "validation_images" / step / "pred_000.png").string());
    const cv::Mat gt = cv::imread((dir / "validation_images" / step / "gt_000.png").string());
    ASSERT_FALSE(pred.empty()) << step;
    EXPECT_EQ(pred.size(), cv::Size(540, 540));
    EXPECT_EQ(gt.size(), pred.size());
    EXPECT_FALSE(fs::exists(dir / "validation_images" / step / "pred_001.png"));
    // Every validation image's metrics, also of those not saved.
    const std::string metrics = file_text(dir / "validation_images" / step / "metrics.json");
    EXPECT_THAT(metrics, HasSubstr("\"bicubic_psnr_y\""));
    EXPECT_EQ(nlohmann::json::parse(metrics).at("images").size(), 2u) << metrics;
  }

  // TensorBoard: a file_version event first, then the scalars, every CRC checked on read.
  fs::path events;
  for (const auto& e : fs::directory_iterator(dir / "tensorboard")) events = e.path();
  const auto records = read_event_file(events);
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records[0].file_version, "brain.Event:2");
  int losses = 0, vals = 0, images = 0;
  for (const auto& r : records) {
    if (r.tag == "train/loss") {
      ++losses;
      EXPECT_GT(r.scalar, 0);
      EXPECT_EQ(r.step % 2, 0);
    }
    if (r.tag == "val/psnr") {
      ++vals;
      EXPECT_GT(r.scalar, 20);
    }
    images += r.has_image;
  }
  EXPECT_EQ(losses, 6);
  EXPECT_EQ(vals, 3);
  EXPECT_GE(images, 3);

  // The config, the spec and the console log.
  EXPECT_TRUE(fs::exists(dir / "config.yaml"));
  EXPECT_TRUE(fs::exists(dir / "spec.json"));
  std::ifstream log(dir / "train.log");
  std::stringstream text;
  text << log.rdbuf();
  EXPECT_THAT(text.str(), HasSubstr("val step 12: PSNR"));
}

TEST_F(TrainRun, SigintSavesTheStepItFinishesAndResumeAutoEndsLikeTheStraightRun) {
  const fs::path log = root_ / "stop.log";
  const fs::path dir = checkpoints("stopped");
  testing::Child run(std::string(VSR_BINARY) + " run " + resume_args("stopped", kSteps) + " > " +
                     log.string() + " 2>&1");
  for (int i = 0; i < 6000 && file_text(log).find("step 4/") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_THAT(file_text(log), HasSubstr("step 4/")) << "no progress within a minute";
  run.signal(SIGINT);
  const std::optional<int> code = run.wait(std::chrono::seconds(60));
  ASSERT_TRUE(code.has_value()) << "did not stop within a minute";
  EXPECT_EQ(*code, 130) << file_text(log);
  EXPECT_THAT(file_text(log), HasSubstr("stopped on request"));
  EXPECT_THAT(file_text(log), HasSubstr("--resume auto"));
  for (const auto& e : fs::directory_iterator(dir)) {
    EXPECT_THAT(e.path().filename().string(), ::testing::Not(HasSubstr(".tmp")));
  }
  expect_every_checkpoint_loads(dir);
  // The step that finished after the signal is saved, whatever checkpoint_interval says.
  const auto saved = list_step_checkpoints(dir);
  ASSERT_FALSE(saved.empty());
  const std::int64_t stopped_at = saved.back().first;
  EXPECT_GE(stopped_at, 4);
  ASSERT_LT(stopped_at, kSteps) << "the run ended before the signal";

  // The same command with --resume auto finishes the run: the same losses after the stop and
  // the same weights, bit for bit, as the run that was never stopped.
  std::string out;
  ASSERT_EQ(run_binary("run " + resume_args("stopped", kSteps) + " --resume auto", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("resuming from " + saved.back().second.string() + " (step " +
                             std::to_string(stopped_at) + ")"));
  expect_same_weights(straight() / "checkpoint_step_000024.pth",
                      dir / "checkpoint_step_000024.pth");
  const auto a = logged_losses(straight().parent_path());
  const auto b = logged_losses(dir.parent_path());
  // (log_interval 2: a logged loss is the mean of two steps; from the first whole pair on)
  for (std::int64_t step = (stopped_at + 2) / 2 * 2 + 2; step <= kSteps; step += 2) {
    ASSERT_TRUE(a.count(step) && b.count(step)) << step;
    EXPECT_EQ(a.at(step), b.at(step)) << "loss of step " << step;
  }
  // The console log goes on in the same train.log.
  const std::string log_text = file_text(dir.parent_path() / "train.log");
  EXPECT_THAT(log_text, HasSubstr("stopped on request"));
  EXPECT_THAT(log_text, HasSubstr("step 24/24"));
}

TEST_F(TrainRun, DecodingBetweenMicroBatchesOrBesideThemTrainsTheSameWeights) {
  // TRAINING.pause_data only moves the decode in time: the weights are the same bits as the
  // straight run's (pause_data auto), with decode paused during each micro-batch and beside it.
  for (const std::string pause : {"on", "off"}) {
    std::string out;
    ASSERT_EQ(
        run_binary("run " + resume_args("pause_" + pause, kSteps, {"TRAINING.pause_data=" + pause}),
                   &out),
        0)
        << out;
    EXPECT_EQ(out.find("train_step: decode waits while each micro-batch computes "
                       "(TRAINING.pause_data on: cpu on ") != std::string::npos,
              pause == "on")
        << out;
    // The line goes where the console goes: into the run's train.log too.
    EXPECT_EQ(file_text(checkpoints("pause_" + pause).parent_path() / "train.log")
                      .find("train_step: decode waits while each micro-batch computes") !=
                  std::string::npos,
              pause == "on");
    expect_same_weights(straight() / "checkpoint_step_000024.pth",
                        checkpoints("pause_" + pause) / "checkpoint_step_000024.pth");
  }
}

TEST_F(TrainRun, MixedPrecisionAutoSaysWhatItPickedAndTrainsAsThatChoiceDoes) {
  // auto is bf16 on a CPU with AMX-BF16 and off on others: the same weights, bit for bit, as
  // the run that names the choice, and one line (also in train.log) that says why.
  const PrecisionChoice here = auto_precision(false, 0, 0, cpu_native_bf16());
  const std::string picked = precision_name(here.precision);
  const std::string line = "train_step: mixed_precision auto: " + picked + " (" + here.why + ")";
  for (const std::string& precision : {std::string("auto"), picked}) {
    std::string out;
    const std::string name = "precision_" + precision;
    ASSERT_EQ(
        run_binary("run " + resume_args(name, kSteps, {"TRAINING.mixed_precision=" + precision}),
                   &out),
        0)
        << out;
    EXPECT_EQ(out.find(line) != std::string::npos, precision == "auto") << out;
    // bf16 where auto picks it has nothing to warn about.
    EXPECT_THAT(out, Not(HasSubstr("train_step: warning: mixed_precision bf16")));
    EXPECT_EQ(
        file_text(checkpoints(name).parent_path() / "train.log").find(line) != std::string::npos,
        precision == "auto");
  }
  expect_same_weights(checkpoints("precision_auto") / "checkpoint_step_000024.pth",
                      checkpoints("precision_" + picked) / "checkpoint_step_000024.pth");
}

TEST_F(TrainRun, ResumeFromAPathContinuesInAnotherFolderAndHidesTheStaleTensorBoardSteps) {
  const fs::path from = straight() / "checkpoint_step_000008.pth";
  std::string out;
  ASSERT_EQ(
      run_binary("run " + resume_args("from_path", kSteps) + " --resume " + from.string(), &out), 0)
      << out;
  expect_same_weights(straight() / "checkpoint_step_000024.pth",
                      checkpoints("from_path") / "checkpoint_step_000024.pth");
  // Its event file starts with a SessionLog START at step 9: TensorBoard then drops what an
  // earlier file logged from step 9 on.
  fs::path events;
  for (const auto& e : fs::directory_iterator(root_ / "experiments/from_path/tensorboard")) {
    events = e.path();
  }
  const auto records = read_event_file(events);
  ASSERT_GE(records.size(), 2u);
  EXPECT_TRUE(records[1].session_start);
  EXPECT_EQ(records[1].step, 9);
}

TEST_F(TrainRun, ResumeRefusesAnotherNetworkAllowsMoreStepsAndStartsFreshWithoutCheckpoints) {
  fs::create_directories(checkpoints("extended"));
  fs::copy_file(straight() / "checkpoint_step_000024.pth",
                checkpoints("extended") / "checkpoint_step_000024.pth");
  std::string out;
  // Without --resume a folder with checkpoints is refused before anything runs.
  EXPECT_EQ(run_binary("run " + resume_args("extended", kSteps), &out), 2) << out;
  EXPECT_THAT(out, HasSubstr("already holds checkpoints of an earlier run (1, the newest "
                             "checkpoint_step_000024.pth); continue that run with --resume auto"));
  // Another network, scale or category: refused, listing each difference.
  out.clear();
  EXPECT_EQ(
      run_binary("run " + resume_args("extended", 30, {"MODEL.base_channels=12", "MODEL.scale=2"}) +
                     " --resume auto",
                 &out),
      2)
      << out;
  EXPECT_THAT(out, HasSubstr("does not fit this run:"));
  EXPECT_THAT(out, HasSubstr("MODEL.base_channels: 8 in the checkpoint, 12 now"));
  EXPECT_THAT(out, HasSubstr("MODEL.scale: 3 in the checkpoint, 2 now"));
  // A finished run resumed with the same config has nothing left to do.
  out.clear();
  EXPECT_EQ(run_binary("run " + resume_args("extended", kSteps) + " --resume auto", &out), 0)
      << out;
  EXPECT_THAT(out, HasSubstr("it is complete, nothing left to train"));
  // More steps and another validation interval: allowed, and said.
  out.clear();
  ASSERT_EQ(run_binary("run " + resume_args("extended", 28, {"VALIDATION.val_interval=6"}) +
                           " --resume auto",
                       &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("changed since the checkpoint (allowed)"));
  EXPECT_THAT(out, HasSubstr("TRAINING.total_steps: 24 -> 28"));
  EXPECT_THAT(out, HasSubstr("VALIDATION.val_interval: 12 -> 6"));
  EXPECT_TRUE(fs::exists(checkpoints("extended") / "checkpoint_step_000028.pth"));
  // --resume auto with no checkpoint yet trains from step 0.
  out.clear();
  ASSERT_EQ(run_binary("run " + resume_args("fresh_auto", 4) + " --resume auto", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("--resume auto: no checkpoint in"));
  EXPECT_THAT(out, HasSubstr("yet: training from step 0"));
}

TEST_F(TrainRun, ATimeBudgetEndsTheRunCompleteAndAResumedRunContinuesIt) {
  // 3 s of training and a step count it cannot reach: the budget ends the run, validated and
  // saved as its last step, exit 0. No warm-up: on a loaded CI machine 3 s may hold only a
  // step or two, and a run that ends inside its warm-up keeps the warm-up's rate.
  const std::vector<std::string> budget = {
      "VALIDATION.val_interval=100000", "CHECKPOINT.checkpoint_interval=100000",
      "TRAINING.warmup_steps=0", "TRAINING.time_budget_minutes=0.05"};
  std::string out;
  ASSERT_EQ(run_binary("run " + args("budget", 100000, budget), &out), 0) << out;
  EXPECT_THAT(out, Not(HasSubstr("stopped on request")));
  const auto saved = list_step_checkpoints(checkpoints("budget"));
  ASSERT_EQ(saved.size(), 1u) << out;
  const std::int64_t step = saved[0].first;
  EXPECT_GE(step, 1);
  EXPECT_THAT(out, HasSubstr("val step " + std::to_string(step) + ":"));
  EXPECT_TRUE(fs::exists(
      root_ / "experiments" / "budget" / "validation_images" /
      ("step_" + std::string(6 - std::to_string(step).size(), '0') + std::to_string(step)) /
      "metrics.json"));
  const CheckpointData c = load_checkpoint(saved[0].second);
  EXPECT_GE(c.train_time_s, 3.0);
  EXPECT_LT(c.train_time_s, 30.0);
  EXPECT_LT(c.learning_rate, 1e-5);  // the cosine reached its floor with the budget

  // Resumed with the same budget: nothing left.
  out.clear();
  ASSERT_EQ(run_binary("run " + args("budget", 100000, budget) + " --resume auto", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr(", and the run's time budget is 0.1 min: it is complete, nothing "
                             "left to train (raise TRAINING.time_budget_minutes"));
  // A larger budget trains on from the checkpoint's time: at least 3 s more than it holds (a
  // loaded machine may have overrun the 3 s by a slow last step, validation and the save).
  std::string more_minutes;
  for (const char* m : {"0.1", "0.15", "0.2", "0.3", "0.5", "1"}) {
    more_minutes = m;
    if (std::stod(more_minutes) * 60 >= c.train_time_s + 3.0) break;
  }
  out.clear();
  std::vector<std::string> more = budget;
  more.back() = "TRAINING.time_budget_minutes=" + more_minutes;
  ASSERT_EQ(run_binary("run " + args("budget", 100000, more) + " --resume auto", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("TRAINING.time_budget_minutes: 0.05 -> " + more_minutes));
  const auto after = list_step_checkpoints(checkpoints("budget"));
  ASSERT_FALSE(after.empty());
  EXPECT_GT(after.back().first, step);
  const CheckpointData d = load_checkpoint(after.back().second);
  EXPECT_GE(d.train_time_s, std::stod(more_minutes) * 60);
  EXPECT_LT(d.train_time_s, c.train_time_s + 60.0);
}

TEST_F(TrainRun, KilledAtRandomMomentsEveryCheckpointLoadsAndTheRerunCleansUp) {
  const fs::path dir = checkpoints("killed");
  const std::string run_args =
      "run " +
      resume_args("killed", kSteps,
                  {"CHECKPOINT.checkpoint_interval=1", "CHECKPOINT.keep_last=3"}) +
      " --resume auto";
  const std::string cmd =
      std::string(VSR_BINARY) + " " + run_args + " >> " + (root_ / "killed.log").string() + " 2>&1";
  std::mt19937 random(42);  // fixed, so a failure can be replayed
  std::uniform_int_distribution<int> delay_ms(300, 1500);
  int killed_running = 0;
  for (int round = 0; round < 6; ++round) {
    testing::Child run(cmd);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(random)));
    killed_running += run.running();
    run.signal(SIGKILL);
    ASSERT_TRUE(run.wait(std::chrono::seconds(30)).has_value());
    if (fs::exists(dir)) expect_every_checkpoint_loads(dir);
  }
  // A plant: what a write cut short leaves.
  fs::create_directories(dir);
  std::ofstream(dir / ".checkpoint_step_000099.pth.tmp.999999999.0") << "partial";
  std::string out;
  EXPECT_GE(killed_running, 4) << file_text(root_ / "killed.log");
  ASSERT_EQ(run_binary(run_args, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("left by an interrupted run"));
  expect_every_checkpoint_loads(dir);
  EXPECT_EQ(load_checkpoint(dir / "checkpoint_step_000024.pth").step, kSteps);
  for (const auto& e : fs::recursive_directory_iterator(dir.parent_path())) {
    EXPECT_THAT(e.path().filename().string(), ::testing::Not(HasSubstr(".tmp"))) << e.path();
  }
}

TEST_F(TrainRun, ABadSampleFailsTheRunOrIsReplacedUntilTooManyAreBad) {
  // A copy of the dataset with one truncated LR stack.
  const fs::path data = root_ / "bad_data";
  fs::remove_all(data);
  fs::create_directories(data);
  fs::copy(root_ / "Universal", data / "Universal", fs::copy_options::recursive);
  const fs::path bad = data / "Universal/Mastermodell/Learn/Patches/LR_7frames/0001.png";
  ASSERT_TRUE(fs::exists(bad));
  fs::resize_file(bad, 300);
  const std::string root_set = "DATA.data_root=" + data.string();

  std::string out;
  EXPECT_NE(run_binary("run " + resume_args("bad_fail", 8, {root_set}), &out), 0);
  EXPECT_THAT(out, HasSubstr("cannot read image " + bad.string()));

  out.clear();
  ASSERT_EQ(run_binary("run " + resume_args("bad_skip", 8,
                                            {root_set, "DATA.on_bad_sample=skip",
                                             "DATA.max_bad_fraction=0.5"}),
                       &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("replacing a bad sample (DATA.on_bad_sample: skip"));
  EXPECT_THAT(out, HasSubstr("samples were bad and replaced (1 file):\n  cannot read image " +
                             bad.string()));
  EXPECT_THAT(file_text(root_ / "experiments/bad_skip/train.log"),
              HasSubstr("samples were bad and replaced"));

  // The default max_bad_fraction (0.01 over at least 100 samples) ends it at the second.
  out.clear();
  EXPECT_NE(
      run_binary("run " + resume_args("bad_many", 8, {root_set, "DATA.on_bad_sample=skip"}), &out),
      0);
  EXPECT_THAT(out, HasSubstr("samples seen were bad, more than DATA.max_bad_fraction (0.01)"));
}

TEST_F(TrainRun, AFailedCheckpointWriteEndsTheRunNamingTheFileAndKeepsTheEarlierOnes) {
  // A folder where step 8's checkpoint goes: the rename onto it fails.
  fs::create_directories(checkpoints("write_fails") / "checkpoint_step_000008.pth");
  std::string out;
  EXPECT_NE(run_binary("run " + args("write_fails", 12, {"CHECKPOINT.keep_last=0"}), &out), 0);
  EXPECT_THAT(out, HasSubstr("cannot write " +
                             (checkpoints("write_fails") / "checkpoint_step_000008.pth").string()));
  EXPECT_THAT(out, HasSubstr("renaming"));
  EXPECT_EQ(load_checkpoint(checkpoints("write_fails") / "checkpoint_step_000004.pth").step, 4);
  for (const auto& e : fs::directory_iterator(checkpoints("write_fails"))) {
    EXPECT_THAT(e.path().filename().string(), ::testing::Not(HasSubstr(".tmp")));
  }
}

}  // namespace
}  // namespace vsr
