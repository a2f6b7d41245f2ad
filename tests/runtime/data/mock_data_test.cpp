#include "runtime/data/mock_data.h"

#include <cmath>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <opencv2/imgproc.hpp>

#include "common/errors.h"
#include "runtime/data/dataset.h"
#include "runtime/data/formats.h"
#include "runtime/data/image.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

double max_abs_diff(const cv::Mat& a, const cv::Mat& b) { return cv::norm(a, b, cv::NORM_INF); }
double mean_abs_diff(const cv::Mat& a, const cv::Mat& b) {
  return cv::norm(a, b, cv::NORM_L1) / a.total() / a.channels();
}

double stddev(const cv::Mat& img) {
  cv::Scalar mean, dev;
  cv::meanStdDev(img, mean, dev);
  return (dev[0] + dev[1] + dev[2]) / 3;
}

TEST(MockDataClip, SizesAreExactAndFramesMove) {
  const MockClip clip = make_mock_clip(cv::Size(540, 540), 7, 3, 17);
  ASSERT_EQ(clip.gt.type(), CV_32FC3);
  EXPECT_EQ(clip.gt.size(), cv::Size(540, 540));
  ASSERT_EQ(clip.frames.size(), 7u);
  for (const auto& f : clip.frames) {
    EXPECT_EQ(f.size(), cv::Size(180, 180));
    EXPECT_EQ(f.type(), CV_32FC3);
  }
  const double speed = std::hypot(clip.motion.x, clip.motion.y);
  EXPECT_GE(speed, 0.6);
  EXPECT_LE(speed, 2.4);
  // Neighbouring frames differ, and more so further apart: real motion, not noise.
  const double near = mean_abs_diff(clip.frames[3], clip.frames[4]);
  const double far = mean_abs_diff(clip.frames[0], clip.frames[6]);
  EXPECT_GT(near, 0.002);
  EXPECT_GT(far, near);
  EXPECT_LE(max_abs_diff(clip.frames[3], downscale(clip.gt, 3)), 1e-6);
}

TEST(MockDataClip, LrFrameIsTheShiftedGtDownscaled) {
  const MockClip clip = make_mock_clip(cv::Size(720, 405), 5, 3, 99);
  ASSERT_EQ(clip.frames.size(), 5u);
  const int c = 2;
  for (int t = 0; t < 5; ++t) {
    const cv::Mat expect =
        downscale(shift_image(clip.gt, clip.motion.x * (t - c), clip.motion.y * (t - c)), 3);
    // Away from the border, where the GT has no content to shift in.
    const cv::Rect inner(4, 4, 240 - 8, 135 - 8);
    EXPECT_LE(max_abs_diff(clip.frames[t](inner), expect(inner)), 1e-4) << "frame " << t;
  }
}

TEST(MockDataClip, DeterministicBySeedAndTextured) {
  const MockClip a = make_mock_clip(cv::Size(540, 540), 5, 3, 5);
  const MockClip b = make_mock_clip(cv::Size(540, 540), 5, 3, 5);
  const MockClip c = make_mock_clip(cv::Size(540, 540), 5, 3, 6);
  EXPECT_EQ(max_abs_diff(a.gt, b.gt), 0.0);
  EXPECT_EQ(max_abs_diff(a.frames[0], b.frames[0]), 0.0);
  EXPECT_GT(mean_abs_diff(a.gt, c.gt), 0.02);
  for (const std::string style : {"general", "space", "toon"}) {
    const cv::Mat img = make_mock_image(cv::Size(540, 540), 3, style);
    EXPECT_GT(stddev(img), 0.03) << style;
    // Fine detail: strong local gradients somewhere, not just smooth ramps.
    cv::Mat gray, lap;
    cv::cvtColor(img, gray, cv::COLOR_RGB2GRAY);
    cv::Laplacian(gray, lap, CV_32F);
    double lo, hi;
    cv::minMaxLoc(cv::abs(lap), &lo, &hi);
    EXPECT_GT(hi, 0.2) << style;
    double min_v, max_v;
    cv::minMaxLoc(img.reshape(1), &min_v, &max_v);
    EXPECT_GE(min_v, 0.0);
    EXPECT_LE(max_v, 1.0);
  }
}

class MockDataWriteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = fs::temp_directory_path() /
            ("vsr_mock_data_test_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(MockDataWriteTest, WritesTheSpecLayoutWithExactSizes) {
  MockDataOptions opts;
  opts.root = root_;
  opts.categories = {"general", "toon"};
  opts.formats = {"small_540", "medium_169"};
  opts.lr_versions = {5, 7};
  opts.count = 2;
  opts.val_count = 2;
  opts.seed = 7;
  const MockDataSummary summary = write_mock_dataset(opts);
  EXPECT_EQ(summary.clips, 2u * 2 * 2);
  EXPECT_EQ(summary.files, 2u * 2 * 2 * 3 + 2 * 2);

  for (const std::string lr : {"5frames", "7frames"}) {
    const int frames = lr_version_info(lr).frames;
    for (const std::string cat : {"general", "toon"}) {
      const DatasetIndex index = scan_dataset(root_, cat, lr, opts.formats);
      ASSERT_EQ(index.sizes(), (std::vector<std::size_t>{2, 2}));
      for (const FormatIndex& f : index.formats) {
        const cv::Size lr_size(lr_width(f.format, 3), lr_height(f.format, 3));
        const cv::Mat gt = read_image_rgb(f.gt_path(1));
        EXPECT_NO_THROW(check_gt_size(gt, cv::Size(f.format.width, f.format.height), "gt"));
        const cv::Mat stack = read_image_rgb(f.lr_path(1));
        EXPECT_EQ(stack.size(), cv::Size(lr_size.width, lr_size.height * frames));
        const auto split = split_stack(stack, frames, lr_size, f.lr_path(1).string());
        // The centre frame is the downscaled GT up to 8-bit rounding of both files.
        EXPECT_LE(max_abs_diff(split[frames / 2], downscale(gt, 3)), 2.0 / 255);
        EXPECT_GT(mean_abs_diff(split.front(), split.back()), 0.002);
      }
    }
  }
  // The 5-frame stack is the middle of the 7-frame one.
  const fs::path dir = format_dir(root_, "general", "small_540");
  const cv::Mat five = read_image_rgb(dir / "LR_5frames/0000.png");
  const cv::Mat seven = read_image_rgb(dir / "LR_7frames/0000.png");
  EXPECT_EQ(max_abs_diff(five, seven.rowRange(180, 180 + 900)), 0.0);

  const auto val = list_images(val_gt_dir(root_, "toon"));
  ASSERT_EQ(val.size(), 2u);
  EXPECT_EQ(val[0].filename(), "0000.png");
  EXPECT_EQ(read_image_rgb(val[1]).size(), cv::Size(540, 540));
}

TEST_F(MockDataWriteTest, SameSeedSameFiles) {
  MockDataOptions opts;
  opts.root = root_ / "a";
  opts.lr_versions = {5};
  opts.count = 1;
  opts.val_count = 0;
  write_mock_dataset(opts);
  opts.root = root_ / "b";
  write_mock_dataset(opts);
  const fs::path rel = "Universal/Mastermodell/Learn/Patches/LR_5frames/0000.png";
  EXPECT_EQ(max_abs_diff(read_image_rgb(root_ / "a" / rel), read_image_rgb(root_ / "b" / rel)),
            0.0);
  EXPECT_FALSE(fs::exists(root_ / "a/Universal/Mastermodell/Learn/Patches/LR_7frames"));
}

TEST_F(MockDataWriteTest, InvalidOptionsAreReportedTogether) {
  MockDataOptions opts;
  opts.root = root_;
  opts.categories = {"anime"};
  opts.formats = {"small_540", "medium_169", "huge"};
  opts.lr_versions = {6};
  opts.scale = 2;
  try {
    write_mock_dataset(opts);
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown category 'anime'"));
    EXPECT_THAT(e.what(), HasSubstr("unknown format 'huge'"));
    EXPECT_THAT(e.what(), HasSubstr("format medium_169 (720x405) is not divisible by scale 2"));
    EXPECT_THAT(e.what(), HasSubstr("lr_versions holds 6"));
  }
  EXPECT_FALSE(fs::exists(root_));
}

}  // namespace
}  // namespace vsr
