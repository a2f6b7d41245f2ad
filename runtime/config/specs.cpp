#include "runtime/config/specs.h"

#include <filesystem>

#include "common/spec_format.h"
#include "runtime/data/formats.h"

namespace vsr {

using json = nlohmann::json;

json& SpecBuilder::stage(const std::string& name, const std::string& type, json params,
                         const std::map<std::string, std::string>& sources) {
  for (const auto& [param, key] : sources) sources_[name + "." + param] = key;
  stages_.push_back(json{{"name", name}, {"type", type}, {"params", std::move(params)}});
  return stages_.back();
}

void SpecBuilder::edge(const std::string& from, const std::string& to) {
  edges_.push_back(from + " -> " + to);
}

void SpecBuilder::share(const std::string& name, json value, const std::string& source) {
  shared_[name] = std::move(value);
  if (!source.empty()) sources_["shared." + name] = source;
}

json SpecBuilder::build(const std::string& name, int max_in_flight, json meta) const {
  json spec;
  spec["version"] = kSpecVersion;
  spec["name"] = name;
  spec["max_in_flight"] = max_in_flight;
  spec["shared"] = shared_;
  spec["stages"] = stages_;
  spec["edges"] = edges_;
  if (!sources_.empty()) meta["sources"] = sources_;
  spec["meta"] = std::move(meta);
  return spec;
}

namespace {

// The values of a per-format map in the order of the listed formats.
template <typename T>
json per_format(const TrainConfig& config, const std::map<std::string, T>& values) {
  json out = json::array();
  for (const auto& format : config.data.formats) out.push_back(values.at(format));
  return out;
}

// Where the dataset is and what to read of it: the params sample and scan share (scale and
// formats are shared values).
json dataset_params(const TrainConfig& config) {
  return {{"data_root", config.data.data_root},
          {"category", config.data.category},
          {"lr_version", config.data.lr_version}};
}
const std::map<std::string, std::string> kDatasetSources = {{"data_root", "DATA.data_root"},
                                                            {"category", "DATA.category"},
                                                            {"lr_version", "DATA.lr_version"}};

void share_dataset(SpecBuilder& spec, const TrainConfig& config) {
  spec.share("scale", config.model.scale, "MODEL.scale");
  spec.share("formats", config.data.formats, "DATA.formats");
}

}  // namespace

std::string add_training_data(SpecBuilder& spec, const TrainConfig& config) {
  const DataConfig& data = config.data;
  const TrainingConfig& training = config.training;
  share_dataset(spec, config);
  spec.share("seed", training.seed, "TRAINING.seed");
  spec.share("total_steps", training.total_steps, "TRAINING.total_steps");

  json sample_params = dataset_params(config);
  sample_params.update(
      {{"format_weights", data.probabilities},
       {"batch_size", per_format(config, training.batch_size)},
       {"gradient_accumulation", per_format(config, training.gradient_accumulation)}});
  auto sources = kDatasetSources;
  sources.insert({{"format_weights", "DATA.format_weights"},
                  {"batch_size", "TRAINING.batch_size"},
                  {"gradient_accumulation", "TRAINING.gradient_accumulation"}});
  spec.stage("sample", "sample", std::move(sample_params), sources)["max_in_flight"] =
      data.prefetch;
  spec.stage("decode", "decode",
             {{"on_bad_sample", data.on_bad_sample},
              {"max_bad_fraction", data.max_bad_fraction},
              {"cache_mb", data.cache_mb}},
             {{"on_bad_sample", "DATA.on_bad_sample"},
              {"max_bad_fraction", "DATA.max_bad_fraction"},
              {"cache_mb", "DATA.cache_mb"}})["concurrency"] = data.num_workers;
  spec.stage("split", "split");
  spec.stage("augment", "augment",
             {{"crop", data.augmentation.crop},
              {"hflip", data.augmentation.hflip},
              {"vflip", data.augmentation.vflip},
              {"rot90", data.augmentation.rot90},
              {"reverse", data.augmentation.reverse}},
             {{"crop", "DATA.augmentation.crop"},
              {"hflip", "DATA.augmentation.hflip"},
              {"vflip", "DATA.augmentation.vflip"},
              {"rot90", "DATA.augmentation.rot90"},
              {"reverse", "DATA.augmentation.reverse"}})["concurrency"] = data.num_workers;
  // Collation runs on the workers too (each sample into its slot); only the order is serial.
  spec.stage("batch", "batch")["concurrency"] = data.num_workers;
  spec.edge("sample.out", "decode.in");
  spec.edge("decode.out", "split.in");
  spec.edge("split.out", "augment.in");
  spec.edge("augment.out", "batch.in");
  return "batch";
}

json compile_train_spec(const TrainConfig& config, const std::string& config_text) {
  const ModelConfig& model = config.model;
  const DataConfig& data = config.data;
  const TrainingConfig& training = config.training;
  const ValidationConfig& validation = config.validation;
  const std::filesystem::path experiment_dir = config.experiment_dir();

  SpecBuilder spec;
  const std::string batches = add_training_data(spec, config);
  spec.share("frames", data.frames, "DATA.lr_version");
  spec.share("device", training.device, "TRAINING.device");
  spec.share("threads", training.threads, "TRAINING.threads");
  spec.share("log_interval", config.logging.log_interval, "LOGGING.log_interval");

  spec.stage(
      "train_step", "train_step",
      {{"model",
        {{"base_channels", model.base_channels},
         {"num_blocks", model.num_blocks},
         {"use_checkpointing", model.use_checkpointing},
         {"channels_last", model.channels_last == "true"    ? "on"
                           : model.channels_last == "false" ? "off"
                                                            : "auto"},
         {"flow_lr_mult", model.flow_lr_mult},
         {"flow_freeze_steps", model.flow_freeze_steps},
         {"pretrained", model.pretrained}}},
       {"optim",
        {{"optimizer", training.optimizer},
         {"learning_rate", training.learning_rate},
         {"betas", training.betas},
         {"weight_decay", training.weight_decay},
         {"warmup_steps", training.warmup_steps},
         {"schedule", training.schedule},
         {"min_lr_ratio", training.min_lr_ratio},
         {"grad_clip", training.grad_clip},
         {"loss", training.loss},
         {"ema_decay", training.ema_decay}}},
       {"mixed_precision", training.mixed_precision},
       {"time_budget_minutes", training.time_budget_minutes},
       {"pause_data", training.pause_data},
       {"val_interval", validation.val_interval},
       {"checkpoint_interval", config.checkpoint.checkpoint_interval},
       {"distributed",
        {{"backend", config.distributed.backend}, {"timeout_s", config.distributed.timeout_s}}}},
      {{"model.base_channels", "MODEL.base_channels"},
       {"model.num_blocks", "MODEL.num_blocks"},
       {"model.use_checkpointing", "MODEL.use_checkpointing"},
       {"model.channels_last", "MODEL.channels_last"},
       {"model.flow_lr_mult", "MODEL.flow_lr_mult"},
       {"model.flow_freeze_steps", "MODEL.flow_freeze_steps"},
       {"model.pretrained", "MODEL.pretrained"},
       {"optim.optimizer", "TRAINING.optimizer"},
       {"optim.learning_rate", "TRAINING.learning_rate"},
       {"optim.betas", "TRAINING.betas"},
       {"optim.weight_decay", "TRAINING.weight_decay"},
       {"optim.warmup_steps", "TRAINING.warmup_steps"},
       {"optim.schedule", "TRAINING.schedule"},
       {"optim.min_lr_ratio", "TRAINING.min_lr_ratio"},
       {"optim.grad_clip", "TRAINING.grad_clip"},
       {"optim.loss", "TRAINING.loss"},
       {"optim.ema_decay", "TRAINING.ema_decay"},
       {"mixed_precision", "TRAINING.mixed_precision"},
       {"time_budget_minutes", "TRAINING.time_budget_minutes"},
       {"pause_data", "TRAINING.pause_data"},
       {"val_interval", "VALIDATION.val_interval"},
       {"checkpoint_interval", "CHECKPOINT.checkpoint_interval"},
       {"distributed.backend", "DISTRIBUTED.backend"},
       {"distributed.timeout_s", "DISTRIBUTED.timeout_s"}});
  spec.stage("validate", "validate",
             {{"val_dir", config.val_dir()},
              {"shifts", validation_shifts(data.frames)},
              {"num_images", validation.num_images},
              {"tile", validation.tile},
              {"tile_overlap", validation.tile_overlap}},
             {{"val_dir", "DATA.data_root"},
              {"num_images", "VALIDATION.num_images"},
              {"tile", "VALIDATION.tile"},
              {"tile_overlap", "VALIDATION.tile_overlap"}});
  spec.stage("image_writer", "image_writer",
             {{"dir", (experiment_dir / "validation_images").string()}},
             {{"dir", "OUTPUT.experiments_root"}});
  spec.stage("checkpoint", "checkpoint",
             {{"dir", (experiment_dir / "checkpoints").string()},
              {"keep_last", config.checkpoint.keep_last},
              {"config_text", config_text}},
             {{"dir", "OUTPUT.experiments_root"}, {"keep_last", "CHECKPOINT.keep_last"}});
  spec.stage("tensorboard", "tensorboard", {{"dir", (experiment_dir / "tensorboard").string()}},
             {{"dir", "OUTPUT.experiments_root"}});
  spec.stage("progress", "progress");
  spec.edge(batches + ".out", "train_step.in");
  for (const char* to : {"progress.in", "tensorboard.in"}) spec.edge("train_step.out", to);
  for (const char* to : {"validate.in", "checkpoint.in"}) spec.edge("train_step.snapshot", to);
  for (const char* to : {"progress.val", "tensorboard.val", "checkpoint.val"}) {
    spec.edge("validate.out", to);
  }
  for (const char* to : {"image_writer.in", "tensorboard.images"}) spec.edge("validate.images", to);

  json probabilities = json::object();
  for (size_t i = 0; i < data.formats.size(); ++i) {
    probabilities[data.formats[i]] = data.probabilities.at(i);
  }
  return spec.build(config.output.experiment_name, data.prefetch,
                    {{"config_text", config_text},
                     {"overrides", config.overrides},
                     {"experiment_dir", experiment_dir.string()},
                     {"format_probabilities", probabilities},
                     {"format_probabilities_line", format_probabilities_line(config)}});
}

json compile_check_data_spec(const TrainConfig& config, const std::string& report_path) {
  SpecBuilder spec;
  share_dataset(spec, config);
  json scan_params = dataset_params(config);
  scan_params["val_dir"] = config.val_dir();
  auto sources = kDatasetSources;
  sources["val_dir"] = "DATA.data_root";
  // Two pairs per worker keep the workers busy; a PairCheck holds no pixels.
  spec.stage("scan", "scan", std::move(scan_params), sources)["max_in_flight"] =
      2 * config.data.num_workers;
  spec.stage("check", "check_pair")["concurrency"] = config.data.num_workers;
  spec.stage("report", "check_report", {{"report", report_path}});
  spec.edge("scan.out", "check.in");
  spec.edge("check.out", "report.in");
  return spec.build("check_data_" + config.data.category + "_" + config.data.lr_version,
                    2 * config.data.num_workers, {{"overrides", config.overrides}});
}

json compile_convert_spec(const ConvertConfig& config, const std::string& config_text) {
  const ConvertSources& sources = config.sources;
  const ConvertDataset& dataset = config.dataset;
  const ConvertLr& lr = config.lr;
  SpecBuilder spec;
  spec.share("scale", dataset.scale, "DATASET.scale");
  spec.share("formats", dataset.formats, "DATASET.formats");
  spec.share("seed", config.run.seed, "RUN.seed");
  spec.stage("clip_source", "clip_source",
             {{"sources", sources.inputs},
              {"val_clips", sources.val_clips},
              {"val_fraction", sources.val_fraction},
              {"val_tail", sources.val_tail}},
             {{"sources", "SOURCES.inputs"},
              {"val_clips", "SOURCES.val_clips"},
              {"val_fraction", "SOURCES.val_fraction"},
              {"val_tail", "SOURCES.val_tail"}});
  spec.stage("window", "window",
             {{"stride", dataset.stride},
              {"cut_threshold", dataset.cut_threshold},
              {"val_stride", dataset.val_stride},
              {"val_max_per_clip", dataset.val_max_per_clip}},
             {{"stride", "DATASET.stride"},
              {"cut_threshold", "DATASET.cut_threshold"},
              {"val_stride", "DATASET.val_stride"},
              {"val_max_per_clip", "DATASET.val_max_per_clip"}});
  spec.stage("patches", "patches",
             {{"patches_per_window", dataset.patches_per_window},
              {"placement", dataset.placement},
              {"min_detail", dataset.min_detail}},
             {{"patches_per_window", "DATASET.patches_per_window"},
              {"placement", "DATASET.placement"},
              {"min_detail", "DATASET.min_detail"}})["concurrency"] = config.run.num_workers;
  spec.stage("make_lr", "make_lr",
             {{"downscale", lr.downscale},
              {"blur", lr.blur},
              {"noise", lr.noise},
              {"jpeg_quality", lr.jpeg_quality}},
             {{"downscale", "LR.downscale"},
              {"blur", "LR.blur"},
              {"noise", "LR.noise"},
              {"jpeg_quality", "LR.jpeg_quality"}})["concurrency"] = config.run.num_workers;
  spec.stage("stack", "stack");
  spec.stage(
      "dataset_writer", "dataset_writer",
      {{"output_root", config.output.output_root},
       {"category", config.output.category},
       {"config", config_text}},
      {{"output_root", "OUTPUT.output_root"}, {"category", "OUTPUT.category"}})["concurrency"] =
      config.run.num_workers;  // it encodes the PNGs
  spec.edge("clip_source.out", "window.in");
  spec.edge("window.windows", "patches.in");
  spec.edge("patches.out", "make_lr.in");
  spec.edge("make_lr.out", "stack.in");
  spec.edge("stack.out", "dataset_writer.in");
  spec.edge("window.val", "dataset_writer.val");
  return spec.build("convert", config.run.prefetch,
                    {{"config_text", config_text}, {"overrides", config.overrides}});
}

json make_infer_spec(const UpscaleJob& job) {
  SpecBuilder spec;
  spec.share("frames", job.frames);
  spec.share("device", job.device, "--device");
  spec.share("threads", job.threads, "--threads");
  spec.stage("frames", "frames", {{"dir", job.input}, {"cut_threshold", job.cut_threshold}},
             {{"dir", "--input"}, {"cut_threshold", "--cut-threshold"}})["max_in_flight"] =
      job.max_in_flight;
  spec.stage("upscale", "upscale",
             {{"checkpoint", job.checkpoint},
              {"weights", job.weights},
              {"precision", job.precision},
              {"tile", job.tile},
              {"tile_overlap", job.tile_overlap}},
             {{"checkpoint", "CHECKPOINT"},
              {"weights", "--weights"},
              {"precision", "--precision"},
              {"tile", "--tile"},
              {"tile_overlap", "--tile-overlap"}});
  spec.stage("frame_writer", "frame_writer", {{"dir", job.output}, {"fps", job.fps}},
             {{"dir", "--output"}, {"fps", "--fps"}});
  spec.edge("frames.out", "upscale.in");
  spec.edge("upscale.out", "frame_writer.in");
  return spec.build(
      "upscale", job.max_in_flight,
      {{"usage",
        "vsr_flow upscale CHECKPOINT --input CLIP --output CLIP [--tile N] runs this job with "
        "the checkpoint's frame count; to run this file instead, set the paths (frames.dir: a "
        "video file or a frame folder, upscale.checkpoint, frame_writer.dir: a video file or a "
        "folder) and the checkpoint's frames (shared.frames), then: vsr_flow run "
        "pipelines/infer.json"}});
}

}  // namespace vsr
