#include "stages/convert/dataset_writer.h"

#include <iostream>

#include <nlohmann/json.hpp>

#include "common/validation.h"
#include "graph/registry.h"
#include "runtime/data/formats.h"
#include "runtime/data/image.h"
#include "runtime/io/fileio.h"
#include "stages/convert/messages.h"
#include "stages/params.h"

namespace vsr {

namespace fs = std::filesystem;

// Samples are renamed into place without an fsync each (thousands of files); close() flushes
// the filesystem once, and a rerun rewrites any file a power cut left short.
constexpr Durability kFast = Durability::kRenameOnly;

StageSchema DatasetWriterStage::schema() {
  StageSchema s("dataset_writer");
  s.doc(
       "writes GT, LR_5frames and LR_7frames PNGs in the spec's layout (atomically, skipping "
       "samples already there), Val/GT frames, and at the end manifest.jsonl")
      .concurrent()
      .input<PatchStacks>("in", "training samples")
      .input<ValFrame>("val", "frames of held-out clips")
      .required("output_root", ParamType::kString, "dataset root to write (a data_root)")
      .non_empty()
      .creatable_dir("output folder")
      .optional("category", ParamType::kString, "general", "dataset category")
      .choices(category_names())
      .optional("config", ParamType::kString, "",
                "the config that made the job, written as convert_config.yaml");
  return scale_param(s);
}

DatasetWriterStage::DatasetWriterStage(const StageContext& ctx)
    : name_(ctx.name),
      root_(
          category_dir(ctx.param<std::string>("output_root"), ctx.param<std::string>("category"))),
      category_(ctx.param<std::string>("category")),
      scale_(ctx.param<int>("scale")),
      config_(ctx.param<std::string>("config")) {}

void DatasetWriterStage::process(std::size_t port, const Message& in, Emitter&) {
  if (port == 1) {
    auto v = in.as<ValFrame>();
    const std::string name = v->clip + "_" + zero_padded(v->index, 6);
    const fs::path path = root_ / "Val" / "GT" / (name + ".png");
    const bool there = is_complete_png(path);
    if (!there) write_bgr_png_atomic(path, crop_to_multiple(v->frame, scale_), kFast);
    std::lock_guard<std::mutex> lock(mutex_);
    ++(there ? existing_ : val_written_);
    manifest_["val/" + name] = nlohmann::json{
        {"val", true},
        {"name", name},
        {"source", v->source.string()},
        {"clip", v->clip},
        {"frame", v->index}}.dump();
    return;
  }
  auto s = in.as<PatchStacks>();
  const PatchSample& p = *s->patch;
  const std::string name = p.name();
  const fs::path dir = root_ / format_info(p.format).folder;
  const fs::path gt = gt_dir(dir) / (name + ".png");
  const fs::path lr5 = lr_dir(dir, 5) / (name + ".png");
  const fs::path lr7 = lr_dir(dir, 7) / (name + ".png");
  const bool there = is_complete_png(gt) && is_complete_png(lr5) && is_complete_png(lr7);
  if (!there) {
    write_bgr_png_atomic(lr7, s->lr7, kFast);
    write_bgr_png_atomic(lr5, s->lr5, kFast);
    write_bgr_png_atomic(gt, s->gt, kFast);  // last: a GT file means its pair is complete
  }
  std::lock_guard<std::mutex> lock(mutex_);
  ++(there ? existing_ : written_[p.format]);
  const std::int64_t half = static_cast<std::int64_t>(p.window->frames.size()) / 2;
  manifest_[p.format + "/" + name] = nlohmann::json{
      {"format", p.format},
      {"name", name},
      {"source", p.window->source.string()},
      {"clip", p.window->clip},
      {"frames", {p.window->centre - half, p.window->centre + half}},
      {"centre", p.window->centre},
      {"crop", {p.crop.x, p.crop.y, p.crop.width, p.crop.height}},
      {"blur_sigma", s->degradation.blur_sigma},
      {"noise_sigma", s->degradation.noise_sigma},
      {"jpeg_quality",
       s->degradation.jpeg_quality}}.dump();
}

void DatasetWriterStage::close(bool completed) {
  std::int64_t total = 0;
  std::string per_format;
  for (const auto& [format, n] : written_) {
    total += n;
    per_format += (per_format.empty() ? "" : ", ") + format + " " + std::to_string(n);
  }
  std::cerr << name_ << ": wrote " << total << " samples"
            << (per_format.empty() ? "" : " (" + per_format + ")") << " and " << val_written_
            << " validation frames, " << existing_ << " already there, into " << root_.string()
            << "\n";
  if (!completed) {
    if (fs::exists(root_)) sync_filesystem(root_);
    std::cerr << name_
              << ": the job did not complete; every file written is whole, and a "
                 "rerun writes only what is missing (no manifest yet)\n";
    return;
  }
  sync_filesystem(root_);
  std::string lines;
  for (const auto& [key, line] : manifest_) lines += line + "\n";
  write_file_atomic(root_ / "manifest.jsonl", lines);
  if (!config_.empty()) write_file_atomic(root_ / "convert_config.yaml", config_);
  std::cerr << name_ << ": manifest " << (root_ / "manifest.jsonl").string() << " ("
            << manifest_.size() << " entries)\n";
}

VSR_REGISTER_STAGE(DatasetWriterStage);

}  // namespace vsr
