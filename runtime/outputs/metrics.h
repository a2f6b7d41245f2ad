// Image quality metrics of validation, as BasicSR computes them (calculate_psnr,
// calculate_ssim): images are RGB CV_32FC3 (or CV_64FC3) in [0, 1] of equal size, and
// `border` pixels are cropped from every side before measuring (validation uses
// border = scale). Unlike BasicSR, values are not rounded to 8 bits first.
//
// Identical images would give PSNR = +inf, which poisons a mean over images, so every PSNR
// is capped at kMaxPsnr (100 dB, i.e. MSE <= 1e-10 on a peak of 1).
//
// Mismatched sizes, a border that leaves nothing (or, for SSIM, less than the 11x11
// window), or a wrong type throw std::invalid_argument.
#pragma once

#include <opencv2/core.hpp>

namespace vsr {

inline constexpr double kMaxPsnr = 100.0;

// PSNR over all three RGB channels, peak 1.0: 10 log10(1 / MSE), capped at kMaxPsnr.
// E.g. b = a + 0.01 everywhere -> 40 dB.
double psnr(const cv::Mat& a, const cv::Mat& b, int border);

// Luma of BT.601 YCbCr, on [0, 1]: Y = 16/255 + (65.481 R + 128.553 G + 24.966 B) / 255.
// Returns CV_64FC1.
cv::Mat rgb_to_y(const cv::Mat& rgb);

// PSNR of the Y channel (BasicSR test_y_channel=True), peak 1.0, capped at kMaxPsnr.
double psnr_y(const cv::Mat& a, const cv::Mat& b, int border);

// SSIM (Wang et al. 2004) of the Y channel on a 0..255 scale: 11x11 Gaussian window with
// sigma 1.5, C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, mean over the valid region (no
// padding). 1 for identical images.
double ssim_y(const cv::Mat& a, const cv::Mat& b, int border);

}  // namespace vsr
