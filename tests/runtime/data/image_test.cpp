#include "runtime/data/image.h"

#include <cmath>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/errors.h"

namespace vsr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

double max_abs_diff(const cv::Mat& a, const cv::Mat& b) {
  EXPECT_EQ(a.size(), b.size());
  EXPECT_EQ(a.type(), b.type());
  return cv::norm(a, b, cv::NORM_INF);
}

// A smooth, non-symmetric RGB test pattern in [0, 1].
cv::Mat pattern(int w, int h) {
  cv::Mat img(h, w, CV_32FC3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      img.at<cv::Vec3f>(y, x) = cv::Vec3f(0.5f + 0.4f * std::sin(0.3f * x + 0.1f * y),
                                          static_cast<float>(x) / w, static_cast<float>(y) / h);
    }
  }
  return img;
}

class ImageFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("vsr_image_test_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(ImageFileTest, Reads16BitPngAsRgbFloat) {
  cv::Mat bgr16(4, 5, CV_16UC3, cv::Scalar(65535, 32768, 1000));  // B, G, R
  ASSERT_TRUE(cv::imwrite((dir_ / "a.png").string(), bgr16));
  const cv::Mat img = read_image_rgb(dir_ / "a.png");
  ASSERT_EQ(img.type(), CV_32FC3);
  ASSERT_EQ(img.size(), cv::Size(5, 4));
  const cv::Vec3f px = img.at<cv::Vec3f>(2, 3);
  EXPECT_NEAR(px[0], 1000 / 65535.0, 1e-6);  // R
  EXPECT_NEAR(px[1], 32768 / 65535.0, 1e-6);
  EXPECT_NEAR(px[2], 1.0, 1e-6);  // B
}

TEST_F(ImageFileTest, DropsAlphaAndKeepsColour) {
  cv::Mat bgra(3, 3, CV_8UC4, cv::Scalar(10, 20, 30, 0));  // fully transparent
  ASSERT_TRUE(cv::imwrite((dir_ / "alpha.png").string(), bgra));
  const cv::Mat img = read_image_rgb(dir_ / "alpha.png");
  ASSERT_EQ(img.type(), CV_32FC3);
  const cv::Vec3f px = img.at<cv::Vec3f>(1, 1);
  EXPECT_NEAR(px[0], 30 / 255.0, 1e-6);
  EXPECT_NEAR(px[1], 20 / 255.0, 1e-6);
  EXPECT_NEAR(px[2], 10 / 255.0, 1e-6);

  cv::Mat bgra16(3, 3, CV_16UC4, cv::Scalar(0, 0, 65535, 100));
  ASSERT_TRUE(cv::imwrite((dir_ / "alpha16.png").string(), bgra16));
  const cv::Vec3f px16 = read_image_rgb(dir_ / "alpha16.png").at<cv::Vec3f>(0, 0);
  EXPECT_NEAR(px16[0], 1.0, 1e-6);
  EXPECT_NEAR(px16[2], 0.0, 1e-6);
}

TEST_F(ImageFileTest, GrayscaleBecomesThreeChannels) {
  cv::Mat gray(2, 2, CV_8UC1, cv::Scalar(51));
  ASSERT_TRUE(cv::imwrite((dir_ / "g.png").string(), gray));
  const cv::Mat img = read_image_rgb(dir_ / "g.png");
  ASSERT_EQ(img.type(), CV_32FC3);
  const cv::Vec3f px = img.at<cv::Vec3f>(1, 1);
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(px[k], 0.2, 1e-6);
}

TEST_F(ImageFileTest, ReadsJpeg) {
  cv::Mat bgr(16, 16, CV_8UC3, cv::Scalar(40, 120, 200));
  ASSERT_TRUE(cv::imwrite((dir_ / "x.jpeg").string(), bgr));
  const cv::Mat img = read_image_rgb(dir_ / "x.jpeg");
  ASSERT_EQ(img.type(), CV_32FC3);
  const cv::Vec3f px = img.at<cv::Vec3f>(8, 8);
  EXPECT_NEAR(px[0], 200 / 255.0, 0.03);
  EXPECT_NEAR(px[2], 40 / 255.0, 0.03);
}

TEST_F(ImageFileTest, UnreadableFilesAreNamed) {
  try {
    read_image_rgb(dir_ / "missing.png");
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr((dir_ / "missing.png").string()));
    EXPECT_THAT(e.what(), HasSubstr("does not exist"));
  }
  std::ofstream(dir_ / "broken.png") << "not a png at all";
  try {
    read_image_rgb(dir_ / "broken.png");
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot read image " + (dir_ / "broken.png").string()));
  }
}

