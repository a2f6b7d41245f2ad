// The YAML training config: schema, typed config, validation and `--set` overrides.
//
// Every key is declared once, in the schema table of config.cpp (type, default, range,
// one-line doc); validation, defaults and the README table (config_reference_markdown())
// all come from that table. Example (the spec's "Basic Structure"):
//
//   MODEL:    {base_channels: 128, num_blocks: 32, use_checkpointing: true}
//   DATA:     {category: general, lr_version: 7frames, data_root: /mnt/data/training/dataset,
//              formats: [small_540, medium_169],
//              format_weights: {small_540: 0.6, medium_169: 0.4}}
//   TRAINING: {total_steps: 100000, batch_size: {small_540: 4, medium_169: 2},
//              gradient_accumulation: {small_540: 1, medium_169: 2},
//              learning_rate: 0.0001, warmup_steps: 1000}
//
// The format and category tables are runtime/data/formats.h. Problems are reported all at once in
// one ConfigError, one per line, each as `file:line:col: message`. Paths are not checked here: a
// run checks them when it starts.
#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/errors.h"
#include "runtime/data/formats.h"

namespace vsr {

struct ModelConfig {
  int base_channels = 0;
  int num_blocks = 0;
  bool use_checkpointing = false;
  std::string channels_last;  // auto | true | false
  int scale = 0;
  double flow_lr_mult = 0;
  int flow_freeze_steps = 0;
  std::string pretrained;
};

struct AugmentConfig {
  int crop = 0;      // GT crop size in pixels; 0 = whole patch
  double hflip = 0;  // probabilities 0..1
  double vflip = 0;
  double rot90 = 0;
  double reverse = 0;
};

struct DataConfig {
  std::string category;
  std::string lr_version;
  int frames = 0;  // 5 or 7, from lr_version
  std::string data_root;
  std::vector<std::string> formats;
  // Raw weights of the listed formats (unlisted entries dropped); see probabilities.
  std::map<std::string, double> format_weights;
  // format_weights normalised to sum 1, in the order of `formats`.
  std::vector<double> probabilities;
  int num_workers = 0;
  int prefetch = 0;
  AugmentConfig augmentation;
};

struct TrainingConfig {
  long long total_steps = 0;
  std::map<std::string, int> batch_size;             // listed formats only
  std::map<std::string, int> gradient_accumulation;  // listed formats only
  double learning_rate = 0;
  long long warmup_steps = 0;
  std::string schedule;
  double min_lr_ratio = 0;
  std::string optimizer;
  std::vector<double> betas;  // two values
  double weight_decay = 0;
  double grad_clip = 0;
  std::string loss;
  double ema_decay = 0;
  std::string mixed_precision;
  long long seed = 0;
  std::string device;
  int threads = 0;
};

struct ValidationConfig {
  long long val_interval = 0;
  int num_images = 0;
  int tile = 0;
  int tile_overlap = 0;
};

struct CheckpointConfig {
  long long checkpoint_interval = 0;
  int keep_last = 0;
};

struct LoggingConfig {
  long long log_interval = 0;
};

struct OutputConfig {
  std::string experiments_root;
  std::string experiment_name;  // filled in: "<category>_fresh_<lr_version>" when empty
};

// A validated config with every default filled in. (Member initialisers are only zeros:
// the defaults live in the schema table.)
struct TrainConfig {
  ModelConfig model;
  DataConfig data;
  TrainingConfig training;
  ValidationConfig validation;
  CheckpointConfig checkpoint;
  LoggingConfig logging;
  OutputConfig output;
  std::string origin;                  // file name (or other label) the config came from
  std::vector<std::string> overrides;  // `--set` assignments applied, in order
  // Where each key given in the file is written: key -> {line, column} (1-based).
  std::map<std::string, std::pair<int, int>> positions;

  // Where `key` got its value, for messages: "--set KEY=VALUE" when an override set it,
  // "file:line:col" where the file gives it (or its section), else the file name.
  std::string where(const std::string& key) const;

  // <experiments_root>/<experiment_name>
  std::string experiment_dir() const;
  // <data_root>/<category root>/Val/GT
  std::string val_dir() const;
};

// One entry of the schema, as documented (for `vsr_flow` help and the README).
struct ConfigKeyDoc {
  std::string key;            // "TRAINING.learning_rate"
  std::string type;           // "float in (0, 1]"
  std::string default_value;  // "0.0001"
  std::string doc;            // one line
};
const std::vector<ConfigKeyDoc>& config_schema_docs();
// The README table of every key: `| key | type | default | meaning |`, one row per key.
std::string config_reference_markdown();
// A JSON Schema (draft-07, the version editors' YAML language server reads) of the config
// file, from the same table: every section an object without unknown keys, every key with its
// type, range, choices, default and doc, and a batch size (and, where those maps are given, an
// accumulation and a weight) required for every listed format. `vsr_flow schema` prints it;
// configs/vsr_flow.schema.json is its output.
nlohmann::ordered_json config_json_schema();

// One problem of a config, located in its source.
struct ConfigProblem {
  int line = 0;    // 1-based; 0 when unknown (e.g. a `--set` value)
  int column = 0;  // 1-based
  std::string message;
};

// The text of a config file; throws ConfigError naming it when it cannot be read.
std::string read_config_text(const std::string& path);
// Reads and validates a YAML file, then applies `overrides` ("TRAINING.learning_rate=2e-4").
// Throws ConfigError with every problem, one `file:line:col: message` per line.
TrainConfig load_config(const std::string& path, const std::vector<std::string>& overrides = {});
// The same from text; `origin` names it in messages.
TrainConfig load_config_text(const std::string& text, const std::string& origin,
                             const std::vector<std::string>& overrides = {});
// Validates an already parsed document (e.g. after apply_override).
TrainConfig config_from_yaml(const YAML::Node& root, const std::string& origin);
// Every problem of `root`, sorted by position; fills `*out` when there are none.
std::vector<ConfigProblem> check_config(const YAML::Node& root, TrainConfig* out = nullptr);

// Applies one `--set a.b=v` assignment to a parsed document; v is parsed as YAML, so
// `DATA.formats=[small_540,large_720]` and `TRAINING.batch_size.small_540=2` work. Throws
// ConfigError for a malformed assignment, an unknown key (with the closest known one) or a
// value of the wrong type or range.
void apply_override(YAML::Node& root, const std::string& assignment);

// The effective format probabilities, for the start of a run:
// "format probabilities: small_540 60.0%, medium_169 40.0%".
std::string format_probabilities_line(const TrainConfig& config);

}  // namespace vsr
