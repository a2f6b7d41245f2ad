// Our TensorBoard event files read by the real consumer: the tensorboard package's
// EventAccumulator (the test venv .venv-test that scripts/setup.sh makes), through
// tests/e2e/read_tensorboard.py. Scalars, images, and the SessionLog START of a resumed run
// hiding what the interrupted run logged after its checkpoint.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include <opencv2/imgcodecs.hpp>

#include "runtime/outputs/tensorboard.h"
#include "tests/support/command.h"
#include "tests/support/mock_dataset.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
const fs::path kSource = VSR_SOURCE_DIR;
const fs::path kPython = kSource / ".venv-test/bin/python";

nlohmann::json read_with_tensorboard(const fs::path& dir) {
  const testing::CommandResult r = testing::run_command(
      kPython.string() + " " + (kSource / "tests/e2e/read_tensorboard.py").string() + " " +
      dir.string() + " 2>&1");
  EXPECT_EQ(r.code, 0) << r.out << "\n(run scripts/setup.sh: it installs tensorboard into "
                       << ".venv-test)";
  // tensorboard may warn on stderr first (no TensorFlow): the JSON is the last line.
  const auto start = r.out.rfind("\n{");
  return nlohmann::json::parse(start == std::string::npos ? r.out : r.out.substr(start + 1));
}

TEST(TensorBoardInterop, ScalarsImagesAndAResumedRunAsTensorBoardReadsThem) {
  ASSERT_TRUE(fs::exists(kPython)) << kPython << " is missing: run scripts/setup.sh";
  const fs::path dir = fs::path(::testing::TempDir()) / "vsr_tb_interop";
  fs::remove_all(dir);
  std::vector<unsigned char> png;
  ASSERT_TRUE(cv::imencode(".png", cv::Mat(3, 4, CV_8UC3, cv::Scalar(10, 20, 30)), png));
  {
    // The interrupted run: steps 1-10 and an image at step 4.
    TensorBoardWriter first(dir);
    for (int step = 1; step <= 10; ++step) first.add_scalar("train/loss", 0.1f * step, step);
    first.add_image("val_images/pred_000", std::string(png.begin(), png.end()), 3, 4, 4);
    first.flush();
  }
  // Event file names carry the second they were made: the resumed run's file comes after.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  {
    // Resumed from step 5's checkpoint: its file starts with a START at step 6.
    TensorBoardWriter resumed(dir);
    resumed.add_session_start(6);
    for (int step = 6; step <= 8; ++step) resumed.add_scalar("train/loss", 100.0f + step, step);
    resumed.flush();
  }
  const nlohmann::json seen = read_with_tensorboard(dir);
  std::vector<std::pair<int, double>> loss;
  for (const auto& e : seen.at("scalars").at("train/loss")) {
    loss.emplace_back(e.at(0).get<int>(), e.at(1).get<double>());
  }
  ASSERT_EQ(loss.size(), 8u) << seen.dump();  // 1-5 of the first file, 6-8 of the second
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(loss[i].first, i + 1);
    EXPECT_NEAR(loss[i].second, 0.1 * (i + 1), 1e-6);
  }
  for (int i = 5; i < 8; ++i) {
    EXPECT_EQ(loss[i].first, i + 1);
    EXPECT_NEAR(loss[i].second, 100.0 + i + 1, 1e-4);
  }
  const auto& images = seen.at("images").at("val_images/pred_000");
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0], nlohmann::json::array({4, 4, 3, png.size(), 4, 3}));
}

// A real run: the demo config shrunk to seconds, read back by tensorboard.
class TensorBoardRun : public testing::MockDatasetSuite<TensorBoardRun> {
 public:
  static constexpr const char* kDatasetName = "vsr_e2e_tensorboard";
  static testing::MockDatasetOptions dataset_options() {
    return {{"small_540"}, {7}, /*count=*/4, /*val_count=*/1, /*seed=*/5};
  }
};

TEST_F(TensorBoardRun, ARunsScalarsAndValidationStripsAsTensorBoardReadsThem) {
  ASSERT_TRUE(fs::exists(kPython)) << kPython << " is missing: run scripts/setup.sh";
  std::string cmd = std::string(VSR_BINARY) + " run " + (kSource / "configs/demo.yaml").string();
  for (const std::string& set :
       {"DATA.data_root=" + root_.string(), "OUTPUT.experiments_root=" + (root_ / "exp").string(),
        std::string("OUTPUT.experiment_name=tb"), std::string("TRAINING.total_steps=6"),
        std::string("TRAINING.warmup_steps=2"), std::string("TRAINING.batch_size.small_540=2"),
        std::string("TRAINING.gradient_accumulation.small_540=2"),
        std::string("DATA.augmentation.crop=48"), std::string("MODEL.base_channels=8"),
        std::string("MODEL.num_blocks=1"), std::string("VALIDATION.val_interval=3"),
        std::string("LOGGING.log_interval=2")}) {
    cmd += " --set " + set;
  }
  const testing::CommandResult r = testing::run_command(cmd + " 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json seen = read_with_tensorboard(root_ / "exp/tb/tensorboard");
  const auto& scalars = seen.at("scalars");
  auto steps = [&](const std::string& tag) {
    std::vector<int> out;
    for (const auto& e : scalars.at(tag)) out.push_back(e.at(0).get<int>());
    return out;
  };
  for (const char* tag :
       {"train/loss", "train/lr", "train/samples_per_s", "train/data_wait_fraction",
        "train/grad_norm", "train/effective_batch/small_540", "train/peak_rss_gib"}) {
    ASSERT_TRUE(scalars.contains(tag)) << tag << " in " << scalars.dump();
    EXPECT_EQ(steps(tag), (std::vector<int>{2, 4, 6})) << tag;
  }
  for (const auto& e : scalars.at("train/effective_batch/small_540")) {
    EXPECT_EQ(e.at(1).get<double>(), 4.0);  // batch 2 x accumulation 2
  }
  for (const auto& e : scalars.at("train/loss")) EXPECT_GT(e.at(1).get<double>(), 0);
  for (const char* tag : {"val/psnr", "val/psnr_y", "val/ssim", "val/bicubic_psnr",
                          "val/bicubic_psnr_y", "val/psnr_gain_over_bicubic"}) {
    ASSERT_TRUE(scalars.contains(tag)) << tag;
    EXPECT_EQ(steps(tag), (std::vector<int>{3, 6})) << tag;
  }
  EXPECT_GT(scalars.at("val/psnr").at(0).at(1).get<double>(), 20);
  // One validation image (540x540 GT): pred | bicubic | GT, a decodable 1620x540 PNG.
  const auto& strips = seen.at("images").at("val_images/pred_bicubic_gt_000");
  ASSERT_EQ(strips.size(), 2u);
  for (const auto& e : strips) {
    EXPECT_EQ(e.at(1), 1620);
    EXPECT_EQ(e.at(2), 540);
    EXPECT_EQ(e.at(4), 1620);
    EXPECT_EQ(e.at(5), 540);
  }
}

}  // namespace
}  // namespace vsr
