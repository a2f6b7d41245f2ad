// Footage -> dataset -> training -> upscaled video, through the binary: small videos written
// with cv::VideoWriter (one with a scene cut, one held out for validation) are converted, the
// layout, stacks, cut and held-out clip are checked, a rerun writes nothing, an interrupted
// run leaves no partial file; check-data passes on the result, a few training steps run on
// it, and the checkpoint upscales one of the videos.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "tests/support/command.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr int kCut = 12;  // first frame of the second shot of a.avi

// Frame t of a textured shot moving right by 2 px per frame; the second shot is much brighter
// (a hard cut).
cv::Mat shot_frame(int shot, int t, cv::Size size) {
  cv::Mat img(size, CV_8UC3);
  for (int y = 0; y < size.height; ++y) {
    for (int x = 0; x < size.width; ++x) {
      const double u = x - 2.0 * t;
      if (shot == 0) {
        const double v = 110 + 80 * std::sin(u * 0.09) * std::cos(y * 0.07);
        img.at<cv::Vec3b>(y, x) =
            cv::Vec3b(cv::saturate_cast<uchar>(v), cv::saturate_cast<uchar>(255 - v),
                      cv::saturate_cast<uchar>(0.5 * v + 60));
      } else {
        const auto v = cv::saturate_cast<uchar>(215 + 35 * std::cos(u * 0.05 + y * 0.13));
        img.at<cv::Vec3b>(y, x) = cv::Vec3b(v, v, v);
      }
    }
  }
  return img;
}

void write_video(const fs::path& path, int frames, int cut, cv::Size size) {
  cv::VideoWriter w(path.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 25, size);
  ASSERT_TRUE(w.isOpened()) << path;
  for (int t = 0; t < frames; ++t) w.write(shot_frame(cut >= 0 && t >= cut ? 1 : 0, t, size));
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class Footage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("vsr_footage_" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "videos");
    write_video(root_ / "videos/a.avi", 24, kCut, {564, 552});
    write_video(root_ / "videos/b.avi", 16, -1, {564, 552});
    write_video(root_ / "videos/held.avi", 12, -1, {564, 552});
    write_video(root_ / "small.avi", 10, 6, {96, 72});  // to upscale, with a cut
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  // The conversion config: small_540 at x3, `patches` per window, stride 3, held.avi held out.
  static fs::path config(const std::string& name, int patches = 2) {
    const fs::path p = root_ / (name + ".yaml");
    std::ofstream(p) << "SOURCES:\n  inputs: [\"" << (root_ / "videos").string()
                     << "/*.avi\"]\n  val_clips: [held]\n"
                     << "OUTPUT:\n  output_root: \"" << (root_ / name).string()
                     << "\"\n  category: general\n"
                     << "DATASET:\n  formats: [small_540]\n  scale: 3\n  stride: 3\n"
                     << "  patches_per_window: " << patches << "\n  val_stride: 5\n"
                     << "RUN:\n  seed: 1\n  num_workers: 2\n";
    return p;
  }
  static testing::CommandResult vsr(const std::string& args) {
    return testing::run_command(std::string(VSR_BINARY) + " " + args + " 2>&1");
  }
  static inline fs::path root_;
};

