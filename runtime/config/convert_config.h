// The YAML conversion config (`vsr_flow convert`): footage in, a training set out, in the
// layout a training config's DATA.data_root reads. Built on the same key-table engine as the
// training config (runtime/config/config.h): every key is declared once, in the table of
// convert_config.cpp, and validation, defaults, `--set`, the README table
// (convert_reference_markdown()) and the JSON Schema (convert_json_schema()) come from it.
// Every key is optional except SOURCES.inputs:
//
//   SOURCES:  {inputs: [/footage/*.mkv], val_clips: [episode_07], val_fraction: 0.0}
//   OUTPUT:   {output_root: ./converted, category: general}
//   DATASET:  {formats: [small_540], scale: 3, stride: 10, patches_per_window: 4,
//              placement: random, min_detail: 6.0, cut_threshold: 30, val_stride: 30,
//              val_max_per_clip: 10}
//   LR:       {downscale: area, blur: [0, 0], noise: [0, 0], jpeg_quality: [0, 0]}
//   RUN:      {seed: 0, num_workers: 4, prefetch: 16}
//
// Problems are reported all at once in one ConfigError, one `file:line:col: message` per line.
// Paths are not checked here: the stages check them before the job runs.
#pragma once

#include <string>
#include <vector>

#include "runtime/config/config.h"

namespace vsr {

struct ConvertSources {
  std::vector<std::string> inputs;     // video files, frame folders or globs; non-empty
  std::vector<std::string> val_clips;  // clip names or globs held out for Val/GT
  double val_fraction = 0;             // also hold out this fraction of the clips, in [0, 1)
  double val_tail = 0;  // and the last fraction of every other clip's frames, in [0, 1)
};

struct ConvertOutput {
  std::string output_root;
  std::string category;  // general | space | toon
};

struct ConvertDataset {
  std::vector<std::string> formats;
  int scale = 0;
  int stride = 0;
  int patches_per_window = 0;
  std::string placement;  // random | grid
  double min_detail = 0;
  double cut_threshold = 0;  // 0 = off
  int val_stride = 0;
  int val_max_per_clip = 0;
};

struct ConvertLr {
  std::string downscale;          // area | bicubic
  std::vector<double> blur;       // [min, max] Gaussian sigma; [0, 0] = off
  std::vector<double> noise;      // [min, max] std on 0..255; [0, 0] = off
  std::vector<int> jpeg_quality;  // [min, max] in 0..100; [0, 0] = off
};

struct ConvertRun {
  long long seed = 0;
  int num_workers = 0;
  int prefetch = 0;  // frames in flight
};

// A validated conversion config with every default filled in. (Member initialisers are only
// zeros: the defaults live in the table.)
struct ConvertConfig : ConfigOrigin {
  ConvertSources sources;
  ConvertOutput output;
  ConvertDataset dataset;
  ConvertLr lr;
  ConvertRun run;
};

// The conversion config's table.
const ConfigTable& convert_config_table();
const std::vector<ConfigKeyDoc>& convert_schema_docs();
// The README table of every conversion key (section "Converting footage into a dataset").
std::string convert_reference_markdown();
// The JSON Schema of a conversion config file: `vsr_flow schema --convert` prints it;
// configs/convert.schema.json is its output.
nlohmann::ordered_json convert_json_schema();

// Every problem of `root`, sorted by position; fills `*out` when there are none (`overrides`:
// as for check_config).
std::vector<ConfigProblem> check_convert_config(const YAML::Node& root,
                                                ConvertConfig* out = nullptr,
                                                const std::vector<std::string>& overrides = {});
// Reads and validates a YAML conversion config, then applies `overrides`
// ("DATASET.stride=5"). Throws ConfigError with every problem.
ConvertConfig load_convert_config(const std::string& path,
                                  const std::vector<std::string>& overrides = {});
// The same from text; `origin` names it in messages.
ConvertConfig load_convert_config_text(const std::string& text, const std::string& origin,
                                       const std::vector<std::string>& overrides = {});

// The kinds of YAML config vsr_flow reads.
enum class ConfigKind { kTrain, kConvert };
const char* to_string(ConfigKind kind);
// The kind of a config by its top-level sections: a conversion config has a section only
// conversion configs have (SOURCES, DATASET, LR, RUN) and none only training configs have
// (MODEL, DATA, TRAINING, ...); anything else is read as a training config, whose checks
// then name what does not belong. Throws ConfigError (`origin:line:col`) for a YAML syntax
// error.
ConfigKind config_kind(const std::string& text, const std::string& origin);

}  // namespace vsr
