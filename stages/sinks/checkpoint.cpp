#include "stages/sinks/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/errors.h"
#include "graph/registry.h"
#include "runtime/io/fileio.h"
#include "runtime/outputs/checkpoint.h"

namespace vsr {

namespace fs = std::filesystem;

namespace {

// The nearest folder of `path` that exists (itself, or an ancestor).
fs::path existing_ancestor(const fs::path& path) {
  std::error_code ec;
  fs::path p = fs::absolute(path, ec);
  while (!p.empty() && !fs::exists(p, ec) && p != p.parent_path()) p = p.parent_path();
  return p;
}

std::string gib(std::uintmax_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f GiB", static_cast<double>(bytes) / (1ull << 30));
  return text;
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
      .optional("config_text", ParamType::kString, "", "config text stored in every checkpoint")
      .optional("resume", ParamType::kString, "",
                "the checkpoint this run continues (set by `run --resume`): its best-so-far is "
                "kept, and the folder may hold the earlier run's checkpoints")
      .optional("run_params", ParamType::kString, "",
                "JSON of the run's stage params, stored for --resume's compatibility check "
                "(set by `run`)")
      .optional("min_free_bytes", ParamType::kInt, 0,
                "free space the folder's file system must have before the run (room for a few "
                "checkpoints; set by `run` from the model size); 0: no check")
      .at_least(0)
      .world_check("no earlier run's checkpoints",
                   [](const json& p, ParamProblems& out) {
                     if (!p.at("resume").get<std::string>().empty()) return;
                     const fs::path dir = p.at("dir").get<std::string>();
                     const auto found = list_step_checkpoints(dir);
                     if (found.empty()) return;
                     out.add("dir",
                             dir.string() + " already holds checkpoints of an earlier run (" +
                                 std::to_string(found.size()) + ", the newest " +
                                 found.back().second.filename().string() +
                                 "); continue that run with --resume auto, or train into another "
                                 "folder (OUTPUT.experiment_name), or remove it");
                   })
      .world_check("room for a few checkpoints", [](const json& p, ParamProblems& out) {
        const auto need = p.at("min_free_bytes").get<std::int64_t>();
        if (need <= 0) return;
        const fs::path dir = p.at("dir").get<std::string>();
        const fs::path at = existing_ancestor(dir);
        std::error_code ec;
        const fs::space_info space = fs::space(at, ec);
        if (ec) return;  // the folder check reports an unusable path
        if (space.available < static_cast<std::uintmax_t>(need)) {
          out.add("dir", "the file system of " + dir.string() + " has " + gib(space.available) +
                             " free, and a few checkpoints of this model need " +
                             gib(static_cast<std::uintmax_t>(need)) +
                             "; free some space or train into another folder");
        }
      });
}

CheckpointStage::CheckpointStage(const StageContext& ctx)
    : dir_(ctx.param<std::string>("dir")),
      keep_last_(ctx.param<int>("keep_last")),
      config_text_(ctx.param<std::string>("config_text")),
      resume_(ctx.param<std::string>("resume")),
      run_params_(ctx.param<std::string>("run_params")) {}

CheckpointData CheckpointStage::to_checkpoint(const ModelSnapshot& s) const {
  CheckpointData c = s;  // the checkpoint's part of the snapshot
  c.config = config_text_;
  c.run_params = run_params_;
  c.best_step = best_step_;
  c.best_psnr = best_step_ > 0 ? best_psnr_ : 0;
  return c;
}

void CheckpointStage::open() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec)
    throw OutputError("cannot create checkpoint folder " + dir_.string() + ": " + ec.message(),
                      dir_.string());
  if (resume_.empty()) return;
  const CheckpointData from = load_checkpoint(resume_);
  if (from.best_step > 0) {
    best_step_ = from.best_step;
    best_psnr_ = from.best_psnr;
  }
  // best.json is newer than the checkpoint when the checkpoint step's own validation won.
  try {
    const json best = json::parse(read_text_file(dir_ / "best.json"));
    const auto step = best.at("step").get<std::int64_t>();
    const double psnr = best.at("psnr").get<double>();
    if (step <= from.step && psnr > best_psnr_) {
      best_step_ = step;
      best_psnr_ = psnr;
    }
  } catch (const std::exception&) {
    // No best.json (or not ours): the checkpoint's figure stands.
  }
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
    save_checkpoint(dir_ / checkpoint_file_name(snapshot->step), to_checkpoint(*snapshot));
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
  best_step_ = result.step;
  save_checkpoint(dir_ / "best.pth", to_checkpoint(snapshot));
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
  const auto found = list_step_checkpoints(dir_);
  if (found.size() <= static_cast<std::size_t>(keep_last_)) return;
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
