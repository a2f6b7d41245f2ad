// The params of the stages that run a trained model forward on whole images (validate,
// upscale): tiling, device and threads, declared and read in one place.
#pragma once

#include <c10/core/Device.h>

#include <string>

#include "graph/schema.h"
#include "graph/stage.h"
#include "runtime/device.h"
#include "runtime/infer.h"

namespace vsr {

struct ForwardParams {
  TileOptions tiles;
  int threads = 0;  // 0: all cores; apply with set_threads on the calling thread
  c10::Device device{c10::kCPU};
};

// tile, tile_overlap, device and threads.
inline StageSchema& forward_params(StageSchema& s) {
  return s.optional("tile", ParamType::kInt, 0, "LR tile size in pixels; 0 = whole images")
      .at_least(0)
      .optional("tile_overlap", ParamType::kInt, 16,
                "overlap of neighbouring tiles in LR pixels; under half the tile")
      .at_least(0)
      .optional("device", ParamType::kString, "auto", "auto, cpu, cuda or cuda:N")
      .optional("threads", ParamType::kInt, 0, "LibTorch intra-op threads; 0 = all cores")
      .at_least(0);
}

// Reads them; throws std::invalid_argument for an overlap of half the tile or more, and
// pick_device's error for a device this build or machine lacks.
inline ForwardParams read_forward_params(const StageContext& ctx) {
  ForwardParams p;
  p.tiles.tile = ctx.param<int>("tile");
  p.tiles.overlap = ctx.param<int>("tile_overlap");
  p.threads = ctx.param<int>("threads");
  check_tile_options(p.tiles);
  p.device = pick_device(ctx.param<std::string>("device"));
  return p;
}

}  // namespace vsr
