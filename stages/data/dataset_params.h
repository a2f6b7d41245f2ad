// The params that name a dataset in the spec's layout, shared by the stages that read one
// (sample for training, scan for whole-dataset jobs), declared and checked in one place.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "graph/schema.h"
#include "runtime/formats.h"

namespace vsr {

// data_root, category, lr_version, scale (2..4, default 3) and formats.
inline StageSchema& dataset_params(StageSchema& s) {
  return s.required("data_root", ParamType::kString, "dataset root (DATA.data_root)")
      .required("category", ParamType::kString, "general, space or toon")
      .choices({"general", "space", "toon"})
      .required("lr_version", ParamType::kString, "5frames or 7frames")
      .choices({"5frames", "7frames"})
      .optional("scale", ParamType::kInt, 3, "GT size / LR frame size")
      .range(2, 4)
      .required("formats", ParamType::kStringList, "formats, in this order");
}

// Throws std::invalid_argument when formats is empty, names an unknown format (listing the
// known ones) or one whose size is not divisible by scale.
inline void check_dataset_formats(const std::vector<std::string>& formats, int scale) {
  if (formats.empty()) {
    throw std::invalid_argument("params.formats is empty; list at least one format");
  }
  for (const auto& f : formats) {
    const FormatInfo& info = format_info(f);
    lr_width(info, scale);
    lr_height(info, scale);
  }
}

}  // namespace vsr