TEST_F(ImageFileTest, WritePngAtomicRoundTripsAndLeavesNoTemporaries) {
  const cv::Mat img = pattern(30, 20);
  const fs::path out = dir_ / "sub" / "dir" / "pred_000.png";
  write_png_atomic(out, img);
  write_png_atomic(out, img);  // replaces
  const cv::Mat back = read_image_rgb(out);
  EXPECT_LE(max_abs_diff(back, img), 0.5 / 255 + 1e-6);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(out.parent_path())) {
    ++files;
    EXPECT_EQ(entry.path().filename(), "pred_000.png");
  }
  EXPECT_EQ(files, 1);

  cv::Mat over(2, 2, CV_32FC3, cv::Scalar(1.5, -0.2, 0.5));
  write_png_atomic(dir_ / "clamped.png", over);
  const cv::Vec3f px = read_image_rgb(dir_ / "clamped.png").at<cv::Vec3f>(0, 0);
  EXPECT_EQ(px, cv::Vec3f(1.0f, 0.0f, 128 / 255.0f));
}

TEST(ImageSplit, SplitsStackIntoFramesInOrder) {
  cv::Mat stack(7 * 4, 6, CV_32FC3);
  for (int t = 0; t < 7; ++t) {
    stack.rowRange(t * 4, (t + 1) * 4).setTo(cv::Scalar::all(t / 10.0));
  }
  const auto frames = split_stack(stack, 7, cv::Size(6, 4), "x.png");
  ASSERT_EQ(frames.size(), 7u);
  for (int t = 0; t < 7; ++t) {
    EXPECT_EQ(frames[t].size(), cv::Size(6, 4));
    EXPECT_NEAR(cv::mean(frames[t])[0], t / 10.0, 1e-6);
    EXPECT_NEAR(cv::norm(frames[t], cv::NORM_INF), t / 10.0, 1e-6);
  }
}

TEST(ImageSplit, WrongFrameCountSaysExpectedAndFound) {
  const cv::Mat five(900, 180, CV_32FC3, cv::Scalar::all(0));
  try {
    split_stack(five, 7, cv::Size(180, 180), "LR_7frames/0001.png");
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("Wrong frame count in LR stack LR_7frames/0001.png"));
    EXPECT_THAT(e.what(), HasSubstr("expected 180x1260 (7 frames x LR height 180"));
    EXPECT_THAT(e.what(), HasSubstr("found 180x900"));
    EXPECT_THAT(e.what(), HasSubstr("looks like 5 frames"));
  }
  const cv::Mat odd(901, 180, CV_32FC3, cv::Scalar::all(0));
  try {
    split_stack(odd, 5, cv::Size(180, 180), "a.png");
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("expected 180x900 (5 frames x LR height 180"));
    EXPECT_THAT(e.what(), HasSubstr("found 180x901"));
    EXPECT_THAT(e.what(), HasSubstr("not a multiple of the LR height 180"));
  }
  const cv::Mat wide(900, 240, CV_32FC3, cv::Scalar::all(0));
  try {
    split_stack(wide, 5, cv::Size(180, 180), "a.png");
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("found 240x900 (wrong LR width"));
  }
}

TEST(ImageSplit, GtSizeCheck) {
  const cv::Mat gt(405, 720, CV_32FC3, cv::Scalar::all(0));
  EXPECT_NO_THROW(check_gt_size(gt, cv::Size(720, 405), "GT/a.png"));
  try {
    check_gt_size(gt, cv::Size(540, 540), "GT/a.png");
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("Wrong GT size in GT/a.png: expected 540x540"));
    EXPECT_THAT(e.what(), HasSubstr("found 720x405"));
  }
}

TEST(ImageShift, ZeroIsIdentity) {
  const cv::Mat img = pattern(40, 30);
  EXPECT_EQ(max_abs_diff(shift_horizontal(img, 0.0), img), 0.0);
}

TEST(ImageShift, WholePixelShiftsMoveContent) {
  const cv::Mat img = pattern(40, 30);
  const cv::Mat right = shift_horizontal(img, 1.0);
  // out(x) = img(x - 1); the first column replicates the border.
  EXPECT_LE(max_abs_diff(right.colRange(1, 40), img.colRange(0, 39)), 1e-6);
  EXPECT_LE(max_abs_diff(right.col(0), img.col(0)), 1e-6);
  const cv::Mat left = shift_horizontal(img, -2.0);
  EXPECT_LE(max_abs_diff(left.colRange(0, 38), img.colRange(2, 40)), 1e-6);
}

