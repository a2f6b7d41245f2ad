#include "stages/sinks/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <vector>

#include "common/errors.h"
#include "graph/registry.h"
#include "runtime/io/fileio.h"
#include "runtime/outputs/checkpoint.h"

namespace vsr {

namespace fs = std::filesystem;

namespace {

std::string checkpoint_name(std::int64_t step) {
  char name[64];
  std::snprintf(name, sizeof(name), "checkpoint_step_%06lld.pth", static_cast<long long>(step));
  return name;
}

CheckpointData to_checkpoint(const ModelSnapshot& s, const std::string& config_text) {
  CheckpointData c = s;  // the checkpoint's part of the snapshot
  c.config = config_text;
  return c;
}

// Drops the oldest entries of a step-keyed map beyond `bound`.
template <class Map>
void bound_size(Map& map, std::size_t bound, const char* what) {
  while (map.size() > bound) {
    std::cerr << "checkpoint: dropping the " << what << " of step " << map.begin()->first
              << ", its counterpart never arrived\n";
    map.erase(map.begin());
  }
}

}  // namespace

StageSchema CheckpointStage::schema() {
  return StageSchema("checkpoint")
      .doc(
          "writes checkpoint_step_NNNNNN.pth at checkpoint steps (atomically), keeps the newest "
          "keep_last, and best.pth + best.json for the highest validation PSNR")
      .input<ModelSnapshot>("in", "snapshots; saved when checkpoint=true, held when validate=true")
      .input<ValResult>("val", "validation results, matched to snapshots by step")
      .required("dir", ParamType::kString, "folder of the checkpoint files (created)")
      .non_empty()
      .creatable_dir()
      .optional("keep_last", ParamType::kInt, 0,
                "keep only the newest N checkpoint_step_* files; 0 keeps all (never best.pth)")
      .at_least(0)
      .optional("config_text", ParamType::kString, "", "config text stored in every checkpoint");
}

CheckpointStage::CheckpointStage(const StageContext& ctx)
    : dir_(ctx.param<std::string>("dir")),
      keep_last_(ctx.param<int>("keep_last")),
      config_text_(ctx.param<std::string>("config_text")) {}

void CheckpointStage::open() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec)
    throw OutputError("cannot create checkpoint folder " + dir_.string() + ": " + ec.message(),
                      dir_.string());
}

void CheckpointStage::process(std::size_t port, const Message& in, Emitter&) {
  // Only the payloads are kept, never the Message: its ticket would hold a source credit.
  if (port == 0) {
    on_snapshot(in.as<ModelSnapshot>());
  } else {
    on_result(in.as<ValResult>());
  }
}

void CheckpointStage::on_snapshot(std::shared_ptr<const ModelSnapshot> snapshot) {
  if (snapshot->checkpoint) {
    save_checkpoint(dir_ / checkpoint_name(snapshot->step), to_checkpoint(*snapshot, config_text_));
    prune();
  }
  if (!snapshot->validate) return;
  auto result = waiting_results_.find(snapshot->step);
  if (result != waiting_results_.end()) {
    resolve(*snapshot, *result->second);
    waiting_results_.erase(result);
    return;
  }
  waiting_snapshots_[snapshot->step] = std::move(snapshot);
  bound_size(waiting_snapshots_, kMaxWaiting, "snapshot");
}

void CheckpointStage::on_result(std::shared_ptr<const ValResult> result) {
  auto snapshot = waiting_snapshots_.find(result->step);
  if (snapshot != waiting_snapshots_.end()) {
    resolve(*snapshot->second, *result);
    waiting_snapshots_.erase(snapshot);
    return;
  }
  waiting_results_[result->step] = std::move(result);
  bound_size(waiting_results_, kMaxWaiting, "validation result");
}

void CheckpointStage::resolve(const ModelSnapshot& snapshot, const ValResult& result) {
  if (!(result.psnr > best_psnr_)) return;
  best_psnr_ = result.psnr;
  save_checkpoint(dir_ / "best.pth", to_checkpoint(snapshot, config_text_));
  const nlohmann::json best = {{"step", result.step},
                               {"psnr", result.psnr},
                               {"psnr_y", result.psnr_y},
                               {"ssim", result.ssim},
                               {"bicubic_psnr", result.bicubic_psnr},
                               {"bicubic_psnr_y", result.bicubic_psnr_y},
                               {"bicubic_ssim", result.bicubic_ssim},
                               {"images", result.images}};
  write_file_atomic(dir_ / "best.json", best.dump(2) + "\n");
}

void CheckpointStage::prune() {
  if (keep_last_ <= 0) return;
  static const std::regex pattern(R"(checkpoint_step_(\d+)\.pth)");
  std::vector<std::pair<long long, fs::path>> found;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    const std::string name = entry.path().filename().string();
    std::smatch m;
    if (entry.is_regular_file() && std::regex_match(name, m, pattern)) {
      found.emplace_back(std::stoll(m[1].str()), entry.path());
    }
  }
  if (found.size() <= static_cast<std::size_t>(keep_last_)) return;
  std::sort(found.begin(), found.end());
  for (std::size_t i = 0; i + keep_last_ < found.size(); ++i) {
    std::error_code ec;
    fs::remove(found[i].second, ec);
    if (ec) {
      throw OutputError("cannot remove old checkpoint " + found[i].second.string() + ": " +
                        ec.message());
    }
  }
}

VSR_REGISTER_STAGE(CheckpointStage);

}  // namespace vsr
