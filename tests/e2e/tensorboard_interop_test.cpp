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
  EXPECT_EQ(images[0], nlohmann::json::array({4, 4, 3, png.size()}));
}

}  // namespace
}  // namespace vsr
