// A whole training run through the vsr_flow binary: the experiment tree, checkpoints that
// load, validation images, TensorBoard events, the console log; and a clean stop on SIGINT.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <opencv2/imgcodecs.hpp>

#include "runtime/model/model.h"
#include "runtime/outputs/checkpoint.h"
#include "runtime/outputs/tensorboard.h"
#include "tests/support/command.h"
#include "tests/support/mock_dataset.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// The dataset at root_, the experiments and the logs next to it.
class TrainRun : public testing::MockDatasetSuite<TrainRun> {
 public:
  static constexpr const char* kDatasetName = "vsr_e2e_train";
  static testing::MockDatasetOptions dataset_options() {
    return {{"small_540"}, {7}, /*count=*/4, /*val_count=*/2, /*seed=*/9};
  }

 protected:
  // The demo config, shrunk to seconds.
  static std::string args(const std::string& name, int steps) {
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
    return a;
  }
};

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

TEST_F(TrainRun, SigintStopsCleanlyKeepingEveryCheckpoint) {
  const fs::path log = root_ / "stop.log";
  const std::string cmd =
      std::string(VSR_BINARY) + " run " + args("stopped", 100000) + " > " + log.string() + " 2>&1";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    setpgid(0, 0);
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const fs::path first = root_ / "experiments/stopped/checkpoints/checkpoint_step_000004.pth";
  for (int i = 0; i < 600 && !fs::exists(first); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(fs::exists(first)) << "no checkpoint within a minute";
  kill(pid, SIGINT);
  int status = 0;
  for (int i = 0; i < 600 && waitpid(pid, &status, WNOHANG) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(WIFEXITED(status)) << "did not stop within a minute";
  EXPECT_EQ(WEXITSTATUS(status), 130);
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_THAT(text.str(), HasSubstr("stopped on request"));
  for (const auto& e : fs::directory_iterator(first.parent_path())) {
    EXPECT_THAT(e.path().filename().string(), ::testing::Not(HasSubstr(".tmp")));
    if (e.path().extension() == ".pth") {
      EXPECT_NO_THROW(load_checkpoint(e.path()));
    }
  }
}

}  // namespace
}  // namespace vsr
