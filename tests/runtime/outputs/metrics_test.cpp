#include "runtime/outputs/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include <opencv2/core.hpp>

namespace vsr {
namespace {

using ::testing::HasSubstr;

cv::Mat random_image(int w, int h, std::uint64_t seed, double lo = 0.1, double hi = 0.8) {
  cv::Mat img(h, w, CV_32FC3);
  cv::RNG rng(seed);
  rng.fill(img, cv::RNG::UNIFORM, cv::Scalar::all(lo), cv::Scalar::all(hi));
  return img;
}

cv::Mat constant(int w, int h, double v) { return cv::Mat(h, w, CV_32FC3, cv::Scalar::all(v)); }

TEST(Metrics, PsnrOfConstantOffsetIsTwentyLogOfInverseOffset) {
  const cv::Mat a = random_image(40, 30, 1);
  for (double offset : {0.01, 0.05, 0.2}) {
    cv::Mat b;
    a.convertTo(b, CV_64F);
    b += cv::Scalar::all(offset);
    EXPECT_NEAR(psnr(a, b, 0), 20 * std::log10(1 / offset), 1e-4) << offset;
    EXPECT_NEAR(psnr(a, b, 3), 20 * std::log10(1 / offset), 1e-4) << offset;
    // Y = 16/255 + (65.481 R + 128.553 G + 24.966 B) / 255: an offset d on all of R, G, B
    // moves Y by d * 219 / 255.
    EXPECT_NEAR(psnr_y(a, b, 3), 20 * std::log10(255 / (219 * offset)), 1e-4) << offset;
  }
}

TEST(Metrics, PsnrOfOneChannelOffsetAveragesOverChannels) {
  const cv::Mat a = random_image(20, 20, 2);
  cv::Mat b = a.clone();
  b += cv::Scalar(0.1, 0, 0);  // R only: MSE = 0.01 / 3
  EXPECT_NEAR(psnr(a, b, 0), 10 * std::log10(3 / 0.01), 1e-4);
  // Y moves by 0.1 * 65.481 / 255.
  EXPECT_NEAR(psnr_y(a, b, 0), -20 * std::log10(0.1 * 65.481 / 255), 1e-4);
}

TEST(Metrics, IdenticalImagesAreCappedAt100Db) {
  const cv::Mat a = random_image(32, 32, 3);
  EXPECT_EQ(psnr(a, a, 0), kMaxPsnr);
  EXPECT_EQ(psnr_y(a, a.clone(), 2), kMaxPsnr);
  EXPECT_DOUBLE_EQ(kMaxPsnr, 100.0);
}

TEST(Metrics, BorderIsIgnored) {
  const cv::Mat a = random_image(32, 24, 4);
  cv::Mat b = a.clone();
  // Change only a 3-pixel frame around the image.
  b.rowRange(0, 3).setTo(cv::Scalar::all(1));
  b.rowRange(21, 24).setTo(cv::Scalar::all(0));
  b.colRange(0, 3).setTo(cv::Scalar::all(1));
  b.colRange(29, 32).setTo(cv::Scalar::all(0));
  EXPECT_LT(psnr(a, b, 0), 30);
  EXPECT_LT(psnr(a, b, 2), 30);
  EXPECT_EQ(psnr(a, b, 3), kMaxPsnr);
  EXPECT_EQ(psnr_y(a, b, 3), kMaxPsnr);
  b.at<cv::Vec3f>(3, 3) = cv::Vec3f(0, 0, 0);
  EXPECT_LT(psnr(a, b, 3), kMaxPsnr);
  // ssim needs 11x11 after the crop: 32x24 - 2*3 = 26x18.
  EXPECT_NEAR(ssim_y(a, a, 3), 1.0, 1e-12);
}

TEST(Metrics, LumaOfBlackAndWhite) {
  EXPECT_NEAR(rgb_to_y(constant(2, 2, 0)).at<double>(1, 1), 16.0 / 255, 1e-12);
  EXPECT_NEAR(rgb_to_y(constant(2, 2, 1)).at<double>(0, 0), 235.0 / 255, 1e-12);
  cv::Mat red(1, 1, CV_32FC3, cv::Scalar(1, 0, 0));  // RGB order
  EXPECT_NEAR(rgb_to_y(red).at<double>(0, 0), (16 + 65.481) / 255, 1e-6);
}

TEST(Metrics, SsimOfIdenticalImagesIsOne) {
  const cv::Mat a = random_image(48, 40, 5);
  EXPECT_NEAR(ssim_y(a, a.clone(), 0), 1.0, 1e-12);
  EXPECT_NEAR(ssim_y(a, a, 3), 1.0, 1e-12);
}

TEST(Metrics, SsimOfConstantImagesIsTheLuminanceTerm) {
  // No variance: SSIM = (2 m1 m2 + C1) / (m1^2 + m2^2 + C1), with m = Y on 0..255.
  const double v1 = 0.3, v2 = 0.5;
  const double m1 = 16 + 219 * v1, m2 = 16 + 219 * v2, c1 = 2.55 * 2.55;
  const double expected = (2 * m1 * m2 + c1) / (m1 * m1 + m2 * m2 + c1);
  EXPECT_NEAR(ssim_y(constant(30, 20, v1), constant(30, 20, v2), 3), expected,
              1e-7);                      // float32 greys
  EXPECT_NEAR(expected, 0.914476, 1e-5);  // the hand-computed value for these two greys
}

TEST(Metrics, SsimDecreasesWithNoise) {
  const cv::Mat a = random_image(64, 64, 6);
  double last = 1.0;
  for (double sigma : {0.01, 0.03, 0.1, 0.3}) {
    cv::Mat noise(a.size(), CV_32FC3);
    cv::RNG rng(7);
    rng.fill(noise, cv::RNG::NORMAL, cv::Scalar::all(0), cv::Scalar::all(sigma));
    const cv::Mat b = a + noise;
    const double s = ssim_y(a, b, 3);
    EXPECT_LT(s, last) << sigma;
    EXPECT_GT(s, 0) << sigma;
    last = s;
  }
}

TEST(Metrics, SsimIsSymmetric) {
  const cv::Mat a = random_image(40, 40, 8), b = random_image(40, 40, 9);
  EXPECT_NEAR(ssim_y(a, b, 2), ssim_y(b, a, 2), 1e-12);
  EXPECT_LT(ssim_y(a, b, 2), 0.2);  // independent noise: almost no structure in common
}

TEST(Metrics, RejectsMismatchedSizesAndTooLargeBorders) {
  const cv::Mat a = random_image(20, 20, 10), b = random_image(20, 22, 11);
  try {
    psnr(a, b, 0);
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("20x20 vs 20x22"));
  }
  EXPECT_THROW(psnr(a, a, 10), std::invalid_argument);
  EXPECT_NO_THROW(psnr(a, a, 9));
  EXPECT_THROW(ssim_y(a, a, 5), std::invalid_argument);  // 10x10 left, window is 11x11
  EXPECT_THROW(psnr_y(a, a, -1), std::invalid_argument);
  cv::Mat gray(20, 20, CV_32FC1, cv::Scalar(0));
  EXPECT_THROW(psnr(gray, gray, 0), std::invalid_argument);
}

}  // namespace
}  // namespace vsr
