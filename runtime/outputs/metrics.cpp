#include "runtime/outputs/metrics.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include <opencv2/imgproc.hpp>

#include "runtime/data/image.h"

namespace vsr {

namespace {

// Checks a and b and returns both cropped by `border`, as CV_64FC3.
std::pair<cv::Mat, cv::Mat> prepare(const cv::Mat& a, const cv::Mat& b, int border,
                                    const char* what, int min_side) {
  if (a.channels() != 3 || b.channels() != 3 || (a.depth() != CV_32F && a.depth() != CV_64F) ||
      (b.depth() != CV_32F && b.depth() != CV_64F)) {
    throw std::invalid_argument(std::string(what) + ": expected RGB float images");
  }
  if (a.size() != b.size()) {
    throw std::invalid_argument(std::string(what) + ": image sizes differ: " + size_text(a.size()) +
                                " vs " + size_text(b.size()));
  }
  if (border < 0 || a.cols - 2 * border < min_side || a.rows - 2 * border < min_side) {
    throw std::invalid_argument(std::string(what) + ": a border of " + std::to_string(border) +
                                " leaves less than " + std::to_string(min_side) + "x" +
                                std::to_string(min_side) + " of a " + size_text(a.size()) +
                                " image");
  }
  const cv::Rect roi(border, border, a.cols - 2 * border, a.rows - 2 * border);
  cv::Mat ca, cb;
  a(roi).convertTo(ca, CV_64F);
  b(roi).convertTo(cb, CV_64F);
  return {ca, cb};
}

double psnr_from_mse(double mse) {
  if (mse <= 0) return kMaxPsnr;
  return std::min(kMaxPsnr, 10.0 * std::log10(1.0 / mse));
}

double mse(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d = a - b;
  const double sum = d.dot(d);  // over all channels
  return sum / static_cast<double>(d.total() * d.channels());
}

}  // namespace

double psnr(const cv::Mat& a, const cv::Mat& b, int border) {
  auto [ca, cb] = prepare(a, b, border, "psnr", 1);
  return psnr_from_mse(mse(ca, cb));
}

cv::Mat rgb_to_y(const cv::Mat& rgb) {
  cv::Mat src;
  rgb.convertTo(src, CV_64F);
  cv::Mat y;
  // transform: each output channel = row . (R, G, B, 1)
  const cv::Matx<double, 1, 4> m(65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0, 16.0 / 255.0);
  cv::transform(src, y, m);
  return y;
}

double psnr_y(const cv::Mat& a, const cv::Mat& b, int border) {
  auto [ca, cb] = prepare(a, b, border, "psnr_y", 1);
  return psnr_from_mse(mse(rgb_to_y(ca), rgb_to_y(cb)));
}

double ssim_y(const cv::Mat& a, const cv::Mat& b, int border) {
  constexpr int kWindow = 11;
  auto [ca, cb] = prepare(a, b, border, "ssim_y", kWindow);
  const cv::Mat y1 = rgb_to_y(ca) * 255.0, y2 = rgb_to_y(cb) * 255.0;
  const double c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255);
  const cv::Mat g = cv::getGaussianKernel(kWindow, 1.5, CV_64F);
  const cv::Mat window = g * g.t();
  // Means over the window, kept only where the window lies inside the image ("valid").
  const int r = kWindow / 2;
  const cv::Rect valid(r, r, y1.cols - 2 * r, y1.rows - 2 * r);
  auto filt = [&](const cv::Mat& x) {
    cv::Mat out;
    cv::filter2D(x, out, CV_64F, window, cv::Point(-1, -1), 0, cv::BORDER_REFLECT_101);
    return cv::Mat(out(valid));
  };
  const cv::Mat mu1 = filt(y1), mu2 = filt(y2);
  const cv::Mat mu1_sq = mu1.mul(mu1), mu2_sq = mu2.mul(mu2), mu12 = mu1.mul(mu2);
  const cv::Mat s1 = filt(y1.mul(y1)) - mu1_sq;
  const cv::Mat s2 = filt(y2.mul(y2)) - mu2_sq;
  const cv::Mat s12 = filt(y1.mul(y2)) - mu12;
  cv::Mat num = (2 * mu12 + c1).mul(2 * s12 + c2);
  cv::Mat den = (mu1_sq + mu2_sq + c1).mul(s1 + s2 + c2);
  cv::Mat map;
  cv::divide(num, den, map);
  return cv::mean(map)[0];
}

}  // namespace vsr