TEST(ImageShift, HalfPixelShiftsCompose) {
  const cv::Mat img = pattern(60, 20);
  const cv::Mat twice = shift_horizontal(shift_horizontal(img, 0.5), 0.5);
  const cv::Mat once = shift_horizontal(img, 1.0);
  // Away from the border two half shifts of a smooth image equal one whole shift.
  EXPECT_LE(max_abs_diff(twice.colRange(5, 55), once.colRange(5, 55)), 0.01);
  EXPECT_GT(max_abs_diff(shift_horizontal(img, 0.5), img), 0.01);
}

TEST(ImageScale, DownscaleAveragesBlocks) {
  cv::Mat img(6, 9, CV_32FC3);
  for (int y = 0; y < 6; ++y) {
    for (int x = 0; x < 9; ++x) img.at<cv::Vec3f>(y, x) = cv::Vec3f::all(float(y * 9 + x) / 54);
  }
  const cv::Mat small = downscale(img, 3);
  ASSERT_EQ(small.size(), cv::Size(3, 2));
  // Block (1, 0): rows 0..2, columns 3..5 -> mean of y * 9 + x = 9 + 4 = 13.
  EXPECT_NEAR(small.at<cv::Vec3f>(0, 1)[0], 13.0 / 54, 1e-6);
  EXPECT_EQ(downscale(pattern(540, 540), 3).size(), cv::Size(180, 180));
  EXPECT_EQ(downscale(pattern(720, 405), 3).size(), cv::Size(240, 135));
  EXPECT_THROW(downscale(pattern(10, 9), 3), std::invalid_argument);
}

TEST(ImageScale, BicubicUpscale) {
  const cv::Mat flat(10, 20, CV_32FC3, cv::Scalar(0.25, 0.5, 0.75));
  const cv::Mat big = bicubic_upscale(flat, 3);
  ASSERT_EQ(big.size(), cv::Size(60, 30));
  EXPECT_LE(max_abs_diff(big, cv::Mat(30, 60, CV_32FC3, cv::Scalar(0.25, 0.5, 0.75))), 1e-5);
  EXPECT_EQ(crop_to_multiple(pattern(100, 50), 3).size(), cv::Size(99, 48));
}

TEST(ImageVal, FramesAreShiftedThenDownscaled) {
  const cv::Mat gt = pattern(100, 50);
  const ValSample val = make_val_lr_frames(gt, {-1.0, -0.5, 0.0, 0.5, 1.0}, 3);
  ASSERT_EQ(val.gt.size(), cv::Size(99, 48));
  EXPECT_EQ(max_abs_diff(val.gt, gt(cv::Rect(0, 0, 99, 48))), 0.0);
  ASSERT_EQ(val.frames.size(), 5u);
  for (const auto& f : val.frames) EXPECT_EQ(f.size(), cv::Size(33, 16));
  EXPECT_LE(max_abs_diff(val.frames[2], downscale(val.gt, 3)), 1e-6);
  EXPECT_LE(max_abs_diff(val.frames[4], downscale(shift_horizontal(val.gt, 1.0), 3)), 1e-6);
  EXPECT_GT(max_abs_diff(val.frames[0], val.frames[4]), 0.01);
}

TEST(ImageAugment, FlipsAndRotationsMoveCorners) {
  cv::Mat img(2, 3, CV_32FC1);
  for (int i = 0; i < 6; ++i) img.at<float>(i / 3, i % 3) = float(i);  // [[0 1 2] [3 4 5]]
  EXPECT_EQ(hflip(img).at<float>(0, 0), 2.0f);
  EXPECT_EQ(vflip(img).at<float>(0, 0), 3.0f);
  const cv::Mat ccw = rot90(img, 1);  // counter-clockwise: [[2 5] [1 4] [0 3]]
  ASSERT_EQ(ccw.size(), cv::Size(2, 3));
  EXPECT_EQ(ccw.at<float>(0, 0), 2.0f);
  EXPECT_EQ(ccw.at<float>(2, 1), 3.0f);
  EXPECT_EQ(rot90(img, 2).at<float>(0, 0), 5.0f);
  EXPECT_EQ(rot90(img, 3).at<float>(0, 0), 3.0f);
  EXPECT_EQ(rot90(img, -1).at<float>(0, 0), 3.0f);
  EXPECT_EQ(max_abs_diff(rot90(img, 4), img), 0.0);
}

// GT and frames get the same transform: with LR = downscaled GT that stays true afterwards.
// Calls f(aug) for each of the 16 geometric draws (hflip, vflip, 0-3 quarter turns).
template <class F>
void for_each_geometry(F f) {
  for (int h = 0; h < 2; ++h) {
    for (int v = 0; v < 2; ++v) {
      for (int k = 0; k < 4; ++k) {
        Augmentation aug;
        aug.hflip = h;
        aug.vflip = v;
        aug.rot90 = k;
        f(aug);
      }
    }
  }
}

