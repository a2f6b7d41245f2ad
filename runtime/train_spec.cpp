#include "runtime/train_spec.h"

#include <filesystem>

namespace vsr {
namespace {

using json = nlohmann::json;

json stage(const std::string& name, const std::string& type, json params) {
  return json{{"name", name}, {"type", type}, {"params", std::move(params)}};
}

// The values of a per-format map in the order of the listed formats.
template <typename T>
json per_format(const TrainConfig& config, const std::map<std::string, T>& values) {
  json out = json::array();
  for (const auto& format : config.data.formats) out.push_back(values.at(format));
  return out;
}

// Where the dataset is and what to read of it: the params sample and scan share.
json dataset_params(const TrainConfig& config) {
  return {{"data_root", config.data.data_root},
          {"category", config.data.category},
          {"lr_version", config.data.lr_version},
          {"scale", config.model.scale},
          {"formats", config.data.formats}};
}

}  // namespace

json compile_train_spec(const TrainConfig& config, const std::string& config_text) {
  const ModelConfig& model = config.model;
  const DataConfig& data = config.data;
  const TrainingConfig& training = config.training;
  const ValidationConfig& validation = config.validation;
  const std::filesystem::path experiment_dir = config.experiment_dir();
  const json formats = data.formats;
  const json accumulation = per_format(config, training.gradient_accumulation);

  json sample_params = dataset_params(config);
  sample_params.update({{"format_weights", data.probabilities},
                        {"batch_size", per_format(config, training.batch_size)},
                        {"gradient_accumulation", accumulation},
                        {"total_steps", training.total_steps},
                        {"seed", training.seed}});
  json sample = stage("sample", "sample", std::move(sample_params));
  sample["max_in_flight"] = data.prefetch;

  json decode = stage("decode", "decode", json::object());
  decode["concurrency"] = data.num_workers;

  json augment = stage("augment", "augment",
                       {{"crop", data.augmentation.crop},
                        {"hflip", data.augmentation.hflip},
                        {"vflip", data.augmentation.vflip},
                        {"rot90", data.augmentation.rot90},
                        {"reverse", data.augmentation.reverse}});
  augment["concurrency"] = data.num_workers;

  const json model_params = {{"base_channels", model.base_channels},
                             {"num_blocks", model.num_blocks},
                             {"use_checkpointing", model.use_checkpointing},
                             {"scale", model.scale},
                             {"frames", data.frames},
                             {"flow_lr_mult", model.flow_lr_mult},
                             {"flow_freeze_steps", model.flow_freeze_steps},
                             {"pretrained", model.pretrained}};
  const json optim_params = {{"optimizer", training.optimizer},
                             {"learning_rate", training.learning_rate},
                             {"betas", training.betas},
                             {"weight_decay", training.weight_decay},
                             {"warmup_steps", training.warmup_steps},
                             {"schedule", training.schedule},
                             {"min_lr_ratio", training.min_lr_ratio},
                             {"grad_clip", training.grad_clip},
                             {"loss", training.loss},
                             {"ema_decay", training.ema_decay}};

  json probabilities = json::object();
  for (size_t i = 0; i < data.formats.size(); ++i) {
    probabilities[data.formats[i]] = data.probabilities.at(i);
  }

  json spec;
  spec["version"] = kTrainSpecVersion;
  spec["name"] = config.output.experiment_name;
  spec["max_in_flight"] = data.prefetch;
  spec["stages"] = json::array({
      sample,
      decode,
      stage("split", "split", json::object()),
      augment,
      stage("batch", "batch", json::object()),
      stage("train_step", "train_step",
            {{"model", model_params},
             {"optim", optim_params},
             {"total_steps", training.total_steps},
             {"mixed_precision", training.mixed_precision},
             {"device", training.device},
             {"threads", training.threads},
             {"seed", training.seed},
             {"val_interval", validation.val_interval},
             {"checkpoint_interval", config.checkpoint.checkpoint_interval},
             {"formats", formats},
             {"gradient_accumulation", accumulation}}),
      stage("validate", "validate",
            {{"val_dir", config.val_dir()},
             {"frames", data.frames},
             {"scale", model.scale},
             {"shifts", validation_shifts(data.frames)},
             {"num_images", validation.num_images},
             {"tile", validation.tile},
             {"tile_overlap", validation.tile_overlap},
             {"device", training.device},
             {"threads", training.threads}}),
      stage("image_writer", "image_writer",
            {{"dir", (experiment_dir / "validation_images").string()}}),
      stage("checkpoint", "checkpoint",
            {{"dir", (experiment_dir / "checkpoints").string()},
             {"keep_last", config.checkpoint.keep_last},
             {"config_text", config_text}}),
      stage("tensorboard", "tensorboard",
            {{"dir", (experiment_dir / "tensorboard").string()},
             {"log_interval", config.logging.log_interval}}),
      stage("progress", "progress",
            {{"total_steps", training.total_steps}, {"log_interval", config.logging.log_interval}}),
  });
  spec["edges"] = json::array({
      "sample.out -> decode.in",
      "decode.out -> split.in",
      "split.out -> augment.in",
      "augment.out -> batch.in",
      "batch.out -> train_step.in",
      "train_step.out -> progress.in",
      "train_step.out -> tensorboard.in",
      "train_step.snapshot -> validate.in",
      "train_step.snapshot -> checkpoint.in",
      "validate.out -> progress.val",
      "validate.out -> tensorboard.val",
      "validate.out -> checkpoint.val",
      "validate.images -> image_writer.in",
      "validate.images -> tensorboard.images",
  });
  spec["meta"] = {{"config_text", config_text},
                  {"overrides", config.overrides},
                  {"experiment_dir", experiment_dir.string()},
                  {"format_probabilities", probabilities},
                  {"format_probabilities_line", format_probabilities_line(config)}};
  return spec;
}

json compile_check_data_spec(const TrainConfig& config, const std::string& report_path) {
  json scan_params = dataset_params(config);
  scan_params["val_dir"] = config.val_dir();
  json scan = stage("scan", "scan", std::move(scan_params));
  // Two pairs per worker keep the workers busy; a PairCheck holds no pixels.
  scan["max_in_flight"] = 2 * config.data.num_workers;
  json check = stage("check", "check_pair", json::object());
  check["concurrency"] = config.data.num_workers;

  json spec;
  spec["version"] = kTrainSpecVersion;
  spec["name"] = "check_data_" + config.data.category + "_" + config.data.lr_version;
  spec["max_in_flight"] = 2 * config.data.num_workers;
  spec["stages"] =
      json::array({scan, check, stage("report", "check_report", {{"report", report_path}})});
  spec["edges"] = json::array({"scan.out -> check.in", "check.out -> report.in"});
  spec["meta"] = {{"overrides", config.overrides}};
  return spec;
}

}  // namespace vsr
