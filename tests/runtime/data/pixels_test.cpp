// The two forms of micro-batch pixels: the raw form converted by raw_to_float_rgb equals the
// host's float form bit for bit, for 8- and 16-bit images.
#include "runtime/data/pixels.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <opencv2/core.hpp>

namespace vsr {
namespace {

// A BGR image of `type` with every value of its depth somewhere (0, max, and random ones).
cv::Mat every_value(int type, int rows, int cols) {
  cv::Mat img(rows, cols, type);
  cv::RNG rng(7);
  rng.fill(img, cv::RNG::UNIFORM, 0, type == CV_8UC3 ? 256 : 65536);
  const double top = type == CV_8UC3 ? 255 : 65535;
  img.at<cv::Vec3b>(0, 0) = cv::Vec3b(0, 0, 0);
  if (type == CV_8UC3) {
    img.at<cv::Vec3b>(0, 1) = cv::Vec3b(255, 128, 1);
  } else {
    img.at<cv::Vec3w>(0, 1) = cv::Vec3w(static_cast<std::uint16_t>(top), 32768, 32767);
  }
  return img;
}

bool bitwise_equal(const at::Tensor& a, const at::Tensor& b) {
  return a.sizes() == b.sizes() && a.scalar_type() == b.scalar_type() &&
         at::equal(a.contiguous().view(at::kInt), b.contiguous().view(at::kInt));
}

class PixelForms : public ::testing::TestWithParam<int> {};

TEST_P(PixelForms, RawConvertedEqualsTheFloatFormBitForBit) {
  const cv::Mat img = every_value(GetParam(), 37, 53);
  at::Tensor host = at::empty({3, 37, 53}, at::kFloat);
  copy_float_rgb(img, host);
  at::Tensor raw = at::empty({37, 53, 3}, raw_pixel_dtype(GetParam()));
  copy_raw(img, raw);
  EXPECT_TRUE(is_raw_pixels(raw));
  const at::Tensor converted = raw_to_float_rgb(raw);
  EXPECT_TRUE(converted.is_contiguous());
  EXPECT_TRUE(bitwise_equal(converted, host));
  // Batched like the batch stage makes them: [B, T, h, w, 3] -> [B, T, 3, h, w].
  const at::Tensor batched = raw_to_float_rgb(raw.expand({2, 3, 37, 53, 3}).contiguous());
  EXPECT_TRUE(bitwise_equal(batched, host.expand({2, 3, 3, 37, 53}).contiguous()));
  // Red first: the host form swaps BGR to RGB, and so does the conversion.
  const double top = GetParam() == CV_8UC3 ? 255.0 : 65535.0;
  const double red =
      GetParam() == CV_8UC3 ? img.at<cv::Vec3b>(5, 6)[2] : img.at<cv::Vec3w>(5, 6)[2];
  EXPECT_FLOAT_EQ(converted[0][5][6].item<float>(), static_cast<float>(red / top));
}

// The host's conversion (rows split over LibTorch's threads) equals LibTorch's own strided
// conversion, which a non-contiguous input still takes, on a batch larger than one split.
TEST_P(PixelForms, HostConversionOverThreadsEqualsTheStridedOne) {
  const cv::Mat img = every_value(GetParam(), 61, 47);
  at::Tensor raw = at::empty({61, 47, 3}, raw_pixel_dtype(GetParam()));
  copy_raw(img, raw);
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  // Six images that differ: [2, 3, 61, 47, 3].
  const at::Tensor batch =
      at::cat({raw, raw.flip({0}), raw.flip({1}), raw.roll(5, 0), raw.roll(9, 1), raw.flip({0, 1})})
          .view({2, 3, 61, 47, 3});
  const at::Tensor fast = raw_to_float_rgb(batch);
  // The same values in a non-contiguous tensor: every other column of one twice as wide.
  const at::Tensor wide = at::empty({2, 3, 61, 94, 3}, batch.options());
  wide.slice(3, 0, 94, 2).copy_(batch);
  const at::Tensor strided = wide.slice(3, 0, 94, 2);
  ASSERT_FALSE(strided.is_contiguous());
  const at::Tensor reference = raw_to_float_rgb(strided);
  at::set_num_threads(threads);
  EXPECT_TRUE(fast.is_contiguous());
  EXPECT_TRUE(bitwise_equal(fast, reference));
  EXPECT_TRUE(bitwise_equal(fast, raw_to_float_rgb_by_ops(batch)));
  // Each image equals the float form of its own pixels.
  at::Tensor host = at::empty({3, 61, 47}, at::kFloat);
  copy_float_rgb(img, host);
  EXPECT_TRUE(bitwise_equal(fast[0][0], host));
  EXPECT_FALSE(bitwise_equal(fast[0][1], host));
}

// Flips applied while copying give what copying the flipped image gives, in both forms, on
// sides that are no multiple of a vector's width.
TEST_P(PixelForms, FlipsWhileCopyingEqualCopyingTheFlippedImage) {
  const cv::Mat img = every_value(GetParam(), 37, 53);
  for (const Flips flips :
       {Flips{false, false}, Flips{true, false}, Flips{false, true}, Flips{true, true}}) {
    const cv::Mat flipped = apply_flips(img, flips);
    at::Tensor got = at::empty({3, 37, 53}, at::kFloat), want = at::empty_like(got);
    copy_float_rgb(img, got, flips);
    copy_float_rgb(flipped, want);
    EXPECT_TRUE(bitwise_equal(got, want)) << flips.x << flips.y;
    at::Tensor raw = at::empty({37, 53, 3}, raw_pixel_dtype(GetParam()));
    at::Tensor raw_want = at::empty_like(raw);
    copy_raw(img, raw, flips);
    copy_raw(flipped, raw_want);
    EXPECT_TRUE(at::equal(raw, raw_want)) << flips.x << flips.y;
    EXPECT_TRUE(bitwise_equal(raw_to_float_rgb(raw), got)) << flips.x << flips.y;
  }
  // Every width around the 5-pixel steps of the reversed row copy, and a raw view.
  for (int width = 1; width <= 25; ++width) {
    const cv::Mat narrow = every_value(GetParam(), 3, width);
    at::Tensor raw = at::empty({3, width, 3}, raw_pixel_dtype(GetParam()));
    at::Tensor raw_want = at::empty_like(raw);
    copy_raw(narrow, raw, Flips{true, false});
    copy_raw(apply_flips(narrow, Flips{true, false}), raw_want);
    EXPECT_TRUE(at::equal(raw, raw_want)) << width;
    // The float form, both ways along x, against each value converted on its own (the 8-pixel
    // steps of the 8-bit AVX2 rows and their tails).
    const double top = GetParam() == CV_8UC3 ? 255.0 : 65535.0;
    const float scale = static_cast<float>(1.0 / top);
    for (const bool flip : {false, true}) {
      at::Tensor planes = at::empty({3, 3, width}, at::kFloat);
      copy_float_rgb(narrow, planes, Flips{flip, false});
      const auto got = planes.accessor<float, 3>();
      int wrong = 0;
      for (int y = 0; y < 3; ++y) {
        for (int x = 0; x < width; ++x) {
          const int from = flip ? width - 1 - x : x;
          for (int c = 0; c < 3; ++c) {
            const double v = GetParam() == CV_8UC3 ? narrow.at<cv::Vec3b>(y, from)[2 - c]
                                                   : narrow.at<cv::Vec3w>(y, from)[2 - c];
            wrong += got[c][y][x] != static_cast<float>(v) * scale;
          }
        }
      }
      EXPECT_EQ(wrong, 0) << "width " << width << " flip " << flip;
    }
  }
  {
    const cv::Mat view = img(cv::Rect(4, 1, 23, 9));
    at::Tensor raw = at::empty({9, 23, 3}, raw_pixel_dtype(GetParam()));
    at::Tensor raw_want = at::empty_like(raw);
    copy_raw(view, raw, Flips{true, true});
    copy_raw(apply_flips(view, Flips{true, true}), raw_want);
    EXPECT_TRUE(at::equal(raw, raw_want));
  }
  // A view (rows not contiguous), flipped.
  const cv::Mat view = img(cv::Rect(3, 2, 20, 11));
  at::Tensor got = at::empty({3, 11, 20}, at::kFloat), want = at::empty_like(got);
  copy_float_rgb(view, got, Flips{true, true});
  copy_float_rgb(apply_flips(view, Flips{true, true}), want);
  EXPECT_TRUE(bitwise_equal(got, want));
}

INSTANTIATE_TEST_SUITE_P(Depths, PixelForms, ::testing::Values(CV_8UC3, CV_16UC3),
                         [](const auto& info) { return info.param == CV_8UC3 ? "8bit" : "16bit"; });

TEST(PixelForms, RawIsAQuarterOrHalfOfTheBytes) {
  EXPECT_EQ(c10::elementSize(raw_pixel_dtype(CV_8UC3)) * 4, sizeof(float));
  EXPECT_EQ(c10::elementSize(raw_pixel_dtype(CV_16UC3)) * 2, sizeof(float));
}

TEST(PixelForms, RawCopiesRowsOfAViewToo) {
  const cv::Mat big = every_value(CV_8UC3, 20, 30);
  const cv::Mat view = big(cv::Rect(3, 2, 10, 8));  // not continuous
  ASSERT_FALSE(view.isContinuous());
  at::Tensor raw = at::empty({8, 10, 3}, at::kByte);
  copy_raw(view, raw);
  EXPECT_EQ(raw[7][9][1].item<int>(), view.at<cv::Vec3b>(7, 9)[1]);
  EXPECT_EQ(raw[0][0][0].item<int>(), view.at<cv::Vec3b>(0, 0)[0]);
}

TEST(PixelForms, WrongInputsSayWhatWasExpected) {
  const cv::Mat gray(4, 4, CV_8UC1, cv::Scalar(1));
  at::Tensor block = at::empty({4, 4, 3}, at::kByte);
  EXPECT_THAT([&] { copy_raw(gray, block); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  ::testing::HasSubstr("8- or 16-bit BGR images as decode makes them")));
  const cv::Mat img = every_value(CV_8UC3, 4, 4);
  at::Tensor wrong = at::empty({4, 5, 3}, at::kByte);
  EXPECT_THAT([&] { copy_raw(img, wrong); },
              ::testing::ThrowsMessage<std::invalid_argument>(::testing::HasSubstr(
                  "must be a contiguous [4, 4, 3] Byte tensor, found [4, 5, 3] Byte")));
  EXPECT_THAT(
      [&] {
        raw_to_float_rgb(at::zeros({4, 4, 2}, at::kByte));
      },
      ::testing::ThrowsMessage<std::invalid_argument>(
          ::testing::HasSubstr("raw pixels must be [..., H, W, 3]")));
  const at::Tensor f = at::ones({3, 2, 2});
  EXPECT_TRUE(raw_to_float_rgb(f).is_same(f));  // the float form passes through
}

}  // namespace
}  // namespace vsr