TEST(ImageAugment, ComposedGeometryEqualsStepByStep) {
  cv::Mat img(5, 7, CV_8UC3);  // not square, odd sides: every symmetry is visible
  cv::randu(img, 0, 255);
  int distinct_checked = 0;
  for_each_geometry([&](const Augmentation& aug) {
    cv::Mat expect = img;
    if (aug.hflip) expect = hflip(expect);
    if (aug.vflip) expect = vflip(expect);
    if (aug.rot90) expect = rot90(expect, aug.rot90);
    const cv::Mat got = apply_geometry(aug, img);
    ASSERT_EQ(got.size(), expect.size()) << aug.hflip << aug.vflip << aug.rot90;
    EXPECT_EQ(cv::norm(got, expect, cv::NORM_INF), 0)
        << "hflip " << aug.hflip << " vflip " << aug.vflip << " rot90 " << aug.rot90;
    ++distinct_checked;
  });
  EXPECT_EQ(distinct_checked, 16);
}

// The four symmetries without a transpose are pairs of flips that a reader can apply while it
// copies; the four with one are not.
TEST(ImageAugment, GeometryAsFlipsIsApplyGeometryOrRefused) {
  cv::Mat img(5, 7, CV_8UC3);
  cv::randu(img, 0, 255);
  int as_flips = 0;
  for_each_geometry([&](const Augmentation& aug) {
    Flips flips;
    const cv::Mat expect = apply_geometry(aug, img);
    if (!geometry_as_flips(aug, &flips)) {
      EXPECT_EQ(expect.size(), cv::Size(5, 7))
          << aug.hflip << aug.vflip << aug.rot90;  // transposed
      return;
    }
    ++as_flips;
    const cv::Mat got = apply_flips(img, flips);
    ASSERT_EQ(got.size(), expect.size()) << aug.hflip << aug.vflip << aug.rot90;
    EXPECT_EQ(cv::norm(got, expect, cv::NORM_INF), 0) << aug.hflip << aug.vflip << aug.rot90;
  });
  EXPECT_EQ(as_flips, 8);  // 16 draws, 8 of them without a net quarter turn
}

TEST(ImageAugment, SameTransformForGtAndFrames) {
  const cv::Mat base = pattern(48, 48);
  for (int code = 0; code < 32; ++code) {
    const Augmentation aug{(code & 1) != 0, (code & 2) != 0, (code >> 2) & 3, (code & 16) != 0};
    cv::Mat gt = base.clone();
    std::vector<cv::Mat> frames;
    for (int t = 0; t < 3; ++t) frames.push_back(downscale(shift_horizontal(gt, t - 1.0), 3));
    const std::vector<cv::Mat> before = frames;
    apply_augmentation(aug, gt, frames);
    ASSERT_EQ(frames.size(), 3u);
    // The centre frame is the downscaled GT whatever the transform.
    EXPECT_LE(max_abs_diff(frames[1], downscale(gt, 3)), 1e-6) << "code " << code;
    const cv::Mat& first = aug.reverse ? before[2] : before[0];
    cv::Mat expect = first;
    if (aug.hflip) expect = hflip(expect);
    if (aug.vflip) expect = vflip(expect);
    expect = rot90(expect, aug.rot90);
    EXPECT_EQ(max_abs_diff(frames[0], expect), 0.0) << "code " << code;
  }
}

TEST(ImageAugment, DrawIsDeterministicAndFollowsProbabilities) {
  const AugmentProbs probs{0.5, 0.25, 0.5, 0.1};
  int h = 0, v = 0, r = 0, rev = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const std::uint64_t seed = 0x1234567ULL * (i + 1);
    const Augmentation a = draw_augmentation(seed, probs, true);
    const Augmentation b = draw_augmentation(seed, probs, true);
    ASSERT_EQ(a.hflip, b.hflip);
    ASSERT_EQ(a.rot90, b.rot90);
    ASSERT_GE(a.rot90, 0);
    ASSERT_LE(a.rot90, 3);
    h += a.hflip;
    v += a.vflip;
    r += a.rot90 != 0;
    rev += a.reverse;
    EXPECT_EQ(draw_augmentation(seed, probs, false).rot90, 0);
  }
  EXPECT_NEAR(h / double(n), 0.5, 0.02);
  EXPECT_NEAR(v / double(n), 0.25, 0.02);
  EXPECT_NEAR(r / double(n), 0.5, 0.02);
  EXPECT_NEAR(rev / double(n), 0.1, 0.02);
  const Augmentation none = draw_augmentation(7, AugmentProbs{}, true);
  EXPECT_FALSE(none.hflip || none.vflip || none.reverse || none.rot90 != 0);
}

}  // namespace
}  // namespace vsr
