#include "runtime/model/infer.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace vsr {

torch::Tensor image_to_chw(const cv::Mat& img) {
  if (img.type() != CV_32FC3) {
    throw std::invalid_argument("image_to_chw: expected a CV_32FC3 image, found type " +
                                std::to_string(img.type()));
  }
  cv::Mat c = img.isContinuous() ? img : img.clone();
  return torch::from_blob(c.data, {c.rows, c.cols, 3}, torch::kFloat).permute({2, 0, 1}).clone();
}

torch::Tensor frames_to_tensor(const std::vector<cv::Mat>& frames) {
  std::vector<torch::Tensor> chw;
  chw.reserve(frames.size());
  for (const auto& f : frames) chw.push_back(image_to_chw(f));
  return torch::stack(chw).unsqueeze(0).contiguous();
}

cv::Mat tensor_to_image(const torch::Tensor& chw) {
  torch::Tensor hwc =
      chw.to(torch::kCPU, torch::kFloat).clamp(0, 1).permute({1, 2, 0}).contiguous();
  return cv::Mat(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)), CV_32FC3,
                 hwc.data_ptr<float>())
      .clone();
}

void check_tile_options(const TileOptions& tiles) {
  if (tiles.tile > 0 && 2 * tiles.overlap >= tiles.tile) {
    throw std::invalid_argument("params.tile_overlap (" + std::to_string(tiles.overlap) +
                                ") must be less than half of params.tile (" +
                                std::to_string(tiles.tile) + ")");
  }
}

std::vector<std::int64_t> tile_starts(std::int64_t size, std::int64_t tile, std::int64_t overlap) {
  if (tile <= 0 || tile >= size) return {0};
  std::vector<std::int64_t> starts;
  for (std::int64_t x = 0;; x += tile - overlap) {
    if (x + tile >= size) {
      starts.push_back(size - tile);
      return starts;
    }
    starts.push_back(x);
  }
}

torch::Tensor axis_weights(std::int64_t start, std::int64_t length, std::int64_t size, int scale,
                           int overlap) {
  const std::int64_t n = length * scale;
  std::vector<float> w(static_cast<std::size_t>(n), 1.0f);
  const double ramp = scale * overlap / 2.0, crop = scale * overlap / 4.0;
  const bool inner_lo = start > 0, inner_hi = start + length < size;
  if (ramp > 0) {
    for (std::int64_t i = 0; i < n; ++i) {
      double d = 1e30;
      if (inner_lo) d = std::min(d, static_cast<double>(i));
      if (inner_hi) d = std::min(d, static_cast<double>(n - 1 - i));
      w[static_cast<std::size_t>(i)] =
          static_cast<float>(std::clamp((d + 0.5 - crop) / ramp, 0.0, 1.0));
    }
  }
  return torch::from_blob(w.data(), {n}, torch::kFloat).clone();
}

torch::Tensor upscale_tiled(VSRNetImpl& net, const torch::Tensor& lr, const TileOptions& tiles,
                            const c10::Device& device) {
  check_tile_options(tiles);
  const int tile = tiles.tile, overlap = tiles.overlap;
  const std::int64_t scale = net.options().scale();
  const std::int64_t h = lr.size(3), w = lr.size(4);
  const auto ys = tile_starts(h, tile, overlap), xs = tile_starts(w, tile, overlap);
  if (ys.size() == 1 && xs.size() == 1) {
    return net.forward(lr.to(device))[0].to(torch::kCPU, torch::kFloat);
  }
  const std::int64_t th = std::min<std::int64_t>(tile, h), tw = std::min<std::int64_t>(tile, w);
  torch::Tensor acc = torch::zeros({3, h * scale, w * scale}, torch::kFloat);
  torch::Tensor wsum = torch::zeros({1, h * scale, w * scale}, torch::kFloat);
  for (std::int64_t y : ys) {
    const torch::Tensor wy = axis_weights(y, th, h, static_cast<int>(scale), overlap);
    for (std::int64_t x : xs) {
      const torch::Tensor wx = axis_weights(x, tw, w, static_cast<int>(scale), overlap);
      const torch::Tensor weight = (wy.unsqueeze(1) * wx.unsqueeze(0)).unsqueeze(0);
      torch::Tensor in = lr.narrow(3, y, th).narrow(4, x, tw).to(device);
      torch::Tensor out = net.forward(in)[0].to(torch::kCPU, torch::kFloat);
      acc.narrow(1, y * scale, th * scale).narrow(2, x * scale, tw * scale).add_(out * weight);
      wsum.narrow(1, y * scale, th * scale).narrow(2, x * scale, tw * scale).add_(weight);
    }
  }
  // Every pixel has a positive weight while 2 * overlap < tile (checked above): the cropped
  // band of one tile lies in the ramp of its neighbour.
  if (wsum.min().item<float>() <= 0)
    throw std::logic_error("upscale_tiled: tile weights leave gaps");
  return acc / wsum;
}

}  // namespace vsr