TEST_F(Footage, ConvertTrainAndUpscale) {
  const testing::CommandResult convert = vsr("convert " + config("data").string());
  ASSERT_EQ(convert.code, 0) << convert.out;
  const fs::path cat = root_ / "data/Universal/Mastermodell/Learn";
  // a.avi: 24 frames, starts 0, 3, ..., 15 (windows end at 6..21); those spanning the cut at 12
  // (starts 6, 9) are dropped: 4 windows; b.avi: starts 0, 3, 6, 9: 4 windows. 2 patches each.
  EXPECT_THAT(convert.out, HasSubstr("2 dropped across 1 scene cuts"));
  EXPECT_THAT(
      convert.out,
      HasSubstr("wrote 16 samples (small_540 16) and 3 validation frames, 0 already there"));
  std::size_t gt = 0;
  for (const auto& e : fs::directory_iterator(cat / "Patches/GT")) {
    ++gt;
    const std::string name = e.path().filename().string();
    EXPECT_THAT(name, ::testing::Not(HasSubstr("held")));  // held-out clips only in Val/GT
    EXPECT_EQ(cv::imread(e.path().string()).size(), cv::Size(540, 540)) << name;
    EXPECT_EQ(cv::imread((cat / "Patches/LR_7frames" / name).string()).size(), cv::Size(180, 1260));
    EXPECT_EQ(cv::imread((cat / "Patches/LR_5frames" / name).string()).size(), cv::Size(180, 900));
  }
  EXPECT_EQ(gt, 16u);
  std::size_t val = 0;
  for (const auto& e : fs::directory_iterator(cat / "Val/GT")) {
    ++val;
    EXPECT_THAT(e.path().filename().string(), ::testing::StartsWith("held_"));
  }
  EXPECT_EQ(val, 3u);  // frames 0, 5, 10 of held.avi
  std::ifstream manifest(cat / "manifest.jsonl");
  std::size_t entries = 0;
  for (std::string line; std::getline(manifest, line); ++entries) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("val")) continue;
    if (j["clip"] == "a") {
      const int first = j["frames"][0], last = j["frames"][1];
      EXPECT_TRUE(last < kCut || first >= kCut) << line;  // no window spans the cut
    }
  }
  EXPECT_EQ(entries, 19u);

  // A rerun writes nothing new.
  const testing::CommandResult again = vsr("convert " + config("data").string());
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_THAT(again.out, HasSubstr("wrote 0 samples and 0 validation frames, 19 already there"));

  // The dataset passes check-data and trains.
  const std::string train = std::string(VSR_SOURCE_DIR) +
                            "/configs/demo.yaml --set DATA.data_root=" + (root_ / "data").string() +
                            " --set OUTPUT.experiments_root=" + (root_ / "experiments").string() +
                            " --set OUTPUT.experiment_name=footage --set TRAINING.total_steps=4"
                            " --set TRAINING.batch_size.small_540=2 --set TRAINING.warmup_steps=1"
                            " --set DATA.augmentation.crop=48 --set MODEL.base_channels=8"
                            " --set MODEL.num_blocks=1 --set VALIDATION.val_interval=4"
                            " --set VALIDATION.num_images=1 --set CHECKPOINT.checkpoint_interval=4";
  const testing::CommandResult check = vsr("check-data " + train);
  ASSERT_EQ(check.code, 0) << check.out;
  EXPECT_THAT(check.out, HasSubstr("dataset OK: 16 pairs in 1 format, 3 validation images"));
  const testing::CommandResult run = vsr("run " + train);
  ASSERT_EQ(run.code, 0) << run.out;
  const fs::path ckpt = root_ / "experiments/footage/checkpoints/checkpoint_step_000004.pth";
  ASSERT_TRUE(fs::exists(ckpt));

  // The checkpoint upscales a video into a video, frame for frame.
  const fs::path out = root_ / "small_x3.avi";
  const testing::CommandResult up =
      vsr("upscale " + ckpt.string() + " --input " + (root_ / "small.avi").string() + " --output " +
          out.string() + " --tile 48");
  ASSERT_EQ(up.code, 0) << up.out;
  cv::VideoCapture cap(out.string());
  ASSERT_TRUE(cap.isOpened());
  int frames = 0;
  for (cv::Mat f; cap.read(f); ++frames) EXPECT_EQ(f.size(), cv::Size(3 * 96, 3 * 72));
  EXPECT_EQ(frames, 10);
}

TEST_F(Footage, AnInterruptedConversionLeavesOnlyWholeFiles) {
  const fs::path log = root_ / "stop.log";
  const std::string cmd = std::string(VSR_BINARY) + " convert " + config("stopped", 12).string() +
                          " > " + log.string() + " 2>&1";
  testing::Child run(cmd);
  const fs::path gt = root_ / "stopped/Universal/Mastermodell/Learn/Patches/GT";
  for (int i = 0; i < 600 && (!fs::exists(gt) || fs::is_empty(gt)); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  run.signal(SIGINT);
  const std::optional<int> code = run.wait(std::chrono::seconds(60));
  ASSERT_TRUE(code.has_value()) << "did not stop within a minute";
  // 130 when the signal came in time; 0 when the small job had already finished.
  EXPECT_THAT(*code, ::testing::AnyOf(0, 130)) << read_text(log);
  for (const auto& e : fs::recursive_directory_iterator(root_ / "stopped")) {
    EXPECT_THAT(e.path().filename().string(), ::testing::Not(HasSubstr(".tmp"))) << e.path();
    if (e.path().extension() == ".png") {
      EXPECT_FALSE(cv::imread(e.path().string(), cv::IMREAD_UNCHANGED).empty()) << e.path();
    }
  }
  // The rerun completes it.
  const testing::CommandResult rerun = vsr("convert " + config("stopped", 12).string());
  ASSERT_EQ(rerun.code, 0) << rerun.out;
  std::size_t gt_files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(gt)) ++gt_files;
  EXPECT_EQ(gt_files, 8u * 12u);  // 8 windows, 12 patches each
}

}  // namespace
}  // namespace vsr
