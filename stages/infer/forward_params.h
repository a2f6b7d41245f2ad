// The params of the stages that run a trained model forward on whole images (validate,
// upscale): tiling, device and threads, declared, checked and read in one place.
#pragma once

#include <c10/core/Device.h>

#include <string>

#include "graph/schema.h"
#include "graph/stage.h"
#include "runtime/model/device.h"
#include "runtime/model/infer.h"
#include "stages/params.h"

namespace vsr {

struct ForwardParams {
  TileOptions tiles;
  int threads = 0;  // 0: all cores; apply with set_threads on the calling thread
  c10::Device device{c10::kCPU};
};

// tile, tile_overlap (under half the tile), device and threads (shared).
inline StageSchema& forward_params(StageSchema& s) {
  s.optional("tile", ParamType::kInt, 0, "LR tile size in pixels; 0 = whole images")
      .at_least(0)
      .optional("tile_overlap", ParamType::kInt, 16,
                "overlap of neighbouring tiles in LR pixels; under half the tile")
      .at_least(0)
      .check("tile_overlap is under half the tile", [](const json& p, ParamProblems& out) {
        TileOptions tiles;
        tiles.tile = p.at("tile").get<int>();
        tiles.overlap = p.at("tile_overlap").get<int>();
        try {
          check_tile_options(tiles);
        } catch (const std::exception& e) {
          out.add("tile_overlap", e.what());
        }
      });
  return device_params(s);
}

// Reads them (the spec checker has checked them).
inline ForwardParams read_forward_params(const StageContext& ctx) {
  ForwardParams p;
  p.tiles.tile = ctx.param<int>("tile");
  p.tiles.overlap = ctx.param<int>("tile_overlap");
  p.threads = ctx.param<int>("threads");
  p.device = pick_device(ctx.param<std::string>("device"));
  return p;
}

}  // namespace vsr
