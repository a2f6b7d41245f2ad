// scan: a source that visits every GT/LR pair of a dataset once, for whole-dataset jobs such
// as `vsr_flow check-data`. open() indexes the dataset with scan_dataset, so it fails with
// the same pairing errors as `sample`; then each credit emits one SampleRequest, format by
// format in the order given, files in index (stem) order: seq counts from 0, step, micro,
// slot and seed are 0, batch_size and accum 1, gt_size, frames and scale those of the format.
// decode and split consume these requests unchanged.
//
// With val_dir set, one request per image of that folder follows (the validation GT, e.g.
// Val/GT): format "val", format_index = number of formats, no lr_path, frames 0, gt_size
// 0x0 (validation images may have any size). Only check_pair understands those; decode
// would reject the empty LR path. A missing or empty val_dir is reported together with the
// pairing errors.
//
//   {"name": "scan", "type": "scan", "max_in_flight": 8,
//    "params": {"data_root": "/data", "category": "general", "lr_version": "7frames",
//               "formats": ["small_540", "medium_169"], "scale": 3,
//               "val_dir": "/data/Universal/Mastermodell/Learn/Val/GT"}}
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "graph/stage.h"
#include "runtime/data/dataset.h"

namespace vsr {

// The format name of scan's validation-image requests.
inline constexpr const char* kValFormat = "val";

class ScanStage : public Stage {
 public:
  static StageSchema schema();
  explicit ScanStage(const StageContext& ctx);
  void open() override;
  bool produce(Emitter& out) override;

 private:
  StageContext ctx_;
  std::vector<std::string> formats_;
  int scale_;
  std::filesystem::path val_dir_;  // empty: no validation images
  DatasetIndex index_;
  std::vector<std::filesystem::path> val_images_;
  std::size_t format_ = 0;  // position: index_.formats[format_].pairs[file_], then val images
  std::size_t file_ = 0;
  std::int64_t seq_ = 0;
};

}  // namespace vsr
