// Micro-batch pixels in the two forms the `batch` stage makes them:
//   float: [..., 3, H, W] float32 RGB in [0, 1], converted on the host (the CPU's form);
//   raw:   [..., H, W, 3] BGR exactly as decoded: uint8 for 8-bit images, int16 holding the
//          bits of 16-bit ones (LibTorch 1.13 has no uint16). A quarter (8-bit) or half
//          (16-bit) of the bytes, copied row by row: the form to send to a GPU, which then
//          converts it with raw_to_float_rgb().
// raw_to_float_rgb(raw) equals the float form bit for bit, on any device: both multiply the
// exact integer value, as float, by the same float 1/255 or 1/65535.
#pragma once

#include <ATen/core/Tensor.h>
#include <opencv2/core/mat.hpp>

#include "runtime/data/image.h"

namespace vsr {

enum class PixelForm { kFloat, kRaw };

// The dtype of the raw form of an image of OpenCV type CV_8UC3 (kByte) or CV_16UC3 (kShort);
// other types throw std::invalid_argument naming the type.
c10::ScalarType raw_pixel_dtype(int cv_type);

// Writes the 8- or 16-bit BGR image `img`, with `flips` applied, into `dst`, a contiguous block
// of img's size: [3, H, W] float32 RGB in [0, 1] (copy_float_rgb), or [H, W, 3] of
// raw_pixel_dtype (copy_raw). The flips cost nothing extra: rows are read in reverse order,
// pixels within a row from the end.
void copy_float_rgb(const cv::Mat& img, const at::Tensor& dst, Flips flips = {});
void copy_raw(const cv::Mat& img, const at::Tensor& dst, Flips flips = {});

// Whether `t` is in the raw form (an integer dtype).
bool is_raw_pixels(const at::Tensor& t);

// [..., H, W, 3] raw (uint8 or int16 bits of uint16) -> [..., 3, H, W] contiguous float32 RGB
// in [0, 1], on t's device. A float tensor is returned as it is.
// A contiguous tensor on the host is converted row by row with the float form's own code, over
// LibTorch's intra-op threads; anything else goes through raw_to_float_rgb_by_ops.
at::Tensor raw_to_float_rgb(const at::Tensor& t);

// The same conversion in LibTorch's own ops (a strided copy with the channels reversed, then a
// multiply), on any device and any strides, for raw tensors only; the same bits.
at::Tensor raw_to_float_rgb_by_ops(const at::Tensor& t);

}  // namespace vsr
