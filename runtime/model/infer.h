// Running a trained VSRNet on whole images: conversions between cv::Mat frames and tensors,
// and the forward pass over a whole LR sample or over overlapping, feathered LR tiles so
// memory stays bounded. Shared by validation and the upscaling job.
//
//   torch::NoGradGuard no_grad;
//   torch::Tensor lr = frames_to_tensor(frames);                       // [1,T,3,h,w]
//   cv::Mat sr = tensor_to_image(upscale_tiled(*net, lr, {128, 16}, device));
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

#include "runtime/model/model.h"

namespace vsr {

// HxWx3 float RGB (CV_32FC3) -> [3,H,W] float tensor (a copy).
torch::Tensor image_to_chw(const cv::Mat& img);
// T frames of one size, HxWx3 float RGB -> [1,T,3,H,W] float tensor on the CPU.
torch::Tensor frames_to_tensor(const std::vector<cv::Mat>& frames);
// [3,H,W] tensor (any device, any float type) -> HxWx3 CV_32FC3 RGB clamped to [0, 1].
cv::Mat tensor_to_image(const torch::Tensor& chw);

// How to split an LR sample into tiles: `tile` LR pixels per side (0 = whole images) and
// `overlap` LR pixels shared by neighbouring tiles (2 * overlap < tile when tile > 0).
struct TileOptions {
  int tile = 0;
  int overlap = 16;
};

// Throws std::invalid_argument, naming the stage params tile and tile_overlap, unless
// 2 * overlap < tile (or tile is 0).
void check_tile_options(const TileOptions& tiles);

// Start of each tile along one axis of `size` pixels: stride tile - overlap, the last one
// moved back to end at the border, so every tile is whole. {0} when one tile covers it.
std::vector<std::int64_t> tile_starts(std::int64_t size, std::int64_t tile, std::int64_t overlap);

// Blend weight of each HR pixel of a tile along one axis: the tile starts at LR `start`, is
// `length` LR pixels long, in an axis of `size` LR pixels. Near an edge inside the image the
// first quarter of the overlap gets weight 0 (those pixels saw the tile's padding instead of
// the real neighbours) and the next half ramps linearly to 1, so two tiles overlapping by
// exactly the overlap cross-fade with weights summing to 1.
torch::Tensor axis_weights(std::int64_t start, std::int64_t length, std::int64_t size, int scale,
                           int overlap);

// One LR sample [1,T,3,h,w] -> [3,h*scale,w*scale] float on the CPU, run on `device` in
// tiles as `tiles` says. Call it under torch::NoGradGuard with net in eval mode.
// Throws std::invalid_argument for an overlap of half the tile or more.
torch::Tensor upscale_tiled(VSRNetImpl& net, const torch::Tensor& lr, const TileOptions& tiles,
                            const c10::Device& device);

}  // namespace vsr
