#include "runtime/data/pixels.h"

#include <ATen/ATen.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace vsr {

namespace {

// The one scale of each bit depth, as a float: both forms multiply by exactly this value.
constexpr float kScale8 = 1.0f / 255.0f;
constexpr float kScale16 = 1.0f / 65535.0f;

[[noreturn]] void bad_type(int cv_type) {
  throw std::invalid_argument(
      "micro-batch pixels must be 8- or 16-bit BGR images as decode makes them, found OpenCV "
      "type " +
      std::to_string(cv_type));
}

void check_block(const cv::Mat& img, const at::Tensor& dst, at::IntArrayRef expected,
                 c10::ScalarType dtype) {
  if (!dst.is_contiguous() || dst.sizes() != expected || dst.scalar_type() != dtype) {
    throw std::invalid_argument(
        "pixel block for a " + std::to_string(img.cols) + "x" + std::to_string(img.rows) +
        " image must be a contiguous " + c10::str(expected) + " " + c10::toString(dtype) +
        " tensor, found " + c10::str(dst.sizes()) + " " + c10::toString(dst.scalar_type()));
  }
}

// One pass that converts, swaps BGR to RGB and transposes HWC to CHW.
template <class T>
void bgr_to_chw(const cv::Mat& img, float* dst, float scale) {
  const std::size_t plane = static_cast<std::size_t>(img.rows) * img.cols;
  for (int y = 0; y < img.rows; ++y) {
    const T* src = img.ptr<T>(y);
    float* r = dst + static_cast<std::size_t>(y) * img.cols;
    float* g = r + plane;
    float* b = g + plane;
    for (int x = 0; x < img.cols; ++x, src += 3) {
      b[x] = static_cast<float>(src[0]) * scale;
      g[x] = static_cast<float>(src[1]) * scale;
      r[x] = static_cast<float>(src[2]) * scale;
    }
  }
}

}  // namespace

c10::ScalarType raw_pixel_dtype(int cv_type) {
  switch (cv_type) {
    case CV_8UC3:
      return at::kByte;
    case CV_16UC3:
      return at::kShort;
    default:
      bad_type(cv_type);
  }
}

void copy_float_rgb(const cv::Mat& img, const at::Tensor& dst) {
  check_block(img, dst, {3, img.rows, img.cols}, at::kFloat);
  float* out = dst.data_ptr<float>();
  switch (img.type()) {
    case CV_8UC3:
      return bgr_to_chw<std::uint8_t>(img, out, kScale8);
    case CV_16UC3:
      return bgr_to_chw<std::uint16_t>(img, out, kScale16);
    default:
      bad_type(img.type());
  }
}

void copy_raw(const cv::Mat& img, const at::Tensor& dst) {
  check_block(img, dst, {img.rows, img.cols, 3}, raw_pixel_dtype(img.type()));
  const std::size_t row = static_cast<std::size_t>(img.cols) * img.elemSize();
  auto* out = static_cast<std::uint8_t*>(dst.data_ptr());
  if (img.isContinuous()) {
    std::memcpy(out, img.data, row * img.rows);
    return;
  }
  for (int y = 0; y < img.rows; ++y) std::memcpy(out + row * y, img.ptr(y), row);
}

bool is_raw_pixels(const at::Tensor& t) {
  return t.scalar_type() == at::kByte || t.scalar_type() == at::kShort;
}

at::Tensor raw_to_float_rgb(const at::Tensor& t) {
  if (t.scalar_type() == at::kFloat) return t;
  if (!is_raw_pixels(t) || t.dim() < 3 || t.size(-1) != 3) {
    throw std::invalid_argument("raw pixels must be [..., H, W, 3] uint8 or int16, found " +
                                c10::str(t.sizes()) + " " + c10::toString(t.scalar_type()));
  }
  const bool wide = t.scalar_type() == at::kShort;
  // int16 holds the bits of uint16: widen and mask back to 0..65535.
  const at::Tensor values = wide ? t.to(at::kInt).bitwise_and(0xFFFF) : t;
  const std::int64_t d = t.dim();
  std::vector<std::int64_t> order;
  std::vector<std::int64_t> sizes;
  for (std::int64_t i = 0; i < d - 3; ++i) {
    order.push_back(i);
    sizes.push_back(t.size(i));
  }
  order.insert(order.end(), {d - 1, d - 3, d - 2});
  sizes.insert(sizes.end(), {3, t.size(d - 3), t.size(d - 2)});
  at::Tensor out = at::empty(sizes, t.options().dtype(at::kFloat));
  out.copy_(values.permute(order).flip({d - 3}));  // BGR -> RGB
  // The scale as a double that holds the float value exactly, so the kernel multiplies by
  // the same float as the host path.
  out.mul_(static_cast<double>(wide ? kScale16 : kScale8));
  return out;
}

}  // namespace vsr
